package vnode

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-watch/vigil/internal/testwait"
)

// newTestKqueue returns a Queue on the kqueue backend over a fake kernel.
// resets says whether a re-added timer resets (false: DragonFly).
func newTestKqueue(t *testing.T, resets bool) (*Queue, *kqBackend, *kqFakeKernel) {
	t.Helper()
	f := newKqFakeKernel(t)
	b, err := newKqueueWith(f, kqConfig{timerReAddResets: resets, pollInterval: 10 * time.Millisecond, now: f.clock.now})
	if err != nil {
		t.Fatalf("newKqueueWith: %v", err)
	}
	q := &Queue{b: b}
	t.Cleanup(func() { q.Close() })
	return q, b, f
}

type kqWaitResult struct {
	evs []Event
	err error
}

// kqWaitAsync runs q.Wait in a goroutine.
func kqWaitAsync(q *Queue) <-chan kqWaitResult {
	ch := make(chan kqWaitResult, 1)
	go func() {
		evs, err := q.Wait(nil)
		ch <- kqWaitResult{evs, err}
	}()
	return ch
}

func kqRecvWait(t *testing.T, ch <-chan kqWaitResult) kqWaitResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return within 10s")
	}
	panic("unreachable")
}

// kqMustWait is q.Wait with a deadline; it fails the test on an error.
func kqMustWait(t *testing.T, q *Queue) []Event {
	t.Helper()
	r := kqRecvWait(t, kqWaitAsync(q))
	if r.err != nil {
		t.Fatalf("Wait: %v", r.err)
	}
	return r.evs
}

// changes concatenates the changelists of calls.
func kqChanges(calls []kqFakeCall) []kev {
	var out []kev
	for _, c := range calls {
		out = append(out, c.changes...)
	}
	return out
}

func kqMustWatch(t *testing.T, q *Queue, path string) ID {
	t.Helper()
	id, err := q.Watch(path)
	if err != nil {
		t.Fatalf("Watch(%s): %v", path, err)
	}
	return id
}

func kqTempFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestKqueueSetup(t *testing.T) {
	q, _, f := newTestKqueue(t, true)
	if !f.raised {
		t.Error("RLIMIT_NOFILE was not raised at start")
	}
	if got := f.opsFrom(0)[0]; got != "kqueue" {
		t.Errorf("first operation = %q, want kqueue", got)
	}
	calls := f.callsFrom(0)
	want := []kev{{ident: kqFakePipeR, filter: filtRead, flags: evAdd | evReceipt}}
	if len(calls) != 1 || !reflect.DeepEqual(calls[0].changes, want) {
		t.Fatalf("setup changelists = %+v, want one with %+v", calls, want)
	}
	if calls[0].blocking || calls[0].timeout != 0 || calls[0].nevents < 1 {
		t.Errorf("setup kevent: blocking=%v timeout=%v nevents=%d; want a zero timeout and room for the receipt",
			calls[0].blocking, calls[0].timeout, calls[0].nevents)
	}
	if q.Backend() != Kqueue {
		t.Errorf("Backend() = %q", q.Backend())
	}
	if c := q.Caps(); c != (Caps{}) {
		t.Errorf("Caps() = %+v, want none: kqueue names no children", c)
	}
}

// TestKqueueStartOutOfFDs: running out of descriptors while creating the
// queue is a *LimitError naming RLIMIT_NOFILE, so that the user learns
// which limit to raise and Open(Auto) falls back to polling.
func TestKqueueStartOutOfFDs(t *testing.T) {
	for _, tc := range []struct {
		what  string
		errno syscall.Errno
		set   func(*kqFakeKernel, error)
	}{
		{"kqueue", syscall.EMFILE, func(f *kqFakeKernel, err error) { f.kqueueErr = err }},
		{"wake pipe", syscall.ENFILE, func(f *kqFakeKernel, err error) { f.pipeErr = err }},
	} {
		f := newKqFakeKernel(t)
		tc.set(f, tc.errno)
		_, err := newKqueueWith(f, kqConfig{timerReAddResets: true, now: f.clock.now})
		var le *LimitError
		if !errors.As(err, &le) || !errors.Is(err, tc.errno) || !strings.Contains(err.Error(), "RLIMIT_NOFILE") || le.Value != kqFakeNoFile {
			t.Errorf("%s fails with %v: error %v, want a *LimitError naming RLIMIT_NOFILE = %d", tc.what, tc.errno, err, kqFakeNoFile)
		}
		if f.isOpenFD(kqFakeKQ) {
			t.Errorf("%s failed: the kqueue fd is left open", tc.what)
		}
	}
	// Other errors stay what they are.
	f := newKqFakeKernel(t)
	f.kqueueErr = syscall.ENOMEM
	_, err := newKqueueWith(f, kqConfig{now: f.clock.now})
	var le *LimitError
	if err == nil || errors.As(err, &le) || !errors.Is(err, syscall.ENOMEM) {
		t.Errorf("kqueue fails with ENOMEM: error %v, want ENOMEM and no *LimitError", err)
	}
}

func TestKqueueWatchChangelist(t *testing.T) {
	q, _, f := newTestKqueue(t, true)
	f.dirs["/w/dir"] = true
	for i, path := range []string{"/w/file", "/w/dir"} {
		n := f.callCount()
		kqMustWatch(t, q, path)
		calls := f.callsFrom(n)
		fd := uint64(kqFakeFirstFD + i)
		// 0x7f: NOTE_DELETE|WRITE|EXTEND|ATTRIB|LINK|RENAME|REVOKE.
		want := []kev{{ident: fd, filter: filtVnode, flags: evAdd | evClear | evReceipt, fflags: 0x7f}}
		if len(calls) != 1 || !reflect.DeepEqual(calls[0].changes, want) {
			t.Fatalf("Watch(%s) changelists = %+v, want one with %+v", path, calls, want)
		}
		if calls[0].blocking || calls[0].timeout != 0 || calls[0].nevents < 1 {
			t.Errorf("Watch(%s) kevent: blocking=%v timeout=%v nevents=%d", path, calls[0].blocking, calls[0].timeout, calls[0].nevents)
		}
	}
}

