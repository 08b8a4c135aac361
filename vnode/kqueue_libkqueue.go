//go:build linux && libkqueue && cgo

package vnode

// A kernel for the kqueue backend on Linux: libkqueue, a user-space
// kqueue(2)/kevent(2) built on inotify, epoll, eventfd and timerfd, linked
// statically with cgo. It exists so that kqueue.go, the very code the BSDs
// and darwin run, meets a real kqueue implementation in Linux test runs
// (`go test -tags libkqueue`, see docs/kqueue.md for how to build it and
// how libkqueue differs from the BSD kernels). Only this file knows cgo;
// the ordinary CGO_ENABLED=0 build does not contain it.

/*
#include <sys/event.h>
#include <stddef.h>
#include <stdlib.h>
#include <time.h>
*/
import "C"

import (
	"errors"
	"fmt"
	"io/fs"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Our constants must equal libkqueue's. Each line fails to compile when
// they differ: a nonzero difference, negated as a uint constant,
// overflows.
const (
	_ = -uint(evAdd - C.EV_ADD)
	_ = -uint(evDelete - C.EV_DELETE)
	_ = -uint(evOneshot - C.EV_ONESHOT)
	_ = -uint(evClear - C.EV_CLEAR)
	_ = -uint(evReceipt - C.EV_RECEIPT)
	_ = -uint(evError - C.EV_ERROR)
	_ = -uint(evEOF - C.EV_EOF)
	_ = -uint(noteDelete - C.NOTE_DELETE)
	_ = -uint(noteWrite - C.NOTE_WRITE)
	_ = -uint(noteExtend - C.NOTE_EXTEND)
	_ = -uint(noteAttrib - C.NOTE_ATTRIB)
	_ = -uint(noteLink - C.NOTE_LINK)
	_ = -uint(noteRename - C.NOTE_RENAME)
	// NOTE_REVOKE: libkqueue #undefs it (no revoke on Linux); asking
	// for it is harmless, it never fires.
	_ = -uint(int(filtRead) - C.EVFILT_READ)
	_ = -uint(C.EVFILT_READ - int(filtRead))
	_ = -uint(int(filtVnode) - C.EVFILT_VNODE)
	_ = -uint(C.EVFILT_VNODE - int(filtVnode))
	_ = -uint(int(filtTimer) - C.EVFILT_TIMER)
	_ = -uint(C.EVFILT_TIMER - int(filtTimer))
)

// struct kevent must be the BSD 64-bit layout kqueue.go's kev stands for:
// ident (uintptr), filter (short), flags (u_short), fflags (u_int), data
// (intptr), udata (void *), 32 bytes on a 64-bit target. Each pair of
// array lengths is negative, so fails to compile, unless they agree.
var (
	_ [unsafe.Sizeof(C.struct_kevent{}) - 4*unsafe.Sizeof(uintptr(0))]byte
	_ [4*unsafe.Sizeof(uintptr(0)) - unsafe.Sizeof(C.struct_kevent{})]byte
	_ [unsafe.Offsetof(C.struct_kevent{}.filter) - unsafe.Sizeof(uintptr(0))]byte
	_ [unsafe.Sizeof(uintptr(0)) - unsafe.Offsetof(C.struct_kevent{}.filter)]byte
	_ [unsafe.Offsetof(C.struct_kevent{}.flags) - unsafe.Sizeof(uintptr(0)) - 2]byte
	_ [unsafe.Sizeof(uintptr(0)) + 2 - unsafe.Offsetof(C.struct_kevent{}.flags)]byte
	_ [unsafe.Offsetof(C.struct_kevent{}.fflags) - unsafe.Sizeof(uintptr(0)) - 4]byte
	_ [unsafe.Sizeof(uintptr(0)) + 4 - unsafe.Offsetof(C.struct_kevent{}.fflags)]byte
	_ [unsafe.Offsetof(C.struct_kevent{}.data) - 2*unsafe.Sizeof(uintptr(0))]byte
	_ [2*unsafe.Sizeof(uintptr(0)) - unsafe.Offsetof(C.struct_kevent{}.data)]byte
	_ [unsafe.Sizeof(C.struct_kevent{}.filter) - 2]byte
	_ [2 - unsafe.Sizeof(C.struct_kevent{}.filter)]byte
	_ [unsafe.Sizeof(C.struct_kevent{}.flags) - 2]byte
	_ [2 - unsafe.Sizeof(C.struct_kevent{}.flags)]byte
	_ [unsafe.Sizeof(C.struct_kevent{}.fflags) - 4]byte
	_ [4 - unsafe.Sizeof(C.struct_kevent{}.fflags)]byte
)

// openFilesCap: Linux accepts a soft limit up to the hard one.
func openFilesCap() int64 { return 0 }

// newKqueue opens the kqueue backend over libkqueue.
func newKqueue(o Options) (backend, error) {
	return newKqueueWith(lkqKernel{}, kqConfig{
		// libkqueue's EVFILT_TIMER is a timerfd: EV_ADD of an armed
		// timer re-arms it (timerfd_settime), like FreeBSD.
		timerReAddResets: true,
		closeKeepsKnotes: true,
		readStopsAtEOF:   true,
		knoteFDs:         1,
		pollInterval:     o.PollInterval,
		now:              time.Now,
	})
}

// lkqKernel is the kernel seam over libkqueue; everything but kqueue and
// kevent is the Linux system call.
type lkqKernel struct{}

func (lkqKernel) kqueue() (int, error) {
	// libkqueue's descriptor is the write end of a pipe2(O_CLOEXEC).
	kq, err := C.kqueue()
	if kq < 0 {
		if err == nil {
			err = errors.New("libkqueue kqueue() failed")
		}
		return -1, err
	}
	return int(kq), nil
}

// maxLkqTimeout keeps the timespec sane; a wait is woken by the pipe.
const maxLkqTimeout = 24 * time.Hour

func (lkqKernel) kevent(kq int, changes, events []kev, timeout *time.Duration) (int, error) {
	// The arrays live in C memory: kevent may block for long, and Go
	// memory passed to C must not hold Go pointers (udata stays nil).
	nc, ne := len(changes), len(events)
	size := C.size_t(unsafe.Sizeof(C.struct_kevent{}))
	var cs, es *C.struct_kevent
	if nc > 0 {
		cs = (*C.struct_kevent)(C.calloc(C.size_t(nc), size))
		defer C.free(unsafe.Pointer(cs))
		cv := unsafe.Slice(cs, nc)
		for i, c := range changes {
			cv[i] = C.struct_kevent{
				ident:  C.uintptr_t(c.ident),
				filter: C.short(c.filter),
				flags:  C.ushort(c.flags),
				fflags: C.uint(c.fflags),
				data:   C.intptr_t(c.data),
			}
		}
	}
	if ne > 0 {
		es = (*C.struct_kevent)(C.calloc(C.size_t(ne), size))
		defer C.free(unsafe.Pointer(es))
	}
	var ts *C.struct_timespec
	if timeout != nil {
		d := min(max(*timeout, 0), maxLkqTimeout)
		ts = (*C.struct_timespec)(C.calloc(1, C.size_t(unsafe.Sizeof(C.struct_timespec{}))))
		defer C.free(unsafe.Pointer(ts))
		ts.tv_sec = C.time_t(d / time.Second)
		ts.tv_nsec = C.long(d % time.Second)
	}
	n, err := C.kevent(C.int(kq), cs, C.int(nc), es, C.int(ne), ts)
	if n < 0 {
		if err == nil {
			err = errors.New("libkqueue kevent() failed")
		}
		return 0, err
	}
	ev := unsafe.Slice(es, ne)
	for i := range int(n) {
		e := ev[i]
		events[i] = kev{
			ident:  uint64(e.ident),
			filter: kfilter(e.filter),
			flags:  uint16(e.flags),
			fflags: uint32(e.fflags),
			data:   int64(e.data),
		}
	}
	return int(n), nil
}

func (lkqKernel) open(path string, mode openMode) (int, error) {
	flags := unix.O_RDONLY | unix.O_CLOEXEC
	if mode == openVnode {
		// As on the BSDs: read-only, and never waiting for a FIFO's
		// writer.
		flags |= unix.O_NONBLOCK
	}
	return openRetrying(path, flags)
}

func (lkqKernel) close(fd int) error { return unix.Close(fd) }

func (lkqKernel) fstat(fd int) (fileStat, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fileStat{}, fmt.Errorf("fstat: %w", err)
	}
	return fileStat{dir: st.Mode&unix.S_IFMT == unix.S_IFDIR}, nil
}

func (lkqKernel) stat(path string) (fileStat, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return fileStat{}, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	return fileStat{dir: uint32(st.Mode)&unix.S_IFMT == unix.S_IFDIR}, nil
}

func (lkqKernel) unread(fd int) (int64, error) { return unreadBytes(fd) }

func (lkqKernel) pipe() ([2]int, error) {
	var p [2]int
	err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK)
	return p, err
}

func (lkqKernel) read(fd int, p []byte) (int, error) {
	for {
		n, err := unix.Read(fd, p)
		if err != unix.EINTR {
			return n, err
		}
	}
}

func (lkqKernel) write(fd int, p []byte) (int, error) {
	for {
		n, err := unix.Write(fd, p)
		if err != unix.EINTR {
			return n, err
		}
	}
}

func (lkqKernel) raiseNoFile() error { return raiseNoFileUnix() }

func (lkqKernel) noFile() int64 { return noFileUnix() }
