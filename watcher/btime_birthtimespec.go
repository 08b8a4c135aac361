//go:build darwin || freebsd || netbsd

package watcher

import (
	"os"
	"syscall"
	"time"
)

// birthOf returns the inode number and birth time of the node at path, not
// following a final symlink; ok is false where the file system keeps no
// birth time.
func birthOf(path string) (ino uint64, born time.Time, ok bool) {
	fi, err := os.Lstat(path)
	if err != nil {
		return 0, time.Time{}, false
	}
	st, isSys := fi.Sys().(*syscall.Stat_t)
	if !isSys || (st.Birthtimespec.Sec == 0 && st.Birthtimespec.Nsec == 0) {
		return 0, time.Time{}, false
	}
	return uint64(st.Ino), time.Unix(int64(st.Birthtimespec.Sec), int64(st.Birthtimespec.Nsec)), true
}