func TestKqueueFollowChangelist(t *testing.T) {
	q, _, f := newTestKqueue(t, true)
	p := kqTempFile(t, "hello\n")
	n := f.callCount()
	id, file, err := q.Follow(p)
	if err != nil {
		t.Fatalf("Follow: %v", err)
	}
	if id == 0 || file == nil {
		t.Fatalf("Follow = %d, %v", id, file)
	}
	fd := uint64(file.Fd())
	want := []kev{
		{ident: fd, filter: filtRead, flags: evAdd | evClear | evReceipt},
		{ident: fd, filter: filtVnode, flags: evAdd | evClear | evReceipt, fflags: noteDelete | noteRename | noteAttrib},
	}
	calls := f.callsFrom(n)
	if len(calls) != 1 || !reflect.DeepEqual(calls[0].changes, want) {
		t.Fatalf("Follow changelists = %+v, want one with %+v", calls, want)
	}
	buf := make([]byte, 64)
	k, err := file.Read(buf)
	if err != nil || string(buf[:k]) != "hello\n" {
		t.Errorf("reading the followed file: %q, %v", buf[:k], err)
	}
	if ops := f.opsFrom(0); !slices.ContainsFunc(ops, func(s string) bool { return strings.HasPrefix(s, "open follow") }) {
		t.Errorf("the followed file was not opened for reading: %v", ops)
	}

	// A directory cannot be followed; the error says so.
	dir := t.TempDir()
	if _, _, err := q.Follow(dir); err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("Follow(dir) error = %v, want one naming %s as a directory", err, dir)
	}
}

func TestKqueueNoteMapping(t *testing.T) {
	q, _, f := newTestKqueue(t, true)
	f.dirs["/w/dir"] = true
	file := kqMustWatch(t, q, "/w/file") // fd 1000
	dir := kqMustWatch(t, q, "/w/dir")   // fd 1001
	const fileFD, dirFD = kqFakeFirstFD, kqFakeFirstFD + 1
	marker := kev{ident: dirFD, filter: filtVnode, fflags: noteAttrib}
	markerEv := Event{Kind: KindNote, ID: dir, Notes: NoteAttrib}
	cases := []struct {
		name string
		in   kev
		want []Event
	}{
		{"append to a file", kev{ident: fileFD, filter: filtVnode, fflags: noteWrite | noteExtend},
			[]Event{{Kind: KindNote, ID: file, Notes: NoteWrite | NoteExtend}}},
		{"entries of a directory changed", kev{ident: dirFD, filter: filtVnode, fflags: noteWrite},
			[]Event{{Kind: KindNote, ID: dir, Notes: NoteWrite, Name: ""}}},
		{"unlink", kev{ident: fileFD, filter: filtVnode, fflags: noteDelete},
			[]Event{{Kind: KindNote, ID: file, Notes: NoteDelete}}},
		{"rename", kev{ident: fileFD, filter: filtVnode, fflags: noteRename},
			[]Event{{Kind: KindNote, ID: file, Notes: NoteRename}}},
		{"chmod and link", kev{ident: fileFD, filter: filtVnode, fflags: noteAttrib | noteLink},
			[]Event{{Kind: KindNote, ID: file, Notes: NoteAttrib | NoteLink}}},
		{"revoke", kev{ident: fileFD, filter: filtVnode, fflags: noteRevoke},
			[]Event{{Kind: KindNote, ID: file, Notes: NoteRevoke}}},
		{"EV_EOF (unmount)", kev{ident: fileFD, filter: filtVnode, flags: evEOF},
			[]Event{{Kind: KindNote, ID: file, Notes: NoteRevoke}}},
		{"rename over: delete and write together", kev{ident: fileFD, filter: filtVnode, fflags: noteDelete | noteWrite},
			[]Event{{Kind: KindNote, ID: file, Notes: NoteDelete | NoteWrite}}},
		{"only OS extras (OpenBSD NOTE_TRUNCATE)", kev{ident: fileFD, filter: filtVnode, fflags: 0x80}, nil},
		{"empty darwin event on ident 0", kev{ident: 0, filter: filtVnode}, nil},
		{"unknown fd", kev{ident: 4242, filter: filtVnode, fflags: noteWrite}, nil},
		{"EVFILT_READ on a vnode-only fd", kev{ident: fileFD, filter: filtRead, data: 10}, nil},
	}
	for _, c := range cases {
		// The marker ends every batch, so that a dropped event shows as
		// a batch with the marker alone.
		f.post(c.in, marker)
		got := kqMustWait(t, q)
		want := append(slices.Clone(c.want), markerEv)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: events = %+v, want %+v", c.name, got, want)
		}
	}
}

func TestKqueueFollowEvents(t *testing.T) {
	q, _, f := newTestKqueue(t, true)
	p := kqTempFile(t, "")
	id, file, err := q.Follow(p)
	if err != nil {
		t.Fatal(err)
	}
	fd := uint64(file.Fd())
	steps := []struct {
		name string
		in   []kev
		want []Event
	}{
		{"growth", []kev{{ident: fd, filter: filtRead, data: 12}}, []Event{{Kind: KindRead, ID: id, Data: 12}}},
		{"truncation below the offset", []kev{{ident: fd, filter: filtRead, data: -7}}, []Event{{Kind: KindRead, ID: id, Data: -7}}},
		{"unlinked", []kev{{ident: fd, filter: filtVnode, fflags: noteDelete}}, []Event{{Kind: KindNote, ID: id, Notes: NoteDelete}}},
		{"rotated away", []kev{{ident: fd, filter: filtVnode, fflags: noteRename}}, []Event{{Kind: KindNote, ID: id, Notes: NoteRename}}},
		{"revoked: read knote gone", []kev{{ident: fd, filter: filtRead, flags: evEOF | evOneshot, data: 3}},
			[]Event{{Kind: KindNote, ID: id, Notes: NoteRevoke}, {Kind: KindRead, ID: id, Data: 3}}},
		{"after revoke, reads are not this file's", []kev{{ident: fd, filter: filtRead, data: 5}, {ident: fd, filter: filtVnode, fflags: noteAttrib}},
			[]Event{{Kind: KindNote, ID: id, Notes: NoteAttrib}}},
	}
	for _, s := range steps {
		f.post(s.in...)
		if got := kqMustWait(t, q); !reflect.DeepEqual(got, s.want) {
			t.Errorf("%s: events = %+v, want %+v", s.name, got, s.want)
		}
	}
}

