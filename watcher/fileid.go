package watcher

import (
	"errors"
	"os"
)

// FileID identifies a file by device and inode number, which name it
// wherever it is linked and whatever is renamed over it.
type FileID struct {
	Dev, Ino uint64
}

// IDOf returns the identity of the file fi describes, and false where the
// system does not tell (then no identity can be ignored).
func IDOf(fi os.FileInfo) (FileID, bool) {
	return fileIDOf(fi)
}

// ignoredFile reports whether name in d, indexed as kind k with inode ino,
// is one of Options.IgnoreFiles, and the first time a file is matched says
// so with the reason given for it. The inode is compared first, so the path
// and the lstat for the device are paid only on a likely match (a crawl
// asks for every node).
func (r *run) ignoredFile(d *dirNode, name string, k kind, ino uint64) bool {
	if len(r.w.o.IgnoreFiles) == 0 || k != kFile || ino == 0 {
		return false
	}
	match := false
	for id := range r.w.o.IgnoreFiles {
		if id.Ino == ino {
			match = true
		}
	}
	if !match {
		return false
	}
	path := d.child(name)
	fi, err := os.Lstat(path)
	if err != nil {
		return false
	}
	id, ok := IDOf(fi)
	why, ignored := r.w.o.IgnoreFiles[id]
	if !ok || !ignored {
		return false
	}
	if r.ignoredPaths == nil {
		r.ignoredPaths = map[string]bool{}
	}
	if !r.ignoredPaths[path] {
		r.ignoredPaths[path] = true
		r.w.o.notice(&Notice{Kind: IgnoredFile, Path: path, Err: errors.New(why)})
	}
	return true
}
