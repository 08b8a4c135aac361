package watcher

import (
	"sort"
	"time"
)

// rec is what one batch knows about one path: its state when the batch
// opened, its state now, and what happened in between. Comparing the two
// ends gives the net effect.
type rec struct {
	startKind, nowKind kind // kNone: absent
	startIno, nowIno   uint64
	replaced           bool   // it existed at the start and was removed (or renamed over) since
	wrote, attrib      bool   // contents / metadata changed in place
	origin             string // the path, existing at the start, whose node this is now (renames)
}

// pending is the open batch.
type pending struct {
	recs   map[string]*rec
	rescan bool
	// unpaired: a rename's halves were not both seen (moved out, or split
	// across reads), so pairing by inode is worth trying.
	unpaired bool
	// opened is when the batch's window began: every node that existed
	// then was born before it.
	opened time.Time
	// closes: paths a writer closed, or a file was moved to, in this
	// window with no write since (for Options.Closed).
	closes map[string]bool
	// watchedWrites: files written in this window whose own watch reports
	// closes (kqueue on FreeBSD), so a close is sure to follow.
	watchedWrites map[string]bool
}

func newPending() *pending { return &pending{recs: map[string]*rec{}, opened: time.Now()} }

// bornSince reports whether the node (ino) at path was created at or after
// t, by its birth time. File systems hand a freed inode number to the next
// new file at once (ext4, tmpfs), so `rm a; touch b` looks like a rename by
// inode alone; a node born inside the batch cannot be one that existed when
// it opened. False when unknown.
func bornSince(path string, ino uint64, t time.Time) bool {
	got, born, ok := birthOf(path)
	return ok && got == ino && !born.Before(t)
}

// rec returns path's record, creating it from the index's current state
// (k, ino; kNone when absent), which is the state at the batch's start
// since every index change is recorded. While crawling it returns nil.
func (r *run) rec(path string, k kind, ino uint64) *rec {
	if r.cur == nil || r.suppress > 0 {
		return nil
	}
	r.dirty = true
	rc := r.cur.recs[path]
	if rc == nil {
		rc = &rec{startKind: k, nowKind: k, startIno: ino, nowIno: ino}
		r.cur.recs[path] = rc
	}
	return rc
}

// recSet: path now holds node (k, ino); before, the index had (oldK,
// oldIno) when had.
func (r *run) recSet(path string, had bool, oldK kind, oldIno uint64, k kind, ino uint64) {
	if !had {
		oldK, oldIno = kNone, 0
	}
	if rc := r.rec(path, oldK, oldIno); rc != nil {
		rc.nowKind, rc.nowIno = k, ino
	}
}

// recGone: the node (k, ino) at path went away.
func (r *run) recGone(path string, k kind, ino uint64) {
	if rc := r.rec(path, k, ino); rc != nil {
		if rc.startKind != kNone {
			rc.replaced = true
		}
		rc.nowKind, rc.nowIno = kNone, 0
		rc.origin = ""
	}
}

func (r *run) recWrite(path string, k kind, ino uint64) {
	if rc := r.rec(path, k, ino); rc != nil {
		rc.wrote = true
	}
}

func (r *run) recAttrib(path string, k kind, ino uint64) {
	if rc := r.rec(path, k, ino); rc != nil {
		rc.attrib = true
	}
}

// recReplaced: the node at path was removed and a node (k, ino) is there
// again, so its contents may be anything now.
func (r *run) recReplaced(path string, k kind, ino uint64) {
	if rc := r.rec(path, k, ino); rc != nil {
		if rc.startKind != kNone {
			rc.replaced = true
		}
	}
}

// recMoved: the node (k, ino) at oldPath was renamed to newPath (whose
// previous node, if any, was already recorded gone).
func (r *run) recMoved(oldPath, newPath string, k kind, ino uint64) {
	ro := r.rec(oldPath, k, ino)
	if ro == nil {
		return
	}
	rn := r.rec(newPath, kNone, 0)
	origin := ro.origin
	if origin == "" && ro.startKind != kNone {
		origin = oldPath
	}
	rn.wrote = rn.wrote || ro.wrote
	rn.attrib = rn.attrib || ro.attrib
	if ro.startKind != kNone {
		ro.replaced = true
	}
	ro.nowKind, ro.nowIno, ro.origin = kNone, 0, ""
	if rn.startKind != kNone {
		rn.replaced = true
	}
	rn.nowKind, rn.nowIno, rn.origin = k, ino, origin
}

