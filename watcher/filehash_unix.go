//go:build unix

package watcher

import (
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// readRegular feeds the contents of the regular file at path to w through
// buf: opened without following a symlink (unless follow: a root that
// links to a file) and without blocking on a FIFO,
// and by descriptor only, so that a file hashed many times in a row (a
// priming pass, a snapshot) costs open, fstat, reads, fstat and close, with
// no allocation. A file larger than limit (when limit ≥ 0) is not read.
// The file's mode and modification time (before the read) are returned;
// stable is false when the size or modification time differed after the
// read: what w got may mix two versions.
func readRegular(path string, w io.Writer, buf []byte, limit int64, follow bool) (mode uint32, mtime time.Time, stable bool, err error) {
	flags := unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NONBLOCK
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	var fd int
	for {
		fd, err = unix.Open(path, flags, 0)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		if err == unix.ELOOP {
			return 0, time.Time{}, false, &os.PathError{Op: "open", Path: path, Err: errNotRegular} // a symlink
		}
		return 0, time.Time{}, false, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	var before, after unix.Stat_t
	if err := unix.Fstat(fd, &before); err != nil {
		return 0, time.Time{}, false, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if before.Mode&unix.S_IFMT != unix.S_IFREG {
		return 0, time.Time{}, false, &os.PathError{Op: "open", Path: path, Err: errNotRegular}
	}
	if limit >= 0 && before.Size > limit {
		return 0, time.Time{}, false, errTooLarge
	}
	var n int64
	for {
		k, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, time.Time{}, false, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if k == 0 {
			break
		}
		w.Write(buf[:k])
		if n += int64(k); limit >= 0 && n > limit {
			return 0, time.Time{}, false, errTooLarge // grew past the cap while read
		}
	}
	if err := unix.Fstat(fd, &after); err != nil {
		return 0, time.Time{}, false, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	stable = after.Size == n && after.Size == before.Size && after.Mtim == before.Mtim
	return uint32(before.Mode), time.Unix(before.Mtim.Unix()), stable, nil
}
