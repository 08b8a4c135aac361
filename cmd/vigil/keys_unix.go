//go:build linux || darwin || freebsd || openbsd || netbsd || dragonfly

package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// charMode switches the terminal on f to character-at-a-time input without
// echo, keeping ISIG so that Ctrl-C and Ctrl-Z behave as usual. It refuses
// (ok false) when f is not a terminal or vigil is not in the terminal's
// foreground process group: reading it from the background would stop
// vigil with SIGTTIN.
func charMode(f *os.File) (restore func(), ok bool) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, getTermios)
	if err != nil {
		return nil, false
	}
	fg, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP)
	if err != nil || fg != unix.Getpgrp() {
		return nil, false
	}
	t := *old
	t.Lflag &^= unix.ICANON | unix.ECHO
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, setTermios, &t); err != nil {
		return nil, false
	}
	return func() { unix.IoctlSetTermios(fd, setTermios, old) }, true
}
