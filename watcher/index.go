package watcher

import (
	"encoding/binary"
	"slices"
	"strings"
	"unsafe"

	"github.com/vigil-watch/vigil/vnode"
)

// The per-directory index is laid out for memory rather than for the
// fewest instructions: a 100k-file tree is mostly its entries, and a Go map
// per directory costs several times what the entries themselves hold. Each
// directory keeps its names packed in one byte arena and its entries as
// 8-byte slots sorted by name (found by binary search); the two things only
// some entries have live beside them: the node of a subdirectory (a tenth
// of the entries in a typical tree) and a file's own watch (kqueue only).

// slot is one name in a directory's index, 8 bytes: the low half of the
// inode, and the arena offset of the name with the kind and a "wide" bit in
// its top bits. In the arena the name follows its length: one byte, or for
// names over 254 bytes (longer than most systems allow) 0xff and two more.
// Most file systems number inodes below 2³² (ext4 always); a slot whose
// inode is wider keeps the high half in the arena, in the four bytes after
// its name, so that the common case pays nothing for the rare one.
type slot struct {
	ino  uint32 // the inode's low half
	meta uint32 // kind<<kindShift | wideBit | offset of the name's length in the arena
}

// The split of slot.meta: 256 MiB of names per directory.
const (
	kindShift = 29
	wideBit   = 1 << 28
	offMask   = wideBit - 1
)

func (s *slot) kind() kind { return kind(s.meta >> kindShift) }

func (s *slot) off() uint32 { return s.meta & offMask }

func (s *slot) wide() bool { return s.meta&wideBit != 0 }

// nameAt returns the name stored at arena offset off, a view into the
// arena, and the bytes it takes there with its length.
func nameAt(names []byte, off uint32) (string, uint32) {
	n, skip := uint32(names[off]), uint32(1)
	if n == 0xff {
		n, skip = uint32(names[off+1])<<8|uint32(names[off+2]), 3
	}
	return unsafe.String(&names[off+skip], int(n)), skip + n
}

// inodeAt returns slot s's inode, its high half from the arena when wide.
func inodeAt(names []byte, s slot) uint64 {
	ino := uint64(s.ino)
	if s.wide() {
		_, size := nameAt(names, s.off())
		ino |= uint64(binary.LittleEndian.Uint32(names[s.off()+size:])) << 32
	}
	return ino
}

// spanOf is how many arena bytes slot s takes: length, name and, when
// wide, the inode's high half.
func spanOf(names []byte, s slot) uint32 {
	_, size := nameAt(names, s.off())
	if s.wide() {
		size += 4
	}
	return size
}

// appendName stores name in the arena, after its length.
func appendName(names []byte, name string) []byte {
	if n := len(name); n < 0xff {
		names = append(names, byte(n))
	} else {
		names = append(names, 0xff, byte(n>>8), byte(n))
	}
	return append(names, name...)
}

// dirIndex is what a directory holds, as far as the index knows.
type dirIndex struct {
	// names is an append-only arena: bytes once written are never changed,
	// so the strings handed out (which point into it) stay valid; a
	// compaction copies the live names into a new arena instead.
	names []byte
	slots []slot    // sorted by name, unless loading
	x     *dirExtra // what few directories have; nil for most
	waste uint32    // arena bytes that no slot refers to any more
	bulk  bool      // loading: slots are appended unsorted until the next lookup
}

// dirExtra is the part of a directory's state that most directories of a
// large tree do not need (most have no subdirectory, no .gitignore, no
// symlinked path, are no root's top and, but on kqueue, have no file
// watches): kept behind one pointer, it costs them 8 bytes instead of 88.
type dirExtra struct {
	subs []*dirNode // the subdirectories' nodes, sorted by name
	wids map[string]vnode.ID
	real string      // the node's: see dirNode.readPath
	ign  *ignoreList // the node's .gitignore
	rt   *root       // a top node's root
	ino  uint64      // a top node's inode
}

// extra returns x's dirExtra, made if need be.
func (x *dirIndex) extra() *dirExtra {
	if x.x == nil {
		x.x = &dirExtra{}
	}
	return x.x
}

// subs are the subdirectories' nodes, sorted by name.
func (x *dirIndex) subs() []*dirNode {
	if x.x == nil {
		return nil
	}
	return x.x.subs
}

// wid is the watch of file name, if it has one of its own.
func (x *dirIndex) wid(name string) vnode.ID {
	if x.x == nil || x.x.wids == nil {
		return 0
	}
	return x.x.wids[name]
}

