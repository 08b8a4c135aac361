package runner

import (
	"strings"
	"testing"

	"github.com/vigil-watch/vigil/watcher"
)

// TestStopReportsDroppedWork: once stopping, nothing new starts; what was
// queued for a rule, and a batch that comes only now (what a watcher
// flushes at the stop), are each said to be dropped, with the rule's name
// and the number of paths.
func TestStopReportsDroppedWork(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{{
			Name:  "build",
			Match: []string{"**/*.go"},
			Run:   sh(`echo start >> log; while :; do sleep 0.05; done`),
		}, {
			Name:  "docs",
			Match: []string{"**/*.md"},
			Run:   sh(`echo docs >> docs.log`),
		}}, Options{}
	}).run()
	h.send("a.go")
	waitFor(t, "the first run to start", func() bool { return h.count("log", "start") == 1 })
	h.send("b.go", "c.go", "x.txt")
	h.stop()
	if n := h.count("log", "start"); n != 1 {
		t.Errorf("%d runs started, want 1: nothing starts once stopping", n)
	}
	if !strings.Contains(h.out.String(), "[build] stopping: not run for 2 changed paths\n") {
		t.Errorf("no line saying what build dropped; output:\n%s", h.out)
	}
	h.r.Dropped(watcher.Batch{Changes: []watcher.Change{
		{Path: h.path("d.go"), Op: watcher.Write},
		{Path: h.path("README.md"), Op: watcher.Create},
		{Path: h.path("e.md"), Op: watcher.Rename, Old: h.path("f.md")},
	}})
	out := h.out.String()
	for _, want := range []string{"[build] stopping: not run for 1 changed path\n", "[docs] stopping: not run for 2 changed paths\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("Dropped: no line %q; output:\n%s", want, out)
		}
	}
	if h.read("docs.log") != "" {
		t.Errorf("docs ran after the stop")
	}
}
