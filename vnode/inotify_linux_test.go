//go:build linux

package vnode

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func inotifyOf(t testing.TB, q *Queue) *inotifyBackend {
	b, ok := q.b.(*inotifyBackend)
	if !ok {
		t.Fatalf("backend is %T, not inotify", q.b)
	}
	return b
}

func TestInotifyOverflow(t *testing.T) {
	max := readProcInt("/proc/sys/fs/inotify/max_queued_events")
	if max <= 0 {
		t.Skip("cannot read fs.inotify.max_queued_events")
	}
	if max > 200000 {
		t.Skipf("fs.inotify.max_queued_events is %d: too many files to overflow it here", max)
	}
	dir := tempDir(t)
	q := openQueue(t, Inotify)
	mustWatch(t, q, dir)
	// Nobody waits while we queue more than the kernel keeps: each create
	// queues at least one event.
	for i := range int(max) + 2000 {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("f%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	r := record(t, q)
	e := r.expect("overflow", func(e Event) bool { return e.Kind == KindOverflow })
	if e.ID != 0 {
		t.Errorf("overflow names watch %d, want 0 (all of them)", e.ID)
	}
}

// withENOSPC makes inotify_add_watch fail as it does past max_user_watches.
func withENOSPC(t *testing.T) {
	old := inotifyAddWatch
	inotifyAddWatch = func(fd int, path string, mask uint32) (int, error) { return -1, unix.ENOSPC }
	t.Cleanup(func() { inotifyAddWatch = old })
}

func checkLimitError(t *testing.T, err error, path string) {
	t.Helper()
	var le *LimitError
	if !errors.As(err, &le) {
		t.Fatalf("error %v is not a *LimitError", err)
	}
	if !le.Polled {
		t.Errorf("LimitError.Polled = false: %v", err)
	}
	if le.Path != path || le.Limit != "fs.inotify.max_user_watches" {
		t.Errorf("LimitError path %q limit %q", le.Path, le.Limit)
	}
	if want := readProcInt("/proc/sys/fs/inotify/max_user_watches"); le.Value != want {
		t.Errorf("LimitError.Value = %d, /proc says %d", le.Value, want)
	}
	if !strings.Contains(le.Raise, "sysctl fs.inotify.max_user_watches=") {
		t.Errorf("LimitError.Raise = %q does not say how to raise the limit", le.Raise)
	}
	if !errors.Is(err, unix.ENOSPC) {
		t.Errorf("error %v does not wrap ENOSPC", err)
	}
	msg := err.Error()
	for _, want := range []string{path, "fs.inotify.max_user_watches", "polling"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
}

// TestInotifyStartOutOfFDs: when inotify_init1 takes the last descriptor
// and epoll_create1 fails with EMFILE, the error names RLIMIT_NOFILE, and
// Open(auto) still gives a working queue, by polling.
func TestInotifyStartOutOfFDs(t *testing.T) {
	old := epollCreate1
	epollCreate1 = func(int) (int, error) { return -1, unix.EMFILE }
	t.Cleanup(func() { epollCreate1 = old })

	_, err := Open(Options{Backend: Inotify})
	var le *LimitError
	if !errors.As(err, &le) || !errors.Is(err, unix.EMFILE) || !strings.Contains(err.Error(), "RLIMIT_NOFILE") {
		t.Fatalf("Open(inotify) error = %v, want a *LimitError naming RLIMIT_NOFILE", err)
	}
	q, err := Open(Options{Backend: Auto})
	if err != nil {
		t.Fatalf("Open(auto) = %v, want a polling queue", err)
	}
	defer q.Close()
	if q.Backend() != Poll || !errors.As(q.Degraded(), &le) {
		t.Errorf("Open(auto): backend %s, degraded %v; want poll, degraded by the limit", q.Backend(), q.Degraded())
	}
}

func TestInotifyLimitFallsBackToPolling(t *testing.T) {
	dir := tempDir(t)
	log := filepath.Join(dir, "log")
	writeFile(t, log, "")
	q := openQueue(t, Inotify)
	withENOSPC(t)

	id, err := q.Watch(dir)
	checkLimitError(t, err, dir)
	if id == 0 {
		t.Fatal("polled watch has no ID")
	}
	fid, f, err := q.Follow(log)
	checkLimitError(t, err, log)
	if fid == 0 || f == nil {
		t.Fatalf("polled follow: id %d, file %v", fid, f)
	}
	r := record(t, q)

	writeFile(t, filepath.Join(dir, "new"), "x")
	r.expect("create seen by the polling fallback", child(id, "new", ChildCreate))
	appendFile(t, log, "12345")
	r.expect("follow data seen by the polling fallback", func(e Event) bool {
		return e.Kind == KindRead && e.ID == fid && e.Data == 5
	})
	// Kernel timers keep working beside the poller.
	if err := q.SetTimer(3, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	r.expect("timer", func(e Event) bool { return e.Kind == KindTimer && e.ID == 3 })
	if err := q.Remove(id); err != nil {
		t.Errorf("Remove of a polled watch: %v", err)
	}
	if err := q.Remove(fid); err != nil {
		t.Errorf("Remove of a polled follow: %v", err)
	}
}

func TestInotifyLimitOnMissingPath(t *testing.T) {
	q := openQueue(t, Inotify)
	withENOSPC(t)
	missing := filepath.Join(tempDir(t), "missing")
	id, err := q.Watch(missing)
	if id != 0 || err == nil {
		t.Fatalf("Watch(missing) = %d, %v", id, err)
	}
	var le *LimitError
	if !errors.As(err, &le) || le.Polled {
		t.Errorf("want an unpolled LimitError, got %v", err)
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error %v does not say the path is missing", err)
	}
}

func TestInotifySharedWatchDescriptor(t *testing.T) {
	dir := tempDir(t)
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	writeFile(t, a, "")
	if err := os.Link(a, b); err != nil {
		t.Fatal(err)
	}
	q := openQueue(t, Inotify)
	ib := inotifyOf(t, q)
	ida := mustWatch(t, q, a)
	idb := mustWatch(t, q, b)
	fid, _, err := q.Follow(a)
	if err != nil {
		t.Fatal(err)
	}
	ib.mu.Lock()
	wa, wb, wf := ib.owners.Get(ida).wd, ib.owners.Get(idb).wd, ib.owners.Get(fid).wd
	ib.mu.Unlock()
	if wa != wb || wa != wf {
		t.Fatalf("one inode, several wds: %d %d %d", wa, wb, wf)
	}
	r := record(t, q)
	// The follow added IN_MASK_ADD bits; the watches must still see writes,
	// and dropping two owners must not drop the kernel watch.
	if err := q.Remove(ida); err != nil {
		t.Fatal(err)
	}
	if err := q.Remove(idb); err != nil {
		t.Fatal(err)
	}
	appendFile(t, a, "abc")
	r.expect("follow data after the watches were removed", func(e Event) bool {
		return e.Kind == KindRead && e.ID == fid && e.Data == 3
	})
}

// rawEvent encodes one inotify event as the kernel writes it.
func rawEvent(wd int32, mask, cookie uint32, name string) []byte {
	n := 0
	if name != "" {
		n = (len(name) + 1 + 15) &^ 15 // NUL-padded, as the kernel does
	}
	b := make([]byte, unix.SizeofInotifyEvent+n)
	binary.NativeEndian.PutUint32(b[0:], uint32(wd))
	binary.NativeEndian.PutUint32(b[4:], mask)
	binary.NativeEndian.PutUint32(b[8:], cookie)
	binary.NativeEndian.PutUint32(b[12:], uint32(n))
	copy(b[16:], name)
	return b
}

func TestInotifyStaleEventsAfterRemoval(t *testing.T) {
	dir := tempDir(t)
	q := openQueue(t, Inotify)
	ib := inotifyOf(t, q)
	id := mustWatch(t, q, dir)
	ib.mu.Lock()
	wd := ib.owners.Get(id).wd
	ib.mu.Unlock()

	// Queue events, then remove the watch before anyone reads them.
	for i := range 5 {
		writeFile(t, filepath.Join(dir, fmt.Sprint("stale", i)), "x")
	}
	if err := q.Remove(id); err != nil {
		t.Fatal(err)
	}
	// Pretend the kernel handed the same wd number to a new watch before
	// the old one's events were read (what wd recycling allows).
	ib.mu.Lock()
	fresh := &inOwner{id: 999, kind: inDir, wd: wd, evIdx: -1}
	ib.owners.Set(999, fresh)
	ib.wds.Set(wd, fresh)
	ib.mu.Unlock()

	r := record(t, q)
	if err := q.SetTimer(1, 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	r.expect("sentinel timer", func(e Event) bool { return e.Kind == KindTimer && e.ID == 1 })
	for _, e := range r.seen {
		if e.Kind == KindNote && (e.ID == id || e.ID == 999) {
			t.Errorf("stale event reached an owner: %s", fmtEvent(e))
		}
	}

	// The IN_IGNORED of the old watch has been read: from now on events
	// for the number are the new owner's.
	ib.mu.Lock()
	tomb := ib.retired[wd]
	out := ib.decode(rawEvent(wd, unix.IN_CREATE, 0, "fresh"), nil)
	ib.mu.Unlock()
	if tomb != 0 {
		t.Errorf("tombstone for wd %d still there after its IN_IGNORED", wd)
	}
	if len(out) != 1 || out[0].ID != 999 || out[0].Name != "fresh" || out[0].Op != ChildCreate {
		t.Errorf("event for the new owner of wd %d: %s", wd, fmtEvents(out))
	}
}

func TestInotifyDecode(t *testing.T) {
	b := &inotifyBackend{retired: map[int32]int{}}
	d := &inOwner{id: 1, kind: inDir, wd: 4, evIdx: -1}
	b.owners.Set(1, d)
	b.wds.Set(4, d)
	var raw []byte
	raw = append(raw, rawEvent(4, unix.IN_MOVED_FROM|unix.IN_ISDIR, 77, "old")...)
	raw = append(raw, rawEvent(4, unix.IN_MOVED_TO|unix.IN_ISDIR, 77, "new")...)
	raw = append(raw, rawEvent(4, unix.IN_ATTRIB, 0, "file")...)
	raw = append(raw, rawEvent(4, unix.IN_MODIFY, 0, "file")...)
	// A writer's close is its own note, not a write: the layer above
	// judges whether the file changed.
	raw = append(raw, rawEvent(4, unix.IN_CLOSE_WRITE, 0, "file")...)
	raw = append(raw, rawEvent(4, unix.IN_ATTRIB, 0, "")...)
	raw = append(raw, rawEvent(4, unix.IN_MOVE_SELF, 0, "")...)
	raw = append(raw, rawEvent(9, unix.IN_CREATE, 0, "unknown-wd")...)
	raw = append(raw, rawEvent(-1, unix.IN_Q_OVERFLOW, 0, "")...)
	raw = append(raw, rawEvent(4, unix.IN_UNMOUNT, 0, "")...)
	raw = append(raw, rawEvent(4, unix.IN_IGNORED, 0, "")...)
	raw = append(raw, rawEvent(4, unix.IN_CREATE, 0, "after-ignored")...)
	out := b.finishBatch(b.decode(raw, nil))
	want := []Event{
		{Kind: KindNote, ID: 1, Notes: NoteWrite | NoteLink, Name: "old", Op: ChildMovedFrom, IsDir: true, Cookie: 77},
		{Kind: KindNote, ID: 1, Notes: NoteWrite | NoteLink, Name: "new", Op: ChildMovedTo, IsDir: true, Cookie: 77},
		{Kind: KindNote, ID: 1, Notes: NoteAttrib, Name: "file", Op: ChildNone},
		{Kind: KindNote, ID: 1, Notes: NoteWrite, Name: "file", Op: ChildNone},
		{Kind: KindNote, ID: 1, Notes: NoteCloseWrite, Name: "file", Op: ChildNone},
		{Kind: KindNote, ID: 1, Notes: NoteAttrib | NoteRename | NoteRevoke},
		{Kind: KindOverflow},
	}
	if fmtEvents(out) != fmtEvents(want) {
		t.Errorf("decoded\n%s\nwant\n%s", fmtEvents(out), fmtEvents(want))
	}
	if d.wd != -1 || b.wds.Len() != 0 {
		t.Errorf("IN_IGNORED left the wd mapped: owner wd %d, %d wds", d.wd, b.wds.Len())
	}
}

// BenchmarkInotifyDecodeChildren measures decoding named child events, the
// bulk of what a busy watched directory produces: the only allocation per
// event should be its name.
func BenchmarkInotifyDecodeChildren(bm *testing.B) {
	b := &inotifyBackend{retired: map[int32]int{}}
	d := &inOwner{id: 1, kind: inDir, wd: 4, evIdx: -1}
	b.owners.Set(1, d)
	b.wds.Set(4, d)
	var raw []byte
	const n = 256
	for i := range n {
		raw = append(raw, rawEvent(4, unix.IN_MODIFY, 0, fmt.Sprintf("file-%03d.go", i))...)
	}
	out := make([]Event, 0, n)
	bm.ReportAllocs()
	bm.SetBytes(int64(len(raw)))
	for bm.Loop() {
		out = b.finishBatch(b.decode(raw, out[:0]))
	}
	bm.ReportMetric(float64(bm.Elapsed().Nanoseconds())/float64(bm.N*n), "ns/event")
}

// BenchmarkInotifyDecodeSelf measures decoding events on watched nodes
// themselves, which carry no name and should not allocate at all.
func BenchmarkInotifyDecodeSelf(bm *testing.B) {
	b := &inotifyBackend{retired: map[int32]int{}}
	const n = 256
	var raw []byte
	for i := range n {
		d := &inOwner{id: ID(i + 1), kind: inDir, wd: int32(i + 1), evIdx: -1}
		b.owners.Set(d.id, d)
		b.wds.Set(d.wd, d)
		raw = append(raw, rawEvent(d.wd, unix.IN_ATTRIB, 0, "")...)
	}
	out := make([]Event, 0, n)
	bm.ReportAllocs()
	for bm.Loop() {
		out = b.finishBatch(b.decode(raw, out[:0]))
	}
	bm.ReportMetric(float64(bm.Elapsed().Nanoseconds())/float64(bm.N*n), "ns/event")
}

// BenchmarkInotifyAppendToRead measures the round trip from an append to a
// followed file to the KindRead event coming out of Wait.
func BenchmarkInotifyAppendToRead(bm *testing.B) {
	dir := bm.TempDir()
	path := filepath.Join(dir, "log")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		bm.Fatal(err)
	}
	q, err := Open(Options{Backend: Inotify})
	if err != nil {
		bm.Fatal(err)
	}
	defer q.Close()
	id, f, err := q.Follow(path)
	if err != nil {
		bm.Fatal(err)
	}
	w, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		bm.Fatal(err)
	}
	defer w.Close()
	line := []byte("a log line\n")
	rb := make([]byte, 64)
	var buf []Event
	bm.ReportAllocs()
	for bm.Loop() {
		if _, err := w.Write(line); err != nil {
			bm.Fatal(err)
		}
		for got := false; !got; {
			if buf, err = q.Wait(buf); err != nil {
				bm.Fatal(err)
			}
			for _, e := range buf {
				got = got || (e.Kind == KindRead && e.ID == id)
			}
		}
		if _, err := f.Read(rb); err != nil {
			bm.Fatal(err)
		}
	}
}

// TestInotifyCloseWhileBlocked makes sure Wait is inside epoll_wait before
// Close, and that Close returns only once every descriptor is released.
func TestInotifyCloseWhileBlocked(t *testing.T) {
	q := openQueue(t, Inotify)
	ib := inotifyOf(t, q)
	mustWatch(t, q, tempDir(t))
	if err := q.SetTimer(1, time.Hour); err != nil {
		t.Fatal(err)
	}
	res := make(chan error, 1)
	go func() {
		_, err := q.Wait(nil)
		res <- err
	}()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	end := time.After(deadline)
	for blocked := false; !blocked; {
		select {
		case <-tick.C:
			ib.mu.Lock()
			blocked = ib.inWait
			ib.mu.Unlock()
		case <-end:
			t.Fatal("Wait never reached epoll_wait")
		}
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ib.released:
	default:
		t.Error("Close returned before the descriptors were released")
	}
	select {
	case err := <-res:
		if !isClosed(err) {
			t.Fatalf("Wait returned %v, want ErrClosed", err)
		}
	case <-time.After(deadline):
		t.Fatal("Wait still blocked after Close")
	}
	if ib.epfd != -1 || ib.ifd != -1 || ib.evfd != -1 {
		t.Errorf("descriptors left after Close: epoll %d inotify %d eventfd %d", ib.epfd, ib.ifd, ib.evfd)
	}
}

func countFds(t *testing.T) int {
	des, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot list /proc/self/fd: %v", err)
	}
	return len(des)
}

// TestInotifyDescriptorLifetime checks that a removed follow's file stays
// usable until the next Wait, and that Close leaves no descriptor behind.
func TestInotifyDescriptorLifetime(t *testing.T) {
	dir := tempDir(t)
	p := filepath.Join(dir, "log")
	writeFile(t, p, "x")
	before := countFds(t)
	q, err := Open(Options{Backend: Inotify})
	if err != nil {
		t.Fatal(err)
	}
	mustWatch(t, q, dir)
	id, f, err := q.Follow(p)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := q.SetTimer(ID(i), time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Remove(id); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Stat(); err != nil {
		t.Fatalf("followed file closed by Remove, before the next Wait: %v", err)
	}
	if _, err := q.Wait(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Stat(); err == nil {
		t.Error("removed follow's file still open after the next Wait")
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if after := countFds(t); after != before {
		t.Errorf("%d descriptors open before Open, %d after Close", before, after)
	}
}

// WatchPolled polls a watch on request next to kernel watches, with events
// in inotify's terms (child names), and Remove ends it.
func TestInotifyWatchPolled(t *testing.T) {
	dir, local := tempDir(t), tempDir(t)
	q := openQueue(t, Inotify)
	id, err := q.WatchPolled(dir)
	if err != nil || id == 0 {
		t.Fatalf("WatchPolled: %d, %v", id, err)
	}
	kid, err := q.Watch(local)
	if err != nil {
		t.Fatal(err)
	}
	r := record(t, q)
	writeFile(t, filepath.Join(dir, "new"), "x")
	r.expect("create seen by polling", child(id, "new", ChildCreate))
	writeFile(t, filepath.Join(local, "k"), "x")
	r.expect("create seen by the kernel", child(kid, "k", ChildCreate))
	if err := q.Remove(id); err != nil {
		t.Errorf("Remove of a polled watch: %v", err)
	}
}

// TestInotifyWatchNames: a names-only watch (a root's parent, such as a
// home directory) is not woken by writes, closes and chmods of the files
// beside the root, only by names coming and going.
func TestInotifyWatchNames(t *testing.T) {
	dir := tempDir(t)
	f := filepath.Join(dir, ".bash_history")
	writeFile(t, f, "")
	q := openQueue(t, Inotify)
	id, err := q.WatchNames(dir)
	if err != nil {
		t.Fatal(err)
	}
	r := record(t, q)
	appendFile(t, f, "ls\n")
	if err := os.Chmod(f, 0o600); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "project"), "")
	// The kernel queues events in order: any note about f comes first.
	r.expect("the create of project", child(id, "project", ChildCreate))
	for _, e := range r.seen {
		if e.Name == ".bash_history" {
			t.Errorf("names-only watch reported %s", fmtEvent(e))
		}
	}
}
