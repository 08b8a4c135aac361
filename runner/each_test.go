package runner

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// eachScript records every run: its VIGIL_PATH, and, around a pause, how
// many runs are going at once (a file per running path in "running/").
const eachScript = `
mkdir -p running
touch "running/$$"
echo "$VIGIL_PATH" >> ran
ls running | wc -l | tr -d ' ' >> concurrent
sleep 0.2
rm -f "running/$$"
case "$VIGIL_PATH" in *bad*) exit 3;; esac
`

func eachRule(jobs int) setup {
	return func(dir string) ([]Rule, Options) {
		return []Rule{{Name: "each", Run: sh(eachScript), Each: true, Jobs: jobs, Exclude: []string{"ran", "concurrent", "running/**"}}}, Options{}
	}
}

// Every file runs exactly once, with VIGIL_PATH naming it, no more than
// jobs at a time; files arriving while earlier ones run join them.
func TestEachRunsEveryFileOnceWithinJobs(t *testing.T) {
	t.Parallel()
	h := newHarness(t, eachRule(3)).run()
	var want []string
	for i := range 8 {
		want = append(want, fmt.Sprintf("f%d", i))
	}
	h.send(want[:5]...)
	waitFor(t, "the first runs", func() bool { return len(h.lines("ran")) >= 1 })
	h.send(want[5:]...)
	waitFor(t, "a run per file", func() bool { return len(h.lines("ran")) >= len(want) })
	if st := h.finish(); st != 0 {
		t.Errorf("status %d, want 0", st)
	}
	got := h.lines("ran")
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("ran for %q, want each of %q once", got, want)
	}
	for _, n := range h.lines("concurrent") {
		if n > "3" || len(n) > 1 {
			t.Errorf("%s runs at once with jobs 3", n)
		}
	}
	if !slices.Contains(h.lines("concurrent"), "3") {
		t.Logf("never 3 at once (a slow machine): %q", h.lines("concurrent"))
	}
}

// One file's failure does not stop the others; with Once the status is the
// highest any file's run ended with.
func TestEachFailureDoesNotStopOthers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		rules, _ := eachRule(2)(dir)
		return rules, Options{Once: true, Postpone: true}
	}).run()
	h.send("a", "bad", "c", "d")
	if st := h.wait(); st != 3 {
		t.Errorf("--once status %d, want 3 (the failing file's)", st)
	}
	got := h.lines("ran")
	slices.Sort(got)
	if want := []string{"a", "bad", "c", "d"}; !slices.Equal(got, want) {
		t.Errorf("ran for %q, want %q", got, want)
	}
	if !strings.Contains(h.out.String(), "failed: bad:") {
		t.Errorf("no failure line for bad:\n%s", h.out.String())
	}
}

// A file named twice before its run starts runs once; VIGIL_PATHS is the
// one path too; an Each rule does not run at start.
func TestEachDeduplicatesWaitingPaths(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{{Name: "each", RunAtStart: true, Each: true, Jobs: 1, Exclude: []string{"ran"},
			Run: sh(`echo "$VIGIL_PATH|$VIGIL_PATHS" >> ran; sleep 0.3`)}}, Options{}
	}).run()
	h.send("a")
	waitFor(t, "the run for a", func() bool { return len(h.lines("ran")) >= 1 })
	h.send("b", "c")
	h.send("b")
	waitFor(t, "the runs for b and c", func() bool { return len(h.lines("ran")) >= 3 })
	h.finish()
	if got, want := h.lines("ran"), []string{"a|a", "b|b", "c|c"}; !slices.Equal(got, want) {
		t.Errorf("ran %q, want %q", got, want)
	}
}

// Each does not mix with what would drop or cut short a file's run.
func TestEachRefusesOtherPolicies(t *testing.T) {
	t.Parallel()
	for _, r := range []Rule{
		{Name: "d", Run: sh("true"), Each: true, Daemon: true},
		{Name: "r", Run: sh("true"), Each: true, OnBusy: Restart},
		{Name: "j", Run: sh("true"), Each: true, Jobs: -1},
	} {
		if err := Validate([]Rule{r}); err == nil {
			t.Errorf("rule %q accepted", r.Name)
		}
	}
}

// A run stopped by shutdown stops every file's command.
func TestEachShutdownStopsAll(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{{Name: "each", Each: true, Jobs: 2, Exclude: []string{"started"},
			Run: sh(`echo "$VIGIL_PATH" >> started; exec sleep 60`)}}, Options{}
	}).run()
	h.send("a", "b", "c")
	waitFor(t, "two runs", func() bool { return len(h.lines("started")) >= 2 })
	h.stop()
	if n := len(h.lines("started")); n != 2 {
		t.Errorf("%d runs started, want 2 (jobs 2, the third never starts after the stop)", n)
	}
	_, err := os.Stat(filepath.Join(h.dir, "started"))
	if err != nil {
		t.Fatal(err)
	}
}
