//go:build unix

package vnode

import (
	"io/fs"
	"syscall"
)

// ChangeTime returns the inode change time (ctime) of the node fi describes,
// in nanoseconds since the epoch, or 0 where the system does not say. It is
// what the poller compares, exported so that the tree layer reads it the
// same way.
func ChangeTime(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return ctimeNs(st)
	}
	return 0
}

// statOf extracts what the poller compares from an lstat or fstat result.
func statOf(fi fs.FileInfo) nodeState {
	s := nodeState{
		size:  fi.Size(),
		mtime: fi.ModTime().UnixNano(),
		mode:  fi.Mode(),
		isDir: fi.IsDir(),
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.dev, s.ino = uint64(st.Dev), uint64(st.Ino)
		s.uid, s.gid = uint32(st.Uid), uint32(st.Gid)
		s.nlink = uint64(st.Nlink)
		s.ctime = ctimeNs(st)
		s.hasInode, s.hasOwnerCt = true, true
	}
	return s
}
