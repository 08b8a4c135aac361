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
