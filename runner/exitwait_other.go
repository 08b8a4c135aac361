//go:build !linux

package runner

// awaitExit is a no-op here: Wait blocks until the process exits.
func awaitExit(pid int) {}