// clear empties the index, keeping what the extra holds for the node.
func (x *dirIndex) clear() {
	keep := x.x
	*x = dirIndex{}
	if keep != nil && (keep.real != "" || keep.ign != nil || keep.rt != nil) {
		keep.subs, keep.wids = nil, nil
		x.x = keep
	}
}

// nameAt returns the name in slot i, a view into the arena.
func (x *dirIndex) nameAt(i int) string {
	name, _ := nameAt(x.names, x.slots[i].off())
	return name
}

// len is the number of names indexed.
func (x *dirIndex) len() int { return len(x.slots) }

// find returns where name is, or where it would go.
func (x *dirIndex) find(name string) (int, bool) {
	if x.bulk {
		x.finish()
	}
	// By hand rather than slices.BinarySearchFunc: this is on every
	// event's path, and the closure call per probe showed in profiles.
	lo, hi := 0, len(x.slots)
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		if n, _ := nameAt(x.names, x.slots[h].off()); n < name {
			lo = h + 1
		} else {
			hi = h
		}
	}
	return lo, lo < len(x.slots) && x.nameAt(lo) == name
}

// findSub returns where the node named name is in subs, or where it would go.
func (x *dirIndex) findSub(name string) (int, bool) {
	return slices.BinarySearchFunc(x.subs(), name, func(n *dirNode, name string) int {
		return strings.Compare(n.name(), name)
	})
}

// entryAt assembles the entry in slot i.
func (x *dirIndex) entryAt(i int) entry {
	s := &x.slots[i]
	e := entry{ino: inodeAt(x.names, *s), kind: s.kind()}
	if e.kind == kDir {
		if j, ok := x.findSub(x.nameAt(i)); ok {
			e.dir = x.x.subs[j]
		}
	}
	e.wid = x.wid(x.nameAt(i))
	return e
}

// get returns name's entry.
func (x *dirIndex) get(name string) (entry, bool) {
	i, ok := x.find(name)
	if !ok {
		return entry{}, false
	}
	return x.entryAt(i), true
}

// inodeOf returns name's inode (0 if not indexed) without ending a bulk
// load: a crawl asks for its ancestors' (symlink loops) while it is still
// loading them, and sorting each then would make the rest of their
// listings one sorted insert each. A linear scan then; that is rare.
func (x *dirIndex) inodeOf(name string) uint64 {
	if !x.bulk {
		e, _ := x.get(name)
		return e.ino
	}
	for i := range x.slots {
		if x.nameAt(i) == name {
			return inodeAt(x.names, x.slots[i])
		}
	}
	return 0
}

// has reports whether name is indexed.
func (x *dirIndex) has(name string) bool {
	_, ok := x.find(name)
	return ok
}

// set indexes name as e, replacing what was there, and returns the stored
// name (a view into the arena, so that keeping it costs nothing more). A
// subdirectory's node takes that name.
func (x *dirIndex) set(name string, e entry) string {
	var i int
	var had bool
	if x.bulk {
		// Loading a fresh listing: names are unique, sorting waits.
		i = len(x.slots)
		x.slots = append(x.slots, slot{})
	} else if i, had = x.find(name); had {
		x.unlink(i)
	} else {
		x.slots = slices.Insert(x.slots, i, slot{})
	}
	wide := e.ino>>32 != 0
	if had && wide && !x.slots[i].wide() {
		// No room for the high half: store the name again, with it.
		x.waste += spanOf(x.names, x.slots[i])
		had = false
	}
	s := &x.slots[i]
	if !had {
		s.meta = uint32(len(x.names))
		arena := unsafe.SliceData(x.names)
		x.names = appendName(x.names, name)
		if wide {
			s.meta |= wideBit
			x.names = append(x.names, 0, 0, 0, 0)
		}
		if unsafe.SliceData(x.names) != arena && !x.bulk {
			x.repoint() // finish does it after a bulk load
		}
	}
	s.ino = uint32(e.ino)
	s.meta = uint32(e.kind)<<kindShift | s.meta&(wideBit|offMask)
	if s.wide() {
		// Past the name: no string handed out covers these bytes.
		_, size := nameAt(x.names, s.off())
		binary.LittleEndian.PutUint32(x.names[s.off()+size:], uint32(e.ino>>32))
	}
	stored := x.nameAt(i)
	if e.dir != nil {
		xx := x.extra()
		if x.bulk {
			xx.subs = append(xx.subs, e.dir)
		} else {
			j, _ := x.findSub(stored)
			xx.subs = slices.Insert(xx.subs, j, e.dir)
		}
	}
	if e.wid != 0 {
		// A file with a watch of its own (kqueue) is named by a copy,
		// here and by the caller's fileRef: those names live as long as
		// the watch, and a view would keep the arena alive through any
		// later compaction (see repoint).
		stored = strings.Clone(stored)
		xx := x.extra()
		if xx.wids == nil {
			xx.wids = map[string]vnode.ID{}
		}
		xx.wids[stored] = e.wid
	}
	return stored
}

