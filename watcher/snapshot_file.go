package watcher

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"time"
)

// The snapshot file format, version 1 (docs/snapshot.md has the whole
// description). All integers are varints as encoding/binary writes them.
//
//	magic      "VIGILSNP" (8 bytes)
//	version    uvarint (1)
//	hash       uvarint: 1 = SHA-256 truncated to 16 bytes
//	time       varint: the snapshot's time, ns since the Unix epoch
//	count      uvarint: the number of entries
//	entries    count times:
//	  shared   uvarint: bytes shared with the previous entry's path
//	  suffix   uvarint length, then the rest of the path
//	  flags    byte: type (1 file, 2 dir, 3 symlink, 4 other) | 0x10 if hashed
//	  mode     uvarint: permission bits, setuid 04000, setgid 02000, sticky 01000
//	  size     uvarint
//	  mtime    varint: minus the previous entry's mtime (0 for the first)
//	  ctime    varint: minus this entry's mtime
//	  ino      varint: minus the previous entry's ino
//	  hash     16 bytes, if hashed
//	crc        4 bytes, little endian: CRC-32C of everything before it
const (
	snapMagic   = "VIGILSNP"
	snapVersion = 1
	snapHashAlg = 1 // SHA-256, first 16 bytes
	flagHashed  = 0x10
	typeMask    = 0x0f
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// SnapshotError says why a file is not a snapshot vigil can read: not one
// at all, one from a newer vigil, or one damaged (cut short, altered).
type SnapshotError struct {
	Path   string
	Reason string
}

// Error names the file and the reason.
func (e *SnapshotError) Error() string {
	return fmt.Sprintf("snapshot %s: %s", e.Path, e.Reason)
}

// ReadSnapshot reads a snapshot written by [Snapshot.WriteFile]. A missing
// file is an error satisfying errors.Is(err, fs.ErrNotExist); a file that
// is not a snapshot, is of an unknown version, or is truncated or
// corrupted is a *[SnapshotError]. It never returns a partial snapshot.
func ReadSnapshot(path string) (*Snapshot, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, reason := decodeSnapshot(data)
	if reason != "" {
		return nil, &SnapshotError{Path: path, Reason: reason}
	}
	return s, nil
}

// decodeSnapshot parses a snapshot file's bytes, or says what is wrong
// with them.
func decodeSnapshot(data []byte) (*Snapshot, string) {
	if len(data) < len(snapMagic) || string(data[:len(snapMagic)]) != snapMagic {
		if len(data) == 0 {
			return nil, "empty file, not a vigil snapshot"
		}
		return nil, "not a vigil snapshot (no VIGILSNP header)"
	}
	d := snapDecoder{b: data[len(snapMagic):]}
	if v := d.uvarint(); d.bad || v != snapVersion {
		if d.bad {
			return nil, "truncated"
		}
		return nil, fmt.Sprintf("format version %d, this vigil reads version %d", v, snapVersion)
	}
	if a := d.uvarint(); a != snapHashAlg && !d.bad {
		return nil, fmt.Sprintf("unknown hash algorithm %d", a)
	}
	// Check the whole file before trusting any count in it.
	if len(data) < len(snapMagic)+4 {
		return nil, "truncated"
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, "truncated or corrupted (checksum mismatch)"
	}
	d.b = d.b[:len(d.b)-4]
	t := d.varint()
	n := d.uvarint()
	if d.bad || n > uint64(len(d.b)) { // an entry takes several bytes
		return nil, "corrupted (bad entry count)"
	}
	s := &Snapshot{Time: time.Unix(0, t), entries: make([]snapEntry, 0, n)}
	// The paths are rebuilt into one buffer and made one string, which the
	// entries' paths are slices of: one allocation instead of one each.
	var all []byte
	var ends []int
	var prevStart, prevEnd int
	var mtime int64
	var ino uint64
	for range n {
		shared := d.uvarint()
		suffix := d.bytes(d.uvarint())
		if d.bad || shared > uint64(prevEnd-prevStart) {
			return nil, "corrupted (bad path)"
		}
		start := len(all)
		all = append(all, all[prevStart:prevStart+int(shared)]...)
		all = append(all, suffix...)
		prevStart, prevEnd = start, len(all)
		ends = append(ends, prevEnd)
		e := snapEntry{prev: -1}
		flags := d.byte()
		e.typ, e.hashed = flags&typeMask, flags&flagHashed != 0
		if e.typ < snapFile || e.typ > snapOther || flags&^(typeMask|flagHashed) != 0 {
			return nil, fmt.Sprintf("corrupted (bad type %#x for %s)", flags, all[prevStart:prevEnd])
		}
		e.mode = uint32(d.uvarint())
		e.size = int64(d.uvarint())
		mtime += d.varint()
		e.mtime = mtime
		e.ctime = mtime + d.varint()
		ino += uint64(d.varint())
		e.ino = ino
		if e.hashed {
			copy(e.hash[:], d.bytes(hashLen))
		}
		if d.bad {
			return nil, "truncated or corrupted entry"
		}
		s.entries = append(s.entries, e)
	}
	if len(d.b) != 0 {
		return nil, "corrupted (data after the last entry)"
	}
	paths, start := string(all), 0
	for i, end := range ends {
		s.entries[i].path = paths[start:end]
		start = end
	}
	return s, ""
}

// snapDecoder reads varints, remembering whether it ran out of bytes.
type snapDecoder struct {
	b   []byte
	bad bool
}

func (d *snapDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad = true
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *snapDecoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.bad = true
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *snapDecoder) byte() byte {
	if len(d.b) == 0 {
		d.bad = true
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *snapDecoder) bytes(n uint64) []byte {
	if n > uint64(len(d.b)) {
		d.bad = true
		d.b = nil
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

// encode writes the snapshot in the file format, checksum included.
func (s *Snapshot) encode(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	h := crc32.New(castagnoli)
	out := io.MultiWriter(bw, h)
	var buf []byte
	buf = append(buf, snapMagic...)
	buf = binary.AppendUvarint(buf, snapVersion)
	buf = binary.AppendUvarint(buf, snapHashAlg)
	buf = binary.AppendVarint(buf, s.Time.UnixNano())
	buf = binary.AppendUvarint(buf, uint64(len(s.entries)))
	var prevPath string
	var mtime int64
	var ino uint64
	for i := range s.entries {
		e := &s.entries[i]
		shared := commonPrefix(prevPath, e.path)
		buf = binary.AppendUvarint(buf, uint64(shared))
		buf = binary.AppendUvarint(buf, uint64(len(e.path)-shared))
		buf = append(buf, e.path[shared:]...)
		flags := e.typ
		if e.hashed {
			flags |= flagHashed
		}
		buf = append(buf, flags)
		buf = binary.AppendUvarint(buf, uint64(e.mode))
		buf = binary.AppendUvarint(buf, uint64(e.size))
		buf = binary.AppendVarint(buf, e.mtime-mtime)
		buf = binary.AppendVarint(buf, e.ctime-e.mtime)
		buf = binary.AppendVarint(buf, int64(e.ino-ino))
		if e.hashed {
			buf = append(buf, e.hash[:]...)
		}
		prevPath, mtime, ino = e.path, e.mtime, e.ino
		if len(buf) >= 32<<10 {
			if _, err := out.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	if _, err := out.Write(buf); err != nil {
		return err
	}
	var sum [4]byte
	binary.LittleEndian.PutUint32(sum[:], h.Sum32())
	if _, err := bw.Write(sum[:]); err != nil {
		return err
	}
	return bw.Flush()
}

func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// WriteFile saves the snapshot at path atomically: it writes a temporary
// file in the same directory, syncs it to disk, renames it over path and
// syncs the directory, so that path holds either the old snapshot or the
// whole new one, also after a crash.
func (s *Snapshot) WriteFile(path string) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write snapshot %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			err = fmt.Errorf("write snapshot %s: %w", path, err)
		}
	}()
	if err = s.encode(f); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		// The rename is durable once the directory is. It has happened
		// either way, so a file system that cannot sync a directory does
		// not make this an error.
		d.Sync()
		d.Close()
	}
	return nil
}
