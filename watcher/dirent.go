package watcher

import (
	"io/fs"
	"os"
)

// kind is what a directory entry is, as far as the watcher cares.
type kind uint8

const (
	kNone    kind = iota
	kFile         // a regular file (or anything that is neither dir nor symlink)
	kDir          // a directory (or, with FollowSymlinks, a symlink to one)
	kSymlink      // a symbolic link, reported as itself
)

// dirent is one name read from a directory.
type dirent struct {
	name string
	kind kind
	ino  uint64 // 0 when the platform does not say
}

// kindOf maps a file mode to a kind.
func kindOf(m fs.FileMode) kind {
	switch {
	case m.IsDir():
		return kDir
	case m&fs.ModeSymlink != 0:
		return kSymlink
	}
	return kFile
}

// lstatNode returns what is at path now: its kind and inode, or kNone when
// nothing is there.
func lstatNode(path string) (kind, uint64) {
	fi, err := os.Lstat(path)
	if err != nil {
		return kNone, 0
	}
	return kindOf(fi.Mode()), inoOf(fi)
}
