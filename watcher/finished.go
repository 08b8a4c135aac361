package watcher

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Finished files (Options.Closed). A drop directory's consumer wants a file
// once its writer is done with it, not the first time the file shows up
// half written. So a create or a write of a regular file is held back,
// and reported (as one create, or one write) in a later batch once the
// file is finished:
//
//   - where the backend reports a writer's close (inotify's IN_CLOSE_WRITE,
//     FreeBSD's NOTE_CLOSE_WRITE), once a close came after the file's last
//     write and the file has not changed since; a file moved in from
//     elsewhere counts as closed, since it was complete where it came from.
//     On FreeBSD the close comes from the file's own watch, placed only
//     once a rescan found the file: a file written before that may have
//     been closed already, so it also finishes by settling (below) until a
//     write under its watch shows that a close is still to come;
//   - elsewhere (other kqueues, polling), once its size and mtime have not
//     changed for the settle time. A writer that pauses for longer than
//     that is taken for finished: only a close says for sure.
//
// Renames move a held file: a file written under a temporary name and
// renamed into place (rsync, atomic saves) is reported once, as a create
// of its final name. A held file removed before it finished is not
// reported at all.

// DefaultSettle is how long a file's size and mtime must stay unchanged for
// Options.Closed to take it as finished when closes are not reported.
const DefaultSettle = time.Second

// timerSettle is the queue timer that rechecks held files.
const timerSettle = 4

// heldFile is a created or written file whose writer may not be done.
type heldFile struct {
	op     Op   // Create or Write, as it will be reported
	closed bool // a close came after its last write
	// awaitClose: written under a watch that reports closes (kqueue on
	// FreeBSD), so only a close finishes it.
	awaitClose bool
	// settles: its directory is served by the poller (a remote root next
	// to local ones, a watch limit reached), which reports no closes, so
	// only settling finishes it even where the backend reports closes.
	settles bool
	print   fprint    // size and mtime last seen
	since   time.Time // when print was last seen to change
}

// finishGate holds the changes of unfinished files.
type finishGate struct {
	settle    time.Duration
	useCloses bool
	// watchedCloses: closes come from each file's own watch, placed only
	// once the file is found (kqueue on FreeBSD), not from its directory's.
	watchedCloses bool
	held          map[string]*heldFile
	armed         bool // the settle timer is set
	// vanished: creates and writes of paths already gone when their batch
	// closed (renamed away before the batch saw them settle), kept for the
	// next batch, whose rename carries them on; prev is the batch before.
	vanished, prevVanished map[string]Op
}

// noteClose records that a writer closed path (or that a complete file was
// moved to it) in the open batch.
func (p *pending) noteClose(path string) {
	if p.closes == nil {
		p.closes = map[string]bool{}
	}
	p.closes[path] = true
}

// noteWrite forgets a close of path that a later write made stale.
func (p *pending) noteWrite(path string) {
	delete(p.closes, path)
}

// noteWatchedWrite records that path was written while its own watch,
// which reports closes, was in place: its writer's close will be seen.
func (p *pending) noteWatchedWrite(path string) {
	if p.watchedWrites == nil {
		p.watchedWrites = map[string]bool{}
	}
	p.watchedWrites[path] = true
}

// gateChanges holds back the changes of unfinished files and adds those
// of held files that have finished.
func (r *run) gateChanges(changes []Change, p *pending, now time.Time) []Change {
	g := r.gate
	kept := changes[:0]
	hold := func(path string, op Op) {
		h := g.held[path]
		if h == nil {
			h = &heldFile{op: op, since: now}
			g.held[path] = h
		}
		h.closed = false
		h.settles = r.polledParent(path)
		if fi, err := os.Lstat(path); err == nil {
			h.print = fprintOf(fi)
		}
		h.since = now
	}
	g.prevVanished, g.vanished = g.vanished, nil
	for _, c := range changes {
		switch c.Op {
		case Create, Write:
			fi, err := os.Lstat(c.Path)
			if errors.Is(err, fs.ErrNotExist) {
				// Gone already: its remove or rename comes next.
				op := c.Op
				if h := g.held[c.Path]; h != nil {
					op = h.op
					delete(g.held, c.Path)
				}
				g.vanish(c.Path, op)
				continue
			}
			if err != nil || !fi.Mode().IsRegular() {
				kept = append(kept, c)
				continue
			}
			op := c.Op
			if h := g.held[c.Path]; h != nil && h.op == Create {
				op = Create // never reported yet: still new to the consumer
			}
			hold(c.Path, op)
			g.held[c.Path].op = op
		case Rename:
			h := g.held[c.Old]
			if h == nil {
				if op, ok := g.prevVanished[c.Old]; ok {
					h = &heldFile{op: op, since: now}
				} else if op, ok := g.vanished[c.Old]; ok {
					h = &heldFile{op: op, since: now}
				}
			}
			if h == nil {
				kept = append(kept, c)
				continue
			}
			delete(g.held, c.Old)
			if h.op != Create {
				// The old name was reported before: say where it went.
				kept = append(kept, c)
				h.op = Write
			}
			g.held[c.Path] = h
			h.settles = r.polledParent(c.Path)
			if fi, err := os.Lstat(c.Path); err == nil {
				h.print = fprintOf(fi)
			}
		case Remove:
			op, ok := g.prevVanished[c.Path]
			if v, vok := g.vanished[c.Path]; vok {
				op, ok = v, true
			}
			if h := g.held[c.Path]; h != nil {
				delete(g.held, c.Path)
				op, ok = h.op, true
			}
			if ok && op == Create {
				continue // created and gone before it was finished
			}
			kept = append(kept, c)
		case Chmod:
			if g.held[c.Path] != nil {
				continue // its create or write says more, later
			}
			kept = append(kept, c)
		default:
			kept = append(kept, c)
		}
	}
	for path := range p.watchedWrites {
		if h := g.held[path]; h != nil {
			h.awaitClose = true
		}
	}
	for path := range p.closes {
		if h := g.held[path]; h != nil {
			h.closed = true
		}
	}
	return append(kept, g.release(now)...)
}