// flush closes the open batch: it computes the net change of every path
// recorded and opens a new, empty batch.
func (r *run) flush(now time.Time) Batch {
	p := r.cur
	r.cur = newPending()
	b := Batch{Time: now, Rescan: p.rescan}
	used := map[string]bool{}
	// validOrigin: the node that moved here existed at the start at o, and
	// o holds nothing now, so "renamed from o" is the whole story for o.
	validOrigin := func(o string) bool {
		if o == "" || used[o] {
			return false
		}
		orc := p.recs[o]
		return orc != nil && orc.startKind != kNone && orc.nowKind == kNone
	}
	var creates []string
	// replacedBy: paths that existed at the start and hold another node
	// now, which may be a node renamed over them (paired by inode below).
	var replacedBy []string
	for path, rc := range p.recs {
		startEx, nowEx := rc.startKind != kNone, rc.nowKind != kNone
		switch {
		case !startEx && nowEx:
			if validOrigin(rc.origin) {
				used[rc.origin] = true
				b.Changes = append(b.Changes, Change{Path: path, Op: Rename, Old: rc.origin})
			} else {
				creates = append(creates, path)
			}
		case startEx && nowEx:
			switch {
			case validOrigin(rc.origin):
				used[rc.origin] = true
				b.Changes = append(b.Changes, Change{Path: path, Op: Rename, Old: rc.origin})
			case rc.startIno != rc.nowIno && rc.nowIno != 0:
				replacedBy = append(replacedBy, path)
			case rc.replaced || rc.wrote || rc.startKind != rc.nowKind:
				b.Changes = append(b.Changes, Change{Path: path, Op: Write})
			case rc.attrib:
				b.Changes = append(b.Changes, Change{Path: path, Op: Chmod})
			}
		}
	}
	// Without rename cookies (kqueue, poll) or after lost events, a node
	// that vanished from one path and appeared at another is paired by
	// inode number, on one device.
	if len(creates)+len(replacedBy) > 0 && (!r.caps.RenameCookies || p.rescan || p.unpaired) {
		gone := map[uint64][]string{}
		for path, rc := range p.recs {
			if rc.startKind != kNone && rc.nowKind == kNone && rc.startIno != 0 && !used[path] {
				gone[rc.startIno] = append(gone[rc.startIno], path)
			}
		}
		// Created paths, and nodes renamed over a path that existed (mv
		// a b, with b there): the same pairing; what stays unpaired is a
		// create, or a rewrite of the path that was there.
		pair := func(paths []string) []string {
			kept := paths[:0]
			for _, path := range paths {
				rc := p.recs[path]
				if g := gone[rc.nowIno]; len(g) == 1 && !used[g[0]] && p.recs[g[0]].startKind == rc.nowKind &&
					!bornSince(path, rc.nowIno, p.opened) && oneDevice(g[0], path) {
					used[g[0]] = true
					b.Changes = append(b.Changes, Change{Path: path, Op: Rename, Old: g[0]})
					continue
				}
				kept = append(kept, path)
			}
			return kept
		}
		creates = pair(creates)
		replacedBy = pair(replacedBy)
	}
	for _, path := range replacedBy {
		b.Changes = append(b.Changes, Change{Path: path, Op: Write})
	}
	for _, path := range creates {
		b.Changes = append(b.Changes, Change{Path: path, Op: Create})
	}
	for path, rc := range p.recs {
		if rc.startKind != kNone && rc.nowKind == kNone && !used[path] {
			b.Changes = append(b.Changes, Change{Path: path, Op: Remove})
		}
	}
	if r.f != nil && len(r.f.include) > 0 { // a bare run (tests) has no filters
		b.Changes = r.dropExcludedDirs(b.Changes, p)
	}
	if r.gate != nil {
		b.Changes = r.gateChanges(b.Changes, p, now)
		r.armSettle()
	}
	sort.Slice(b.Changes, func(i, j int) bool { return b.Changes[i].Path < b.Changes[j].Path })
	r.takePrints(b.Changes, p, now)
	return b
}

// dropExcludedDirs removes the changes of directories that the include
// patterns do not match. Directories are indexed whatever the patterns say,
// so that matching files below them are found, but `-g '**/*.go'` asks for
// Go files: a mkdir or a directory rename is not one (the files a renamed
// directory carries are reported one by one).
func (r *run) dropExcludedDirs(changes []Change, p *pending) []Change {
	kept := changes[:0]
	for _, c := range changes {
		rc := p.recs[c.Path]
		isDir := rc != nil && (rc.startKind == kDir || rc.nowKind == kDir)
		if isDir {
			if rel, ok := r.relToRoot(c.Path); ok && !r.f.included(rel) {
				continue
			}
		}
		kept = append(kept, c)
	}
	return kept
}

// relToRoot returns path relative to the root it lies in.
func (r *run) relToRoot(path string) (string, bool) {
	for _, rt := range r.roots {
		if path == rt.path {
			return ".", true
		}
		if len(path) > len(rt.path) && path[:len(rt.path)] == rt.path && (rt.path == "/" || path[len(rt.path)] == '/') {
			return below(rt.path, path), true
		}
	}
	return "", false
}
