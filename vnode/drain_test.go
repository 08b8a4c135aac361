package vnode

import (
	"path/filepath"
	"testing"
)

// TestDrain: what happened before a Drain is returned by it, without
// blocking and without waiting for the next poll tick; with nothing
// pending it returns nothing. A watcher that is stopping relies on it.
func TestDrain(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		q := openQueue(t, be)
		dir := tempDir(t)
		id := mustWatch(t, q, dir)
		if evs, err := q.Drain(nil); err != nil || len(evs) != 0 {
			t.Fatalf("Drain with nothing pending = %s, %v", fmtEvents(evs), err)
		}
		writeFile(t, filepath.Join(dir, "f"), "x")
		evs, err := q.Drain(nil)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range evs {
			if be == Kqueue { // kqueue names no children: the directory was written
				found = found || e.Kind == KindNote && e.ID == id && e.Notes&NoteWrite != 0
				continue
			}
			found = found || child(id, "f", ChildCreate)(e)
		}
		if !found {
			t.Errorf("Drain after a create = %s, want the create of f", fmtEvents(evs))
		}
		q.Close()
		if _, err := q.Drain(nil); !isClosed(err) {
			t.Errorf("Drain after Close = %v, want ErrClosed", err)
		}
	})
}
