//go:build openbsd

package watcher

import "golang.org/x/sys/unix"

// fsTypeName is statfs(2)'s f_fstypename ("nfs", "fuse", ...).
func fsTypeName(path string) string {
	var st unix.Statfs_t
	if unix.Statfs(path, &st) != nil {
		return ""
	}
	return unix.ByteSliceToString(st.F_fstypename[:])
}
