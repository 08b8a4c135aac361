package follow

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-watch/vigil/internal/testwait"
	"github.com/vigil-watch/vigil/vnode"
)

// waitTimeout is generous: the machine is shared and noisy.
const waitTimeout = 10 * time.Second

// backends are the mechanisms every scenario runs against: those available
// here (inotify on Linux; kqueue where the kernel has it or the test binary
// was built over libkqueue with -tags libkqueue; poll everywhere).
var backends = localBackends()

func localBackends() []vnode.Backend {
	var bs []vnode.Backend
	for _, b := range []vnode.Backend{vnode.Inotify, vnode.Kqueue} {
		if q, err := vnode.Open(vnode.Options{Backend: b}); err == nil {
			q.Close()
			bs = append(bs, b)
		}
	}
	return append(bs, vnode.Poll)
}

// forEachBackend runs fn as a subtest per backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, b vnode.Backend)) {
	for _, b := range backends {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			fn(t, b)
		})
	}
}

// run is a Follower running in the background, with what it delivered.
type run struct {
	t      *testing.T
	f      *Follower
	cancel context.CancelFunc
	done   chan error

	mu    sync.Mutex
	lines []Line
	logs  []string
}

// startFollower starts a follower with o (Backend set to b, a fast poll
// interval) and waits for ready.
func startFollower(t *testing.T, b vnode.Backend, o Options) *run {
	t.Helper()
	return startWithOut(t, b, o, nil)
}

// startWithOut is startFollower with an extra hook called for each line
// after it is recorded; its error is returned to the follower.
func startWithOut(t *testing.T, b vnode.Backend, o Options, hook func(Line) error) *run {
	t.Helper()
	r := &run{t: t, done: make(chan error, 1)}
	o.Backend = b
	if o.PollInterval == 0 {
		o.PollInterval = 20 * time.Millisecond
	}
	o.Logf = func(format string, args ...any) {
		r.mu.Lock()
		r.logs = append(r.logs, fmt.Sprintf(format, args...))
		r.mu.Unlock()
	}
	f, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	r.f = f
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	ready := make(chan struct{})
	go func() {
		r.done <- f.Run(ctx, func() { close(ready) }, func(l Line) error {
			r.mu.Lock()
			r.lines = append(r.lines, l)
			r.mu.Unlock()
			if hook != nil {
				return hook(l)
			}
			return nil
		})
	}()
	select {
	case <-ready:
	case err := <-r.done:
		cancel()
		t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(waitTimeout):
		cancel()
		t.Fatalf("follower not ready after %v", waitTimeout)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(waitTimeout):
			t.Errorf("Run did not return %v after cancel", waitTimeout)
		}
	})
	return r
}

// texts returns the texts delivered so far.
func (r *run) texts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.lines))
	for i, l := range r.lines {
		out[i] = l.Text
	}
	return out
}

func (r *run) snapshot() []Line {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.lines)
}

func (r *run) logText() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.logs, "\n")
}

// expect waits until at least len(want) lines arrived and checks that the
// lines so far are exactly want, in order.
func (r *run) expect(want ...string) {
	r.t.Helper()
	var got []string
	if !testwait.For(waitTimeout, func() bool { got = r.texts(); return len(got) >= len(want) }) {
		r.t.Fatalf("after %v, lines:\n got %q\nwant %q\nnotices:\n%s", waitTimeout, got, want, r.logText())
	}
	if !slices.Equal(got, want) {
		r.t.Fatalf("lines:\n got %q\nwant %q\nnotices:\n%s", got, want, r.logText())
	}
}

// expectSet waits until the delivered lines hold exactly the multiset want,
// in any order (for lines from two files whose relative order is free).
func (r *run) expectSet(want ...string) {
	r.t.Helper()
	w := slices.Clone(want)
	slices.Sort(w)
	var got []string
	if !testwait.For(waitTimeout, func() bool { got = r.texts(); return len(got) >= len(w) }) {
		r.t.Fatalf("after %v, lines:\n got %q\nwant %q\nnotices:\n%s", waitTimeout, got, w, r.logText())
	}
	slices.Sort(got)
	if !slices.Equal(got, w) {
		r.t.Fatalf("lines (sorted):\n got %q\nwant %q\nnotices:\n%s", got, w, r.logText())
	}
}

// waitLog waits for a notice containing sub.
func (r *run) waitLog(sub string) {
	r.t.Helper()
	waitFor(r.t, "notice "+sub, func() bool { return strings.Contains(r.logText(), sub) })
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.Until(t, waitTimeout, what, cond)
}

// appendFile appends s to the file at path, creating it if needed.
func appendFile(t testing.TB, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t testing.TB, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