func TestKqueueReRegistration(t *testing.T) {
	q, _, f := newTestKqueue(t, true)
	id1 := kqMustWatch(t, q, "/w/f")
	f.post(kev{ident: kqFakeFirstFD, filter: filtVnode, fflags: noteDelete})
	if got, want := kqMustWait(t, q), []Event{{Kind: KindNote, ID: id1, Notes: NoteDelete}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("events = %+v, want %+v", got, want)
	}

	// A new file at the same path: watching it again opens it again and
	// adds a new knote, while the old watch still holds its fd.
	n, ops := f.callCount(), f.opCount()
	id2 := kqMustWatch(t, q, "/w/f")
	if id2 == id1 {
		t.Fatalf("second Watch returned the old ID %d", id1)
	}
	if got := f.opsFrom(ops); len(got) < 1 || got[0] != "open vnode 1001 /w/f" {
		t.Errorf("operations of the second Watch = %v, want a fresh open", got)
	}
	want := []kev{{ident: kqFakeFirstFD + 1, filter: filtVnode, flags: evAdd | evClear | evReceipt, fflags: watchNotes}}
	if got := kqChanges(f.callsFrom(n)); !reflect.DeepEqual(got, want) {
		t.Errorf("changes of the second Watch = %+v, want %+v", got, want)
	}

	// Dropping the old watch closes its fd only at the next wait.
	if err := q.Remove(id1); err != nil {
		t.Fatal(err)
	}
	if !f.isOpenFD(kqFakeFirstFD) {
		t.Fatal("Remove closed the fd before the next Wait")
	}
	ops = f.opCount()
	f.post(kev{ident: kqFakeFirstFD + 1, filter: filtVnode, fflags: noteWrite})
	if got, want := kqMustWait(t, q), []Event{{Kind: KindNote, ID: id2, Notes: NoteWrite}}; !reflect.DeepEqual(got, want) {
		t.Errorf("events = %+v, want %+v", got, want)
	}
	if got := f.opsFrom(ops); len(got) < 2 || got[0] != "close 1000" || !strings.HasPrefix(got[1], "kevent") {
		t.Errorf("operations of the next Wait = %v, want close 1000 before kevent", got)
	}

	// The third watch reuses the number 1000 and gets its own knote and
	// events.
	id3 := kqMustWatch(t, q, "/w/f")
	if !f.hasKnote(kqFakeFirstFD, filtVnode) {
		t.Fatal("no knote on the reused fd 1000")
	}
	f.post(kev{ident: kqFakeFirstFD, filter: filtVnode, fflags: noteAttrib})
	if got, want := kqMustWait(t, q), []Event{{Kind: KindNote, ID: id3, Notes: NoteAttrib}}; !reflect.DeepEqual(got, want) {
		t.Errorf("events on the reused fd = %+v, want %+v", got, want)
	}
}

func TestKqueueCloseOrderAndStaleEvents(t *testing.T) {
	q, _, f := newTestKqueue(t, true)
	a := kqMustWatch(t, q, "/w/a") // 1000
	b := kqMustWatch(t, q, "/w/b") // 1001

	// Removed while a wait is in the kernel: an event it collects for
	// the removed fd is dropped, and the fd stays open until the next
	// wait.
	ch := kqWaitAsync(q)
	f.waitBlocked(t)
	if err := q.Remove(a); err != nil {
		t.Fatal(err)
	}
	f.post(kev{ident: kqFakeFirstFD, filter: filtVnode, fflags: noteWrite}, kev{ident: kqFakeFirstFD + 1, filter: filtVnode, fflags: noteWrite})
	r := kqRecvWait(t, ch)
	if want := []Event{{Kind: KindNote, ID: b, Notes: NoteWrite}}; r.err != nil || !reflect.DeepEqual(r.evs, want) {
		t.Fatalf("Wait = %+v, %v; want %+v", r.evs, r.err, want)
	}
	if !f.isOpenFD(kqFakeFirstFD) {
		t.Fatal("fd 1000 closed before the batch was handled")
	}

	// The next wait closes it first; the number is then reused, and a
	// stale event for a filter the new watch lacks is dropped.
	ops := f.opCount()
	f.post(kev{ident: kqFakeFirstFD + 1, filter: filtVnode, fflags: noteAttrib})
	kqMustWait(t, q)
	if got := f.opsFrom(ops); len(got) == 0 || got[0] != "close 1000" {
		t.Errorf("operations of the next Wait = %v, want close 1000 first", got)
	}
	c := kqMustWatch(t, q, "/w/c")
	f.post(kev{ident: kqFakeFirstFD, filter: filtRead, data: 9}, kev{ident: kqFakeFirstFD, filter: filtVnode, fflags: noteWrite})
	if got, want := kqMustWait(t, q), []Event{{Kind: KindNote, ID: c, Notes: NoteWrite}}; !reflect.DeepEqual(got, want) {
		t.Errorf("events after reuse = %+v, want %+v", got, want)
	}

	// A followed file removed after its batch stays readable until the
	// next wait, then is closed.
	p := kqTempFile(t, "x")
	id, file, err := q.Follow(p)
	if err != nil {
		t.Fatal(err)
	}
	f.post(kev{ident: uint64(file.Fd()), filter: filtRead, data: 1})
	kqMustWait(t, q)
	if err := q.Remove(id); err != nil {
		t.Fatal(err)
	}
	if _, err := file.Stat(); err != nil {
		t.Fatalf("followed file closed by Remove, before the next Wait: %v", err)
	}
	f.post(kev{ident: kqFakeFirstFD, filter: filtVnode, fflags: noteWrite})
	kqMustWait(t, q)
	if _, err := file.Stat(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("followed file after the next Wait: Stat error %v, want os.ErrClosed", err)
	}
	if err := q.Remove(id); err == nil {
		t.Error("removing a removed ID gave no error")
	}
}

