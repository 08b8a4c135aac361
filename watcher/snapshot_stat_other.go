//go:build !linux

package watcher

import "os"

// dirStatter lstats the nodes of a snapshot. Here it goes by the whole
// path through os.Lstat; on Linux without allocating (snapshot_stat_linux.go).
type dirStatter struct{}

func newDirStatter() *dirStatter { return &dirStatter{} }

// lstat describes the node at path as a snapshot records it.
func (*dirStatter) lstat(path string) (snapEntry, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return snapEntry{}, err
	}
	return entryOf(path, fi), nil
}

// lstatAt is lstat here: no descriptors are kept (see readDirKeep).
func (st *dirStatter) lstatAt(_ int, path string) (snapEntry, error) { return st.lstat(path) }

func (*dirStatter) close() {}
