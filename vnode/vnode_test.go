package vnode

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

func TestBackendAndCaps(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		q := openQueue(t, be)
		if q.Backend() != be {
			t.Fatalf("Backend() = %s, want %s", q.Backend(), be)
		}
		c := q.Caps()
		if be == Kqueue {
			// FreeBSD's NOTE_CLOSE_WRITE reports closes; nothing else.
			want := Caps{CloseWrites: runtime.GOOS == "freebsd"}
			if c != want {
				t.Errorf("Caps() = %+v, want %+v: kqueue names no children, sees none of their writes, pairs no renames", c, want)
			}
			return
		}
		if !c.ChildNames || !c.ChildWrites {
			t.Errorf("Caps() = %+v: %s names children and sees their writes", c, be)
		}
		if c.RenameCookies != (be == Inotify) {
			t.Errorf("Caps().RenameCookies = %v for %s", c.RenameCookies, be)
		}
		if c.CloseWrites != (be == Inotify) {
			t.Errorf("Caps().CloseWrites = %v for %s", c.CloseWrites, be)
		}
	})
}

func TestWatchErrors(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		q := openQueue(t, be)
		missing := filepath.Join(tempDir(t), "missing")
		if _, err := q.Watch(missing); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Watch(missing) = %v, want a not-exist error", err)
		}
		if _, _, err := q.Follow(missing); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Follow(missing) = %v, want a not-exist error", err)
		}
		if err := q.Remove(12345); err == nil {
			t.Error("Remove of an unknown ID succeeded")
		}
		q.Close()
		if _, err := q.Watch(missing); !isClosed(err) {
			t.Errorf("Watch after Close = %v, want ErrClosed", err)
		}
		if err := q.SetTimer(1, time.Second); !isClosed(err) {
			t.Errorf("SetTimer after Close = %v, want ErrClosed", err)
		}
		if _, err := q.Wait(nil); !isClosed(err) {
			t.Errorf("Wait after Close = %v, want ErrClosed", err)
		}
		if err := q.Close(); err != nil {
			t.Errorf("second Close = %v", err)
		}
	})
}

func TestFileWriteAppendTruncate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		dir := tempDir(t)
		f := filepath.Join(dir, "f")
		writeFile(t, f, "hello\n")
		q := openQueue(t, be)
		id := mustWatch(t, q, f)
		r := record(t, q)

		appendFile(t, f, "more\n")
		r.expect("write|extend after an append", note(id, NoteWrite|NoteExtend))

		if err := os.Truncate(f, 2); err != nil {
			t.Fatal(err)
		}
		e := r.expect("write after a truncation", note(id, NoteWrite))
		if e.Notes&NoteExtend != 0 {
			// Only a poll scan that also saw the append could say so.
			t.Logf("truncation reported with extend: %s", fmtEvent(e))
		}
	})
}

func TestFileChmod(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		dir := tempDir(t)
		f := filepath.Join(dir, "f")
		writeFile(t, f, "x")
		q := openQueue(t, be)
		id := mustWatch(t, q, f)
		r := record(t, q)
		if err := os.Chmod(f, 0o600); err != nil {
			t.Fatal(err)
		}
		r.expect("attrib after chmod", note(id, NoteAttrib))
	})
}

func TestFileUnlink(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		dir := tempDir(t)
		f := filepath.Join(dir, "f")
		writeFile(t, f, "x")
		q := openQueue(t, be)
		id := mustWatch(t, q, f)
		r := record(t, q)
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
		r.expect("delete after unlink", note(id, NoteDelete))
		if err := q.Remove(id); err != nil {
			t.Errorf("Remove after the node was deleted: %v", err)
		}
	})
}

// renamed matches what each backend can say about a watched node moved
// away: inotify knows it was renamed; a stat scan only sees it gone.
func renamed(be Backend, id ID) func(Event) bool {
	if be == Poll {
		return note(id, NoteDelete)
	}
	return note(id, NoteRename)
}