func TestKqueueEINTR(t *testing.T) {
	q, b, f := newTestKqueue(t, true)
	w := kqMustWatch(t, q, "/w/f")

	// A signal while blocked: the wait goes back into the kernel with an
	// empty changelist and still blocks.
	n := f.callCount()
	ch := kqWaitAsync(q)
	f.waitBlocked(t)
	f.signal()
	testwait.Until(t, 10*time.Second, "the interrupted wait to be retried", func() bool { return f.callCount() >= n+2 })
	f.waitBlocked(t)
	f.post(kev{ident: kqFakeFirstFD, filter: filtVnode, fflags: noteWrite})
	r := kqRecvWait(t, ch)
	if want := []Event{{Kind: KindNote, ID: w, Notes: NoteWrite}}; r.err != nil || !reflect.DeepEqual(r.evs, want) {
		t.Fatalf("Wait = %+v, %v; want %+v", r.evs, r.err, want)
	}
	for i, c := range f.callsFrom(n) {
		if len(c.changes) != 0 || !c.blocking {
			t.Errorf("wait call %d: changes %+v, blocking %v; want an empty changelist and no timeout", i, c.changes, c.blocking)
		}
	}

	// EINTR from a timer's submission: the changes were applied, so the
	// retry carries none; the timer is added exactly once.
	f.failNext = []error{syscall.EINTR}
	n = f.callCount()
	if err := q.SetTimer(3, 20*time.Millisecond); err != nil {
		t.Fatalf("SetTimer: %v", err)
	}
	calls := f.callsFrom(n)
	want := []kev{{ident: 3, filter: filtTimer, flags: evAdd | evOneshot | evReceipt, data: 20}}
	if len(calls) != 2 || !reflect.DeepEqual(calls[0].changes, want) || len(calls[1].changes) != 0 {
		t.Fatalf("SetTimer with EINTR: calls %+v; want the timer change once, then an empty retry", calls)
	}
	if !f.hasKnote(3, filtTimer) {
		t.Error("the timer is not armed in the kernel")
	}

	// A finite timeout is recomputed across EINTR from the time left.
	f.failNext = []error{syscall.EINTR, syscall.EINTR}
	f.onEINTR = func() { f.clock.advance(30 * time.Millisecond) }
	n = f.callCount()
	timeout := 100 * time.Millisecond
	b.mu.Lock()
	_, err := b.kevent(nil, make([]kev, 4), &timeout)
	b.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	var got []time.Duration
	for _, c := range f.callsFrom(n) {
		got = append(got, c.timeout)
	}
	if want := []time.Duration{100 * time.Millisecond, 70 * time.Millisecond, 40 * time.Millisecond}; !reflect.DeepEqual(got, want) {
		t.Errorf("timeouts across EINTR = %v, want %v", got, want)
	}
}

func TestKqueueChangeErrors(t *testing.T) {
	q, b, f := newTestKqueue(t, true)

	// EV_ERROR for a vnode: the error names the path and the filter; the
	// fd is closed and no watch is left behind.
	f.failChange[kkey{kqFakeFirstFD, filtVnode}] = syscall.EINVAL
	_, err := q.Watch("/w/bad")
	if err == nil || !strings.Contains(err.Error(), "/w/bad") || !strings.Contains(err.Error(), "EVFILT_VNODE") || !errors.Is(err, syscall.EINVAL) {
		t.Errorf("Watch error = %v, want EINVAL naming /w/bad and EVFILT_VNODE", err)
	}
	if f.isOpenFD(kqFakeFirstFD) {
		t.Error("the fd of the failed watch is still open")
	}
	b.mu.Lock()
	left := len(b.byID) + len(b.byKey)
	b.mu.Unlock()
	if left != 0 {
		t.Errorf("%d map entries left after a failed Watch", left)
	}

	// EMFILE for the knote itself (libkqueue out of inotify instances):
	// the path is polled, as when open runs out.
	dir := t.TempDir()
	f.failChange[kkey{kqFakeFirstFD, filtVnode}] = syscall.EMFILE
	id, err := q.Watch(dir)
	var le *LimitError
	if !errors.As(err, &le) || !le.Polled || id == 0 || le.Path != dir || !errors.Is(err, syscall.EMFILE) {
		t.Errorf("Watch with EV_ADD failing EMFILE = %d, %v; want a polled watch", id, err)
	}
	if f.isOpenFD(kqFakeFirstFD) {
		t.Error("the fd of the refused knote is still open")
	}
	if err := q.Remove(id); err != nil {
		t.Errorf("Remove of the polled watch: %v", err)
	}

	// An open error names the path and keeps the errno.
	f.openErr["/w/gone"] = syscall.ENOENT
	if _, err := q.Watch("/w/gone"); err == nil || !strings.Contains(err.Error(), "/w/gone") || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Watch of a missing path: error %v, want ENOENT naming the path", err)
	}

	// EV_ERROR for a followed file's EVFILT_READ.
	p := kqTempFile(t, "")
	ops := f.opCount()
	f.failFilter[filtRead] = syscall.EINVAL
	_, file, err := q.Follow(p)
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "EVFILT_READ") || !errors.Is(err, syscall.EINVAL) || file != nil {
		t.Errorf("Follow error = %v (file %v), want EINVAL naming %s and EVFILT_READ", err, file, p)
	}
	var fd int
	if got := f.opsFrom(ops); len(got) == 0 {
		t.Fatal("Follow opened nothing")
	} else if _, err := fmt.Sscanf(got[0], "open follow %d", &fd); err != nil {
		t.Fatalf("Follow's first operation %q: %v", got[0], err)
	}
	// EVFILT_VNODE was added and may have fired into a wait blocked in
	// the kernel: the fd stays open (its number not reused) until the
	// next wait, as for Remove.
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		t.Errorf("fd %d of the failed follow was closed before the next wait (fstat: %v)", fd, err)
	}

	// A timer that cannot be added.
	f.failChange[kkey{timerIdent(4), filtTimer}] = syscall.ENOMEM
	if err := q.SetTimer(4, time.Second); err == nil || !strings.Contains(err.Error(), "timer 4") || !strings.Contains(err.Error(), "EV_ADD") || !errors.Is(err, syscall.ENOMEM) {
		t.Errorf("SetTimer error = %v, want ENOMEM naming timer 4 and EV_ADD", err)
	}

	// A failing wait says so.
	f.failNext = []error{syscall.EBADF}
	if _, err := q.Wait(nil); err == nil || !strings.Contains(err.Error(), "kqueue wait") || !errors.Is(err, syscall.EBADF) {
		t.Errorf("Wait error = %v, want EBADF from kqueue wait", err)
	}
	if err := syscall.Fstat(fd, &st); !errors.Is(err, syscall.EBADF) {
		t.Errorf("fd %d of the failed follow is still open after the next wait (fstat: %v)", fd, err)
	}
}

