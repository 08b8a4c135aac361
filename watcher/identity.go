package watcher

import (
	"os"
	"path/filepath"

	"github.com/vigil-watch/vigil/vnode"
)

// ctimeOf returns the status-change time in nanoseconds, or 0.
func ctimeOf(fi os.FileInfo) int64 { return vnode.ChangeTime(fi) }

// sameNodeAt reports whether the node at path is the one fi describes: the
// same inode on the same device, as os.SameFile compares them. Inode numbers
// alone repeat across file systems (every ext4 root directory is inode 2).
func sameNodeAt(path string, fi os.FileInfo) bool {
	pfi, err := os.Stat(path)
	return err == nil && os.SameFile(pfi, fi)
}

// oneDevice reports whether a node that left oldPath can be the one that
// arrived at newPath: a rename never crosses devices, so both parent
// directories must be on one. True when it cannot tell (a parent is gone).
func oneDevice(oldPath, newPath string) bool {
	ofi, err := os.Stat(filepath.Dir(oldPath))
	if err != nil {
		return true
	}
	nfi, err := os.Stat(filepath.Dir(newPath))
	if err != nil {
		return true
	}
	return devOf(ofi) == devOf(nfi)
}
