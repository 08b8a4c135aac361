//go:build netbsd

package watcher

import "golang.org/x/sys/unix"

// fsTypeName is statvfs(2)'s f_fstypename ("nfs", "puffs", ...).
func fsTypeName(path string) string {
	var st unix.Statvfs_t
	if unix.Statvfs1(path, &st, unix.ST_WAIT) != nil {
		return ""
	}
	return unix.ByteSliceToString(st.Fstypename[:])
}
