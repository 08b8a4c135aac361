package watcher

import (
	"math/rand"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/vigil-watch/vigil/vnode"
)

// TestDirIndexAgreesWithMap drives a directory's index and a plain map
// through the same random inserts, replacements and removals (with
// subdirectory nodes, per-file watches, bulk loads and arena compactions
// along the way) and checks after every step that they hold the same
// entries.
func TestDirIndexAgreesWithMap(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var x dirIndex
	model := map[string]entry{}
	nameOf := func(i int) string {
		// Long names make deletions waste enough arena to compact it;
		// a few are longer than a one-byte length can say.
		if i%97 == 0 {
			return "long-" + strconv.Itoa(i) + strings.Repeat("y", 250+i%300)
		}
		return "name-" + strconv.Itoa(i) + strings.Repeat("x", i%40)
	}
	// A subdirectory's node takes the name set returns, as add does.
	top := &dirNode{nm: "/top"}
	set := func(name string, e entry) {
		if stored := x.set(name, e); e.dir != nil {
			e.dir.nm = stored
		}
	}
	randEntry := func(name string) entry {
		// Most inodes fit in 32 bits (all of ext4's); some file systems
		// give wider ones, kept apart in the arena.
		e := entry{ino: uint64(rng.Uint32()), kind: kind(1 + rng.Intn(3))}
		if rng.Intn(3) == 0 {
			e.ino = rng.Uint64() | 1<<32
		}
		if e.kind == kDir {
			e.dir = &dirNode{parent: top}
		} else if rng.Intn(3) == 0 {
			e.wid = vnode.ID(1 + rng.Intn(1000))
		}
		return e
	}
	check := func(step int) {
		t.Helper()
		if x.len() != len(model) {
			t.Fatalf("step %d: index holds %d names, want %d", step, x.len(), len(model))
		}
		for name, want := range model {
			got, ok := x.get(name)
			if !ok || got != want {
				t.Fatalf("step %d: get(%q) = %+v, %v; want %+v", step, name, got, ok, want)
			}
			if want.dir != nil && (want.dir.name() != name || !inArena(x.names, want.dir.nm)) {
				t.Fatalf("step %d: node of %q is named %q, in the arena: %v", step, name, want.dir.name(), inArena(x.names, want.dir.nm))
			}
		}
		var names []string
		x.each(func(name string, e entry) {
			if model[name] != e {
				t.Fatalf("step %d: each gave %q as %+v, want %+v", step, name, e, model[name])
			}
			names = append(names, name)
		})
		if !slices.IsSorted(names) || len(names) != len(model) {
			t.Fatalf("step %d: each gave %d names, sorted %v; want %d", step, len(names), slices.IsSorted(names), len(model))
		}
	}
	for step := 0; step < 3000; step++ {
		switch op := rng.Intn(10); {
		case op == 0 && step%100 == 0:
			// A fresh listing, loaded in bulk as a scan does.
			x, model = dirIndex{}, map[string]entry{}
			n := rng.Intn(200)
			x.load(n, n*10)
			for _, i := range rng.Perm(n) {
				e := randEntry(nameOf(i))
				set(nameOf(i), e)
				model[nameOf(i)] = e
			}
			x.finish()
		case op < 5:
			name := nameOf(rng.Intn(300))
			e := randEntry(name)
			set(name, e)
			model[name] = e
		default:
			name := nameOf(rng.Intn(300))
			x.del(name)
			delete(model, name)
		}
		check(step)
	}
}

// inArena says whether s is a view into names: a node named by a view into
// an arena the index no longer uses would keep that arena alive.
func inArena(names []byte, s string) bool {
	if len(s) == 0 || len(names) == 0 {
		return false
	}
	p, lo := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(&names[0]))
	return p >= lo && p+uintptr(len(s)) <= lo+uintptr(len(names))
}

