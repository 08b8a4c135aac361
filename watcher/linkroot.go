package watcher

import (
	"os"
	"path/filepath"

	"github.com/vigil-watch/vigil/vnode"
)

// A root that is a symlink to a file (`-w current.log` pointing into a
// releases directory) is followed to the file it names. Watching the link's
// directory alone sees nothing: writes happen to the target, in the
// target's directory. So a link root watches two directories, the link's
// (to see the link retargeted, as `ln -sfn` does, or removed) and the
// target's (to see the file written, replaced or removed), and reports
// everything under the name the user gave. The link's state is the file it
// resolves to: a new target, or a target replaced by an atomic save, is a
// write of the link; a link that stops resolving is removed, and created
// when it resolves again. Only the last link of a chain is watched for
// retargeting: the first and the final directories, not the ones between.

// linkRoot is a root that is a symlink to a file.
type linkRoot struct {
	path      string // the link as the user named it (absolute, clean)
	dir, name string // where the link itself lives
	dirID     vnode.ID

	target      string // the file the link resolves to, "" when none
	tdir, tname string
	tdirID      vnode.ID
	tfileID     vnode.ID // the target's own watch, where directory watches miss writes (kqueue)

	kind kind // kFile while the link resolves to a file that is not a directory, else kNone
	ino  uint64
}

// isFileLink reports whether abs is a symlink that resolves to a file that
// is not a directory.
func isFileLink(abs string) bool {
	lfi, err := os.Lstat(abs)
	if err != nil || lfi.Mode()&os.ModeSymlink == 0 {
		return false
	}
	fi, err := os.Stat(abs)
	return err == nil && !fi.IsDir()
}

// linkRoot returns the link root whose path is path, or nil.
func (r *run) linkRoot(path string) *linkRoot {
	for _, lr := range r.links {
		if lr.path == path {
			return lr
		}
	}
	return nil
}

// startLink resolves a link root and places its watches.
func (r *run) startLink(lr *linkRoot) {
	lr.dir, lr.name = filepath.Split(lr.path)
	lr.dir = filepath.Clean(lr.dir)
	if id, ok := r.watch(lr.dir); ok {
		lr.dirID = id
		r.linkIDs[id] = append(r.linkIDs[id], lr)
	}
	r.relink(lr)
	if lr.kind != kNone {
		r.nFiles++
		if r.collect != nil {
			r.collect(lr.path, lr.kind, lr.ino)
		}
	}
}

// relink resolves the link again, records what that changes for its path,
// and moves the target's watches when the target moved.
func (r *run) relink(lr *linkRoot) {
	k, ino, target := kNone, uint64(0), ""
	if t, err := filepath.EvalSymlinks(lr.path); err == nil {
		if fi, err := os.Stat(t); err == nil && !fi.IsDir() {
			k, ino, target = kindOf(fi.Mode()), inoOf(fi), t
		}
	}
	switch {
	case lr.kind == kNone && k != kNone:
		r.recSet(lr.path, false, kNone, 0, k, ino)
	case lr.kind != kNone && k == kNone:
		r.recGone(lr.path, lr.kind, lr.ino)
	case k != kNone && (ino != lr.ino || target != lr.target):
		// Retargeted, or the target replaced (an atomic save): what the
		// name shows is another file now.
		r.recGone(lr.path, lr.kind, lr.ino)
		r.recSet(lr.path, false, kNone, 0, k, ino)
	}
	oldTarget, oldIno := lr.target, lr.ino
	lr.kind, lr.ino, lr.target = k, ino, target
	if target == "" {
		return // keep watching the last target's directory: it may come back
	}
	tdir, tname := filepath.Split(target)
	tdir = filepath.Clean(tdir)
	lr.tname = tname
	if tdir != lr.tdir || lr.tdirID == 0 {
		r.unwatchLink(lr, &lr.tdirID)
		lr.tdir = tdir
		if id, ok := r.watch(tdir); ok {
			lr.tdirID = id
			r.linkIDs[id] = append(r.linkIDs[id], lr)
		}
	}
	if r.q != nil && !r.caps.ChildWrites && (target != oldTarget || ino != oldIno || lr.tfileID == 0) {
		r.unwatchLink(lr, &lr.tfileID)
		if id, ok := r.watch(target); ok {
			lr.tfileID = id
			r.linkIDs[id] = append(r.linkIDs[id], lr)
		}
	}
}

// unwatchLink drops one of lr's watches and zeroes its ID.
func (r *run) unwatchLink(lr *linkRoot, id *vnode.ID) {
	if *id == 0 {
		return
	}
	list := r.linkIDs[*id]
	for i, x := range list {
		if x == lr {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(r.linkIDs, *id)
		r.unwatch(*id)
	} else {
		r.linkIDs[*id] = list
	}
	*id = 0
}

// linkEvent handles a note from one of lr's watches.
func (r *run) linkEvent(lr *linkRoot, ev vnode.Event) {
	switch ev.ID {
	case lr.dirID:
		if ev.Name == lr.name || ev.Name == "" && (ev.Notes&goneNotes != 0 || !r.caps.ChildNames) {
			r.relink(lr)
		}
		return
	case lr.tdirID:
	case lr.tfileID:
		switch {
		case ev.Notes&goneNotes != 0:
			r.relink(lr)
		case lr.kind == kNone:
		case ev.Notes&(vnode.NoteWrite|vnode.NoteExtend) != 0:
			r.recWrite(lr.path, lr.kind, lr.ino)
		case ev.Notes&(vnode.NoteAttrib|vnode.NoteLink) != 0:
			r.recAttrib(lr.path, lr.kind, lr.ino)
		}
		return
	default:
		return
	}
	// The target's directory.
	if ev.Name == "" {
		if ev.Notes&goneNotes != 0 || !r.caps.ChildNames {
			r.relink(lr)
		}
		return
	}
	if ev.Name != lr.tname {
		return
	}
	if ev.Op != vnode.ChildNone || ev.Notes&goneNotes != 0 || lr.kind == kNone {
		r.relink(lr)
		return
	}
	switch {
	case ev.Notes&(vnode.NoteWrite|vnode.NoteExtend) != 0:
		r.recWrite(lr.path, lr.kind, lr.ino)
	case ev.Notes&(vnode.NoteAttrib|vnode.NoteLink) != 0:
		r.recAttrib(lr.path, lr.kind, lr.ino)
	case ev.Notes&vnode.NoteCloseWrite != 0:
		r.closedAfterWrite(lr.path, lr.kind, lr.ino, os.Stat)
	}
}
