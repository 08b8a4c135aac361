//go:build !unix

package watcher

import "os"

func fileIDOf(os.FileInfo) (FileID, bool) { return FileID{}, false }
