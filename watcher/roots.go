package watcher

import (
	"os"
	"path/filepath"
	"slices"

	"github.com/vigil-watch/vigil/vnode"
)

// waitRoot watches the nearest existing ancestor of a root its caller just
// found missing, so that its return is noticed. A watch sees only what
// happens after it is armed, so once it is armed the root is looked at
// again and the ancestor moved down if the path grew meanwhile (mkdir -p
// racing the watch). It reports whether the root is still missing; false
// means the caller should start it.
func (r *run) waitRoot(rt *root) (missing bool) {
	rt.waiting = true
	if r.q == nil {
		return true
	}
	for {
		a := nearestDir(filepath.Dir(rt.path))
		if rt.waitID != 0 && rt.waitPath == a {
			return true // armed before: it reports what the caller missed
		}
		r.unwaitRoot(rt)
		rt.waiting = true
		if r.w.beforeArmWait != nil {
			r.w.beforeArmWait(a)
		}
		// A full watch, not names only: the ancestor's own chmod can
		// make a root that was out of reach (EACCES) reachable.
		id, ok := r.watch(a)
		if !ok {
			return true
		}
		rt.waitID, rt.waitPath = id, a
		r.waits[id] = append(r.waits[id], rt)
		if fi, err := os.Stat(rt.path); err == nil && fi.IsDir() {
			return false
		}
	}
}

// nearestDir is p or its nearest ancestor that is a directory.
func nearestDir(p string) string {
	for {
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			return p
		}
		up := filepath.Dir(p)
		if up == p {
			return p
		}
		p = up
	}
}

func (r *run) unwaitRoot(rt *root) {
	rt.waiting = false
	if rt.waitID == 0 {
		return
	}
	id := rt.waitID
	r.waits[id] = slices.DeleteFunc(r.waits[id], func(x *root) bool { return x == rt })
	if len(r.waits[id]) == 0 {
		delete(r.waits, id)
		r.unwatch(id)
	}
	rt.waitID, rt.waitPath = 0, ""
}

// guardRoot watches a present root's parent (see root.guardID). Only
// inotify needs it: kqueue reports NOTE_DELETE when the directory is
// unlinked, whoever still holds it, and polling stats the path.
func (r *run) guardRoot(rt *root) {
	parent := filepath.Dir(rt.path)
	if rt.guardID != 0 || parent == rt.path || r.q == nil || r.q.Backend() != vnode.Inotify {
		return
	}
	if id, ok := r.watchNames(parent); ok {
		rt.guardID = id
		r.guards[id] = rt
	}
}

func (r *run) unguardRoot(rt *root) {
	if rt.guardID == 0 {
		return
	}
	delete(r.guards, rt.guardID)
	r.unwatch(rt.guardID)
	rt.guardID = 0
}

// rootCheck makes a root's state agree with the disk: a root that went away
// is reported removed and waited for; a root that came back is crawled and
// its contents reported created.
func (r *run) rootCheck(rt *root) {
	fi, err := os.Stat(rt.path)
	exists := err == nil && fi.IsDir()
	if rt.top != nil {
		if exists && inoOf(fi) == rt.top.inode() && devOf(fi) == rt.dev {
			return
		}
		top := rt.top
		r.unguardRoot(rt)
		r.dropTree(top)
		r.nDirs--
		if rt.files == nil {
			r.recGone(rt.path, kDir, top.inode())
		}
		rt.top = nil
		r.w.o.notice(&Notice{Kind: RootRemoved, Path: rt.path})
		exists = false // replaced or gone: waitRoot looks again
	}
	if !exists && r.waitRoot(rt) {
		return
	}
	r.w.o.notice(&Notice{Kind: RootBack, Path: rt.path})
	r.startRoot(rt, true)
}
