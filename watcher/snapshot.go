package watcher

import (
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
)

// A Snapshot records what a set of roots held at one moment, as their
// filters admit it: for every node its path, type, permission bits, size,
// modification and status-change times, inode number and, for regular
// files and symlinks, a hash of the contents (of the target, for a
// symlink). Comparing a snapshot with a later one says what changed
// between them without a watcher running in between: that is
// `vigil changed`. The file format is described in docs/snapshot.md.
//
// Contents are hashed only when a node's metadata differs from the
// previous snapshot's, or when the previous snapshot could not trust it:
// a node whose times fall within [RacyWindow] of the moment that snapshot
// was taken may have been changed again within the same timestamp tick
// (git's "racily clean" entries), so it is hashed again.
type Snapshot struct {
	// Time is when the scan began (the wall clock, to the nanosecond).
	Time time.Time

	// A snapshot is kept encoded (body: its entries in the file format,
	// n of them), which is a third of their size in memory: on a large
	// unchanged tree most of the cost of a snapshot is the memory it
	// touches. entries, when not nil, is the decoded form, and then the
	// one that counts.
	n       int
	body    []byte
	entries []snapEntry
	base    *Snapshot // the snapshot this one was taken against, if any
	same    bool      // entries equal base's, and base trusted all of them
}

// snapEntry is one node of a snapshot.
type snapEntry struct {
	path         string
	typ          uint8 // snapFile, snapDir, snapSymlink, snapOther
	hashed       bool  // hash holds the contents' hash
	mode         uint32
	size         int64
	mtime, ctime int64 // nanoseconds since the Unix epoch
	ino          uint64
	hash         [hashLen]byte
	prev         int32 // index of the same path in base, or -1 (not stored)
}

// meta is what an entry records besides its path: what the taker hands
// its workers for a node the previous snapshot knows.
func (e *snapEntry) meta() snapEntry {
	m := *e
	m.path = ""
	return m
}

// The node types a snapshot tells apart.
const (
	snapFile    = 1 // a regular file
	snapDir     = 2 // a directory
	snapSymlink = 3 // a symbolic link (its target is hashed)
	snapOther   = 4 // a FIFO, socket or device: never opened
)

// hashLen is how much of the SHA-256 of a node's contents a snapshot keeps:
// 128 bits make an accidental collision beyond reach and keep the file
// small.
const hashLen = 16

// RacyWindow is how close to a snapshot's time a node's modification or
// status-change time may be for the snapshot to still trust it. Time stamps
// come from a coarse kernel clock and are rounded to the file system's
// granularity (2 s on FAT), so a write made just after a node was looked at
// can leave its times as they were; such a node is hashed again next time.
const RacyWindow = 3 * time.Second

// Len returns the number of nodes the snapshot holds.
func (s *Snapshot) Len() int {
	if s.entries != nil {
		return len(s.entries)
	}
	return s.n
}

// racy reports whether s cannot vouch for e's contents by its metadata
// alone: e changed so close to s's time that a later change may share its
// time stamps.
func (s *Snapshot) racy(e *snapEntry) bool {
	return max(e.mtime, e.ctime) >= s.Time.UnixNano()-int64(RacyWindow)
}

// SameAs reports whether writing s would give prev's file again, apart from
// the time: s was taken against prev, found every node prev holds and no
// other, each with the metadata prev recorded, and prev trusted all of them.
// Keeping prev's file is then as good as writing s.
func (s *Snapshot) SameAs(prev *Snapshot) bool {
	return prev != nil && s.base == prev && s.same
}

