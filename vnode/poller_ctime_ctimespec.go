//go:build darwin || freebsd || netbsd

package vnode

import "syscall"

// ctimeNs is the inode change time; these systems name it Ctimespec.
func ctimeNs(st *syscall.Stat_t) int64 { return st.Ctimespec.Nano() }
