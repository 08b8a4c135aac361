package watcher

import (
	"cmp"
	"encoding/binary"
	"hash/maphash"
	"slices"
	"sync"
	"time"
)

// MaxHashSize is the largest file [Contents] hashes; a change to a larger
// file always counts, so that a save never waits on hashing a huge file.
const MaxHashSize = 8 << 20

// Contents remembers a hash of each regular file's contents and mode, so
// that changes leaving a file as it was (a save without an edit, a touch, a
// checkout of identical content) can be dropped from batches. A primed
// file costs it 16 bytes: a 64-bit hash of its path and one of its mode
// and contents, in an array sorted by the first.
//
// Baselines come from [Contents.Prime], in the background after the
// watcher is ready, and from [Contents.Filter] itself. A file modified after
// priming began is not primed (its content may already be a change the
// next batch reports), so its next change counts. Safe for concurrent use.
type Contents struct {
	mu    sync.Mutex
	seed  maphash.Seed
	base  []keyedSum        // primed baselines, sorted by key; sum 0: forgotten
	more  map[uint64]uint64 // baselines of paths base does not hold
	since time.Time         // when priming began
	bufs  sync.Pool         // *[]byte read buffers
}

// keyedSum is one baseline: the path's key and the sum of the file's mode
// and contents (never 0, which marks a forgotten baseline).
type keyedSum struct{ key, sum uint64 }

// NewContents returns an empty Contents.
func NewContents() *Contents {
	c := &Contents{seed: maphash.MakeSeed(), more: map[uint64]uint64{}, since: time.Now()}
	c.bufs.New = func() any { b := make([]byte, 32<<10); return &b }
	return c
}

// key is what a path is remembered by. Two paths with one key would have
// to collide in 64 bits and then hold the same sum for a change to be lost.
func (c *Contents) key(path string) uint64 { return maphash.String(c.seed, path) }

// at is where key is in base, if it is there.
func (c *Contents) at(key uint64) (int, bool) {
	return slices.BinarySearchFunc(c.base, key, func(e keyedSum, k uint64) int { return cmp.Compare(e.key, k) })
}

// get returns key's baseline; c.mu is held.
func (c *Contents) get(key uint64) (uint64, bool) {
	if s, ok := c.more[key]; ok {
		return s, true
	}
	if i, ok := c.at(key); ok && c.base[i].sum != 0 {
		return c.base[i].sum, true
	}
	return 0, false
}

// set records key's baseline (0: forgets it); c.mu is held.
func (c *Contents) set(key, sum uint64) {
	if i, ok := c.at(key); ok {
		c.base[i].sum = sum // in place: the array never grows after priming
		return
	}
	if sum == 0 {
		delete(c.more, key)
	} else {
		c.more[key] = sum
	}
}

// hashFile hashes the mode and contents of a regular file of at most
// MaxHashSize bytes; ok is false for anything else, or a file that changed
// while it was read. mtime is the modification time it had.
func (c *Contents) hashFile(path string) (sum uint64, mtime time.Time, ok bool) {
	bp := c.bufs.Get().(*[]byte)
	defer c.bufs.Put(bp)
	var h maphash.Hash
	h.SetSeed(c.seed)
	mode, mtime, stable, err := readRegular(path, &h, *bp, MaxHashSize, false)
	if err != nil || !stable {
		return 0, time.Time{}, false
	}
	var m [4]byte
	binary.LittleEndian.PutUint32(m[:], mode)
	h.Write(m[:])
	return h.Sum64() | 1, mtime, true
}

// Prime hashes files (absolute paths, as [Scan] lists them) that have no
// baseline yet, skipping those modified since the Contents was made (less
// a second, for file systems with coarse timestamps). It returns how many
// files it hashed; stop ends it early, keeping none of them (returning 0).
func (c *Contents) Prime(files []string, stop <-chan struct{}) (hashed int) {
	c.mu.Lock()
	limit := c.since.Add(-time.Second)
	c.mu.Unlock()
	var primed []keyedSum
	for _, p := range files {
		select {
		case <-stop:
			return 0
		default:
		}
		k := c.key(p)
		c.mu.Lock()
		_, have := c.get(k)
		c.mu.Unlock()
		if have {
			continue
		}
		if s, mtime, ok := c.hashFile(p); ok && mtime.Before(limit) {
			primed = append(primed, keyedSum{k, s})
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	fresh := primed[:0]
	for _, e := range primed {
		switch _, have := c.get(e.key); {
		case have:
			continue // Filter set one meanwhile: newer than the one primed
		case c.base != nil:
			if i, ok := c.at(e.key); ok {
				c.base[i].sum = e.sum // a slot forgotten since an earlier priming
				hashed++
				continue
			}
		}
		fresh = append(fresh, e)
	}
	hashed += len(fresh)
	merged := make([]keyedSum, 0, len(c.base)+len(fresh))
	merged = append(append(merged, c.base...), fresh...)
	slices.SortFunc(merged, func(a, b keyedSum) int { return cmp.Compare(a.key, b.key) })
	c.base = merged
	return hashed
}

// Filter returns b without the changes that left a file's contents and
// mode as its baseline says they were, updating the baselines. Removes,
// renames and files beyond MaxHashSize always stay. Hashing happens before
// the runs for b start, so any content it saw is content those runs see.
func (c *Contents) Filter(b Batch) Batch {
	kept := b.Changes[:0:0]
	for _, ch := range b.Changes {
		switch ch.Op {
		case Remove:
			c.forget(ch.Path)
			kept = append(kept, ch)
			continue
		case Rename:
			c.forget(ch.Old)
		}
		s, _, ok := c.hashFile(ch.Path)
		k := c.key(ch.Path)
		c.mu.Lock()
		old, had := c.get(k)
		c.set(k, s) // s is 0 when !ok: forgotten
		c.mu.Unlock()
		if ok && had && old == s && ch.Op != Rename {
			continue // same bytes, same mode: nothing changed
		}
		kept = append(kept, ch)
	}
	b.Changes = kept
	return b
}

func (c *Contents) forget(p string) {
	k := c.key(p)
	c.mu.Lock()
	c.set(k, 0)
	c.mu.Unlock()
}

// Files lists the files w's roots and filters admit now, as [Scan] does
// for w's options, sorted; notices the listing meets are not reported
// again. With max > 0 the crawl stops at the max-th file, so that a
// caller that wants some of a large tree pays only for those: which ones
// is the crawl's order, not the first in sorted order.
func (w *Watcher) Files(max int) ([]string, error) {
	o := w.o
	o.OnError, o.Logf = nil, nil
	return scan(o, max)
}