// TakeSnapshot scans o's roots through o's filters, as [Scan] does, and
// records every node admitted (directories too, unless Include patterns
// leave them out, as batches do). Nodes whose metadata matches prev (which
// may be nil) and that prev could trust keep prev's hash; the others are
// hashed. Paths in skip (absolute) are left out, with the temporary files
// [Snapshot.WriteFile] makes beside them: a snapshot kept inside the tree
// it describes does not describe itself. Problems that do not stop the
// scan (an unreadable directory or file) go to o.OnError or o.Logf, as in
// [Watcher.Run].
func TakeSnapshot(o Options, prev *Snapshot, skip ...string) (*Snapshot, error) {
	w, err := New(o)
	if err != nil {
		return nil, err
	}
	// The crawl and the workers both report problems: one at a time.
	var mu sync.Mutex
	if f := w.o.OnError; f != nil {
		w.o.OnError = func(err error) { mu.Lock(); defer mu.Unlock(); f(err) }
	}
	if f := w.o.Logf; f != nil {
		w.o.Logf = func(format string, args ...any) { mu.Lock(); defer mu.Unlock(); f(format, args...) }
	}
	s := &Snapshot{Time: time.Now(), base: prev}
	t := newSnapTaker(s, prev, &w.o)
	r := newRun(w, nil)
	r.keepDirFDs = true
	skipped := skipSet(skip)
	r.collect = func(path string, k kind, _ uint64) {
		if skipped(path) {
			return
		}
		if k == kDir && len(r.f.include) > 0 {
			if rel, ok := r.relToRoot(path); ok && !r.f.included(rel) {
				return
			}
		}
		t.add(path, k != kSymlink, r.curDir)
	}
	r.crawl()
	if err := t.finish(); err != nil {
		return nil, err
	}
	return s, nil
}

// skipSet returns a test for the paths TakeSnapshot leaves out: the named
// files and the temporary files of an atomic write beside them.
func skipSet(paths []string) func(string) bool {
	if len(paths) == 0 {
		return func(string) bool { return false }
	}
	exact := map[string]bool{}
	var tmps []string
	for _, p := range paths {
		if p == "" {
			continue
		}
		p = filepath.Clean(p)
		exact[p] = true
		tmps = append(tmps, tempPrefix(p))
	}
	return func(path string) bool {
		if exact[path] {
			return true
		}
		for _, t := range tmps {
			if strings.HasPrefix(path, t) {
				return true
			}
		}
		return false
	}
}

// tempPrefix is how the temporary files of an atomic write of path begin.
func tempPrefix(path string) string {
	dir, base := filepath.Split(path)
	return dir + "." + base + ".tmp-"
}

// snapTaker stats and hashes the nodes a crawl finds. The crawl (one
// goroutine, reading directories) hands nodes over in chunks; workers, one
// per CPU, stat, hash and encode them meanwhile, so that a large tree costs
// about the crawl's time rather than the crawl's plus every lstat.
//
// Each node is matched with prev's record of its path as it is handed
// over. Both are in crawl order, and an unchanged directory lists its
// names in the same order each time, so prev is read as a stream, one
// entry ahead, without decoding it whole; only when a path is not the one
// expected is prev decoded and looked up by path from then on.
type snapTaker struct {
	s, prev *Snapshot
	o       *Options

	stream  *snapStream      // prev's entries, in order; nil once off it
	prevAt  map[string]int32 // prev's paths, once off the stream
	matched int
	cur     *snapChunk
	work    chan *snapChunk
	free    chan *snapChunk // processed chunks, for reuse
	wg      sync.WaitGroup

	// Processed chunks are joined into the body in crawl order as soon as
	// all chunks before them are done, so that few are held at a time.
	mu   sync.Mutex
	seq  int                // sequence number of the next chunk handed out
	next int                // sequence number of the next chunk to join
	done map[int]*snapChunk // processed, waiting for the ones before
	body []byte
	last snapEntry // the last entry joined
	// pure: the body so far is prev's body up to pureEnd, unchanged, and
	// is not copied until a chunk differs (on an unchanged tree, never).
	pure     bool
	pureEnd  int
	n        int
	trusted  int
	inFlight int
}

// snapChunk is a run of consecutive nodes in crawl order.
type snapChunk struct {
	seq   int
	items []snapItem
	// What the worker made of them: the first entry as it is, the others
	// encoded (each against the one before it; the first is encoded once
	// the chunk before it is joined).
	first   snapEntry
	last    snapEntry
	count   int
	rest    []byte
	trusted int // nodes that kept prev's record unchanged
	// streamed: every node was matched from prev's stream, so their
	// records are prev's body from streamStart to streamEnd; pristine:
	// moreover each node was found as recorded, so that is also their
	// encoding here, and the worker made none.
	streamed               bool
	streamStart, streamEnd int
	pristine               bool
}

