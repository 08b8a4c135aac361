//go:build darwin || freebsd || dragonfly

package watcher

import "golang.org/x/sys/unix"

// fsTypeName is statfs(2)'s f_fstypename ("nfs", "smbfs", "fusefs", ...).
func fsTypeName(path string) string {
	var st unix.Statfs_t
	if unix.Statfs(path, &st) != nil {
		return ""
	}
	return unix.ByteSliceToString(st.Fstypename[:])
}
