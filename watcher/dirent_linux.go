//go:build linux

package watcher

import (
	"encoding/binary"
	"fmt"
	"syscall"
	"unsafe"
)

// readDir lists a directory with getdents64 in large batches, taking kind
// and inode from the dirent itself so that a crawl of 100k files costs no
// per-entry lstat. Only entries of unknown type (DT_UNKNOWN, some file
// systems) are lstat'ed.
func readDir(path string, buf []byte, out []dirent) ([]dirent, error) {
	out, fd, err := readDirKeep(path, buf, out)
	if fd >= 0 {
		syscall.Close(fd)
	}
	return out, err
}

// readDirKeep is readDir that returns the directory's descriptor, still
// open (-1 if the open failed), for the caller to close.
func readDirKeep(path string, buf []byte, out []dirent) ([]dirent, int, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC|syscall.O_NOFOLLOW, 0)
	for err == syscall.EINTR {
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC|syscall.O_NOFOLLOW, 0)
	}
	if err != nil {
		return out, -1, fmt.Errorf("open %s: %w", path, err)
	}
	out, err = readAll(fd, path, buf, out)
	return out, fd, err
}

func readAll(fd int, path string, buf []byte, out []dirent) ([]dirent, error) {
	for {
		n, err := syscall.ReadDirent(fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return out, fmt.Errorf("read directory %s: %w", path, err)
		}
		if n <= 0 {
			return out, nil
		}
		out = parseDirents(path, buf[:n], out)
	}
}

// The layout of struct linux_dirent64: d_ino u64, d_off s64, d_reclen u16,
// d_type u8, d_name (NUL-terminated).
const (
	direntIno    = 0
	direntReclen = 16
	direntType   = 18
	direntName   = 19
)

var nativeEndian = func() binary.ByteOrder {
	x := uint16(1)
	if *(*byte)(unsafe.Pointer(&x)) == 1 {
		return binary.LittleEndian
	}
	return binary.BigEndian
}()

func parseDirents(dir string, b []byte, out []dirent) []dirent {
	for len(b) >= direntName {
		reclen := int(nativeEndian.Uint16(b[direntReclen:]))
		if reclen < direntName || reclen > len(b) {
			break
		}
		rec := b[:reclen]
		b = b[reclen:]
		name := rec[direntName:]
		for i, c := range name {
			if c == 0 {
				name = name[:i]
				break
			}
		}
		if len(name) == 0 || (len(name) == 1 && name[0] == '.') || (len(name) == 2 && name[0] == '.' && name[1] == '.') {
			continue
		}
		d := dirent{name: string(name), ino: nativeEndian.Uint64(rec[direntIno:])}
		switch rec[direntType] {
		case syscall.DT_DIR:
			d.kind = kDir
		case syscall.DT_LNK:
			d.kind = kSymlink
		case syscall.DT_UNKNOWN:
			k, ino := lstatNode(dir + "/" + d.name)
			if k == kNone {
				continue // gone since the listing
			}
			d.kind, d.ino = k, ino
		default:
			d.kind = kFile
		}
		out = append(out, d)
	}
	return out
}
