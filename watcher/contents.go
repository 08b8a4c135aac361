package watcher

import (
	"hash/maphash"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"
)

// MaxHashSize is the largest file [Contents] hashes; a change to a larger
// file always counts, so that a save never waits on hashing a huge file.
const MaxHashSize = 8 << 20

// Contents remembers a hash and the mode of each regular file's contents,
// so that changes leaving a file as it was (a save without an edit, a
// touch, a checkout of identical content) can be dropped from batches.
//
// Baselines come from [Contents.Prime], in the background after the
// watcher is ready, and from [Contents.Filter] itself. A file modified after
// priming began is not primed (its content may already be a change the
// next batch reports), so its next change counts. Safe for concurrent use.
type Contents struct {
	mu    sync.Mutex
	seed  maphash.Seed
	sums  map[string]sum
	since time.Time // when priming began
}

type sum struct {
	h    uint64
	mode fs.FileMode
}

// NewContents returns an empty Contents.
func NewContents() *Contents {
	return &Contents{seed: maphash.MakeSeed(), sums: map[string]sum{}, since: time.Now()}
}

// hashFile hashes a regular file of at most MaxHashSize bytes; ok is false
// for anything else, or a file that changed while it was read.
func (c *Contents) hashFile(path string) (s sum, mtime time.Time, ok bool) {
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > MaxHashSize {
		return sum{}, time.Time{}, false
	}
	f, err := os.Open(path)
	if err != nil {
		return sum{}, time.Time{}, false
	}
	defer f.Close()
	var h maphash.Hash
	h.SetSeed(c.seed)
	n, err := io.Copy(&h, io.LimitReader(f, MaxHashSize+1))
	if err != nil || n > MaxHashSize {
		return sum{}, time.Time{}, false
	}
	after, err := f.Stat()
	if err != nil || after.Size() != n || !after.ModTime().Equal(fi.ModTime()) {
		return sum{}, time.Time{}, false
	}
	return sum{h: h.Sum64(), mode: fi.Mode()}, fi.ModTime(), true
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
		c.mu.Lock()
		_, have := c.sums[p]
		c.mu.Unlock()
		if have {
			continue
		}
		s, mtime, ok := c.hashFile(p)
		if !ok || !mtime.Before(limit) {
			continue
		}
		c.mu.Lock()
		if _, have := c.sums[p]; !have {
			c.sums[p] = s
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
		c.mu.Lock()
		old, had := c.sums[ch.Path]
		if ok {
			c.sums[ch.Path] = s
		} else {
			delete(c.sums, ch.Path)
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
	c.mu.Lock()
	delete(c.sums, p)
	c.mu.Unlock()
}

// Files lists the files w's roots and filters admit now, as [Scan] does
// for w's options; notices the listing meets are not reported again.
func (w *Watcher) Files() ([]string, error) {
	o := w.o
	o.OnError, o.Logf = nil, nil
	return Scan(o)
}