func TestRenameWatchedFile(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		dir := tempDir(t)
		f := filepath.Join(dir, "f")
		writeFile(t, f, "x")
		q := openQueue(t, be)
		fid := mustWatch(t, q, f)
		did := mustWatch(t, q, dir)
		r := record(t, q)
		if err := os.Rename(f, filepath.Join(dir, "g")); err != nil {
			t.Fatal(err)
		}
		r.expect("rename of the watched file", renamed(be, fid))
		if be == Kqueue {
			// kqueue names no child: the directory says "rescan me".
			r.expect("write on the directory", note(did, NoteWrite))
			return
		}
		from := r.expect("the old name leaving the directory", child(did, "f", ChildMovedFrom, ChildRemove))
		to := r.expect("the new name in the directory", child(did, "g", ChildMovedTo, ChildCreate))
		if be == Inotify {
			if from.Op != ChildMovedFrom || to.Op != ChildMovedTo || from.Cookie == 0 || from.Cookie != to.Cookie {
				t.Errorf("inotify rename not paired: %s / %s", fmtEvent(from), fmtEvent(to))
			}
		}
	})
}

func TestRenameWatchedDir(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		root := tempDir(t)
		d := filepath.Join(root, "d")
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		q := openQueue(t, be)
		id := mustWatch(t, q, d)
		rid := mustWatch(t, q, root)
		r := record(t, q)
		if err := os.Rename(d, filepath.Join(root, "e")); err != nil {
			t.Fatal(err)
		}
		r.expect("rename of the watched directory", renamed(be, id))
		if be == Kqueue {
			r.expect("write on the parent", note(rid, NoteWrite))
			return
		}
		e := r.expect("the directory's new name in its parent", child(rid, "e", ChildMovedTo, ChildCreate))
		if !e.IsDir {
			t.Errorf("moved directory not marked IsDir: %s", fmtEvent(e))
		}
	})
}

func TestDirectoryChildren(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		dir := tempDir(t)
		q := openQueue(t, be)
		id := mustWatch(t, q, dir)
		r := record(t, q)
		a := filepath.Join(dir, "a")
		if be == Kqueue {
			// kqueue reports each change of the entries as a write on
			// the directory (a new subdirectory also changes its link
			// count), and nothing for a child's own writes.
			writeFile(t, a, "1")
			r.expect("write on the directory after a create", note(id, NoteWrite))
			r.drop()
			if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
				t.Fatal(err)
			}
			r.expect("write|link on the directory after mkdir", note(id, NoteWrite|NoteLink))
			r.drop()
			if err := os.Remove(a); err != nil {
				t.Fatal(err)
			}
			r.expect("write on the directory after a remove", note(id, NoteWrite))
			return
		}

		writeFile(t, a, "1")
		r.expect("create of a", child(id, "a", ChildCreate))
		r.expect("write on the directory itself or its child", func(e Event) bool {
			return e.ID == id && e.Notes&NoteWrite != 0
		})

		appendFile(t, a, "23")
		r.expect("write of a", func(e Event) bool {
			return child(id, "a", ChildNone)(e) && e.Notes&NoteWrite != 0
		})

		if err := os.Chmod(a, 0o600); err != nil {
			t.Fatal(err)
		}
		r.expect("attrib of a", func(e Event) bool {
			return child(id, "a", ChildNone)(e) && e.Notes&NoteAttrib != 0
		})

		sub := filepath.Join(dir, "sub")
		if err := os.Mkdir(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		e := r.expect("create of sub", child(id, "sub", ChildCreate))
		if !e.IsDir {
			t.Errorf("subdirectory create without IsDir: %s", fmtEvent(e))
		}

		if err := os.Remove(a); err != nil {
			t.Fatal(err)
		}
		r.expect("remove of a", child(id, "a", ChildRemove))
	})
}

