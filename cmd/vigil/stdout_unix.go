//go:build unix

package main

import (
	"errors"
	"fmt"
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

// stdoutOpen returns an error when w is an *os.File whose descriptor was
// closed when vigil started (`vigil tail f >&-`). The Go runtime opens
// /dev/null read-write in place of a closed descriptor 0, 1 or 2 before
// main runs, so lines would vanish there without an error: a descriptor 1
// that is /dev/null open for reading and writing is taken for that (a
// shell's `>/dev/null` opens it write-only).
func stdoutOpen(w io.Writer) error {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	fl, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0)
	if err != nil {
		return fmt.Errorf("standard output: %w", err)
	}
	if fl&unix.O_ACCMODE != unix.O_RDWR {
		return nil
	}
	var st, null unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) != nil || unix.Stat(os.DevNull, &null) != nil {
		return nil
	}
	if st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == null.Rdev {
		return errors.New("standard output is closed")
	}
	return nil
}
