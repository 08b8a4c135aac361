//go:build freebsd || openbsd || dragonfly

package vnode

import "golang.org/x/sys/unix"

// EV_RECEIPT is in x/sys on these kernels; check that our value is theirs.
// (NetBSD's kernel defines it as 0x40 too, but x/sys lacks the constant.)
const _ = -uint(evReceipt - unix.EV_RECEIPT)
