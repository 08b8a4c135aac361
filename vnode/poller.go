package vnode

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"
)

// maxPollerPending bounds the events a poller keeps for a consumer that does
// not drain them; past it the poller reports one overflow instead, as the
// kernel would, so memory stays bounded.
const maxPollerPending = 1 << 16

// nodeState is what one stat tells the poller about a node. Times are in
// nanoseconds so that comparisons are exact.
type nodeState struct {
	dev, ino   uint64
	size       int64
	mtime      int64
	ctime      int64
	mode       fs.FileMode
	uid, gid   uint32
	nlink      uint64
	isDir      bool
	hasInode   bool // dev and ino are meaningful on this platform
	hasOwnerCt bool // uid, gid, nlink and ctime are meaningful
}

// sameNode reports whether a and b describe the same node (type, dev, inode). On
// platforms without inode numbers it cannot tell and says yes.
func (a nodeState) sameNode(b nodeState) bool {
	// The type counts too: a file system hands a freed inode number to
	// the next new node at once, so `rm link; echo x > link` can keep the
	// number while a symlink became a file.
	if a.mode.Type() != b.mode.Type() {
		return false
	}
	if !a.hasInode || !b.hasInode {
		return a.isDir == b.isDir
	}
	return a.dev == b.dev && a.ino == b.ino
}

// contentNotes compares the contents of the same node seen twice.
func contentNotes(old, cur nodeState) Note {
	var n Note
	if cur.size != old.size || cur.mtime != old.mtime {
		n |= NoteWrite
		if cur.size > old.size {
			n |= NoteExtend
		}
	}
	return n
}

// attribNotes compares the metadata of the same node seen twice. A ctime
// change counts only when the contents did not change, since every write
// moves ctime too.
func attribNotes(old, cur nodeState, contentChanged bool) Note {
	var n Note
	if cur.mode != old.mode || cur.uid != old.uid || cur.gid != old.gid {
		n |= NoteAttrib
	}
	if cur.nlink != old.nlink {
		n |= NoteAttrib | NoteLink
	}
	if !contentChanged && cur.ctime != old.ctime {
		n |= NoteAttrib
	}
	return n
}

// pollEntry is one watched path or followed file. Its state fields belong to
// the scanning goroutine once the entry is in the poller's map.
type pollEntry struct {
	id   ID
	path string
	f    *os.File // followed file; nil for a watch

	state    nodeState
	children map[string]nodeState // directories only
	spare    map[string]nodeState // the previous scan's map, reused
	dead     bool                 // gone for good: reported once, scanned no more

	lastOff int64 // follow: the read offset at the previous scan (or registration)
	moved   bool  // follow: the path was seen naming another node
	deleted bool  // follow: the file's last link was seen gone
}

// poller finds changes by stat'ing what it watches every interval. It is the
// poll backend and the fallback of the kernel backends when a limit is hit.
type poller struct {
	interval time.Duration
	wake     func()

	mu       sync.Mutex
	entries  map[ID]*pollEntry
	pending  []Event
	overflow bool // an overflow event is pending; further events are dropped

	kick chan struct{} // something was added: stop idling
	// scanReq asks the scanning goroutine for a scan now; it closes the
	// channel it receives once the scan's events are pending.
	scanReq chan chan struct{}
	done    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

// newPoller starts a goroutine that scans every interval and calls wake()
// (without holding any lock of the poller) whenever events become pending.
func newPoller(interval time.Duration, wake func()) *poller {
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	p := &poller{
		interval: interval,
		wake:     wake,
		entries:  make(map[ID]*pollEntry),
		kick:     make(chan struct{}, 1),
		scanReq:  make(chan chan struct{}),
		done:     make(chan struct{}),
	}
	p.wg.Add(1)
	go p.run()
	return p
}

// watch stats path now (without following a final symlink) and reports
// changes to it from the next scan on; for a directory it also remembers
// the children and reports what happens to them.
func (p *poller) watch(id ID, path string) error {
	e := &pollEntry{id: id, path: path}
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("poll: watch %s: %w", path, err)
	}
	e.state = statOf(fi)
	if e.state.isDir {
		e.children, err = readChildren(path)
		if err != nil {
			return fmt.Errorf("poll: watch %s: %w", path, err)
		}
	}
	p.add(e)
	return nil
}

