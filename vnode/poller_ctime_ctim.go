//go:build linux || openbsd || dragonfly

package vnode

import "syscall"

// ctimeNs is the inode change time; these systems name it Ctim.
func ctimeNs(st *syscall.Stat_t) int64 { return st.Ctim.Nano() }
