package watcher

import (
	"encoding/binary"
	"hash/maphash"
	"sync"
	"time"
)

// MaxHashSize is the largest file [Contents] hashes; a change to a larger
// file always counts, so that a save never waits on hashing a huge file.
const MaxHashSize = 8 << 20

// Contents remembers a hash of each regular file's contents and mode, so
// that changes leaving a file as it was (a save without an edit, a touch, a
// checkout of identical content) can be dropped from batches. A file costs
// it 16 bytes and a map slot: the path is kept only as a 64-bit hash.
//
// Baselines come from [Contents.Prime], in the background after the
// watcher is ready, and from [Contents.Filter] itself. A file modified after
// priming began is not primed (its content may already be a change the
// next batch reports), so its next change counts. Safe for concurrent use.
type Contents struct {
	mu    sync.Mutex
	seed  maphash.Seed
	sums  map[uint64]uint64 // hash of the path → hash of mode and contents
	since time.Time         // when priming began
	bufs  sync.Pool         // *[]byte read buffers
}

// NewContents returns an empty Contents.
func NewContents() *Contents {
	c := &Contents{seed: maphash.MakeSeed(), sums: map[uint64]uint64{}, since: time.Now()}
	c.bufs.New = func() any { b := make([]byte, 32<<10); return &b }
	return c
}

// key is what a path is remembered by. Two paths with one key would have
// to collide in 64 bits and then hold the same sum for a change to be lost.
func (c *Contents) key(path string) uint64 { return maphash.String(c.seed, path) }

// hashFile hashes the mode and contents of a regular file of at most
// MaxHashSize bytes; ok is false for anything else, or a file that changed
// while it was read. mtime is the modification time it had.
func (c *Contents) hashFile(path string) (sum uint64, mtime time.Time, ok bool) {
	bp := c.bufs.Get().(*[]byte)
	defer c.bufs.Put(bp)
	var h maphash.Hash
	h.SetSeed(c.seed)
	mode, mtime, stable, err := readRegular(path, &h, *bp, MaxHashSize)
	if err != nil || !stable {
		return 0, time.Time{}, false
	}
	var m [4]byte
	binary.LittleEndian.PutUint32(m[:], mode)
	h.Write(m[:])
	return h.Sum64(), mtime, true
}

// Prime hashes files (absolute paths, as [Scan] lists them) that have no
// baseline yet, skipping those modified since the Contents was made (less
// a second, for file systems with coarse timestamps). stop ends it early.
// It returns how many files it hashed.
func (c *Contents) Prime(files []string, stop <-chan struct{}) (hashed int) {
	c.mu.Lock()
	limit := c.since.Add(-time.Second)
	c.mu.Unlock()
	for _, p := range files {
		select {
		case <-stop:
			return hashed
		default:
		}
		k := c.key(p)
		c.mu.Lock()
		_, have := c.sums[k]
		c.mu.Unlock()
		if have {
			continue
		}
		s, mtime, ok := c.hashFile(p)
		if !ok || !mtime.Before(limit) {
			continue
		}
		c.mu.Lock()
		if _, have := c.sums[k]; !have {
			c.sums[k] = s
			hashed++
		}
		c.mu.Unlock()
	}
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
		old, had := c.sums[k]
		if ok {
			c.sums[k] = s
		} else {
			delete(c.sums, k)
		}
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
	delete(c.sums, k)
	c.mu.Unlock()
}

// Files lists the files w's roots and filters admit now, as [Scan] does
// for w's options; notices the listing meets are not reported again.
func (w *Watcher) Files() ([]string, error) {
	o := w.o
	o.OnError, o.Logf = nil, nil
	return Scan(o)
}