// snapItem is one node handed to a worker.
type snapItem struct {
	path   string
	follow bool      // the crawl took it for what a symlink leads to
	dir    *dirFD    // its directory, open; nil: stat by path
	hasOld bool      // prev knows the path
	old    snapEntry // prev's record of it (no path)
}

const (
	snapChunkSize = 512
	snapQueued    = 8 // chunks waiting for a worker
)

func newSnapTaker(s, prev *Snapshot, o *Options) *snapTaker {
	// Two workers per CPU: their time is mostly lstat in the kernel, and a
	// call that outlasts the scheduler's 20 µs hands its CPU to another
	// goroutine, which then needs a chunk to work on (on 100,000 files
	// with 2 CPUs: 0.35-0.36 s against 0.36-0.46 s with one per CPU).
	n := 2 * max(runtime.GOMAXPROCS(0), 1)
	t := &snapTaker{s: s, prev: prev, o: o, work: make(chan *snapChunk, snapQueued),
		free: make(chan *snapChunk, snapQueued+2*n+2), done: map[int]*snapChunk{}}
	if prev != nil {
		if prev.entries == nil {
			t.stream = newSnapStream(prev.body, prev.n)
			t.stream.next()
			t.pure = true
		} else {
			t.offStream()
		}
	}
	for range n {
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			buf := make([]byte, 64<<10)
			scratch := make([]snapEntry, 0, snapChunkSize)
			st := newDirStatter()
			defer st.close()
			for c := range t.work {
				scratch = t.process(c, st, buf, scratch[:0])
				t.join(c)
			}
		}()
	}
	return t
}

// join adds a processed chunk to the body, with every chunk after it that
// is waiting, once the chunks before it are in; then they can be reused.
func (t *snapTaker) join(c *snapChunk) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done[c.seq] = c
	for {
		c, ok := t.done[t.next]
		if !ok {
			return
		}
		delete(t.done, t.next)
		t.next++
		switch {
		case c.pristine && t.pure && c.streamStart == t.pureEnd:
			t.pureEnd = c.streamEnd
		default:
			if t.pure {
				t.pure = false
				body := make([]byte, 0, len(t.prev.body)+len(t.prev.body)/8+4096)
				t.body = append(body, t.prev.body[:t.pureEnd]...)
			}
			if c.pristine {
				for i := range c.items {
					e := c.items[i].old
					e.path = c.items[i].path
					t.body = appendEntry(t.body, &e, &t.last)
				}
			} else if c.count > 0 {
				t.body = appendEntry(t.body, &c.first, &t.last)
				t.body = append(t.body, c.rest...)
			}
		}
		if c.count > 0 {
			t.last = c.last
		}
		t.n += c.count
		t.trusted += c.trusted
		clear(c.items)
		c.items, c.rest = c.items[:0], c.rest[:0]
		c.first, c.last = snapEntry{}, snapEntry{}
		c.count, c.trusted = 0, 0
		c.pristine, c.streamed = false, false
		select {
		case t.free <- c:
		default:
		}
	}
}

// offStream switches to looking prev's entries up by path.
func (t *snapTaker) offStream() {
	t.stream = nil
	entries := t.prev.load()
	t.prevAt = make(map[string]int32, len(entries))
	for i := range entries {
		t.prevAt[entries[i].path] = int32(i)
	}
}

// add queues one node found by the crawl, with prev's record of its path.
func (t *snapTaker) add(path string, follow bool, dir *dirFD) {
	if t.cur == nil {
		select {
		case t.cur = <-t.free:
		default:
			t.cur = &snapChunk{items: make([]snapItem, 0, snapChunkSize), rest: make([]byte, 0, snapChunkSize*48)}
		}
		t.cur.seq = t.seq
		t.seq++
		t.cur.streamed = t.stream != nil
		if t.stream != nil {
			t.cur.streamStart = t.stream.start
		}
	}
	it := snapItem{path: path, follow: follow}
	if dir != nil {
		dir.hold()
		it.dir = dir
	}
	if t.prev != nil {
		if st := t.stream; st != nil && st.ok && string(st.path) == path {
			it.old, it.hasOld = st.e, true
			t.cur.streamEnd = st.end
			st.next()
		} else {
			t.cur.streamed = false
			if t.stream != nil {
				t.offStream()
			}
			if i, ok := t.prevAt[path]; ok {
				it.old, it.hasOld = t.prev.entries[i].meta(), true
			}
		}
		if it.hasOld {
			t.matched++
		}
	}
	t.cur.items = append(t.cur.items, it)
	if len(t.cur.items) == snapChunkSize {
		t.flush()
	}
}

