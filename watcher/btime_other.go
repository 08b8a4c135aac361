//go:build !linux && !darwin && !freebsd && !netbsd

package watcher

import "time"

// birthOf: no birth time is read on this system, so a delete and a create
// that reuse an inode number inside one batch may still be paired as a
// rename.
func birthOf(string) (ino uint64, born time.Time, ok bool) { return 0, time.Time{}, false }