func TestKqueueEventsWithReceipts(t *testing.T) {
	// A kernel that scans for events while applying a changelist hands
	// back real events among the receipts; none may be lost.
	q, _, f := newTestKqueue(t, true)
	a := kqMustWatch(t, q, "/w/a")
	f.withScan = true
	f.post(kev{ident: kqFakeFirstFD, filter: filtVnode, fflags: noteWrite})
	b := kqMustWatch(t, q, "/w/b")
	f.withScan = false
	n := f.callCount()
	if got, want := kqMustWait(t, q), []Event{{Kind: KindNote, ID: a, Notes: NoteWrite}}; !reflect.DeepEqual(got, want) {
		t.Errorf("events = %+v, want %+v", got, want)
	}
	if c := f.callsFrom(n); len(c) != 1 || c[0].blocking {
		t.Errorf("with events in hand, Wait should not block: calls %+v", c)
	}

	// Such an event is dropped if its watch is removed before the wait.
	f.withScan = true
	f.post(kev{ident: kqFakeFirstFD + 1, filter: filtVnode, fflags: noteAttrib})
	kqMustWatch(t, q, "/w/c")
	f.withScan = false
	if err := q.Remove(b); err != nil {
		t.Fatal(err)
	}
	f.post(kev{ident: kqFakeFirstFD, filter: filtVnode, fflags: noteLink})
	if got, want := kqMustWait(t, q), []Event{{Kind: KindNote, ID: a, Notes: NoteLink}}; !reflect.DeepEqual(got, want) {
		t.Errorf("events = %+v, want %+v (none for the removed watch)", got, want)
	}
}

func TestKqueueScannedEventWakesWait(t *testing.T) {
	// A submission that scans takes an event away from a blocked wait;
	// the wait must be woken to return it.
	q, _, f := newTestKqueue(t, true)
	a := kqMustWatch(t, q, "/w/a")
	ch := kqWaitAsync(q)
	f.waitBlocked(t)
	f.mu.Lock()
	f.withScan = true
	f.mu.Unlock()
	f.postQuiet(kev{ident: kqFakeFirstFD, filter: filtVnode, fflags: noteWrite})
	kqMustWatch(t, q, "/w/b")
	r := kqRecvWait(t, ch)
	if want := []Event{{Kind: KindNote, ID: a, Notes: NoteWrite}}; r.err != nil || !reflect.DeepEqual(r.evs, want) {
		t.Errorf("Wait = %+v, %v; want %+v", r.evs, r.err, want)
	}
}

