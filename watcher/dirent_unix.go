//go:build unix

package watcher

import (
	"errors"
	"io/fs"
	"syscall"
)

// inoOf returns the inode number behind fi, or 0.
func inoOf(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}

// ctimeOf returns the status-change time in nanoseconds, or 0.
func ctimeOf(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return ctimeNs(st)
	}
	return 0
}

// isGone reports whether err says the path no longer names a directory.
func isGone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}