func TestAtomicSave(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		dir := tempDir(t)
		f := filepath.Join(dir, "f")
		writeFile(t, f, "v1")
		q := openQueue(t, be)
		did := mustWatch(t, q, dir)
		fid := mustWatch(t, q, f)
		r := record(t, q)

		tmp := filepath.Join(dir, ".f.tmp")
		writeFile(t, tmp, "version 2")
		if err := os.Rename(tmp, f); err != nil {
			t.Fatal(err)
		}
		// The watched inode lost its last link to the rename.
		r.expect("delete of the replaced file", note(fid, NoteDelete))
		if be == Kqueue {
			r.expect("write on the directory", note(did, NoteWrite))
			return
		}
		r.expect("f (re)appearing in the directory", child(did, "f", ChildMovedTo, ChildCreate))
	})
}

func TestHardLinks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		dir := tempDir(t)
		a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
		writeFile(t, a, "x")
		if err := os.Link(a, b); err != nil {
			t.Fatal(err)
		}
		q := openQueue(t, be)
		ida := mustWatch(t, q, a)
		idb := mustWatch(t, q, b)
		if ida == idb {
			t.Fatalf("two watches share ID %d", ida)
		}
		r := record(t, q)

		appendFile(t, a, "y")
		r.expect("write seen through link a", note(ida, NoteWrite))
		r.expect("write seen through link b", note(idb, NoteWrite))

		// Removing one watch must leave the other working (inotify shares
		// one kernel watch between them).
		if err := q.Remove(ida); err != nil {
			t.Fatal(err)
		}
		appendFile(t, b, "z")
		r.expect("write after removing the other link's watch", note(idb, NoteWrite|NoteExtend))

		// Unlinking one name changes the link count of the other.
		if err := os.Remove(a); err != nil {
			t.Fatal(err)
		}
		r.expect("attrib after unlinking the other name", note(idb, NoteAttrib))
	})
}

func TestDirectoryRemovedWithContents(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		root := tempDir(t)
		d := filepath.Join(root, "d")
		if err := os.MkdirAll(filepath.Join(d, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(d, "x"), "1")
		writeFile(t, filepath.Join(d, "sub", "y"), "2")
		q := openQueue(t, be)
		id := mustWatch(t, q, d)
		rid := mustWatch(t, q, root)
		r := record(t, q)
		if err := os.RemoveAll(d); err != nil {
			t.Fatal(err)
		}
		if onLibkqueue(be) {
			// libkqueue: inotify reports a removed directory only once
			// its last descriptor is closed, and the watch holds one;
			// the BSDs post NOTE_DELETE (docs/kqueue.md). The parent's
			// write is what the layer above rescans on.
			r.expect("write|link on the parent", note(rid, NoteWrite|NoteLink))
			return
		}
		r.expect("delete of the watched directory", note(id, NoteDelete))
		if be == Kqueue {
			r.expect("write on the parent", note(rid, NoteWrite))
			return
		}
		r.expect("d leaving its parent", child(rid, "d", ChildRemove))
		if be == Inotify {
			r.expect("x removed inside d", child(id, "x", ChildRemove))
		}
		if err := q.Remove(id); err != nil {
			t.Errorf("Remove of the deleted directory's watch: %v", err)
		}
	})
}

func TestFollowOffsets(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		dir := tempDir(t)
		p := filepath.Join(dir, "log")
		writeFile(t, p, "abc")
		q := openQueue(t, be)
		id, f, err := q.Follow(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(f); err != nil {
			t.Fatal(err)
		}
		r := record(t, q)
		read := func(want int64) func(Event) bool {
			return func(e Event) bool { return e.Kind == KindRead && e.ID == id && e.Data == want }
		}

		appendFile(t, p, "defg")
		r.expect("4 bytes to read after an append", read(4))
		b := make([]byte, 4)
		if _, err := io.ReadFull(f, b); err != nil || string(b) != "defg" {
			t.Fatalf("read %q, %v", b, err)
		}

		// Truncated below our offset of 7: -7.
		if err := os.Truncate(p, 0); err != nil {
			t.Fatal(err)
		}
		r.expect("negative data after truncation", read(-7))

		if _, err := f.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		appendFile(t, p, "xy")
		r.expect("2 bytes after rewinding and an append", read(2))
	})
}

