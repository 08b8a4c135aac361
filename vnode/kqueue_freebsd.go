//go:build freebsd

package vnode

import "golang.org/x/sys/unix"

// NOTE_CLOSE_WRITE (FreeBSD 11 and later) is in x/sys here; check that our
// value is FreeBSD's.
const _ = -uint(noteCloseWrite - unix.NOTE_CLOSE_WRITE)
