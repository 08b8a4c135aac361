//go:build unix && !linux && !darwin && !freebsd && !openbsd && !netbsd && !dragonfly

package watcher

import "syscall"

// ctimeNs is unknown here; writes after an overflow are then found by
// mtime alone.
func ctimeNs(st *syscall.Stat_t) int64 { return 0 }
