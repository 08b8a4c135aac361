//go:build darwin || freebsd || openbsd || netbsd || dragonfly || (linux && libkqueue && cgo)

package vnode

// System calls shared by the real kqueue kernels: the BSDs' and darwin's,
// and libkqueue's on Linux.
// Section numbers (§N) refer to docs/kqueue.md.

import (
	"io/fs"

	"golang.org/x/sys/unix"
)

// unreadBytes is what EVFILT_READ reports for a regular file: the bytes
// from fd's offset to EOF, negative when the file was truncated below it.
func unreadBytes(fd int) (int64, error) {
	off, err := unix.Seek(fd, 0, 1) // SEEK_CUR
	if err != nil {
		return 0, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, err
	}
	return int64(st.Size) - off, nil
}

// raiseNoFileUnix sets the soft RLIMIT_NOFILE to the hard limit (capped where
// the kernel refuses more, see openFilesCap). Go's runtime does the same
// at start-up (§2.9); this only acts when the limit is still low, because
// syscall.Setrlimit (which unix.Setrlimit calls) also stops Go restoring
// the original limit in child processes.
func raiseNoFileUnix() error {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return err
	}
	want := rlimInt64(rl.Max)
	if c := openFilesCap(); c > 0 && c < want {
		want = c
	}
	if rlimInt64(rl.Cur) >= want {
		return nil
	}
	setRlim(&rl.Cur, want)
	return unix.Setrlimit(unix.RLIMIT_NOFILE, &rl)
}

func noFileUnix() int64 {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return -1
	}
	return rlimInt64(rl.Cur)
}

// rlimInt64 and setRlim bridge unix.Rlimit's field type: int64 on FreeBSD,
// uint64 on darwin, OpenBSD, NetBSD and DragonFly (§1.2). RLIM_INFINITY is
// 2^63-1 on all of them; a larger unsigned value is treated as infinite.
func rlimInt64[T int64 | uint64](v T) int64 {
	if v < 0 || uint64(v) > 1<<63-1 {
		return 1<<63 - 1
	}
	return int64(v)
}

func setRlim[T int64 | uint64](p *T, v int64) { *p = T(v) }

// openRetrying opens path with flags, again after EINTR (which an open can
// return on macOS too, as fsnotify found).
func openRetrying(path string, flags int) (int, error) {
	for {
		fd, err := unix.Open(path, flags, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, &fs.PathError{Op: "open", Path: path, Err: err}
		}
		return fd, nil
	}
}