// unlink forgets slot i's subdirectory node and watch, keeping the slot.
func (x *dirIndex) unlink(i int) {
	name := x.nameAt(i)
	if x.slots[i].kind() == kDir {
		if j, ok := x.findSub(name); ok {
			x.x.subs = slices.Delete(x.x.subs, j, j+1)
		}
	}
	if x.x != nil && x.x.wids != nil {
		delete(x.x.wids, name)
	}
}

// del removes name from the index.
func (x *dirIndex) del(name string) {
	i, ok := x.find(name)
	if !ok {
		return
	}
	x.unlink(i)
	x.waste += spanOf(x.names, x.slots[i])
	x.slots = slices.Delete(x.slots, i, i+1)
	switch {
	case len(x.slots) == 0:
		x.clear()
	case x.waste >= 256 && int(x.waste) > len(x.names)/2:
		x.compact()
	}
}

// compact copies the live names into a new arena. The old one lives on as
// long as strings handed out point into it.
func (x *dirIndex) compact() {
	names := make([]byte, 0, len(x.names)-int(x.waste))
	for i := range x.slots {
		s := &x.slots[i]
		size := spanOf(x.names, *s)
		off := uint32(len(names))
		names = append(names, x.names[s.off():s.off()+size]...)
		s.meta = s.meta&^offMask | off
	}
	x.names, x.waste = names, 0
	x.repoint()
}

// repoint names the subdirectories' nodes by views into the current arena.
// Their names are views into the arena (see set); one that still pointed
// into an arena left behind by a compaction, or by an append that moved
// it, would keep that arena alive, waste and all. (Files with watches of
// their own, kqueue only, are named by copies: see set.) It needs slots
// and subs sorted.
func (x *dirIndex) repoint() {
	j, subs := 0, x.subs()
	for i := range x.slots {
		if j == len(subs) {
			return
		}
		if x.slots[i].kind() != kDir {
			continue
		}
		name := x.nameAt(i)
		for j < len(subs) && subs[j].nm < name {
			j++
		}
		if j < len(subs) && subs[j].nm == name {
			subs[j].nm = name
		}
	}
}

// load prepares for a bulk load of up to n names totalling size bytes: set
// appends until the next lookup sorts.
func (x *dirIndex) load(n, size int) {
	if len(x.slots) == 0 {
		x.slots = make([]slot, 0, n)
		x.names = make([]byte, 0, size+n) // a length byte each
	}
	x.bulk = true
}

// finish ends a bulk load: it sorts, and gives back what the estimate
// reserved beyond what the filters admitted.
func (x *dirIndex) finish() {
	if !x.bulk {
		return
	}
	x.bulk = false
	slices.SortFunc(x.slots, func(a, b slot) int {
		an, _ := nameAt(x.names, a.off())
		bn, _ := nameAt(x.names, b.off())
		return strings.Compare(an, bn)
	})
	slices.SortFunc(x.subs(), func(a, b *dirNode) int { return strings.Compare(a.name(), b.name()) })
	if cap(x.slots)-len(x.slots) > len(x.slots)/4 {
		x.slots = slices.Clip(slices.Clone(x.slots))
	}
	switch {
	case cap(x.names)-len(x.names) <= len(x.names)/4:
		x.repoint() // the arena may have moved during the load
	case len(x.slots) == 0:
		x.clear()
	default:
		x.compact() // and repoints
	}
}

// each calls fn for every name in order. fn must not change the index.
func (x *dirIndex) each(fn func(name string, e entry)) {
	if x.bulk {
		x.finish()
	}
	j, subs := 0, x.subs()
	for i := range x.slots {
		name := x.nameAt(i)
		e := entry{ino: inodeAt(x.names, x.slots[i]), kind: x.slots[i].kind()}
		if e.kind == kDir {
			for j < len(subs) && subs[j].name() < name {
				j++
			}
			if j < len(subs) && subs[j].name() == name {
				e.dir = subs[j]
			}
		}
		e.wid = x.wid(name)
		fn(name, e)
	}
}
