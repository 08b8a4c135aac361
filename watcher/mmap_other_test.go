//go:build !unix

package watcher

import "errors"

func writeMapped(string, []byte) error { return errors.New("mmap: not on this platform") }
