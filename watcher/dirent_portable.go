//go:build !linux

package watcher

import (
	"fmt"
	"os"
)

// readDir lists a directory with os.File.ReadDir batches. The kind comes
// from the entry type; the inode needs an lstat, which rename pairing after
// a rescan relies on.
func readDir(path string, _ []byte, out []dirent) ([]dirent, error) {
	f, err := os.Open(path)
	if err != nil {
		return out, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	for {
		des, err := f.ReadDir(1024)
		for _, de := range des {
			d := dirent{name: de.Name(), kind: kindOf(de.Type())}
			if fi, err := de.Info(); err == nil {
				d.ino = inoOf(fi)
			} else {
				continue // gone since the listing
			}
			out = append(out, d)
		}
		if err != nil || len(des) == 0 {
			return out, nil
		}
	}
}

// readDirKeep is readDir; no descriptor is kept here (-1): snapshot
// workers go by path.
func readDirKeep(path string, buf []byte, out []dirent) ([]dirent, int, error) {
	out, err := readDir(path, buf, out)
	return out, -1, err
}
