//go:build unix

package vnode

import (
	"io/fs"
	"syscall"
)

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