// follow reports how far f's size lies beyond f's current offset. It
// remembers f.Name() so that it can tell when that path stops naming f.
func (p *poller) follow(id ID, f *os.File) error {
	e := &pollEntry{id: id, path: f.Name(), f: f}
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("poll: follow %s: %w", f.Name(), err)
	}
	e.state = statOf(fi)
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("poll: follow %s: reading the offset: %w", f.Name(), err)
	}
	e.lastOff = off
	p.add(e)
	return nil
}

func (p *poller) add(e *pollEntry) {
	p.mu.Lock()
	p.entries[e.id] = e
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// remove forgets id. Events already pending for it stay pending: the
// consumer may still see them in its next batch.
func (p *poller) remove(id ID) {
	p.mu.Lock()
	delete(p.entries, id)
	p.mu.Unlock()
}

// drain appends the pending events to buf and clears them.
func (p *poller) drain(buf []Event) []Event {
	p.mu.Lock()
	buf = append(buf, p.pending...)
	clear(p.pending)
	p.pending = p.pending[:0]
	p.overflow = false
	p.mu.Unlock()
	return buf
}

// close stops the scanning goroutine and waits for it to return.
func (p *poller) close() {
	p.once.Do(func() { close(p.done) })
	p.wg.Wait()
}

func (p *poller) run() {
	defer p.wg.Done()
	t := time.NewTimer(p.interval)
	t.Stop()
	var list []*pollEntry
	var events []Event
	for {
		var reply chan struct{}
		if len(p.live(list[:0])) == 0 {
			// Nothing (alive) to scan: sleep until something is added.
			select {
			case <-p.kick:
			case reply = <-p.scanReq:
				close(reply) // nothing to scan
			case <-p.done:
				return
			}
			continue
		}
		t.Reset(p.interval)
		select {
		case <-t.C:
		case reply = <-p.scanReq:
			t.Stop()
		case <-p.done:
			t.Stop()
			return
		}
		list = p.live(list[:0])

		added := false
		for _, e := range list {
			events = e.scan(events[:0])
			if len(events) == 0 {
				continue
			}
			p.mu.Lock()
			// Drop what was found for an entry removed meanwhile.
			if p.entries[e.id] == e {
				added = p.queue(events) || added
			}
			p.mu.Unlock()
		}
		clear(list)
		if reply != nil {
			close(reply) // the caller drains itself
		} else if added {
			p.wake()
		}
	}
}

// scanNow has the scanning goroutine scan everything at once, and returns
// when what it found is pending (or the poller is closed).
func (p *poller) scanNow() {
	reply := make(chan struct{})
	select {
	case p.scanReq <- reply:
	case <-p.done:
		return
	}
	select {
	case <-reply:
	case <-p.done:
	}
}

// live appends the entries still worth scanning to list.
func (p *poller) live(list []*pollEntry) []*pollEntry {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.entries {
		// e.dead is written only by the scanning goroutine, which is
		// the caller.
		if !e.dead {
			list = append(list, e)
		}
	}
	return list
}

// queue adds events to the pending list; p.mu is held.
func (p *poller) queue(events []Event) bool {
	if p.overflow {
		return false
	}
	if len(p.pending)+len(events) > maxPollerPending {
		clear(p.pending)
		p.pending = append(p.pending[:0], Event{Kind: KindOverflow})
		p.overflow = true
		return true
	}
	p.pending = append(p.pending, events...)
	return true
}

// scan stats e and appends what changed since the last scan.
func (e *pollEntry) scan(out []Event) []Event {
	if e.f != nil {
		return e.scanFollow(out)
	}
	fi, err := os.Lstat(e.path)
	if err != nil {
		// Gone (or unreachable, which the watch cannot tell apart): the
		// node the watch was placed on is no longer at its path.
		e.dead = true
		return append(out, Event{Kind: KindNote, ID: e.id, Notes: NoteDelete})
	}
	cur := statOf(fi)
	if !cur.sameNode(e.state) {
		// Replaced, e.g. by an atomic save: the watched node is gone.
		e.dead = true
		return append(out, Event{Kind: KindNote, ID: e.id, Notes: NoteDelete})
	}
	old := e.state
	e.state = cur
	var notes Note
	if cur.isDir {
		var changed bool
		out, changed = e.scanChildren(out)
		if changed {
			notes |= NoteWrite
		}
		if cur.mode != old.mode || cur.uid != old.uid || cur.gid != old.gid {
			notes |= NoteAttrib
		}
	} else {
		notes = contentNotes(old, cur)
		notes |= attribNotes(old, cur, notes != 0)
	}
	if notes != 0 {
		out = append(out, Event{Kind: KindNote, ID: e.id, Notes: notes})
	}
	return out
}

// scanChildren diffs the directory's entries against the last scan and
// reports named child events; changed says whether any name came or went.
func (e *pollEntry) scanChildren(out []Event) (_ []Event, changed bool) {
	cur, err := readChildrenInto(e.path, e.spare)
	if err != nil {
		// Unreadable now (permissions, or removed between the two
		// calls): keep the old view; the next scan decides.
		return out, false
	}
	for name, old := range e.children {
		now, ok := cur[name]
		if !ok || !now.sameNode(old) {
			changed = true
			out = append(out, Event{Kind: KindNote, ID: e.id, Notes: NoteWrite, Name: name, Op: ChildRemove, IsDir: old.isDir})
		}
	}
	for name, now := range cur {
		old, ok := e.children[name]
		if !ok || !now.sameNode(old) {
			changed = true
			out = append(out, Event{Kind: KindNote, ID: e.id, Notes: NoteWrite, Name: name, Op: ChildCreate, IsDir: now.isDir})
			continue
		}
		var notes Note
		if now.isDir {
			// A subdirectory's times and link count move with its own
			// entries, which this watch does not cover; only report
			// what a chmod or chown does.
			if now.mode != old.mode || now.uid != old.uid || now.gid != old.gid {
				notes = NoteAttrib
			}
		} else {
			notes = contentNotes(old, now)
			notes |= attribNotes(old, now, notes != 0)
		}
		if notes != 0 {
			out = append(out, Event{Kind: KindNote, ID: e.id, Notes: notes, Name: name, Op: ChildNone, IsDir: now.isDir})
		}
	}
	e.children, e.spare = cur, e.children
	return out, changed
}

// scanFollow reports the bytes between the follower's offset and EOF, and
// whether the path still names the followed file.
func (e *pollEntry) scanFollow(out []Event) []Event {
	fi, err := e.f.Stat()
	if err != nil {
		// The descriptor is unusable (closed under us): nothing to report.
		e.dead = true
		return out
	}
	cur := statOf(fi)
	old := e.state
	off, err := e.f.Seek(0, io.SeekCurrent)
	if err == nil {
		// Report unread bytes whenever the file or the reader moved since
		// the last scan. Comparing the unread count alone would miss a
		// second append of the same size after the reader caught up.
		moved := cur.size != old.size || cur.mtime != old.mtime || off != e.lastOff
		if data := cur.size - off; data != 0 && moved {
			out = append(out, Event{Kind: KindRead, ID: e.id, Data: data})
		}
		e.lastOff = off
	}
	e.state = cur
	if n := attribNotes(old, cur, true); n != 0 && cur.nlink != 0 {
		out = append(out, Event{Kind: KindNote, ID: e.id, Notes: n})
	}
	if e.deleted {
		return out
	}
	if cur.hasOwnerCt && cur.nlink == 0 {
		e.moved, e.deleted = true, true
		return append(out, Event{Kind: KindNote, ID: e.id, Notes: NoteDelete})
	}
	if e.moved {
		return out // renamed away: only its deletion is left to report
	}
	pfi, err := os.Stat(e.path)
	switch {
	case err != nil && errors.Is(err, fs.ErrNotExist), err == nil && !statOf(pfi).sameNode(cur):
		// The name now means something else (or nothing) while the file
		// still has a link: it was renamed away, as a log rotation does.
		e.moved = true
		if cur.hasOwnerCt {
			return append(out, Event{Kind: KindNote, ID: e.id, Notes: NoteRename})
		}
		e.deleted = true
		return append(out, Event{Kind: KindNote, ID: e.id, Notes: NoteDelete})
	}
	return out
}

// readChildren lstat's every entry of the directory at path.
func readChildren(path string) (map[string]nodeState, error) {
	return readChildrenInto(path, nil)
}

// readChildrenInto is readChildren filling m (cleared first) when it is not
// nil, so that a scan allocates no new map.
func readChildrenInto(path string, m map[string]nodeState) (map[string]nodeState, error) {
	d, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	// Unsorted: the order does not matter and sorting costs.
	des, err := d.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	if m == nil {
		m = make(map[string]nodeState, len(des))
	} else {
		clear(m)
	}
	for _, de := range des {
		fi, err := de.Info()
		if err != nil {
			// Removed between the listing and the stat: it is not there.
			continue
		}
		m[de.Name()] = statOf(fi)
	}
	return m, nil
}
