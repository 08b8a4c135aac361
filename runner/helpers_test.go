package runner

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-watch/vigil/internal/testwait"
	"github.com/vigil-watch/vigil/watcher"
)

// patience is how long a test waits for something that should happen soon;
// generous because the machine is shared and noisy.
const patience = 10 * time.Second

// syncBuf is a bytes.Buffer safe for a writer and a reading test.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// harness runs a Runner in the background over a temporary directory.
type harness struct {
	t       *testing.T
	dir     string
	r       *Runner
	batches chan watcher.Batch
	out     *syncBuf // Out and Err together, as on a terminal
	cancel  context.CancelFunc
	result  chan [2]any
	status  int
	ended   bool
}

type setup func(dir string) ([]Rule, Options)

// newHarness builds the rules (with Dir set to a fresh directory) and starts Run.
func newHarness(t *testing.T, mk setup) *harness {
	t.Helper()
	dir := t.TempDir()
	rules, o := mk(dir)
	for i := range rules {
		if rules[i].Dir == "" {
			rules[i].Dir = dir
		}
	}
	h := &harness{t: t, dir: dir, batches: make(chan watcher.Batch), out: &syncBuf{}, result: make(chan [2]any, 1)}
	o.Out, o.Err = h.out, h.out
	r, err := New(rules, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.r = r
	t.Cleanup(func() {
		if !h.ended {
			h.stop()
		}
		if t.Failed() {
			t.Logf("runner output:\n%s", h.out.String())
		}
	})
	return h
}

// run starts Run in the background.
func (h *harness) run() *harness {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() {
		st, err := h.r.Run(ctx, h.batches)
		h.result <- [2]any{st, err}
	}()
	return h
}

// send hands a batch of paths (relative to the harness dir) to the runner.
func (h *harness) send(rel ...string) {
	h.t.Helper()
	b := watcher.Batch{Time: time.Now()}
	for _, p := range rel {
		b.Changes = append(b.Changes, watcher.Change{Path: filepath.Join(h.dir, p), Op: watcher.Write})
	}
	h.sendBatch(b)
}

func (h *harness) sendBatch(b watcher.Batch) {
	h.t.Helper()
	select {
	case h.batches <- b:
	case <-time.After(patience):
		h.t.Fatalf("runner did not take a batch within %v", patience)
	}
}

// wait waits for Run to return by itself and gives its status.
func (h *harness) wait() int {
	h.t.Helper()
	select {
	case res := <-h.result:
		h.ended = true
		if res[1] != nil {
			h.t.Fatalf("Run: %v", res[1])
		}
		h.status = res[0].(int)
		return h.status
	case <-time.After(3 * patience):
		h.t.Fatalf("Run did not return within %v", 3*patience)
	}
	return 0
}

// finish closes the batch channel and waits for Run to finish the work.
func (h *harness) finish() int {
	h.t.Helper()
	close(h.batches)
	return h.wait()
}

// stop cancels Run's context and waits for it to return.
func (h *harness) stop() int {
	h.t.Helper()
	if h.cancel != nil {
		h.cancel()
	}
	if h.ended || h.cancel == nil {
		return h.status
	}
	return h.wait()
}

func (h *harness) path(rel string) string { return filepath.Join(h.dir, rel) }

// read returns a file's contents under the harness dir, "" if missing.
func (h *harness) read(rel string) string {
	b, _ := os.ReadFile(h.path(rel))
	return string(b)
}

// lines returns the non-empty lines of a file under the harness dir.
func (h *harness) lines(rel string) []string {
	var out []string
	for _, l := range strings.Split(h.read(rel), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// waitFor polls cond until it holds or patience runs out.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.Until(t, patience, what, cond)
}

// count returns how many lines of a file equal or start with s.
func (h *harness) count(rel, s string) int {
	n := 0
	for _, l := range h.lines(rel) {
		if strings.HasPrefix(l, s) {
			n++
		}
	}
	return n
}

func sh(s string) []Command { return []Command{{Shell: s}} }