func (t *snapTaker) flush() {
	if t.cur == nil {
		return
	}
	t.work <- t.cur
	t.cur = nil
}

// finish waits for the workers; the body is then complete.
func (t *snapTaker) finish() error {
	t.flush()
	close(t.work)
	t.wg.Wait()
	if len(t.done) != 0 || t.next != t.seq {
		panic("watcher: snapshot chunks lost") // join's bookkeeping is wrong
	}
	t.s.body, t.s.n = t.body, t.n
	if t.pure {
		t.s.body = t.prev.body[:t.pureEnd]
	}
	if t.stream != nil && t.stream.err != "" {
		return &SnapshotError{Reason: t.stream.err}
	}
	// Paths are unique, so n nodes matched to n of prev's n entries are all
	// of them.
	t.s.same = t.prev != nil && t.trusted == t.n && t.matched == t.n && t.n == t.prev.Len()
	return nil
}

// process stats each node of c, hashes those prev cannot vouch for, and
// encodes the entries.
func (t *snapTaker) process(c *snapChunk, st *dirStatter, buf []byte, scratch []snapEntry) []snapEntry {
	for i := range c.items {
		it := &c.items[i]
		var e snapEntry
		var err error
		if it.dir != nil {
			e, err = st.lstatAt(it.dir.fd, it.path)
			it.dir.release()
			it.dir = nil
		} else {
			e, err = st.lstat(it.path)
		}
		if err == nil && e.typ == snapSymlink && it.follow {
			// A symlink the crawl followed (into a directory, or a root
			// that links to a file): recorded as what it leads to, as
			// the watcher sees it, so a change of the target is one.
			var fi fs.FileInfo
			if fi, err = os.Stat(it.path); err == nil {
				e = entryOf(it.path, fi)
			}
		}
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) && !isGone(err) {
				t.o.notice(&Notice{Kind: Unreadable, Path: it.path, Err: err})
			}
			continue // gone since the crawl listed it
		}
		trusted := false
		if it.hasOld {
			o := &it.old
			if o.sameMeta(&e) && !t.prev.racy(o) && (o.hashed || !hashable(e.typ)) {
				e.hash, e.hashed = o.hash, o.hashed
				trusted = true
			}
		}
		if !trusted && hashable(e.typ) {
			if err := e.hashContents(buf, it.follow); err != nil {
				if errors.Is(err, fs.ErrNotExist) || isGone(err) {
					continue
				}
				t.o.notice(&Notice{Kind: Unreadable, Path: it.path, Err: err})
			}
		}
		if trusted {
			c.trusted++
		}
		scratch = append(scratch, e)
	}
	c.count = len(scratch)
	if c.count == 0 {
		return scratch
	}
	c.last = scratch[c.count-1]
	if c.streamed && c.trusted == len(c.items) {
		c.pristine = true // prev's body holds these entries already
		return scratch
	}
	c.first = scratch[0]
	prev := scratch[0]
	for i := 1; i < len(scratch); i++ {
		c.rest = appendEntry(c.rest, &scratch[i], &prev)
	}
	return scratch
}

// entryOf records what lstat said about path.
func entryOf(path string, fi fs.FileInfo) snapEntry {
	m := fi.Mode()
	e := snapEntry{
		path:  path,
		mode:  unixMode(m),
		size:  fi.Size(),
		mtime: fi.ModTime().UnixNano(),
		ctime: ctimeOf(fi),
		ino:   inoOf(fi),
	}
	switch {
	case m.IsRegular():
		e.typ = snapFile
	case m.IsDir():
		e.typ = snapDir
	case m&fs.ModeSymlink != 0:
		e.typ = snapSymlink
	default:
		e.typ = snapOther
	}
	return e
}

// unixMode returns the permission bits of m with setuid, setgid and
// sticky in their Unix places, as a snapshot stores them.
func unixMode(m fs.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}

func hashable(typ uint8) bool { return typ == snapFile || typ == snapSymlink }