// release returns, and stops holding, the held files that are finished; it
// drops those that are gone or no longer regular files.
func (g *finishGate) release(now time.Time) []Change {
	var out []Change
	for path, h := range g.held {
		fi, err := os.Lstat(path)
		if err != nil || !fi.Mode().IsRegular() {
			delete(g.held, path)
			if errors.Is(err, fs.ErrNotExist) {
				g.vanish(path, h.op) // renamed away, maybe: see the next batch
			}
			continue
		}
		if pr := fprintOf(fi); pr != h.print {
			// Still being written, for settling. A close stays valid: a
			// write after it would have cleared it (noteWrite).
			h.print, h.since = pr, now
		}
		if g.finished(h, now) {
			out = append(out, Change{Path: path, Op: h.op})
			delete(g.held, path)
		}
	}
	return out
}

// finished says whether held file h is done with: closed after its last
// write where closes are reported, settled elsewhere. Where only a file's
// own watch reports its closes (kqueue), a file found by reading its
// directory may have been closed before that watch existed, and no close
// will come; so until a write shows its writer still at work under the
// watch, settling finishes it too.
func (g *finishGate) finished(h *heldFile, now time.Time) bool {
	settled := now.Sub(h.since) >= g.settle
	switch {
	case !g.useCloses || h.settles:
		return settled
	case h.closed:
		return true
	default:
		return g.watchedCloses && !h.awaitClose && settled
	}
}

// anySettles says whether a held file can only settle (see heldFile.settles).
func (g *finishGate) anySettles() bool {
	for _, h := range g.held {
		if h.settles {
			return true
		}
	}
	return false
}

// polledParent says whether the directory holding path is served by the
// poller: its files report no closes.
func (r *run) polledParent(path string) bool {
	if len(r.polledIDs) == 0 {
		return false
	}
	n := r.dirAt(filepath.Dir(path))
	return n != nil && r.polledIDs[n.id]
}

// vanish remembers that the held or reported-later path vanished before
// it finished, with the op its final name will be reported with.
func (g *finishGate) vanish(path string, op Op) {
	if g.vanished == nil {
		g.vanished = map[string]Op{}
	}
	if prev, ok := g.prevVanished[path]; ok && prev == Create {
		op = Create
	}
	g.vanished[path] = op
}

// settleTick runs on the settle timer: when a held file has finished, the
// open batch is marked so that it is delivered, carrying it.
func (r *run) settleTick(now time.Time) {
	g := r.gate
	g.armed = false
	for path, h := range g.held {
		fi, err := os.Lstat(path)
		if err != nil {
			r.dirty = true // gone: dropped at the next flush
			continue
		}
		if pr := fprintOf(fi); pr != h.print {
			h.print, h.since = pr, now
			continue
		}
		if g.finished(h, now) {
			r.dirty = true
		}
	}
	r.armSettle()
}

// armSettle sets the settle timer while files are held and only settling
// can finish them.
func (r *run) armSettle() {
	g := r.gate
	if g == nil || g.armed || len(g.held) == 0 || g.useCloses && !g.watchedCloses && !g.anySettles() {
		return
	}
	g.armed = true
	r.q.SetTimer(timerSettle, max(g.settle/4, 10*time.Millisecond))
}
