//go:build freebsd || openbsd || netbsd || dragonfly

package vnode

import "golang.org/x/sys/unix"

// vnodeOpenFlags: these kernels have no O_EVTONLY, and opening for
// EVFILT_VNODE needs read permission. O_NONBLOCK keeps open from waiting
// for a writer on a FIFO (fsnotify does the same on the BSDs).
const vnodeOpenFlags = unix.O_RDONLY | unix.O_NONBLOCK

// cloexecPipe makes the wake pipe with its flags set atomically.
func cloexecPipe() ([2]int, error) {
	var p [2]int
	err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK)
	return p, err
}

// openFilesCap: these kernels clamp (or accept) a soft limit up to the hard
// one themselves; there is nothing to cap here.
func openFilesCap() int64 { return 0 }
