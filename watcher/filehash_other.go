//go:build !unix

package watcher

import (
	"io"
	"os"
	"time"
)

// readRegular is the portable form of the unix one (filehash_unix.go),
// through package os: a symlink is followed only with follow.
func readRegular(path string, w io.Writer, buf []byte, limit int64, follow bool) (mode uint32, mtime time.Time, stable bool, err error) {
	if !follow {
		if fi, err := os.Lstat(path); err != nil {
			return 0, time.Time{}, false, err
		} else if !fi.Mode().IsRegular() {
			return 0, time.Time{}, false, &os.PathError{Op: "open", Path: path, Err: errNotRegular}
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, time.Time{}, false, err
	}
	defer f.Close()
	before, err := f.Stat()
	if err != nil {
		return 0, time.Time{}, false, err
	}
	if !before.Mode().IsRegular() {
		return 0, time.Time{}, false, &os.PathError{Op: "open", Path: path, Err: errNotRegular}
	}
	if limit >= 0 && before.Size() > limit {
		return 0, time.Time{}, false, errTooLarge
	}
	var n int64
	for {
		k, err := f.Read(buf)
		if k > 0 {
			w.Write(buf[:k])
			if n += int64(k); limit >= 0 && n > limit {
				return 0, time.Time{}, false, errTooLarge
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, time.Time{}, false, err
		}
	}
	after, err := f.Stat()
	if err != nil {
		return 0, time.Time{}, false, err
	}
	stable = after.Size() == n && after.Size() == before.Size() && after.ModTime().Equal(before.ModTime())
	return uint32(before.Mode()), before.ModTime(), stable, nil
}
