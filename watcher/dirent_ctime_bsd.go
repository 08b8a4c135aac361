//go:build darwin || freebsd || openbsd || netbsd || dragonfly

package watcher

import "syscall"

func ctimeNs(st *syscall.Stat_t) int64 { return st.Ctimespec.Nano() }