// sameMeta reports whether two records of one path describe the node alike.
func (e *snapEntry) sameMeta(o *snapEntry) bool {
	return e.typ == o.typ && e.mode == o.mode && e.size == o.size &&
		e.mtime == o.mtime && e.ctime == o.ctime && e.ino == o.ino
}

// hashContents hashes a regular file's contents, or a symlink's target;
// follow: e is what a followed symlink leads to (a root linking to a file).
func (e *snapEntry) hashContents(buf []byte, follow bool) error {
	h := sha256.New()
	if e.typ == snapSymlink {
		target, err := os.Readlink(e.path)
		if err != nil {
			return err
		}
		io.WriteString(h, target)
	} else if _, _, _, err := readRegular(e.path, h, buf, -1, follow); err != nil {
		return err
	}
	var sum [sha256.Size]byte
	copy(e.hash[:], h.Sum(sum[:0]))
	e.hashed = true
	return nil
}

// Changes returns what differs between the snapshot s was taken against
// and s, as a batch would report it, sorted by path: every node as Create
// when there was none. A node at a new path whose inode and contents are
// those of a node gone from another path is a Rename from there; a file
// or symlink whose contents differ is a Write (contents compared by hash,
// so a rewrite with the same bytes is no change); a node whose type
// changed is a Write; different permission bits alone are a Chmod.
// Directories are never written, only created, removed, renamed or
// chmod'ed: what they hold is reported node by node.
func (s *Snapshot) Changes() []Change {
	p := s.base
	var out []Change
	if p == nil {
		for _, e := range s.load() {
			out = append(out, Change{Path: e.path, Op: Create})
		}
		sortChanges(out)
		return out
	}
	if s.same {
		return nil
	}
	cur, old := s.load(), p.load()
	at := make(map[string]int32, len(old))
	for j := range old {
		at[old[j].path] = int32(j)
	}
	present := make([]bool, len(p.entries)) // the path is still there
	for i := range cur {
		cur[i].prev = -1
		if j, ok := at[cur[i].path]; ok {
			cur[i].prev = j
			present[j] = true
		}
	}
	// Gone paths by inode: where a node at a new path may have come from.
	gone := map[uint64][]int32{}
	for j := range p.entries {
		if !present[j] && p.entries[j].ino != 0 {
			gone[p.entries[j].ino] = append(gone[p.entries[j].ino], int32(j))
		}
	}
	movedFrom := make([]bool, len(p.entries))
	origin := func(e *snapEntry) (int32, bool) {
		g := gone[e.ino]
		if len(g) != 1 || movedFrom[g[0]] {
			return 0, false
		}
		o := &p.entries[g[0]]
		if o.typ != e.typ || (hashable(e.typ) && !(o.hashed && e.hashed && o.hash == e.hash)) {
			return 0, false
		}
		return g[0], true
	}
	for i := range s.entries {
		e := &s.entries[i]
		if e.prev < 0 || p.entries[e.prev].ino != e.ino {
			if j, ok := origin(e); ok {
				movedFrom[j] = true
				out = append(out, Change{Path: e.path, Op: Rename, Old: p.entries[j].path})
				continue
			}
		}
		if e.prev < 0 {
			out = append(out, Change{Path: e.path, Op: Create})
			continue
		}
		o := &p.entries[e.prev]
		switch {
		case o.typ != e.typ || contentsDiffer(o, e):
			out = append(out, Change{Path: e.path, Op: Write})
		case o.mode != e.mode:
			out = append(out, Change{Path: e.path, Op: Chmod})
		}
	}
	for j := range p.entries {
		if !present[j] && !movedFrom[j] {
			out = append(out, Change{Path: p.entries[j].path, Op: Remove})
		}
	}
	sortChanges(out)
	return out
}

// contentsDiffer compares two records of one path of the same type: by hash
// when both have one, else (a file that could not be read) by metadata.
func contentsDiffer(o, e *snapEntry) bool {
	switch e.typ {
	case snapDir:
		return false
	case snapOther:
		return o.ino != e.ino
	}
	if o.hashed && e.hashed {
		return o.hash != e.hash
	}
	return !o.sameMeta(e)
}

func sortChanges(cs []Change) {
	sort.Slice(cs, func(i, j int) bool { return cs[i].Path < cs[j].Path })
}
