package watcher

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vigil-watch/vigil/vnode"
)

// The finish gate where only a file's own watch reports its writer's close
// (kqueue on FreeBSD: Caps{CloseWrites: true}, no ChildWrites). The vnode
// package's fake kernel shows NOTE_CLOSE_WRITE becoming NoteCloseWrite;
// these tests feed such notes to a run, as its Queue would, and check which
// batch reports the file. No FreeBSD kernel is needed.

// closeWatchRun is a run over dir on FreeBSD's kqueue capabilities, with
// file "upload.bin" created in it, indexed and watched as watch wid, and
// recorded as created (as a rescan finding it does). It returns the run
// and the file's path.
func closeWatchRun(t *testing.T, settle time.Duration) (*run, string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "upload.bin")
	if err := os.WriteFile(path, []byte("part"), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	q, err := vnode.Open(vnode.Options{Backend: vnode.Poll, PollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	caps := vnode.Caps{CloseWrites: true}
	r := &run{
		q:     q,
		cur:   newPending(),
		caps:  caps,
		files: map[vnode.ID]fileRef{},
		gate: &finishGate{settle: settle, held: map[string]*heldFile{},
			useCloses: caps.CloseWrites, watchedCloses: caps.CloseWrites && !caps.ChildWrites},
	}
	d := &dirNode{nm: dir}
	ino := inoOf(fi)
	name := d.ents.set("upload.bin", entry{ino: ino, kind: kFile, wid: closeTestWatch})
	r.files[closeTestWatch] = fileRef{d, name}
	r.recSet(path, false, kNone, 0, kFile, ino)
	return r, path
}

const closeTestWatch vnode.ID = 7

// flushed is the changes of the batch r closes at now.
func flushed(r *run, now time.Time) []Change { return r.flush(now).Changes }

func note(n vnode.Note) vnode.Event {
	return vnode.Event{Kind: vnode.KindNote, ID: closeTestWatch, Notes: n}
}

// A file written while its watch is in place waits for its close, however
// long that takes; the close releases it at once, as one create.
func TestClosedWatchedWriteWaitsForClose(t *testing.T) {
	const settle = time.Second
	r, path := closeWatchRun(t, settle)
	t0 := time.Now()
	r.handle(note(vnode.NoteWrite | vnode.NoteExtend))
	if got := flushed(r, t0); len(got) != 0 {
		t.Fatalf("first batch %+v: the file is still open", got)
	}
	for i := 1; i <= 3; i++ { // three settle periods without a write
		if got := flushed(r, t0.Add(time.Duration(i)*settle+time.Millisecond)); len(got) != 0 {
			t.Fatalf("reported %+v after %d settle periods while its writer has it open", got, i)
		}
	}
	r.dirty = false // as the loop leaves it after a delivery
	r.handle(note(vnode.NoteCloseWrite))
	if !r.dirty {
		t.Error("the close did not mark the batch for delivery")
	}
	want := []Change{{Path: path, Op: Create}}
	if got := flushed(r, t0.Add(3*settle+2*time.Millisecond)); !slices.Equal(got, want) {
		t.Errorf("after the close: %+v, want %+v", got, want)
	}
	if got := flushed(r, t0.Add(5*settle)); len(got) != 0 {
		t.Errorf("reported again: %+v", got)
	}
}

// One kernel event may carry the last writes and the close together
// (EV_CLEAR merges a wait's notes): the file is finished.
func TestClosedWriteAndCloseInOneEvent(t *testing.T) {
	r, path := closeWatchRun(t, time.Hour)
	r.handle(note(vnode.NoteWrite | vnode.NoteCloseWrite))
	want := []Change{{Path: path, Op: Create}}
	if got := flushed(r, time.Now()); !slices.Equal(got, want) {
		t.Errorf("got %+v, want %+v at once, not after settling", got, want)
	}
}

// A file whose writer closed it before its watch was placed (the common
// case for a small file copied in: the directory's note, the rescan and
// the watch all come after) will see no close; it is reported once it
// has settled, not held forever. Until then it is held.
func TestClosedBeforeItsWatchSettles(t *testing.T) {
	const settle = 500 * time.Millisecond
	r, path := closeWatchRun(t, settle)
	t0 := time.Now()
	if got := flushed(r, t0); len(got) != 0 {
		t.Fatalf("reported before settling: %+v", got)
	}
	r.dirty = false // as the loop leaves it after a delivery
	r.settleTick(t0.Add(settle / 2))
	if r.dirty {
		t.Error("the settle timer marked a batch before the file settled")
	}
	r.settleTick(t0.Add(settle + time.Millisecond))
	if !r.dirty {
		t.Error("the settle timer did not mark the batch that releases the settled file")
	}
	want := []Change{{Path: path, Op: Create}}
	if got := flushed(r, t0.Add(settle+time.Millisecond)); !slices.Equal(got, want) {
		t.Errorf("after settling: %+v, want %+v", got, want)
	}
}

// A file under the poller (a polled root, or out of descriptors) reports
// no closes even on FreeBSD: its writes do not make it wait for one.
func TestClosedPolledFileSettles(t *testing.T) {
	const settle = 500 * time.Millisecond
	r, path := closeWatchRun(t, settle)
	r.markPolled(closeTestWatch)
	t0 := time.Now()
	r.handle(note(vnode.NoteWrite))
	if got := flushed(r, t0); len(got) != 0 {
		t.Fatalf("reported before settling: %+v", got)
	}
	want := []Change{{Path: path, Op: Create}}
	if got := flushed(r, t0.Add(settle+time.Millisecond)); !slices.Equal(got, want) {
		t.Errorf("after settling: %+v, want %+v", got, want)
	}
}
