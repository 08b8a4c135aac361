package watcher

import (
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/vigil-watch/vigil/vnode"
)

func (r *run) handle(ev vnode.Event) {
	switch ev.Kind {
	case vnode.KindOverflow:
		r.overflow(ev.ID)
	case vnode.KindNote:
		if rt := r.guards[ev.ID]; rt != nil {
			// The root's parent: only news of the root's own name matter
			// (or an unnamed note, where names are not reported).
			if ev.Name == "" || ev.Name == filepath.Base(rt.path) {
				r.rootCheck(rt)
			}
			return
		}
		if n := r.dirs.Get(ev.ID); n != nil {
			r.dirEvent(n, ev)
			return
		}
		if f, ok := r.files[ev.ID]; ok {
			r.fileEvent(f, ev)
			return
		}
		if lrs := r.linkIDs[ev.ID]; len(lrs) > 0 {
			for _, lr := range slices.Clone(lrs) {
				r.linkEvent(lr, ev)
			}
			return
		}
		if rts := r.waits[ev.ID]; len(rts) > 0 {
			for _, rt := range slices.Clone(rts) {
				r.rootCheck(rt)
			}
		}
	}
}

const goneNotes = vnode.NoteDelete | vnode.NoteRename | vnode.NoteRevoke

func (r *run) dirEvent(n *dirNode, ev vnode.Event) {
	if ev.Name == "" {
		if ev.Notes&goneNotes != 0 {
			r.verifyDir(n)
			return
		}
		if ev.Notes&vnode.NoteWrite != 0 && !r.caps.ChildNames {
			r.rescans = append(r.rescans, n)
		}
		return
	}
	if !r.caps.ChildNames {
		return // not trusted here: the unnamed note makes us rescan
	}
	name := ev.Name
	old, had := n.ents.get(name)
	if !had {
		hint := kFile
		if ev.IsDir {
			hint = kDir
		}
		if !r.admit(n, name, hint) && ev.Op != vnode.ChildMovedTo {
			return // an ignored name: not worth an lstat
		}
	}
	switch ev.Op {
	case vnode.ChildCreate, vnode.ChildRemove:
		r.touched(n, name)
	case vnode.ChildMovedFrom:
		if ev.Cookie != 0 && had {
			r.moves[ev.Cookie] = moveSrc{n, name}
			return
		}
		r.touched(n, name)
	case vnode.ChildMovedTo:
		if r.gate != nil {
			r.cur.noteClose(n.child(name)) // complete where it came from
		}
		if src, ok := r.moves[ev.Cookie]; ok && ev.Cookie != 0 {
			delete(r.moves, ev.Cookie)
			r.move(src.d, src.name, n, name)
			return
		}
		r.touched(n, name)
	default:
		// Built once: this is the path of every write event.
		path := n.child(name)
		if r.gate != nil && ev.Notes&vnode.NoteCloseWrite != 0 {
			r.cur.noteClose(path)
			if r.gate.held[path] != nil {
				r.dirty = true // the batch that releases it
			}
		}
		if !had {
			if len(r.ignoredPaths) > 0 && r.ignoredPaths[path] {
				// Written to, so still the ignored file: a file replacing
				// it comes with a create or rename event first.
				return
			}
			r.refresh(n, name) // a node we missed: index it
			return
		}
		if ev.Notes&goneNotes != 0 {
			r.touched(n, name)
			return
		}
		if ev.Notes&(vnode.NoteWrite|vnode.NoteExtend) != 0 && old.dir == nil {
			if r.gate != nil {
				r.cur.noteWrite(path)
			}
			r.recWrite(path, old.kind, old.ino)
			r.ignoreTouched(n, name)
		} else if ev.Notes&(vnode.NoteAttrib|vnode.NoteLink) != 0 {
			r.recAttrib(path, old.kind, old.ino)
		} else if ev.Notes&vnode.NoteCloseWrite != 0 && old.kind == kFile {
			if r.closedAfterWrite(path, old.kind, old.ino, os.Lstat) {
				r.ignoreTouched(n, name)
			}
		}
	}
}

