//go:build unix

package follow

import (
	"errors"
	"syscall"
)

// alive reports whether process pid still exists. Signal 0 checks without
// sending anything; EPERM means it exists but belongs to someone else.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
