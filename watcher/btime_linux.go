//go:build linux

package watcher

import (
	"time"

	"golang.org/x/sys/unix"
)

// birthOf returns the inode number and birth time of the node at path, not
// following a final symlink; ok is false where the file system keeps no
// birth time.
func birthOf(path string) (ino uint64, born time.Time, ok bool) {
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_INO|unix.STATX_BTIME, &st); err != nil {
		return 0, time.Time{}, false
	}
	if st.Mask&unix.STATX_BTIME == 0 || st.Mask&unix.STATX_INO == 0 {
		return 0, time.Time{}, false
	}
	return st.Ino, time.Unix(st.Btime.Sec, int64(st.Btime.Nsec)), true
}
