//go:build !unix

package follow

import "os"

// alive reports whether process pid still exists, as far as os.FindProcess
// can tell on this platform.
func alive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	p.Release()
	return true
}
