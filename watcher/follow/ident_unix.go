//go:build unix

package follow

import (
	"io/fs"
	"syscall"
)

// identOf returns the (device, inode) pair that names a file for as long as
// some descriptor keeps it open.
func identOf(fi fs.FileInfo) (ident, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ident{}, false
	}
	return ident{dev: uint64(st.Dev), ino: uint64(st.Ino)}, true
}

// linkCount returns how many names the file has; 0 means it was deleted and
// lives on only through open descriptors.
func linkCount(fi fs.FileInfo) (uint64, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return uint64(st.Nlink), true
}