// TestFollowSameSizeAppends: a reader that keeps up sees every append, also
// when two appends in a row have the same size (the unread count is then the
// same at both looks).
func TestFollowSameSizeAppends(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		dir := tempDir(t)
		p := filepath.Join(dir, "log")
		writeFile(t, p, "")
		q := openQueue(t, be)
		id, f, err := q.Follow(p)
		if err != nil {
			t.Fatal(err)
		}
		r := record(t, q)
		b := make([]byte, 5)
		for i := range 3 {
			appendFile(t, p, "line\n")
			r.expect(fmt.Sprintf("append %d: 5 bytes to read", i+1), func(e Event) bool {
				return e.Kind == KindRead && e.ID == id && e.Data == 5
			})
			if _, err := io.ReadFull(f, b); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestFollowRotation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		dir := tempDir(t)
		p := filepath.Join(dir, "log")
		writeFile(t, p, "")
		q := openQueue(t, be)
		id, _, err := q.Follow(p)
		if err != nil {
			t.Fatal(err)
		}
		r := record(t, q)
		if err := os.Rename(p, p+".1"); err != nil {
			t.Fatal(err)
		}
		writeFile(t, p, "new")
		r.expect("rename of the followed file", note(id, NoteRename))
		// The old inode is what we follow: writes to it still count.
		appendFile(t, p+".1", "late")
		r.expect("late write to the rotated file", func(e Event) bool {
			return e.Kind == KindRead && e.ID == id && e.Data == 4
		})
		if err := os.Remove(p + ".1"); err != nil {
			t.Fatal(err)
		}
		r.expect("delete of the followed file", note(id, NoteDelete))
		if err := q.Remove(id); err != nil {
			t.Fatal(err)
		}
	})
}

func TestTimerFiresOnceNotEarly(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		q := openQueue(t, be)
		r := record(t, q)
		const d = 80 * time.Millisecond
		start := time.Now()
		if err := q.SetTimer(7, d); err != nil {
			t.Fatal(err)
		}
		e := r.expect("timer 7", func(e Event) bool { return e.Kind == KindTimer && e.ID == 7 })
		if el := time.Since(start); el < d {
			t.Errorf("timer fired after %v, armed for %v", el, d)
		}
		if e.Data != 1 {
			t.Errorf("timer Data = %d, want 1 expiration", e.Data)
		}
		// A sentinel timer later than any repeat of 7 would be: nothing
		// from 7 may come before it.
		mark := len(r.seen)
		if err := q.SetTimer(8, 3*d); err != nil {
			t.Fatal(err)
		}
		r.expect("sentinel timer 8", func(e Event) bool { return e.Kind == KindTimer && e.ID == 8 })
		for _, e := range r.since(mark) {
			if e.Kind == KindTimer && e.ID == 7 {
				t.Errorf("timer 7 fired again: %s", fmtEvents(r.since(mark)))
			}
		}
	})
}

func TestTimerRearmResets(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		q := openQueue(t, be)
		r := record(t, q)
		// The first arming is long enough that a stalled test machine
		// still re-arms before it expires.
		if err := q.SetTimer(1, 300*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		const later = 600 * time.Millisecond
		rearm := time.Now()
		if err := q.SetTimer(1, later); err != nil {
			t.Fatal(err)
		}
		r.expect("re-armed timer 1", func(e Event) bool { return e.Kind == KindTimer && e.ID == 1 })
		if el := time.Since(rearm); el < later {
			t.Errorf("re-armed timer fired after %v, re-armed for %v", el, later)
		}
		// Zero duration fires (it must not mean "disarm").
		if err := q.SetTimer(2, 0); err != nil {
			t.Fatal(err)
		}
		r.expect("zero-duration timer 2", func(e Event) bool { return e.Kind == KindTimer && e.ID == 2 })
		n := 0
		for _, e := range r.seen {
			if e.Kind == KindTimer && e.ID == 1 {
				n++
			}
		}
		if n != 1 {
			t.Errorf("timer 1 delivered %d times: %s", n, fmtEvents(r.seen))
		}
	})
}

