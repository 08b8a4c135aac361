package vnode

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// deadline bounds every wait for an expected event: generous, because the
// machine is shared.
const deadline = 10 * time.Second

// testPollInterval keeps poll-backend tests quick without spinning.
const testPollInterval = 20 * time.Millisecond

// localBackends lists the backends that run for real on this machine:
// inotify on Linux, kqueue where the kernel has it or where the test binary
// was built with libkqueue (-tags libkqueue, cgo), and poll everywhere.
func localBackends() []Backend {
	var bs []Backend
	if runtime.GOOS == "linux" {
		bs = append(bs, Inotify)
	}
	if q, err := Open(Options{Backend: Kqueue}); err == nil {
		q.Close()
		bs = append(bs, Kqueue)
	}
	return append(bs, Poll)
}

// onLibkqueue says whether kqueue runs over libkqueue here (Linux).
func onLibkqueue(be Backend) bool { return be == Kqueue && runtime.GOOS == "linux" }

// forEachBackend runs f as a subtest per local backend.
func forEachBackend(t *testing.T, f func(t *testing.T, be Backend)) {
	for _, be := range localBackends() {
		t.Run(string(be), func(t *testing.T) { f(t, be) })
	}
}

// openQueue opens a queue on be and closes it when the test ends.
func openQueue(t *testing.T, be Backend) *Queue {
	t.Helper()
	q, err := Open(Options{Backend: be, PollInterval: testPollInterval})
	if err != nil {
		t.Fatalf("Open(%s): %v", be, err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// recorder runs Wait in a goroutine and hands every event to the test.
type recorder struct {
	t    *testing.T
	ch   chan Event
	done chan error
	seen []Event // everything received so far, for failure messages
	left []Event // received and not yet matched by expect
}

func record(t *testing.T, q *Queue) *recorder {
	r := &recorder{t: t, ch: make(chan Event, 1<<16), done: make(chan error, 1)}
	go func() {
		var buf []Event
		for {
			var err error
			buf, err = q.Wait(buf)
			if err != nil {
				r.done <- err
				close(r.ch)
				return
			}
			for _, e := range buf {
				r.ch <- e
			}
		}
	}()
	t.Cleanup(func() {
		q.Close()
		for range r.ch {
		}
	})
	return r
}

// next returns the next event, or false when none came before the deadline
// d or the queue closed.
func (r *recorder) next(d time.Duration) (Event, bool) {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case e, ok := <-r.ch:
		if ok {
			r.seen = append(r.seen, e)
		}
		return e, ok
	case <-tm.C:
		return Event{}, false
	}
}

// expect returns the first event matching ok that no earlier expect took,
// waiting for it if need be: events of one batch come in no fixed order.
func (r *recorder) expect(what string, ok func(Event) bool) Event {
	r.t.Helper()
	for i, e := range r.left {
		if ok(e) {
			r.left = append(r.left[:i], r.left[i+1:]...)
			return e
		}
	}
	end := time.Now().Add(deadline)
	for {
		left := time.Until(end)
		if left <= 0 {
			r.t.Fatalf("no %s within %v; saw %s", what, deadline, fmtEvents(r.seen))
		}
		e, got := r.next(left)
		if !got {
			if time.Until(end) > 0 {
				r.t.Fatalf("queue closed while waiting for %s; saw %s", what, fmtEvents(r.seen))
			}
			continue
		}
		if ok(e) {
			return e
		}
		r.left = append(r.left, e)
	}
}

// drop forgets the events received and not yet matched, so that the next
// expect sees only what comes after this point (and what is in flight).
func (r *recorder) drop() { r.left = nil }

// since returns the events received after mark (an index into r.seen).
func (r *recorder) since(mark int) []Event { return r.seen[mark:] }

func fmtEvents(evs []Event) string {
	if len(evs) == 0 {
		return "nothing"
	}
	var sb strings.Builder
	for i, e := range evs {
		if i == 40 {
			fmt.Fprintf(&sb, " ... (%d more)", len(evs)-i)
			break
		}
		sb.WriteString(" ")
		sb.WriteString(fmtEvent(e))
	}
	return sb.String()
}

func fmtEvent(e Event) string {
	switch e.Kind {
	case KindRead, KindTimer:
		return fmt.Sprintf("{%s id=%d data=%d}", e.Kind, e.ID, e.Data)
	case KindNote:
		if e.Name != "" {
			return fmt.Sprintf("{note id=%d %s %q op=%s dir=%v cookie=%d}", e.ID, e.Notes, e.Name, e.Op, e.IsDir, e.Cookie)
		}
		return fmt.Sprintf("{note id=%d %s}", e.ID, e.Notes)
	}
	return fmt.Sprintf("{%s id=%d}", e.Kind, e.ID)
}

// note matches a KindNote on the node of watch id itself carrying all of n.
func note(id ID, n Note) func(Event) bool {
	return func(e Event) bool {
		return e.Kind == KindNote && e.ID == id && e.Name == "" && e.Notes&n == n
	}
}

// child matches a named child event of directory watch id.
func child(id ID, name string, ops ...ChildOp) func(Event) bool {
	return func(e Event) bool {
		if e.Kind != KindNote || e.ID != id || e.Name != name {
			return false
		}
		for _, op := range ops {
			if e.Op == op {
				return true
			}
		}
		return false
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// tempDir is t.TempDir resolved, so that paths compare as the kernel sees them.
func tempDir(t *testing.T) string {
	d, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mustWatch(t *testing.T, q *Queue, path string) ID {
	t.Helper()
	id, err := q.Watch(path)
	if err != nil {
		t.Fatalf("Watch(%s): %v", path, err)
	}
	return id
}

// isClosed reports whether err says the queue was closed.
func isClosed(err error) bool { return errors.Is(err, ErrClosed) }
