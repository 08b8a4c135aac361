package watcher

import (
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// startRoot indexes a root (directory or file root) if it exists, or starts
// waiting for it.
func (r *run) startRoot(rt *root, record bool) {
	var fi os.FileInfo
	for {
		var err error
		if fi, err = os.Stat(rt.path); err == nil && fi.IsDir() {
			break
		}
		if r.waitRoot(rt) {
			if !record { // from rootCheck it was there a moment ago
				r.w.o.notice(&Notice{Kind: RootMissing, Path: rt.path})
			}
			return
		}
	}
	r.unwaitRoot(rt)
	n := &dirNode{nm: rt.path}
	x := n.ents.extra()
	x.rt, x.ino = rt, inoOf(fi)
	rt.dev = devOf(fi)
	if lfi, err := os.Lstat(rt.path); err == nil && lfi.Mode()&fs.ModeSymlink != 0 {
		if real, err := filepath.EvalSymlinks(rt.path); err == nil {
			n.setReal(real)
		}
	}
	rt.top = n
	r.nDirs++
	if rt.files == nil {
		r.recSet(rt.path, false, kNone, 0, kDir, x.ino)
	}
	r.guardRoot(rt)
	r.watchDir(n)
	r.scanDir(n)
}

// scanDir reads a freshly watched directory and indexes what it holds.
func (r *run) scanDir(n *dirNode) {
	if r.stop {
		return
	}
	list, err := r.listDir(n.readPath())
	defer r.doneList(list)
	if err != nil {
		if !isGone(err) {
			r.w.o.notice(&Notice{Kind: Unreadable, Path: n.readPath(), Err: err})
		}
		return
	}
	r.loadIgnore(n, list)
	size := 0
	for _, de := range list {
		size += len(de.name)
		if de.ino>>32 != 0 {
			size += 4 // the high half, beside the name (see slot)
		}
	}
	// A fresh node: the listing's names are unique, so they are appended
	// and sorted once at the end.
	n.ents.load(len(list), size)
	for _, de := range list {
		if r.stop {
			break
		}
		k, ino, real := r.classify(n, de.name, de.kind, de.ino)
		if !r.admit(n, de.name, k) || r.ignoredFile(n, de.name, k, ino) {
			continue
		}
		r.add(n, de.name, k, ino, real, false, entry{})
	}
	n.ents.finish()
}

// listDir reads path into the buffer of the current scan depth; every call
// is paired with doneList. For a snapshot (keepDirFDs) the directory's
// descriptor, while there are descriptors to spare, stays open as curDir
// until doneList: the entries added meanwhile belong to it, and collect
// hands it on (nil: they go by path).
func (r *run) listDir(path string) ([]dirent, error) {
	if r.depth == len(r.lists) {
		r.lists = append(r.lists, nil)
		r.outerDirs = append(r.outerDirs, nil)
	}
	buf := r.lists[r.depth][:0]
	var list []dirent
	var err error
	if r.keepDirFDs {
		r.outerDirs[r.depth] = r.curDir
		r.curDir = nil
		fd := -1
		if r.dirFDs.Load() < maxDirFDs {
			list, fd, err = readDirKeep(path, r.buf, buf)
		} else {
			list, err = readDir(path, r.buf, buf)
		}
		if fd >= 0 {
			r.curDir = &dirFD{fd: fd, open: &r.dirFDs}
			r.curDir.refs.Store(1)
			r.dirFDs.Add(1)
		}
	} else {
		list, err = readDir(path, r.buf, buf)
	}
	r.depth++
	return list, err
}

// doneList gives list's buffer back to its depth, without the names (which
// are garbage now) and unless it is huge; a snapshot's curDir goes back to
// the enclosing directory's.
func (r *run) doneList(list []dirent) {
	r.depth--
	if r.keepDirFDs {
		if r.curDir != nil {
			r.curDir.release()
		}
		r.curDir, r.outerDirs[r.depth] = r.outerDirs[r.depth], nil
	}
	clear(list)
	if cap(list) > 4096 {
		list = nil
	}
	r.lists[r.depth] = list[:0]
}

// loadIgnore (re)reads n's .gitignore if the listing has one.
func (r *run) loadIgnore(n *dirNode, list []dirent) {
	n.setIgnore(nil)
	if r.f.noIgnore || (n.parent == nil && n.root().files != nil) {
		return
	}
	for _, de := range list {
		if de.name == ".gitignore" && de.kind != kDir {
			n.setIgnore(loadIgnoreFile(join(n.readPath(), ".gitignore")))
			return
		}
	}
}

// put indexes name in d as a new node, replacing what the index had there,
// and for a directory watches it and then reads it.
func (r *run) put(d *dirNode, name string, k kind, ino uint64, real string) {
	old, had := d.ents.get(name)
	if had {
		r.drop(d, name)
	}
	r.add(d, name, k, ino, real, had, old)
}

// add indexes name in d, which does not have it (any old node, had, was
// dropped already).
func (r *run) add(d *dirNode, name string, k kind, ino uint64, real string, had bool, old entry) {
	r.ignoreTouched(d, name)
	var path string
	if r.cur != nil || r.collect != nil || k == kDir || r.needsFileWatch(k) {
		path = d.child(name) // while crawling most files need none
		r.recSet(path, had, old.kind, old.ino, k, ino)
	}
	e := entry{ino: ino, kind: k}
	if r.collect != nil {
		r.collect(path, k, ino)
	}
	if k == kDir {
		n := &dirNode{parent: d}
		n.setReal(real)
		e.dir = n
		n.nm = d.ents.set(name, e) // a view into d's arena, not the listing's buffer
		r.nDirs++
		r.watchDir(n)
		r.scanDir(n)
		return
	}
	r.nFiles++
	if r.needsFileWatch(k) {
		if id, ok := r.watchIn(d.root(), path); ok {
			e.wid = id
		}
	}
	name = d.ents.set(name, e)
	if e.wid != 0 {
		r.files[e.wid] = fileRef{d, name}
	}
}

// drop removes name from d, and for a directory everything below it,
// recording each removal.
func (r *run) drop(d *dirNode, name string) {
	e, ok := d.ents.get(name)
	if !ok {
		return
	}
	path := d.child(name)
	if e.dir != nil {
		r.dropTree(e.dir)
		r.nDirs--
	} else {
		r.nFiles--
	}
	if e.wid != 0 {
		delete(r.files, e.wid)
		r.unwatch(e.wid)
	}
	d.ents.del(name)
	r.ignoreTouched(d, name)
	r.recGone(path, e.kind, e.ino)
}

// ignoreTouched notes a change to d's .gitignore after the crawl.
func (r *run) ignoreTouched(d *dirNode, name string) {
	if name == ".gitignore" && r.cur != nil && r.suppress == 0 && !r.f.noIgnore {
		r.ignoreDirty = append(r.ignoreDirty, d)
	}
}

func (r *run) dropTree(n *dirNode) {
	for i := n.ents.len() - 1; i >= 0; i-- {
		r.drop(n, n.ents.nameAt(i)) // from the end: nothing moves
	}
	n.dead = true
	if n.id != 0 {
		r.dirs.Delete(n.id)
		r.unwatch(n.id)
		n.id = 0
	}
}

// refresh reconciles name in d with what is on disk now. It returns true
// when the index already had that very node there, untouched.
func (r *run) refresh(d *dirNode, name string) (same bool) {
	if d.dead {
		return false
	}
	path := d.child(name)
	k, ino := lstatNode(path)
	old, had := d.ents.get(name)
	if k == kNone {
		if had {
			r.drop(d, name)
		}
		return false
	}
	k, ino, real := r.classify(d, name, k, ino)
	if !r.admit(d, name, k) || r.ignoredFile(d, name, k, ino) {
		if had {
			r.drop(d, name)
		}
		return false
	}
	if had && old.kind == k && (old.ino == ino || old.ino == 0 || ino == 0) {
		return true
	}
	r.put(d, name, k, ino, real)
	return false
}

// touched handles an event saying name in d was created or removed: the
// index follows what is on disk; if the very node the index knows is still
// there, the event means it went away and came back (an inode reused by
// `rm f; echo > f`), so a file counts as rewritten and a directory is
// re-read.
func (r *run) touched(d *dirNode, name string) {
	if !r.refresh(d, name) {
		return
	}
	e, _ := d.ents.get(name)
	if e.dir != nil {
		r.rescanDir(e.dir, false, time.Time{})
		return
	}
	r.recReplaced(d.child(name), e.kind, e.ino)
}

// move applies a rename paired by cookie: the node at sd/sname is now dd/dname. The
// subtree of a directory moves with it, and every path in it is recorded as
// renamed.
func (r *run) move(sd *dirNode, sname string, dd *dirNode, dname string) {
	old, had := sd.ents.get(sname)
	if sd.dead || !had {
		r.touched(dd, dname)
		return
	}
	newPath := dd.child(dname)
	// The cookie pairs the two halves for certain, so the index replays
	// the move even if the node has moved on since (its next move's events
	// follow); only the filters can refuse the new name.
	if dd.dead || !r.admit(dd, dname, old.kind) {
		r.refresh(sd, sname)
		return
	}
	if dd.ents.has(dname) {
		r.drop(dd, dname)
	}
	oldPath := sd.child(sname)
	sd.ents.del(sname)
	dname = dd.ents.set(dname, old) // a directory's node takes the name
	r.recMoved(oldPath, newPath, old.kind, old.ino)
	if old.wid != 0 {
		r.files[old.wid] = fileRef{dd, dname}
	}
	if n := old.dir; n != nil {
		n.parent, n.nm = dd, dname
		r.repath(n, oldPath, newPath)
	}
}

// repath records each descendant of a moved directory as renamed (their
// paths, and their fileRefs', follow from the moved node's). Watches stay:
// on inotify (the only backend with paired renames) a watch follows its
// inode.
func (r *run) repath(n *dirNode, oldPath, newPath string) {
	n.ents.each(func(name string, e entry) {
		r.recMoved(join(oldPath, name), join(newPath, name), e.kind, e.ino)
		if e.dir != nil {
			r.repath(e.dir, join(oldPath, name), join(newPath, name))
		}
	})
}

// rescanDir reads n and makes the index agree with it, recording the
// differences. deep: also rescan subdirectories and report files whose
// mtime (write) or ctime (chmod) is not older than since, since their
// events may have been lost.
func (r *run) rescanDir(n *dirNode, deep bool, since time.Time) {
	if n.dead {
		return
	}
	list, err := r.listDir(n.readPath())
	defer r.doneList(list)
	if err != nil {
		// The directory itself went away or changed: its parent decides.
		if n.parent != nil {
			r.touched(n.parent, n.name())
		} else {
			r.rootCheck(n.root())
		}
		return
	}
	if deep {
		r.loadIgnore(n, list)
	}
	seen := make(map[string]struct{}, len(list))
	for _, de := range list {
		k, ino, real := r.classify(n, de.name, de.kind, de.ino)
		old, had := n.ents.get(de.name)
		if !r.admit(n, de.name, k) || r.ignoredFile(n, de.name, k, ino) {
			if had {
				r.drop(n, de.name)
			}
			continue
		}
		seen[de.name] = struct{}{}
		switch {
		case !had, old.kind != k, old.ino != ino && old.ino != 0 && ino != 0:
			r.put(n, de.name, k, ino, real)
		case deep && old.dir != nil:
			r.rescanDir(old.dir, true, since)
		case deep && k == kFile:
			path := n.child(de.name)
			fi, err := os.Lstat(path)
			if err != nil {
				continue
			}
			switch {
			case !fi.ModTime().Before(since):
				r.recWrite(path, k, ino)
			case ctimeOf(fi) >= since.UnixNano():
				r.recAttrib(path, k, ino)
			}
		}
	}
	for i := n.ents.len() - 1; i >= 0; i-- {
		if name := n.ents.nameAt(i); !hasKey(seen, name) {
			r.drop(n, name) // from the end: the slots before i stay put
		}
	}
}

func hasKey(m map[string]struct{}, k string) bool {
	_, ok := m[k]
	return ok
}
