//go:build !unix

package vnode

import "io/fs"

// statOf extracts what the poller compares from an lstat or fstat result.
// Without inode numbers the poller sees contents and mode only.
func statOf(fi fs.FileInfo) nodeState {
	return nodeState{
		size:  fi.Size(),
		mtime: fi.ModTime().UnixNano(),
		mode:  fi.Mode(),
		isDir: fi.IsDir(),
	}
}

// ChangeTime returns 0: the inode change time is not known here.
func ChangeTime(fs.FileInfo) int64 { return 0 }