func TestTimerStop(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		q := openQueue(t, be)
		r := record(t, q)
		if err := q.StopTimer(5); err != nil {
			t.Errorf("StopTimer of an unarmed timer: %v", err)
		}
		if err := q.SetTimer(5, 300*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if err := q.StopTimer(5); err != nil {
			t.Fatal(err)
		}
		if err := q.SetTimer(6, 600*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		r.expect("sentinel timer 6", func(e Event) bool { return e.Kind == KindTimer && e.ID == 6 })
		for _, e := range r.seen {
			if e.Kind == KindTimer && e.ID == 5 {
				t.Errorf("stopped timer 5 fired: %s", fmtEvents(r.seen))
			}
		}
	})
}

func TestCloseWakesWait(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		q := openQueue(t, be)
		dir := tempDir(t)
		mustWatch(t, q, dir)
		started := make(chan struct{})
		res := make(chan error, 1)
		go func() {
			close(started)
			_, err := q.Wait(nil)
			res <- err
		}()
		<-started
		if err := q.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		select {
		case err := <-res:
			if !isClosed(err) {
				t.Fatalf("Wait returned %v, want ErrClosed", err)
			}
		case <-time.After(deadline):
			t.Fatal("Wait still blocked after Close")
		}
	})
}

// TestWake: Wake brings a blocked Wait back with one KindWake, wakes made
// before a Wait are kept for it, several wakes are one event, and a closed
// queue refuses to be woken.
func TestWake(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		q := openQueue(t, be)
		mustWatch(t, q, tempDir(t))
		isWake := func(e Event) bool { return e.Kind == KindWake && e.ID == 0 }

		// Woken before the Wait: the Wait returns at once.
		if err := q.Wake(); err != nil {
			t.Fatalf("Wake: %v", err)
		}
		q.Wake()
		evs, err := q.Wait(nil)
		if err != nil || len(evs) != 1 || !isWake(evs[0]) {
			t.Fatalf("Wait after two Wakes = %s, %v; want one wake event", fmtEvents(evs), err)
		}

		// Woken while blocked.
		r := record(t, q)
		if _, ok := r.next(100 * time.Millisecond); ok {
			t.Fatalf("Wait returned with nothing to report: %s", fmtEvents(r.seen))
		}
		if err := q.Wake(); err != nil {
			t.Fatalf("Wake: %v", err)
		}
		r.expect("a wake event", isWake)

		q.Close()
		if err := q.Wake(); !isClosed(err) {
			t.Fatalf("Wake on a closed queue = %v, want ErrClosed", err)
		}
	})
}

func TestRemoveStopsEvents(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		dir := tempDir(t)
		q := openQueue(t, be)
		id := mustWatch(t, q, dir)
		r := record(t, q)
		writeFile(t, filepath.Join(dir, "before"), "")
		if be == Kqueue {
			r.expect("write before removal", note(id, NoteWrite))
			// Let what the create raised arrive before the mark: a
			// kqueue note names no child to tell it from a later one.
			if err := q.SetTimer(2, 5*testPollInterval); err != nil {
				t.Fatal(err)
			}
			r.expect("flush timer", func(e Event) bool { return e.Kind == KindTimer && e.ID == 2 })
		} else {
			r.expect("create before removal", child(id, "before", ChildCreate))
		}
		if err := q.Remove(id); err != nil {
			t.Fatal(err)
		}
		mark := len(r.seen)
		writeFile(t, filepath.Join(dir, "after"), "")
		if err := q.SetTimer(1, 5*testPollInterval); err != nil {
			t.Fatal(err)
		}
		r.expect("sentinel timer", func(e Event) bool { return e.Kind == KindTimer && e.ID == 1 })
		for _, e := range r.since(mark) {
			if e.ID == id && e.Kind == KindNote && (e.Name == "after" || be == Kqueue) {
				t.Errorf("event for a removed watch: %s", fmtEvent(e))
			}
		}
	})
}
