//go:build darwin || freebsd || openbsd || netbsd || dragonfly

package vnode

// The real kernel under the kqueue backend. Only this file and the per-OS
// kqueue_*.go files touch x/sys; kqueue.go holds the logic.
// Section numbers (§N) refer to docs/kqueue.md.

import (
	"fmt"
	"io/fs"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Our flag and note constants must equal the kernel's. Each line fails to
// compile if they differ: a nonzero difference, negated as a uint constant,
// overflows.
const (
	_ = -uint(evAdd - unix.EV_ADD)
	_ = -uint(evDelete - unix.EV_DELETE)
	_ = -uint(evOneshot - unix.EV_ONESHOT)
	_ = -uint(evClear - unix.EV_CLEAR)
	_ = -uint(evError - unix.EV_ERROR)
	_ = -uint(evEOF - unix.EV_EOF)
	_ = -uint(noteDelete - unix.NOTE_DELETE)
	_ = -uint(noteWrite - unix.NOTE_WRITE)
	_ = -uint(noteExtend - unix.NOTE_EXTEND)
	_ = -uint(noteAttrib - unix.NOTE_ATTRIB)
	_ = -uint(noteLink - unix.NOTE_LINK)
	_ = -uint(noteRename - unix.NOTE_RENAME)
	_ = -uint(noteRevoke - unix.NOTE_REVOKE)
)

// newKqueue opens the kqueue backend on the running kernel.
func newKqueue(o Options) (backend, error) {
	return newKqueueWith(sysKernel{}, kqConfig{
		timerReAddResets: timerReAddResets(runtime.GOOS),
		closeWrites:      closeWrites(runtime.GOOS),
		pollInterval:     o.PollInterval,
		now:              time.Now,
	})
}

// sysKernel is the kernel seam on darwin and the BSDs.
type sysKernel struct{}

func (sysKernel) kqueue() (int, error) {
	// kqueue(2) has no close-on-exec flag in x/sys (no Kqueue1, §1.2).
	// Holding ForkLock keeps a concurrent fork+exec from inheriting the
	// fd between the two calls, as os/exec expects of non-atomic users.
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	kq, err := unix.Kqueue()
	if err != nil {
		return -1, err
	}
	unix.CloseOnExec(kq)
	return kq, nil
}

// maxKeventTimeout: FreeBSD, OpenBSD and DragonFly cut longer timeouts to
// 24 h; darwin rejects long ones with EINVAL (§2.7).
const maxKeventTimeout = 24 * time.Hour

func (sysKernel) kevent(kq int, changes, events []kev, timeout *time.Duration) (int, error) {
	var cs, es []unix.Kevent_t
	if len(changes) > 0 {
		cs = make([]unix.Kevent_t, len(changes))
		for i, c := range changes {
			cs[i] = toKevent(c)
		}
	}
	if len(events) > 0 {
		es = make([]unix.Kevent_t, len(events))
	}
	var ts *unix.Timespec
	if timeout != nil {
		t := unix.NsecToTimespec(int64(min(max(*timeout, 0), maxKeventTimeout)))
		ts = &t
	}
	n, err := unix.Kevent(kq, cs, es, ts)
	if err != nil {
		return 0, err
	}
	for i := range es[:n] {
		events[i] = fromKevent(&es[i])
	}
	return n, nil
}

// toKevent builds a unix.Kevent_t: SetKevent converts ident, filter and
// flags to the platform's types; Fflags (uint32) and Data (int64) are the
// same type everywhere and SetKevent leaves them alone (§1.2). Udata is
// never set.
func toKevent(c kev) unix.Kevent_t {
	var k unix.Kevent_t
	unix.SetKevent(&k, int(c.ident), osFilter(c.filter), int(c.flags))
	k.Fflags = c.fflags
	k.Data = c.data
	return k
}

func osFilter(f kfilter) int {
	switch f {
	case filtRead:
		return unix.EVFILT_READ
	case filtVnode:
		return unix.EVFILT_VNODE
	case filtTimer:
		return unix.EVFILT_TIMER
	}
	// Unreachable: we submit only the three above. An invalid filter
	// makes the kernel answer EINVAL for this change.
	return int(f)
}

// fromKevent reads a unix.Kevent_t back. Filters are compared only with
// the untyped unix constants, which compile against NetBSD's uint32
// Filter as well as the int16 of the others.
func fromKevent(k *unix.Kevent_t) kev {
	e := kev{
		ident:  uint64(k.Ident),
		flags:  uint16(k.Flags),
		fflags: k.Fflags,
		data:   k.Data,
	}
	switch k.Filter {
	case unix.EVFILT_READ:
		e.filter = filtRead
	case unix.EVFILT_VNODE:
		e.filter = filtVnode
	case unix.EVFILT_TIMER:
		e.filter = filtTimer
	}
	return e
}

func (sysKernel) open(path string, mode openMode) (int, error) {
	flags := unix.O_RDONLY | unix.O_CLOEXEC
	if mode == openVnode {
		flags = vnodeOpenFlags | unix.O_CLOEXEC
	}
	return openRetrying(path, flags)
}

func (sysKernel) close(fd int) error { return unix.Close(fd) }

func (sysKernel) fstat(fd int) (fileStat, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fileStat{}, fmt.Errorf("fstat: %w", err)
	}
	// Mode is uint16 on most BSDs and uint32 on NetBSD.
	return fileStat{dir: uint32(st.Mode)&unix.S_IFMT == unix.S_IFDIR}, nil
}

func (sysKernel) pipe() ([2]int, error) { return cloexecPipe() }

func (sysKernel) read(fd int, p []byte) (int, error) {
	for {
		n, err := unix.Read(fd, p)
		if err != unix.EINTR {
			return n, err
		}
	}
}

func (sysKernel) write(fd int, p []byte) (int, error) {
	for {
		n, err := unix.Write(fd, p)
		if err != unix.EINTR {
			return n, err
		}
	}
}

func (sysKernel) stat(path string) (fileStat, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return fileStat{}, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	return fileStat{dir: uint32(st.Mode)&unix.S_IFMT == unix.S_IFDIR}, nil
}

func (sysKernel) unread(fd int) (int64, error) { return unreadBytes(fd) }

func (sysKernel) raiseNoFile() error { return raiseNoFileUnix() }

func (sysKernel) noFile() int64 { return noFileUnix() }
