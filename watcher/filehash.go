package watcher

import (
	"errors"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// errNotRegular and errTooLarge are why readRegular read nothing.
var (
	errNotRegular = errors.New("not a regular file")
	errTooLarge   = errors.New("larger than the cap")
)

// readRegular feeds the contents of the regular file at path to w through
// buf: opened without following a symlink and without blocking on a FIFO,
// and by descriptor only, so that a file hashed many times in a row (a
// priming pass, a snapshot) costs open, fstat, reads, fstat and close, with
// no allocation. A file larger than limit (when limit ≥ 0) is not read.
// The file's mode and modification time (before the read) are returned;
// stable is false when the size or modification time differed after the
// read: what w got may mix two versions.
func readRegular(path string, w io.Writer, buf []byte, limit int64) (mode uint32, mtime time.Time, stable bool, err error) {
	var fd int
	for {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		if err == unix.ELOOP {
			return 0, time.Time{}, false, errNotRegular // a symlink
		}
		return 0, time.Time{}, false, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	var before, after unix.Stat_t
	if err := unix.Fstat(fd, &before); err != nil {
		return 0, time.Time{}, false, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if before.Mode&unix.S_IFMT != unix.S_IFREG {
		return 0, time.Time{}, false, errNotRegular
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
