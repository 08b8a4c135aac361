package watcher

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
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

// decodeSnapshot checks a snapshot file's bytes through and returns the
// snapshot, its entries still encoded, or says what is wrong with them.
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
	s := &Snapshot{Time: time.Unix(0, t), n: int(n), body: d.b}
	// Walk the entries once, so that whoever reads them later can rely on
	// them; this allocates nothing.
	st := newSnapStream(s.body, s.n)
	for st.next() {
	}
	if st.err != "" {
		return nil, st.err
	}
	return s, ""
}

// snapStream decodes a snapshot's entries one at a time. path is only
// valid until the next call of next.
type snapStream struct {
	d    snapDecoder
	size int // of the body
	// start and end: where the current entry lies in the body
	start, end int
	left       int
	ok         bool      // e and path hold an entry
	e          snapEntry // without its path
	path       []byte
	err        string
}

func newSnapStream(body []byte, n int) *snapStream {
	return &snapStream{d: snapDecoder{b: body}, left: n, size: len(body)}
}

// next decodes the next entry; false at the end or on an error (err).
func (st *snapStream) next() bool {
	st.ok = false
	if st.err != "" {
		return false
	}
	if st.left == 0 {
		if len(st.d.b) != 0 {
			st.err = "corrupted (data after the last entry)"
		}
		return false
	}
	st.left--
	d := &st.d
	st.start = st.size - len(d.b)
	shared := d.uvarint()
	suffix := d.bytes(d.uvarint())
	if d.bad || shared > uint64(len(st.path)) {
		st.err = "corrupted (bad path)"
		return false
	}
	st.path = append(st.path[:shared], suffix...)
	prevMtime, prevIno := st.e.mtime, st.e.ino
	e := snapEntry{prev: -1}
	flags := d.byte()
	e.typ, e.hashed = flags&typeMask, flags&flagHashed != 0
	if e.typ < snapFile || e.typ > snapOther || flags&^(typeMask|flagHashed) != 0 {
		st.err = fmt.Sprintf("corrupted (bad type %#x for %s)", flags, st.path)
		return false
	}
	e.mode = uint32(d.uvarint())
	e.size = int64(d.uvarint())
	e.mtime = prevMtime + d.varint()
	e.ctime = e.mtime + d.varint()
	e.ino = prevIno + uint64(d.varint())
	if e.hashed {
		copy(e.hash[:], d.bytes(hashLen))
	}
	if d.bad {
		st.err = "truncated or corrupted entry"
		return false
	}
	st.e, st.ok = e, true
	st.end = st.size - len(d.b)
	return true
}

// load returns the snapshot's entries, decoding them the first time. The
// paths are rebuilt into one buffer that becomes one string, which the
// entries' paths are slices of: one allocation instead of one each.
func (s *Snapshot) load() []snapEntry {
	if s.entries != nil || s.n == 0 {
		if s.entries == nil {
			s.entries = []snapEntry{}
		}
		return s.entries
	}
	entries := make([]snapEntry, 0, s.n)
	ends := make([]int, 0, s.n)
	var all strings.Builder
	st := newSnapStream(s.body, s.n)
	for st.next() {
		all.Write(st.path)
		ends = append(ends, all.Len())
		entries = append(entries, st.e)
	}
	// decodeSnapshot or the taker checked the body: st.err is "".
	paths, start := all.String(), 0
	for i, end := range ends {
		entries[i].path = paths[start:end]
		start = end
	}
	s.entries = entries
	return entries
}

// appendEntry encodes e after prev (the entry before it, or a zero entry)
// and makes e the new prev.
func appendEntry(buf []byte, e, prev *snapEntry) []byte {
	shared := commonPrefix(prev.path, e.path)
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
	buf = binary.AppendVarint(buf, e.mtime-prev.mtime)
	buf = binary.AppendVarint(buf, e.ctime-e.mtime)
	buf = binary.AppendVarint(buf, int64(e.ino-prev.ino))
	if e.hashed {
		buf = append(buf, e.hash[:]...)
	}
	*prev = *e
	return buf
}

// encodedBody returns the entries in the file format: the body as taken or
// read, or, once the entries were decoded (and perhaps changed, in tests),
// encoded from them.
func (s *Snapshot) encodedBody() ([]byte, int) {
	if s.entries == nil {
		return s.body, s.n
	}
	var buf []byte
	var prev snapEntry
	for i := range s.entries {
		buf = appendEntry(buf, &s.entries[i], &prev)
	}
	return buf, len(s.entries)
}

// encode writes the snapshot in the file format, checksum included.
func (s *Snapshot) encode(w io.Writer) error {
	body, n := s.encodedBody()
	var head []byte
	head = append(head, snapMagic...)
	head = binary.AppendUvarint(head, snapVersion)
	head = binary.AppendUvarint(head, snapHashAlg)
	head = binary.AppendVarint(head, s.Time.UnixNano())
	head = binary.AppendUvarint(head, uint64(n))
	h := crc32.New(castagnoli)
	h.Write(head)
	h.Write(body)
	var sum [4]byte
	binary.LittleEndian.PutUint32(sum[:], h.Sum32())
	for _, b := range [][]byte{head, body, sum[:]} {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
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

// varint undoes binary.PutVarint's zig-zag encoding of a uvarint.
func (d *snapDecoder) varint() int64 {
	u := d.uvarint()
	return int64(u>>1) ^ -int64(u&1)
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