// TestDirIndexNamesSurviveCompaction: names handed out before an arena
// compaction still read the same afterwards.
func TestDirIndexNamesSurviveCompaction(t *testing.T) {
	var x dirIndex
	var kept []string
	for i := range 100 {
		name := strings.Repeat("n", 20) + strconv.Itoa(i)
		kept = append(kept, x.set(name, entry{ino: uint64(i), kind: kFile}))
	}
	for i := range 90 {
		x.del(kept[i])
	}
	if len(x.names) > 1000 {
		t.Fatalf("the arena still holds %d bytes after 90 of 100 names were deleted", len(x.names))
	}
	for i, name := range kept {
		if want := strings.Repeat("n", 20) + strconv.Itoa(i); name != want {
			t.Fatalf("name %d reads %q after compaction, want %q", i, name, want)
		}
	}
	for i := 90; i < 100; i++ {
		if e, ok := x.get(kept[i]); !ok || e.ino != uint64(i) {
			t.Fatalf("get(%q) = %+v, %v after compaction", kept[i], e, ok)
		}
	}
}

// TestSlotSize: a million-file tree holds a million slots; they must stay
// packed (8 bytes: the inode's high half lives in the arena, when any).
func TestSlotSize(t *testing.T) {
	if got := unsafe.Sizeof(slot{}); got != 8 {
		t.Errorf("a slot takes %d bytes, want 8", got)
	}
}

// TestDirNodeSize: a tree of 100,000 directories holds 100,000 of these,
// so the common parts stay in one 96-byte size class and the rare ones
// (subdirectories, watches per file, .gitignore, a symlinked path, a top
// node's root) live behind one pointer; paths, the root and the inode
// follow from the chain.
func TestDirNodeSize(t *testing.T) {
	if n := unsafe.Sizeof(dirNode{}); n > 96 {
		t.Errorf("dirNode is %d bytes, want at most 96", n)
	}
}

// TestInodeOfKeepsBulkLoad: asking for an entry's inode while a listing is
// loaded in bulk (a crawl checking its ancestors for symlink loops) answers
// without ending the load.
func TestInodeOfKeepsBulkLoad(t *testing.T) {
	var x dirIndex
	x.load(3, 3)
	x.set("b", entry{ino: 2, kind: kDir})
	x.set("a", entry{ino: 1<<40 | 1, kind: kFile})
	if got := x.inodeOf("a"); got != 1<<40|1 {
		t.Errorf("inodeOf(a) = %d while loading", got)
	}
	if got := x.inodeOf("c"); got != 0 {
		t.Errorf("inodeOf(c) = %d, want 0", got)
	}
	if !x.bulk {
		t.Error("inodeOf ended the bulk load")
	}
	x.finish()
	if got := x.inodeOf("b"); got != 2 {
		t.Errorf("inodeOf(b) = %d after the load", got)
	}
}

// TestDirIndexWatchedFileNamesAreCopies: a file with a watch of its own
// (kqueue) is named by a copy, in the index's watch map and to the caller,
// so that neither keeps an arena alive after a compaction.
func TestDirIndexWatchedFileNamesAreCopies(t *testing.T) {
	var x dirIndex
	var kept []string
	for i := range 100 {
		name := strings.Repeat("w", 20) + strconv.Itoa(i)
		e := entry{ino: uint64(i), kind: kFile}
		if i >= 90 {
			e.wid = vnode.ID(1000 + i)
		}
		stored := x.set(name, e)
		if i >= 90 && inArena(x.names, stored) {
			t.Fatalf("set(%q) with a watch returned a view into the arena", name)
		}
		kept = append(kept, stored)
	}
	for i := range 90 {
		x.del(kept[i]) // compacts the arena on the way
	}
	for i := 90; i < 100; i++ {
		if got := x.wid(kept[i]); got != vnode.ID(1000+i) {
			t.Errorf("wid(%q) = %d after compaction, want %d", kept[i], got, 1000+i)
		}
	}
	for name := range x.x.wids {
		if inArena(x.names, name) {
			t.Errorf("watch map key %q is a view into the arena", name)
		}
	}
}
