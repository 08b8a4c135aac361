//go:build darwin || freebsd || netbsd

package watcher

import "syscall"

func ctimeNs(st *syscall.Stat_t) int64 { return st.Ctimespec.Nano() }