// verifyDir handles a note saying a watched directory itself went away.
func (r *run) verifyDir(n *dirNode) {
	if n.dead {
		return
	}
	if n.parent == nil {
		r.rootCheck(n.root())
		return
	}
	r.touched(n.parent, n.name())
}

func (r *run) fileEvent(f fileRef, ev vnode.Event) {
	e, ok := f.d.ents.get(f.name)
	if !ok || e.wid != ev.ID || f.d.dead {
		return
	}
	path := f.d.child(f.name)
	wrote := ev.Notes&(vnode.NoteWrite|vnode.NoteExtend) != 0
	switch {
	case ev.Notes&goneNotes != 0:
		// Renamed or unlinked: what replaced it, if anything, is found by
		// reading the directory.
		r.rescans = append(r.rescans, f.d)
		return
	case wrote:
		if r.gate != nil {
			r.cur.noteWrite(path)
			if r.caps.CloseWrites && !r.polledIDs[ev.ID] {
				r.cur.noteWatchedWrite(path)
			}
		}
		r.recWrite(path, e.kind, e.ino)
		r.ignoreTouched(f.d, f.name)
	case ev.Notes&(vnode.NoteAttrib|vnode.NoteLink) != 0:
		r.recAttrib(path, e.kind, e.ino)
	}
	// A close (kqueue's NOTE_CLOSE_WRITE on the file's own watch). One
	// kernel event may carry the writes before it too: EV_CLEAR merges
	// the notes of one wait, so they are taken as written, then closed.
	if ev.Notes&vnode.NoteCloseWrite != 0 && e.kind == kFile {
		if r.gate != nil {
			r.cur.noteClose(path)
			if r.gate.held[path] != nil {
				r.dirty = true // the batch that releases it
			}
		}
		if !wrote && r.closedAfterWrite(path, e.kind, e.ino, os.Lstat) {
			r.ignoreTouched(f.d, f.name)
		}
	}
}

// overflow rescans what the lost events may have covered.
func (r *run) overflow(id vnode.ID) {
	since := r.lastDrain.Add(-time.Second)
	if r.cur != nil {
		r.cur.rescan = true
		r.dirty = true
	}
	if n := r.dirs.Get(id); id != 0 && n != nil {
		r.w.o.notice(&Notice{Kind: EventsLost, Path: n.path()})
		r.rescanDir(n, true, since)
		return
	}
	r.w.o.notice(&Notice{Kind: EventsLost})
	for _, rt := range r.roots {
		if rt.top != nil {
			r.rescanDir(rt.top, true, since)
		} else {
			r.rootCheck(rt)
		}
	}
}

// endOfEvents finishes what a buffer of events left open: renames whose
// other half never came (moved out of the tree) and directories to rescan.
func (r *run) endOfEvents() {
	for c, src := range r.moves {
		delete(r.moves, c)
		if r.cur != nil {
			r.cur.unpaired = true
		}
		r.touched(src.d, src.name)
	}
	if len(r.rescans) > 0 {
		list := r.rescans
		r.rescans = nil
		done := map[*dirNode]bool{}
		for _, n := range list {
			if !done[n] {
				done[n] = true
				r.rescanDir(n, false, time.Time{})
			}
		}
	}
	if len(r.ignoreDirty) > 0 {
		list := r.ignoreDirty
		r.ignoreDirty = nil
		done := map[*dirNode]bool{}
		r.suppress++
		for _, n := range list {
			if !done[n] && !n.dead {
				done[n] = true
				// A deep rescan rereads the ignore files and drops or adds
				// what they now exclude or admit; no file counts as
				// written (since lies in the future).
				r.rescanDir(n, true, time.Now().Add(time.Hour))
			}
		}
		r.suppress--
	}
}
