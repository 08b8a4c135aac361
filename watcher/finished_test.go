package watcher

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-watch/vigil/internal/testwait"
)

const testSettle = 400 * time.Millisecond

// startClosed runs a watcher with Options.Closed on variant v and collects
// its batches.
func startClosed(t *testing.T, v variant, dir string) *collector {
	t.Helper()
	w, err := New(Options{Roots: []string{dir}, Backend: v.backend, PollInterval: testPoll,
		Debounce: 50 * time.Millisecond, Closed: true, Settle: testSettle})
	if err != nil {
		t.Fatal(err)
	}
	w.caps = v.caps
	c, _ := runWatcher(t, w)
	return c
}

// changesOf returns every change the collector has seen for path (as new
// or old name).
func (c *collector) changesOf(path string) []Change {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Change
	for _, b := range c.batches {
		for _, ch := range b.Changes {
			if ch.Path == path || ch.Old == path {
				out = append(out, ch)
			}
		}
	}
	return out
}

// A file still open for writing is not reported however long the write
// takes; once closed it is reported once, as a create.
func TestClosedSlowWriter(t *testing.T) {
	for _, v := range variants() {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			c := startClosed(t, v, dir)
			path := filepath.Join(dir, "upload.bin")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			// Writes every 50 ms for 4 settle periods: the file never
			// settles. With closes reported, also a pause longer than the
			// settle time.
			for i := 0; i < 32; i++ {
				f.Write(make([]byte, 4096))
				time.Sleep(testSettle / 8)
			}
			if v.caps == nil && v.name == "inotify" {
				time.Sleep(3 * testSettle)
				f.Write([]byte("tail"))
				time.Sleep(testSettle / 4)
			}
			if got := c.changesOf(path); len(got) > 0 {
				t.Fatalf("reported while still open for writing: %+v", got)
			}
			f.Close()
			testwait.Until(t, deadline, "the finished file", func() bool { return len(c.changesOf(path)) > 0 })
			time.Sleep(2 * testSettle) // a second report would come by now
			got := c.changesOf(path)
			if len(got) != 1 || got[0].Op != Create {
				t.Errorf("changes %+v, want one create", got)
			}
			if fi, _ := os.Stat(path); fi.Size() != 32*4096 && fi.Size() != 32*4096+4 {
				t.Errorf("size %d", fi.Size())
			}
		})
	}
}

// A file written under a temporary name and renamed into place (rsync) is
// reported once, under its final name; the temporary name never shows.
func TestClosedRenamedIntoPlace(t *testing.T) {
	for _, v := range variants() {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			c := startClosed(t, v, dir)
			tmp, final := filepath.Join(dir, ".data.csv.Xy12ab"), filepath.Join(dir, "data.csv")
			f, err := os.Create(tmp)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 12; i++ {
				f.Write(make([]byte, 8192))
				time.Sleep(testSettle / 8)
			}
			f.Close()
			if err := os.Rename(tmp, final); err != nil {
				t.Fatal(err)
			}
			testwait.Until(t, deadline, "the renamed file", func() bool { return len(c.changesOf(final)) > 0 })
			time.Sleep(2 * testSettle)
			if got := c.changesOf(final); len(got) != 1 || got[0].Op != Create || got[0].Old != "" {
				t.Errorf("changes of the final name %+v, want one create", got)
			}
			if got := c.changesOf(tmp); len(got) > 0 {
				t.Errorf("the temporary name was reported: %+v", got)
			}
		})
	}
}

// A file created and removed before it was finished is never reported;
// one that existed and is rewritten is reported as a write.
func TestClosedRemovedUnfinishedAndRewrite(t *testing.T) {
	for _, v := range variants() {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			old := filepath.Join(dir, "old.txt")
			os.WriteFile(old, []byte("v1"), 0o644)
			c := startClosed(t, v, dir)
			gone := filepath.Join(dir, "gone.part")
			f, err := os.Create(gone)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 12; i++ {
				f.Write([]byte("x"))
				time.Sleep(testSettle / 8)
			}
			os.Remove(gone)
			f.Close()
			if err := os.WriteFile(old, []byte("version 2"), 0o644); err != nil {
				t.Fatal(err)
			}
			testwait.Until(t, deadline, "the rewrite", func() bool { return len(c.changesOf(old)) > 0 })
			time.Sleep(2 * testSettle)
			if got := c.changesOf(old); len(got) != 1 || got[0].Op != Write {
				t.Errorf("changes of the rewritten file %+v, want one write", got)
			}
			if got := c.changesOf(gone); len(got) > 0 {
				t.Errorf("a file removed before it was finished was reported: %+v", got)
			}
		})
	}
}
