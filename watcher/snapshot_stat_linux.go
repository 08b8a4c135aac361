//go:build linux

package watcher

import (
	"io/fs"
	"strings"

	"golang.org/x/sys/unix"
)

// dirStatter lstats the nodes of a snapshot. On Linux it fills a Stat_t on
// the stack: os.Lstat would allocate a FileInfo and its name for each of a
// large tree's nodes, and a snapshot of an unchanged tree is little more
// than these calls. Entries are stat'ed relative to their directory's
// descriptor when the crawl kept it open (dirFD): opening directories for
// that alone costs about what the shorter lookups save, but the crawl
// opened each one to list it anyway.
type dirStatter struct{}

func newDirStatter() *dirStatter { return &dirStatter{} }

// lstat describes the node at path as a snapshot records it.
func (*dirStatter) lstat(path string) (snapEntry, error) {
	var st unix.Stat_t
	err := unix.Lstat(path, &st)
	for err == unix.EINTR {
		err = unix.Lstat(path, &st)
	}
	return entryOfStat(path, &st, err)
}

// lstatAt is lstat of the entry named by path's last element in the
// directory open as dirfd: the kernel looks up one name instead of the
// whole path.
func (*dirStatter) lstatAt(dirfd int, path string) (snapEntry, error) {
	var st unix.Stat_t
	name := path[strings.LastIndexByte(path, '/')+1:]
	err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	for err == unix.EINTR {
		err = unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	}
	return entryOfStat(path, &st, err)
}

// entryOfStat is the snapshot record of what a stat of path returned.
func entryOfStat(path string, st *unix.Stat_t, err error) (snapEntry, error) {
	if err != nil {
		return snapEntry{}, &fs.PathError{Op: "lstat", Path: path, Err: err}
	}
	e := snapEntry{
		path:  path,
		mode:  st.Mode & 0o7777,
		size:  st.Size,
		mtime: st.Mtim.Nano(),
		ctime: st.Ctim.Nano(),
		ino:   st.Ino,
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		e.typ = snapFile
	case unix.S_IFDIR:
		e.typ = snapDir
	case unix.S_IFLNK:
		e.typ = snapSymlink
	default:
		e.typ = snapOther
	}
	return e, nil
}

func (*dirStatter) close() {}
