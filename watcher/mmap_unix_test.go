//go:build unix

package watcher

import (
	"fmt"
	"os"
	"syscall"
)

// writeMapped overwrites the start of the existing file path with data
// through a shared mapping, the way a database or a linker writes: the
// kernel sees page faults, not write(2), so it raises no write event.
func writeMapped(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() < int64(len(data)) {
		return fmt.Errorf("mmap %s: file has %d bytes, want at least %d", path, fi.Size(), len(data))
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, len(data), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmap %s: %w", path, err)
	}
	copy(m, data)
	if err := syscall.Munmap(m); err != nil {
		return fmt.Errorf("munmap %s: %w", path, err)
	}
	return f.Close()
}
