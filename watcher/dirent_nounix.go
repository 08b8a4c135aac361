//go:build !unix

package watcher

import (
	"errors"
	"io/fs"
)

// inoOf: no inode numbers here; renames found by rescans are then reported
// as a remove and a create.
func inoOf(fs.FileInfo) uint64 { return 0 }

func devOf(fs.FileInfo) uint64 { return 0 }

// isGone reports whether err says the path no longer names a directory.
// closeFD: no descriptor is kept here (readDirKeep keeps none).
func closeFD(int) {}

func isGone(err error) bool { return errors.Is(err, fs.ErrNotExist) }
