//go:build darwin

package vnode

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// vnodeOpenFlags: O_EVTONLY asks for an fd for event notification only,
// which does not keep the volume from being unmounted; O_SYMLINK watches a
// final symlink itself rather than its target (as entr and watchman do);
// O_NONBLOCK keeps open from waiting for a writer on a FIFO.
const vnodeOpenFlags = unix.O_EVTONLY | unix.O_SYMLINK | unix.O_NONBLOCK

// EV_RECEIPT is in x/sys here; check that our value is darwin's.
const _ = -uint(evReceipt - unix.EV_RECEIPT)

// cloexecPipe: darwin has no pipe2 (docs/kqueue.md §1.2), so the flags are set after the
// fact, under ForkLock so that no fork+exec sees the ends in between.
func cloexecPipe() ([2]int, error) {
	var p [2]int
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	if err := unix.Pipe(p[:]); err != nil {
		return p, err
	}
	for _, fd := range p {
		unix.CloseOnExec(fd)
		if err := unix.SetNonblock(fd, true); err != nil {
			unix.Close(p[0])
			unix.Close(p[1])
			return p, err
		}
	}
	return p, nil
}

// openFilesCap: darwin refuses a soft RLIMIT_NOFILE above
// kern.maxfilesperproc (Go's syscall/rlimit_darwin.go caps it the same way).
func openFilesCap() int64 {
	n, err := unix.SysctlUint32("kern.maxfilesperproc")
	if err != nil {
		return 0
	}
	return int64(n)
}
