//go:build unix

package main

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// readerGone blocks until w, when it is a pipe or socket, reports that its
// reader went away (POLLERR or POLLHUP), and then returns true. It asks
// poll for no events, so it sleeps in the kernel until that happens; for
// anything but a pipe or socket it returns false at once.
func readerGone(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&(os.ModeNamedPipe|os.ModeSocket) == 0 {
		return false
	}
	fds := []unix.PollFd{{Fd: int32(f.Fd()), Events: 0}}
	for {
		n, err := unix.Poll(fds, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return false
		}
		if n > 0 {
			// Anything but ERR/HUP (POLLNVAL) would wake us again at
			// once: give up watching rather than spin.
			return fds[0].Revents&(unix.POLLERR|unix.POLLHUP) != 0
		}
	}
}
