//go:build !linux && !darwin && !freebsd && !dragonfly && !openbsd && !netbsd

package watcher

// fsTypeName is unknown here.
func fsTypeName(string) string { return "" }
