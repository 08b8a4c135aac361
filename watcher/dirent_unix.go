//go:build unix

package watcher

import (
	"errors"
	"io/fs"
	"syscall"
)

// closeFD closes a descriptor the crawl kept (see dirFD).
func closeFD(fd int) { syscall.Close(fd) }

// inoOf returns the inode number behind fi, or 0. An inode number names a
// node only together with its device (see devOf): the index keeps the
// number alone, to stay small, and the checks that decide identity (a
// symlink loop, a root replaced, a rename paired by inode) add the device.
func inoOf(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}

// devOf returns the device fi's node lives on, or 0.
func devOf(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Dev)
	}
	return 0
}

// isGone reports whether err says the path no longer names a directory.
func isGone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}
