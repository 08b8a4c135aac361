package vnode

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// TestPollerDirect drives the poller through its internal API, as the
// kernel backends' fallback does: wake is called, drain empties, remove
// silences, close returns.
func TestPollerDirect(t *testing.T) {
	dir := tempDir(t)
	f := filepath.Join(dir, "f")
	writeFile(t, f, "1")
	var wakes atomic.Int64
	woke := make(chan struct{}, 1)
	p := newPoller(testPollInterval, func() {
		wakes.Add(1)
		select {
		case woke <- struct{}{}:
		default:
		}
	})
	defer p.close()
	if err := p.watch(1, dir); err != nil {
		t.Fatal(err)
	}
	if err := p.watch(2, f); err != nil {
		t.Fatal(err)
	}
	if err := p.watch(3, filepath.Join(dir, "missing")); err == nil {
		t.Error("watch of a missing path succeeded")
	}

	// drainUntil collects drained events until ok says it has them all.
	drainUntil := func(what string, ok func([]Event) bool) []Event {
		t.Helper()
		var all []Event
		end := time.After(deadline)
		for !ok(all) {
			select {
			case <-woke:
				all = p.drain(all)
			case <-end:
				t.Fatalf("no %s; drained %s", what, fmtEvents(all))
			}
		}
		return all
	}
	has := func(evs []Event, match func(Event) bool) bool {
		for _, e := range evs {
			if match(e) {
				return true
			}
		}
		return false
	}

	appendFile(t, f, "23")
	drainUntil("write of f on both watches", func(evs []Event) bool {
		return has(evs, note(2, NoteWrite|NoteExtend)) &&
			has(evs, func(e Event) bool { return child(1, "f", ChildNone)(e) && e.Notes&NoteWrite != 0 })
	})
	if got := p.drain(nil); len(got) != 0 {
		t.Errorf("drain after drain: %s", fmtEvents(got))
	}

	p.remove(2)
	if err := os.Remove(f); err != nil {
		t.Fatal(err)
	}
	evs := drainUntil("remove of f in the directory", func(evs []Event) bool {
		return has(evs, child(1, "f", ChildRemove))
	})
	if has(evs, func(e Event) bool { return e.ID == 2 }) {
		t.Errorf("event for a removed entry: %s", fmtEvents(evs))
	}
	if wakes.Load() == 0 {
		t.Error("wake never called")
	}
}

// TestPollerFollowTruncation checks the follow arithmetic on the poller
// alone: growth, truncation below the offset, and the path renamed away.
func TestPollerFollowTruncation(t *testing.T) {
	dir := tempDir(t)
	path := filepath.Join(dir, "log")
	writeFile(t, path, "0123456789")
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if _, err := fh.Seek(10, 0); err != nil {
		t.Fatal(err)
	}
	woke := make(chan struct{}, 1)
	p := newPoller(testPollInterval, func() {
		select {
		case woke <- struct{}{}:
		default:
		}
	})
	defer p.close()
	if err := p.follow(9, fh); err != nil {
		t.Fatal(err)
	}
	want := func(what string, match func(Event) bool) {
		t.Helper()
		end := time.After(deadline)
		var all []Event
		for {
			select {
			case <-woke:
				all = p.drain(all)
				for _, e := range all {
					if match(e) {
						return
					}
				}
			case <-end:
				t.Fatalf("no %s; drained %s", what, fmtEvents(all))
			}
		}
	}
	if err := os.Truncate(path, 4); err != nil {
		t.Fatal(err)
	}
	want("Data -6 after truncation", func(e Event) bool { return e.Kind == KindRead && e.ID == 9 && e.Data == -6 })
	if err := os.Rename(path, path+".old"); err != nil {
		t.Fatal(err)
	}
	want("rename", note(9, NoteRename))
}

// BenchmarkPollerScanDir measures one scan of a watched directory of 1000
// files: the poll backend's cost per interval grows with what it watches.
func BenchmarkPollerScanDir(b *testing.B) {
	dir := b.TempDir()
	for i := range 1000 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprint("f", i)), nil, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	e := &pollEntry{id: 1, path: dir}
	fi, err := os.Lstat(dir)
	if err != nil {
		b.Fatal(err)
	}
	e.state = statOf(fi)
	if e.children, err = readChildren(dir); err != nil {
		b.Fatal(err)
	}
	var out []Event
	b.ReportAllocs()
	for b.Loop() {
		out = e.scan(out[:0])
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/child")
}