func TestKqueueFDLimit(t *testing.T) {
	q, b, f := newTestKqueue(t, true)
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.openErr[p] = syscall.EMFILE
	id, err := q.Watch(p)
	var le *LimitError
	if !errors.As(err, &le) {
		t.Fatalf("Watch error = %v, want a *LimitError", err)
	}
	if !le.Polled || id == 0 || le.Path != p || le.Limit != "RLIMIT_NOFILE (open files)" || le.Value != kqFakeNoFile ||
		!strings.Contains(le.Raise, "ulimit -n") || !strings.Contains(le.Raise, "kern.maxfilesperproc") || !errors.Is(err, syscall.EMFILE) {
		t.Errorf("LimitError = %+v (ID %d)", le, id)
	}
	if !strings.Contains(err.Error(), "polling this path instead") {
		t.Errorf("error text %q does not say the path is polled", err)
	}

	// The polled watch reports changes through the same Wait.
	ch := kqWaitAsync(q)
	if err := os.WriteFile(p, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := kqRecvWait(t, ch)
	if r.err != nil || len(r.evs) == 0 || r.evs[0].ID != id || r.evs[0].Kind != KindNote || r.evs[0].Notes&NoteWrite == 0 {
		t.Fatalf("Wait = %+v, %v; want a write on polled watch %d", r.evs, r.err, id)
	}
	if err := q.Remove(id); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	_, still := b.byID[id]
	b.mu.Unlock()
	if still {
		t.Error("the polled watch is still known after Remove")
	}

	// ENFILE (the system table) points at kern.maxfiles as well.
	f.openErr[dir] = syscall.ENFILE
	_, err = q.Watch(dir)
	if !errors.As(err, &le) || !le.Polled || !strings.Contains(le.Raise, "kern.maxfiles") || !errors.Is(err, syscall.ENFILE) {
		t.Errorf("Watch with ENFILE: %v", err)
	}

	// Following needs a descriptor: no polled stand-in.
	f.openErr[p] = syscall.EMFILE
	id, file, err := q.Follow(p)
	if !errors.As(err, &le) || le.Polled || id != 0 || file != nil {
		t.Errorf("Follow with EMFILE = %d, %v, %v; want a LimitError with Polled false", id, file, err)
	}
}

// TestKqueueWake: Wake writes the wake pipe, so a wait blocked in kevent
// returns with one KindWake (and whatever the kernel had with it), and the
// pipe is drained so that the next wait blocks again.
func TestKqueueWake(t *testing.T) {
	q, _, f := newTestKqueue(t, true)
	a := kqMustWatch(t, q, "/w/a")
	ch := kqWaitAsync(q)
	f.waitBlocked(t)
	if err := q.Wake(); err != nil {
		t.Fatalf("Wake: %v", err)
	}
	if r := kqRecvWait(t, ch); r.err != nil || !reflect.DeepEqual(r.evs, []Event{{Kind: KindWake}}) {
		t.Fatalf("Wait = %+v, %v; want one wake", r.evs, r.err)
	}

	// Woken with an event pending: both come back, the wake once.
	q.Wake()
	q.Wake()
	f.post(kev{ident: kqFakeFirstFD, filter: filtVnode, fflags: noteWrite})
	want := []Event{{Kind: KindNote, ID: a, Notes: NoteWrite}, {Kind: KindWake}}
	if evs := kqMustWait(t, q); !reflect.DeepEqual(evs, want) {
		t.Fatalf("Wait = %+v, want %+v", evs, want)
	}

	// Nothing left: the next wait blocks until a real event.
	ch = kqWaitAsync(q)
	f.waitBlocked(t)
	f.post(kev{ident: kqFakeFirstFD, filter: filtVnode, fflags: noteAttrib})
	if r := kqRecvWait(t, ch); r.err != nil || !reflect.DeepEqual(r.evs, []Event{{Kind: KindNote, ID: a, Notes: NoteAttrib}}) {
		t.Fatalf("Wait = %+v, %v; want only the attrib note", r.evs, r.err)
	}

	q.Close()
	if err := q.Wake(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Wake on a closed queue = %v, want ErrClosed", err)
	}
}

func TestKqueueCloseWakesWait(t *testing.T) {
	q, _, f := newTestKqueue(t, true)
	kqMustWatch(t, q, "/w/a")
	kqMustWatch(t, q, "/w/b")
	_, file, err := q.Follow(kqTempFile(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	ch := kqWaitAsync(q)
	f.waitBlocked(t)
	if err := q.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if r := kqRecvWait(t, ch); !errors.Is(r.err, ErrClosed) {
		t.Errorf("blocked Wait returned %+v, %v; want ErrClosed", r.evs, r.err)
	}
	for _, fd := range []int{kqFakeKQ, kqFakePipeR, kqFakePipeW, kqFakeFirstFD, kqFakeFirstFD + 1} {
		if f.isOpenFD(fd) {
			t.Errorf("fd %d still open after Close", fd)
		}
	}
	if _, err := file.Stat(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("followed file after Close: %v, want os.ErrClosed", err)
	}
	if err := q.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := q.Watch("/w/c"); !errors.Is(err, ErrClosed) {
		t.Errorf("Watch after Close: %v", err)
	}
	if _, err := q.Wait(nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Wait after Close: %v", err)
	}
	if err := q.SetTimer(1, time.Second); !errors.Is(err, ErrClosed) {
		t.Errorf("SetTimer after Close: %v", err)
	}
}

func TestKqueueCloseIdle(t *testing.T) {
	q, _, f := newTestKqueue(t, true)
	kqMustWatch(t, q, "/w/a")
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	for _, fd := range []int{kqFakeKQ, kqFakePipeR, kqFakePipeW, kqFakeFirstFD} {
		if f.isOpenFD(fd) {
			t.Errorf("fd %d still open after Close", fd)
		}
	}
}

func TestKqueueTimerMillis(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want int64
	}{
		{-time.Second, 1}, {0, 1}, {time.Nanosecond, 1}, {time.Millisecond, 1},
		{time.Millisecond + time.Nanosecond, 2}, {1500 * time.Microsecond, 2},
		{250 * time.Millisecond, 250}, {2 * time.Second, 2000},
	} {
		if got := timerMillis(c.d); got != c.want {
			t.Errorf("timerMillis(%v) = %d, want %d", c.d, got, c.want)
		}
	}
}

func TestKqueueTimers(t *testing.T) {
	q, _, f := newTestKqueue(t, true)
	add := func(ident uint64, ms int64) kev {
		return kev{ident: ident, filter: filtTimer, flags: evAdd | evOneshot | evReceipt, data: ms}
	}
	expect := func(what string, n int, want ...kev) {
		t.Helper()
		if got := kqChanges(f.callsFrom(n)); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: changes %+v, want %+v", what, got, want)
		}
	}

	n := f.callCount()
	if err := q.SetTimer(7, 1500*time.Microsecond); err != nil {
		t.Fatal(err)
	}
	expect("arm", n, add(7, 2))

	// Re-arming an armed timer is a plain EV_ADD here: it resets.
	n = f.callCount()
	if err := q.SetTimer(7, 40*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	expect("re-arm", n, add(7, 40))

	f.clock.advance(40 * time.Millisecond)
	if !f.fire(7) {
		t.Fatal("timer 7 not in the kernel")
	}
	if got, want := kqMustWait(t, q), []Event{{Kind: KindTimer, ID: 7, Data: 1}}; !reflect.DeepEqual(got, want) {
		t.Errorf("events = %+v, want %+v", got, want)
	}
	if f.hasKnote(7, filtTimer) {
		t.Error("a delivered one-shot timer is still in the kernel")
	}

	// Stopping a delivered timer sends nothing (it would be ENOENT).
	n = f.callCount()
	if err := q.StopTimer(7); err != nil {
		t.Fatal(err)
	}
	expect("stop a fired timer", n)

	// Stopping an armed one deletes it; stopping again sends nothing.
	if err := q.SetTimer(7, time.Second); err != nil {
		t.Fatal(err)
	}
	n = f.callCount()
	if err := q.StopTimer(7); err != nil {
		t.Fatal(err)
	}
	if err := q.StopTimer(7); err != nil {
		t.Fatal(err)
	}
	if err := q.StopTimer(99); err != nil {
		t.Fatal(err)
	}
	expect("stop", n, kev{ident: 7, filter: filtTimer, flags: evDelete | evReceipt})

	// Timer IDs have their own name space and may be negative.
	w := kqMustWatch(t, q, "/w/f") // ID 1, fd 1000
	if err := q.SetTimer(-3, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := q.SetTimer(ID(w), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	f.clock.advance(time.Millisecond)
	f.fire(-3)
	f.fire(ID(w))
	f.post(kev{ident: kqFakeFirstFD, filter: filtVnode, fflags: noteWrite})
	want := []Event{{Kind: KindTimer, ID: -3, Data: 1}, {Kind: KindTimer, ID: w, Data: 1}, {Kind: KindNote, ID: w, Notes: NoteWrite}}
	if got := kqMustWait(t, q); !reflect.DeepEqual(got, want) {
		t.Errorf("events = %+v, want %+v", got, want)
	}
}

// TestKqueueTimerResetPerOS: only kernels known to restart a re-added timer
// get a plain re-add; NetBSD 9 (no filt_timertouch before NetBSD 10) and
// DragonFly would keep the old expiry and end a debounce period early.
func TestKqueueTimerResetPerOS(t *testing.T) {
	for goos, want := range map[string]bool{"darwin": true, "freebsd": true, "openbsd": true, "netbsd": false, "dragonfly": false} {
		if got := timerReAddResets(goos); got != want {
			t.Errorf("timerReAddResets(%q) = %v, want %v", goos, got, want)
		}
	}
}

func TestKqueueTimerDragonFly(t *testing.T) {
	q, _, f := newTestKqueue(t, false)
	add := func(ms int64) kev {
		return kev{ident: 1, filter: filtTimer, flags: evAdd | evOneshot | evReceipt, data: ms}
	}
	del := kev{ident: 1, filter: filtTimer, flags: evDelete | evReceipt}
	step := func(what string, d time.Duration, want ...kev) {
		t.Helper()
		n := f.callCount()
		if err := q.SetTimer(1, d); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		calls := f.callsFrom(n)
		if len(calls) != 1 || !reflect.DeepEqual(calls[0].changes, want) {
			t.Errorf("%s: calls %+v, want one changelist %+v", what, calls, want)
		}
	}
	step("arm", 10*time.Millisecond, add(10))
	step("re-arm an armed timer", 20*time.Millisecond, del, add(20))

	f.clock.advance(20 * time.Millisecond)
	f.fire(1)
	kqMustWait(t, q)
	step("re-arm after delivery", 5*time.Millisecond, add(5))

	// The delete may race with a wait that already collected the expiry:
	// ENOENT for it is not an error.
	f.failChange[kkey{1, filtTimer}] = syscall.ENOENT
	step("re-arm racing the expiry", 7*time.Millisecond, del, add(7))
	if !f.hasKnote(1, filtTimer) {
		t.Error("timer not armed after the racing re-arm")
	}
}

func TestKqueueRearmDiscardsExpiry(t *testing.T) {
	q, _, f := newTestKqueue(t, true)
	w := kqMustWatch(t, q, "/w/f")
	if err := q.SetTimer(5, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	f.clock.advance(100 * time.Millisecond)

	// The old expiry reaches a wait that is in the kernel while the
	// timer is re-armed: it belongs to the old arming and is dropped.
	ch := kqWaitAsync(q)
	f.waitBlocked(t)
	if err := q.SetTimer(5, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	f.post(kev{ident: 5, filter: filtTimer, data: 1}, kev{ident: kqFakeFirstFD, filter: filtVnode, fflags: noteWrite})
	r := kqRecvWait(t, ch)
	if want := []Event{{Kind: KindNote, ID: w, Notes: NoteWrite}}; r.err != nil || !reflect.DeepEqual(r.evs, want) {
		t.Fatalf("Wait = %+v, %v; want only the write, not the old expiry", r.evs, r.err)
	}

	// The new arming fires in its time.
	f.clock.advance(100 * time.Millisecond)
	f.fire(5)
	if got, want := kqMustWait(t, q), []Event{{Kind: KindTimer, ID: 5, Data: 1}}; !reflect.DeepEqual(got, want) {
		t.Errorf("events = %+v, want %+v", got, want)
	}

	// A timer stopped while a wait holds its expiry is not reported.
	if err := q.SetTimer(5, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	f.clock.advance(time.Millisecond)
	ch = kqWaitAsync(q)
	f.waitBlocked(t)
	if err := q.StopTimer(5); err != nil {
		t.Fatal(err)
	}
	f.post(kev{ident: 5, filter: filtTimer, data: 1}, kev{ident: kqFakeFirstFD, filter: filtVnode, fflags: noteAttrib})
	r = kqRecvWait(t, ch)
	if want := []Event{{Kind: KindNote, ID: w, Notes: NoteAttrib}}; r.err != nil || !reflect.DeepEqual(r.evs, want) {
		t.Errorf("Wait = %+v, %v; want only the attrib note", r.evs, r.err)
	}
}

func TestKqueueUnsupported(t *testing.T) {
	switch runtime.GOOS {
	case "darwin", "freebsd", "openbsd", "netbsd", "dragonfly":
		t.Skip("kqueue is available here")
	}
	if slices.Contains(localBackends(), Kqueue) {
		t.Skip("libkqueue: this test binary has kqueue over libkqueue")
	}
	_, err := Open(Options{Backend: Kqueue})
	if err == nil || !strings.Contains(err.Error(), "kqueue is only available on darwin and the BSDs") {
		t.Errorf("Open(kqueue) error = %v", err)
	}
}

// BenchmarkKqueueWait measures the backend's own cost per kernel event:
// converting a full batch of vnode events into Events.
func BenchmarkKqueueWait(b *testing.B) {
	f := newKqFakeKernel(b)
	kb, err := newKqueueWith(f, kqConfig{timerReAddResets: true, now: f.clock.now})
	if err != nil {
		b.Fatal(err)
	}
	defer kb.close()
	for i := range kqBatch {
		if _, err := kb.watch("/w/" + strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
	}
	batch := make([]kev, kqBatch)
	for i := range batch {
		batch[i] = kev{ident: uint64(kqFakeFirstFD + i), filter: filtVnode, fflags: noteWrite | noteExtend}
	}
	buf := make([]Event, 0, kqBatch)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		f.post(batch...)
		buf, err = kb.wait(buf)
		if err != nil || len(buf) != kqBatch {
			b.Fatalf("wait: %d events, %v", len(buf), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*kqBatch), "ns/event")
}

func TestKqueueConcurrentUse(t *testing.T) {
	// Watch, Remove and timers from other goroutines while one goroutine
	// waits; run under -race this checks the locking, and Close at the end
	// must still wake the waiter. Removed descriptors close only at the
	// next wait, so they pile up here: the budget is lifted.
	q, kb, f := newTestKqueue(t, true)
	kb.mu.Lock()
	kb.budget = newFDBudget(-1)
	kb.mu.Unlock()
	waited := make(chan error, 1)
	go func() {
		for {
			_, err := q.Wait(nil)
			if err != nil {
				waited <- err
				return
			}
		}
	}()
	var done [3]chan struct{}
	for g := range done {
		done[g] = make(chan struct{})
		go func() {
			defer close(done[g])
			for i := range 300 {
				switch g {
				case 0, 1:
					id, err := q.Watch("/w/" + strconv.Itoa(g) + "/" + strconv.Itoa(i))
					if err != nil {
						t.Errorf("Watch: %v", err)
						return
					}
					f.post(kev{ident: kqFakeFirstFD, filter: filtVnode, fflags: noteWrite})
					if err := q.Remove(id); err != nil {
						t.Errorf("Remove: %v", err)
						return
					}
				case 2:
					if err := q.SetTimer(ID(i%3), time.Millisecond); err != nil {
						t.Errorf("SetTimer: %v", err)
						return
					}
					f.clock.advance(time.Millisecond)
					f.fire(ID(i % 3))
					if i%5 == 0 {
						if err := q.StopTimer(ID(i % 3)); err != nil {
							t.Errorf("StopTimer: %v", err)
							return
						}
					}
				}
			}
		}()
	}
	for _, d := range done {
		select {
		case <-d:
		case <-time.After(10 * time.Second):
			t.Fatal("the callers did not finish within 10s")
		}
	}
	if err := q.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	select {
	case err := <-waited:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("the waiter ended with %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not wake the waiter within 10s")
	}
	for _, fd := range []int{kqFakeKQ, kqFakePipeR, kqFakePipeW} {
		if f.isOpenFD(fd) {
			t.Errorf("fd %d open after Close", fd)
		}
	}
	f.mu.Lock()
	left := len(f.fds)
	f.mu.Unlock()
	if left != 0 {
		t.Errorf("%d watch fds left open after Close", left)
	}
}

// TestKqueueCloseWritePerOS: only FreeBSD's kqueue has NOTE_CLOSE_WRITE.
// There every vnode watch asks for it, the note comes back as
// NoteCloseWrite and Caps says closes are reported; elsewhere (darwin,
// OpenBSD, NetBSD, DragonFly, libkqueue on Linux) the changelist carries
// the portable notes alone and 0x200 means nothing to us.
func TestKqueueCloseWritePerOS(t *testing.T) {
	for _, goos := range []string{"freebsd", "darwin", "openbsd", "netbsd", "dragonfly", "linux"} {
		t.Run(goos, func(t *testing.T) {
			f := newKqFakeKernel(t)
			b, err := newKqueueWith(f, kqConfig{
				timerReAddResets: timerReAddResets(goos),
				closeWrites:      closeWrites(goos),
				now:              f.clock.now,
			})
			if err != nil {
				t.Fatalf("newKqueueWith: %v", err)
			}
			q := &Queue{b: b}
			t.Cleanup(func() { q.Close() })
			on := goos == "freebsd"
			f.dirs["/w/dir"] = true

			// 0x7f: NOTE_DELETE|WRITE|EXTEND|ATTRIB|LINK|RENAME|REVOKE;
			// 0x200: NOTE_CLOSE_WRITE.
			fflags := uint32(0x7f)
			if on {
				fflags |= 0x200
			}
			var ids []ID
			for i, path := range []string{"/w/file", "/w/dir"} {
				n := f.callCount()
				ids = append(ids, kqMustWatch(t, q, path))
				want := []kev{{ident: uint64(kqFakeFirstFD + i), filter: filtVnode, flags: evAdd | evClear | evReceipt, fflags: fflags}}
				if calls := f.callsFrom(n); len(calls) != 1 || !reflect.DeepEqual(calls[0].changes, want) {
					t.Fatalf("Watch(%s) changelists = %+v, want one with %+v", path, calls, want)
				}
			}
			if got := q.Caps(); got != (Caps{CloseWrites: on}) {
				t.Errorf("Caps() = %+v, want CloseWrites %v only", got, on)
			}

			// A followed file asks for what tells it the name moved on,
			// never for closes.
			p := kqTempFile(t, "x\n")
			n := f.callCount()
			if _, _, err := q.Follow(p); err != nil {
				t.Fatalf("Follow: %v", err)
			}
			for _, c := range kqChanges(f.callsFrom(n)) {
				if c.fflags&0x200 != 0 {
					t.Errorf("Follow asked for NOTE_CLOSE_WRITE: %+v", c)
				}
			}

			marker := kev{ident: kqFakeFirstFD + 1, filter: filtVnode, fflags: noteAttrib}
			markerEv := Event{Kind: KindNote, ID: ids[1], Notes: NoteAttrib}
			closeOnly, closeWrite := []Event{markerEv}, []Event{{Kind: KindNote, ID: ids[0], Notes: NoteWrite}, markerEv}
			if on {
				closeOnly = []Event{{Kind: KindNote, ID: ids[0], Notes: NoteCloseWrite}, markerEv}
				closeWrite = []Event{{Kind: KindNote, ID: ids[0], Notes: NoteWrite | NoteCloseWrite}, markerEv}
			}
			for _, c := range []struct {
				name string
				in   kev
				want []Event
			}{
				{"a writer closed the file", kev{ident: kqFakeFirstFD, filter: filtVnode, fflags: 0x200}, closeOnly},
				{"written and closed", kev{ident: kqFakeFirstFD, filter: filtVnode, fflags: noteWrite | 0x200}, closeWrite},
			} {
				f.post(c.in, marker)
				if got := kqMustWait(t, q); !reflect.DeepEqual(got, c.want) {
					t.Errorf("%s: events = %+v, want %+v", c.name, got, c.want)
				}
			}
		})
	}
}
