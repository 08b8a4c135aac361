//go:build unix

package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-watch/vigil/vnode"
	"github.com/vigil-watch/vigil/watcher"
	"github.com/vigil-watch/vigil/watcher/follow"
)

func TestChangeRunsOnceWithPaths(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{{
			Name:  "test",
			Match: []string{"**/*.go"},
			Run:   sh(`printf '%s\n--\n' "$VIGIL_PATHS" >> log; echo "rule=$VIGIL_RULE"; echo to-stderr >&2`),
		}}, Options{}
	}).run()
	h.send("a.go", "sub/b.go", "notes.txt")
	if st := h.finish(); st != 0 {
		t.Fatalf("status %d, want 0", st)
	}
	if got, want := h.read("log"), "a.go\nsub/b.go\n--\n"; got != want {
		t.Errorf("the command saw VIGIL_PATHS %q, want %q (one run, matching paths only)", got, want)
	}
	out := h.out.String()
	for _, want := range []string{"[test] running (changed: a.go, sub/b.go)\n", "[test] rule=test\n", "[test] to-stderr\n", "[test] ok: exit status 0 ("} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// mv a.go a.go.bak runs a rule for "**/*.go": the rule sees the old path in
// VIGIL_PATHS and the rename, with both paths, in the events file.
func TestRenameAwayRunsRule(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{{
			Name:  "test",
			Match: []string{"**/*.go"},
			Run:   sh(`printf '%s\n' "$VIGIL_PATHS" >> log; cat "$VIGIL_EVENTS_FILE" >> events`),
		}}, Options{}
	}).run()
	h.sendBatch(watcher.Batch{Time: time.Now(), Changes: []watcher.Change{{Path: h.path("a.go.bak"), Op: watcher.Rename, Old: h.path("a.go")}}})
	if st := h.finish(); st != 0 {
		t.Fatalf("status %d, want 0", st)
	}
	if got, want := h.read("log"), "a.go\n"; got != want {
		t.Errorf("VIGIL_PATHS %q, want %q", got, want)
	}
	var b watcher.Batch
	if err := json.Unmarshal([]byte(h.read("events")), &b); err != nil {
		t.Fatal(err)
	}
	if len(b.Changes) != 1 || b.Changes[0].Op != watcher.Rename || b.Changes[0].Old != h.path("a.go") {
		t.Errorf("events file lost the rename: %+v", b.Changes)
	}
}

func TestBatchNotMatchingRunsNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{{Name: "go", Match: []string{"**/*.go"}, Exclude: []string{"vendor"}, Run: sh(`echo ran >> log`)}}, Options{}
	}).run()
	h.send("README.md", "vendor/x/y.go")
	h.finish()
	if got := h.read("log"); got != "" {
		t.Errorf("a batch with no matching path ran the rule: %q", got)
	}
}

func TestQueueMergesBatchesDuringRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{{
			Name: "build",
			Run: sh(`printf 'start %s\n' "$(printf '%s' "$VIGIL_PATHS" | tr '\n' ,)" >> log
				while [ ! -e gate ]; do sleep 0.01; done`),
		}}, Options{}
	}).run()
	h.send("a")
	waitFor(t, "the first run to start", func() bool { return h.count("log", "start") == 1 })
	h.send("b")
	h.send("c", "b")
	h.send("d")
	if err := os.WriteFile(h.path("gate"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	h.finish()
	want := []string{"start a", "start b,c,d"}
	if got := h.lines("log"); !slices.Equal(got, want) {
		t.Errorf("runs %q, want %q: batches during a run merge into one more run", got, want)
	}
}

func TestRestartWaitsForOldProcess(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{{
			Name:   "srv",
			OnBusy: Restart,
			// The marker exists from start until the slow TERM handler ends;
			// a start that finds it overlapped the previous run.
			Run: sh(`if [ -e marker ]; then echo OVERLAP >> log; fi
				echo $$ > marker
				trap 'sleep 0.3; rm -f marker; exit 0' TERM
				echo "start $VIGIL_PATHS" >> log
				while :; do sleep 0.05; done`),
		}}, Options{}
	}).run()
	for i, name := range []string{"a", "b", "c"} {
		h.send(name)
		waitFor(t, fmt.Sprintf("start %d", i+1), func() bool { return h.count("log", "start") == i+1 })
	}
	h.stop()
	if n := h.count("log", "OVERLAP"); n > 0 {
		t.Errorf("a restarted run started while the old one was still running (%d times):\n%s", n, h.read("log"))
	}
	if got, want := h.lines("log"), []string{"start a", "start b", "start c"}; !slices.Equal(got, want) {
		t.Errorf("log %q, want %q", got, want)
	}
	if _, err := os.Stat(h.path("marker")); err == nil {
		t.Errorf("the last run was not stopped through its TERM handler")
	}
}

// groupGone reports whether no process of group pgid is left.
func groupGone(pgid int) bool {
	return errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH)
}

func TestStopKillsStubbornGroupAfterTimeout(t *testing.T) {
	t.Parallel()
	const grace = 300 * time.Millisecond
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{{
			Name:        "stubborn",
			RunAtStart:  true,
			StopTimeout: grace,
			// TERM is ignored by the shell and, inherited, by the sleep.
			Run: sh(`trap '' TERM; sleep 300 & echo $! > grandchild; echo $$ > leader; wait; wait`),
		}}, Options{}
	}).run()
	waitFor(t, "the grandchild to start", func() bool { return h.read("grandchild") != "" && h.read("leader") != "" })
	leader, _ := strconv.Atoi(strings.TrimSpace(h.read("leader")))
	grandchild, _ := strconv.Atoi(strings.TrimSpace(h.read("grandchild")))
	began := time.Now()
	h.stop()
	took := time.Since(began)
	if took < grace {
		t.Errorf("stopped after %v, before the %v stop timeout: the group cannot have ignored TERM", took, grace)
	}
	if !groupGone(leader) {
		t.Errorf("process group %d still has members after Run returned", leader)
	}
	if err := syscall.Kill(grandchild, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("grandchild %d survived: kill(pid, 0) = %v", grandchild, err)
	}
	if out := h.out.String(); !strings.Contains(out, "stopped: killed by SIGKILL") {
		t.Errorf("no status line about the SIGKILL:\n%s", out)
	}
}

func TestGrandchildLeftByExitedCommandIsStopped(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{{
			Name:       "bg",
			RunAtStart: true,
			Run:        sh(`sleep 300 & echo $! > grandchild; echo $$ > leader; exit 0`),
		}}, Options{Once: true}
	}).run()
	if st := h.wait(); st != 0 {
		t.Fatalf("status %d, want 0", st)
	}
	leader, _ := strconv.Atoi(strings.TrimSpace(h.read("leader")))
	if leader == 0 || !groupGone(leader) {
		t.Errorf("process group %q outlived its run", h.read("leader"))
	}
}

func TestAfterOrderAndSkipOnFailure(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{
			{Name: "server", Daemon: false, After: []string{"test"}, Run: sh(`echo server >> log`)},
			{Name: "test", After: []string{"build"}, Run: sh(`sleep 0.1; echo test >> log`)},
			{Name: "build", Run: sh(`sleep 0.2; echo build >> log; [ ! -e fail ]`)},
		}, Options{}
	}).run()
	h.send("main.go")
	waitFor(t, "the chain to finish", func() bool { return len(h.lines("log")) == 3 })
	if got, want := h.lines("log"), []string{"build", "test", "server"}; !slices.Equal(got, want) {
		t.Errorf("order %q, want %q", got, want)
	}
	if err := os.WriteFile(h.path("fail"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	h.send("main.go")
	if st := h.finish(); st != 1 {
		t.Errorf("status %d, want 1 (build failed)", st)
	}
	if got, want := h.lines("log"), []string{"build", "test", "server", "build"}; !slices.Equal(got, want) {
		t.Errorf("after a failed build the log is %q, want %q", got, want)
	}
	out := h.out.String()
	for _, want := range []string{`[test] skipped: "build" failed`, `[server] skipped: "test" failed`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestAfterRuleNotTriggeredDoesNotBlock(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{
			{Name: "build", Match: []string{"*.go"}, Run: sh(`echo build >> log`)},
			{Name: "assets", After: []string{"build"}, Match: []string{"*.css"}, Run: sh(`echo assets >> log`)},
		}, Options{}
	}).run()
	h.send("site.css")
	h.finish()
	if got, want := h.lines("log"), []string{"assets"}; !slices.Equal(got, want) {
		t.Errorf("log %q, want %q", got, want)
	}
}

func TestHostileFileNameReachesCommandIntact(t *testing.T) {
	t.Parallel()
	name := "sp ace 'single' \"double\" $(touch pwned1) `touch pwned2` ;touch pwned3\nsecond line.go"
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{
			{Name: "shell", Run: sh(`printf '%s' "$VIGIL_PATHS" > got-shell; cat "$VIGIL_EVENTS_FILE" > got-events; echo "$VIGIL_EVENTS_FILE" > events-name`)},
			{Name: "argv", Run: []Command{{Argv: []string{"sh", "-c", `printf '%s' "$VIGIL_PATHS" > got-argv`}}}},
		}, Options{}
	}).run()
	b := watcher.Batch{Time: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC), Changes: []watcher.Change{{Path: h.path(name), Op: watcher.Write}}}
	events, _ := json.Marshal(b)
	h.sendBatch(b)
	h.finish()
	for _, f := range []string{"got-shell", "got-argv"} {
		if got := h.read(f); got != name {
			t.Errorf("%s: VIGIL_PATHS = %q, want %q", f, got, name)
		}
	}
	if got, want := h.read("got-events"), string(events)+"\n"; got != want {
		t.Errorf("events file holds %q, want %q", got, want)
	}
	for _, f := range []string{"pwned1", "pwned2", "pwned3"} {
		if _, err := os.Stat(h.path(f)); err == nil {
			t.Errorf("the file name ran a command: %s exists", f)
		}
	}
	if ev := strings.TrimSpace(h.read("events-name")); ev == "" {
		t.Error("VIGIL_EVENTS_FILE was empty")
	} else if _, err := os.Stat(ev); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("events file %s not removed after the run: %v", ev, err)
	}
}

func TestOnceExitStatus(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cmds []string
		want int
	}{
		{"ok", []string{"exit 0"}, 0},
		{"fail", []string{"exit 1"}, 1},
		{"three", []string{"exit 3"}, 3},
		{"killed", []string{"kill -9 $$"}, 128 + 9},
		{"worst of two", []string{"exit 1", "exit 3"}, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, func(dir string) ([]Rule, Options) {
				var rules []Rule
				for i, c := range tc.cmds {
					rules = append(rules, Rule{Name: fmt.Sprint("r", i), RunAtStart: true, Run: sh(c)})
				}
				return rules, Options{Once: true}
			}).run()
			if got := h.wait(); got != tc.want {
				t.Errorf("status %d, want %d", got, tc.want)
			}
		})
	}
}

func TestOncePostponedWaitsForFirstBatch(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{{Name: "ci", RunAtStart: true, Match: []string{"*.go"}, Run: sh(`echo "$VIGIL_PATHS" >> log; exit 4`)}}, Options{Once: true, Postpone: true}
	}).run()
	h.send("x.txt") // triggers nothing: Once keeps waiting
	h.send("main.go")
	if st := h.wait(); st != 4 {
		t.Errorf("status %d, want 4", st)
	}
	if got, want := h.lines("log"), []string{"main.go"}; !slices.Equal(got, want) {
		t.Errorf("log %q, want %q: no run at start, one for the first matching batch", got, want)
	}
}

func TestSignalPolicyDeliversSignal(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{{
			Name:       "srv",
			RunAtStart: true,
			OnBusy:     Signal,
			BusySignal: syscall.SIGUSR1,
			Run:        sh(`trap 'echo got-usr1 >> log' USR1; echo start >> log; while :; do sleep 0.05; done`),
		}}, Options{}
	}).run()
	waitFor(t, "the start", func() bool { return h.count("log", "start") == 1 })
	h.send("conf")
	waitFor(t, "the signal to arrive", func() bool { return h.count("log", "got-usr1") == 1 })
	h.stop()
	if n := h.count("log", "start"); n != 1 {
		t.Errorf("%d starts, want 1: the signal policy must not restart", n)
	}
	if out := h.out.String(); !strings.Contains(out, "[srv] sent SIGUSR1 (changed: conf)") {
		t.Errorf("no status line for the signal:\n%s", out)
	}
}

func TestIgnorePolicyDropsChanges(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{{
			Name:   "slow",
			OnBusy: Ignore,
			Run:    sh(`echo "start $VIGIL_PATHS" >> log; while [ ! -e gate ]; do sleep 0.01; done`),
		}}, Options{}
	}).run()
	h.send("a")
	waitFor(t, "the first run", func() bool { return h.count("log", "start") == 1 })
	h.send("b")
	waitFor(t, "the ignore status line", func() bool { return strings.Contains(h.out.String(), "[slow] busy, ignored (changed: b)") })
	os.WriteFile(h.path("gate"), nil, 0o644)
	h.finish()
	if got, want := h.lines("log"), []string{"start a"}; !slices.Equal(got, want) {
		t.Errorf("log %q, want %q", got, want)
	}
}

func TestDaemonStartsAtLaunchAndRestartsOnChange(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{
			{Name: "build", Run: sh(`echo build >> log; [ ! -e fail ]`)},
			{
				Name:   "server",
				Daemon: true,
				After:  []string{"build"},
				Run:    sh(`read x && echo "stdin not empty" >> log; echo start $VIGIL_PATHS >> log; exec sleep 300`),
			},
		}, Options{}
	}).run()
	waitFor(t, "the daemon to start at launch", func() bool { return h.count("log", "start") == 1 })
	h.send("main.go")
	waitFor(t, "the restart", func() bool { return h.count("log", "start main.go") == 1 })
	// A failed build keeps the old server running.
	os.WriteFile(h.path("fail"), nil, 0o644)
	h.send("broken.go")
	waitFor(t, "the skip", func() bool { return strings.Contains(h.out.String(), `[server] skipped: "build" failed`) })
	h.stop()
	if got, want := h.lines("log"), []string{"start", "build", "start main.go", "build"}; !slices.Equal(got, want) {
		t.Errorf("log %q, want %q", got, want)
	}
}

func TestDaemonCrashLoopBacksOff(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{{Name: "crash", Daemon: true, Run: sh(`date +%s%N >> log; exit 2`)}}, Options{}
	}).run()
	waitFor(t, "four starts", func() bool { return len(h.lines("log")) >= 4 })
	h.stop()
	var at []int64
	for _, l := range h.lines("log")[:4] {
		n, err := strconv.ParseInt(l, 10, 64)
		if err != nil {
			t.Fatalf("bad timestamp %q", l)
		}
		at = append(at, n)
	}
	// The delays are 0.5 s, 1 s, 2 s: lower bounds hold however slow the
	// machine; allow 50 ms for clock granularity.
	for i, min := range []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second} {
		gap := time.Duration(at[i+1] - at[i])
		if gap < min-50*time.Millisecond {
			t.Errorf("restart %d came %v after the previous start, want at least %v", i+1, gap, min)
		}
	}
	if out := h.out.String(); !strings.Contains(out, "[crash] exited by itself; restarting in 0.50s") || !strings.Contains(out, "restarting in 2.00s") {
		t.Errorf("backoff status lines missing:\n%s", out)
	}
}

func TestTimeoutStopsRunAndFails(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{{Name: "slow", RunAtStart: true, Timeout: 200 * time.Millisecond, Run: sh(`echo $$ > leader; exec sleep 300`)}}, Options{Once: true}
	}).run()
	if st := h.wait(); st != 128+int(syscall.SIGTERM) {
		t.Errorf("status %d, want %d (killed by SIGTERM)", st, 128+int(syscall.SIGTERM))
	}
	if out := h.out.String(); !strings.Contains(out, "[slow] failed: timed out after 200ms: killed by SIGTERM") {
		t.Errorf("no timeout status line:\n%s", out)
	}
}

func TestTimeoutWithCleanExitStillFails(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		// The timeout leaves the shell ample time to install its trap first.
		return []Rule{{Name: "polite", RunAtStart: true, Timeout: 1500 * time.Millisecond, Run: sh(`trap 'exit 0' TERM; while :; do sleep 0.02; done`)}}, Options{Once: true}
	}).run()
	if st := h.wait(); st != timeoutStatus {
		t.Errorf("status %d, want %d: a timed-out run fails even if it exits 0", st, timeoutStatus)
	}
}

func TestSequenceStopsAtFirstFailure(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{{Name: "seq", RunAtStart: true, Run: []Command{
			{Shell: "echo one >> log"}, {Argv: []string{"false"}}, {Shell: "echo three >> log"},
		}}}, Options{Once: true}
	}).run()
	if st := h.wait(); st != 1 {
		t.Errorf("status %d, want 1", st)
	}
	if got, want := h.lines("log"), []string{"one"}; !slices.Equal(got, want) {
		t.Errorf("log %q, want %q", got, want)
	}
}

func TestMissingProgramFails127(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{{Name: "nope", RunAtStart: true, Run: []Command{{Argv: []string{"vigil-no-such-program-x"}}}}}, Options{Once: true}
	}).run()
	if st := h.wait(); st != 127 {
		t.Errorf("status %d, want 127", st)
	}
	if out := h.out.String(); !strings.Contains(out, `[nope] failed: could not start vigil-no-such-program-x`) {
		t.Errorf("no start failure line:\n%s", out)
	}
}

func TestReload(t *testing.T) {
	t.Parallel()
	daemon := func(tag string) Rule {
		return Rule{Name: "srv", Daemon: true, Run: sh(`echo $$ > srv.pid; echo "` + tag + `" >> log; exec sleep 300`)}
	}
	var dir string
	h := newHarness(t, func(d string) ([]Rule, Options) {
		dir = d
		return []Rule{daemon("v1"), {Name: "keep", RunAtStart: true, Run: sh(`echo keep >> log`)}}, Options{}
	}).run()
	waitFor(t, "v1", func() bool { return h.count("log", "v1") == 1 && h.count("log", "keep") == 1 })
	pid1, _ := strconv.Atoi(strings.TrimSpace(h.read("srv.pid")))

	// Invalid: returned, nothing changes.
	if err := h.r.Reload([]Rule{{Name: "a", Run: sh("true")}, {Name: "a", Run: sh("true")}}); err == nil || !strings.Contains(err.Error(), `duplicate name "a"`) {
		t.Errorf("Reload of invalid rules: err = %v, want the duplicate name", err)
	}

	// Changed daemon restarts, unchanged rule stays, new rule runs.
	keep := Rule{Name: "keep", RunAtStart: true, Run: sh(`echo keep >> log`), Dir: dir}
	v2 := daemon("v2")
	v2.Dir = dir
	if err := h.r.Reload([]Rule{v2, keep, {Name: "new", RunAtStart: true, Run: sh(`echo new >> log`), Dir: dir}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "v2 and new", func() bool { return h.count("log", "v2") == 1 && h.count("log", "new") == 1 })
	if !groupGone(pid1) {
		t.Errorf("the old daemon %d still runs after its definition changed", pid1)
	}
	pid2, _ := strconv.Atoi(strings.TrimSpace(h.read("srv.pid")))

	// Removed daemon is stopped.
	if err := h.r.Reload([]Rule{keep}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the removed daemon to stop", func() bool { return groupGone(pid2) })
	h.stop()
	if got, want := h.lines("log"), []string{"v1", "keep", "v2", "new"}; !slices.Equal(sortedCopy(got), sortedCopy(want)) {
		t.Errorf("log %q, want %q (in some order): an unchanged rule must not rerun", got, want)
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

func TestKillEndsStopTimeoutEarly(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{{Name: "stubborn", RunAtStart: true, StopTimeout: time.Hour, Run: sh(`trap '' TERM; echo $$ > leader; while :; do sleep 0.05; done`)}}, Options{}
	}).run()
	waitFor(t, "the start", func() bool { return h.read("leader") != "" })
	leader, _ := strconv.Atoi(strings.TrimSpace(h.read("leader")))
	h.cancel()
	h.r.Kill()
	h.wait()
	if !groupGone(leader) {
		t.Errorf("group %d survived Kill", leader)
	}
}

func TestTextFileBusyIsRetried(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := dir + "/tool"
	src, err := os.ReadFile("/bin/echo")
	if err != nil {
		t.Skipf("no /bin/echo to copy: %v", err)
	}
	w, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(src); err != nil {
		t.Fatal(err)
	}
	// The writer stays open until the runner has hit ETXTBSY once, as when a
	// build tool has not yet closed the binary it just wrote.
	var once sync.Once
	retried := 0
	out := &syncBuf{}
	r, err := New([]Rule{{Name: "tool", RunAtStart: true, Run: []Command{{Argv: []string{bin, "hello"}}}}}, Options{Out: out, Err: out, Once: true})
	if err != nil {
		t.Fatal(err)
	}
	r.textBusyHook = func() {
		retried++
		once.Do(func() { w.Close() })
	}
	t.Cleanup(func() { w.Close() })
	st, err := r.Run(t.Context(), nil)
	if err != nil || st != 0 {
		t.Fatalf("Run = %d, %v; want 0, nil\n%s", st, err, out)
	}
	if retried == 0 {
		t.Error("the start never met ETXTBSY; the test did not exercise the retry")
	}
	if !strings.Contains(out.String(), "[tool] hello\n") {
		t.Errorf("the binary did not run:\n%s", out)
	}
}

func TestLineRule(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{
			{Name: "alert", LineRule: true, RunAtStart: true, Run: sh(`printf '%s|%s|%s\n' "$VIGIL_FILE" "$VIGIL_LINE" "$VIGIL_OFFSET" >> log; wc -l < "$VIGIL_EVENTS_FILE" >> log`)},
			{Name: "files", Run: sh(`echo files >> log`)},
		}, Options{}
	}).run()
	lb := newLineBatch("alert", []Line{{File: "/var/log/app.log", Text: "ERROR disk $(full)", Offset: 1234}, {File: "/var/log/app.log", Text: "panic: x", Offset: 2000}})
	lb.events = []byte(`{"lines":2}`)
	select {
	case h.r.lines <- lb:
	case <-time.After(patience):
		t.Fatal("Run did not take the line batch")
	}
	h.finish()
	got := h.lines("log")
	want := []string{"/var/log/app.log|ERROR disk $(full)|1234", "1"}
	if len(got) != 2 || got[0] != want[0] || strings.TrimSpace(got[1]) != want[1] {
		t.Errorf("log %q, want %q: only the line rule runs, with the first line, not at start", got, want)
	}
}

func TestColorPrefix(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{{Name: "c", RunAtStart: true, Run: sh(`echo hi`)}}, Options{Once: true, Color: true}
	}).run()
	h.wait()
	if out := h.out.String(); !strings.Contains(out, "\x1b[36m[c]\x1b[0m hi\n") {
		t.Errorf("no coloured prefix:\n%q", out)
	}
}

func TestClearScreen(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{{Name: "c", RunAtStart: true, Clear: true, Run: sh(`true`)}}, Options{Once: true}
	}).run()
	h.wait()
	if out := h.out.String(); !strings.HasPrefix(out, clearScreen) {
		t.Errorf("output does not start with a screen clear:\n%q", out)
	}
}

func TestCommandsGetNoStdin(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{{Name: "in", RunAtStart: true, Run: sh(`if read x; then echo "read $x"; else echo eof; fi`)}}, Options{Once: true}
	}).run()
	h.wait()
	if out := h.out.String(); !strings.Contains(out, "[in] eof\n") {
		t.Errorf("stdin was not /dev/null:\n%s", out)
	}
}

func TestAfterWaitsForRestartedRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{
			{Name: "build", OnBusy: Restart, Run: sh(`echo build $VIGIL_PATHS >> log; while [ ! -e gate ]; do sleep 0.01; done`)},
			{Name: "test", After: []string{"build"}, Run: sh(`echo test $VIGIL_PATHS >> log`)},
		}, Options{}
	}).run()
	h.send("a")
	waitFor(t, "the first build", func() bool { return h.count("log", "build a") == 1 })
	h.send("b")
	waitFor(t, "the restarted build", func() bool { return h.count("log", "build b") == 1 })
	os.WriteFile(h.path("gate"), nil, 0o644)
	h.finish()
	// test waits for the build that replaced the interrupted one, then runs
	// once for both batches.
	if got, want := h.lines("log"), []string{"build a", "build b", "test a b"}; !slices.Equal(got, want) {
		t.Errorf("log %q, want %q", got, want)
	}
}

// FollowLines feeds a line rule: lines matching the rule's expression,
// appended to a followed file, run it with the first line in VIGIL_LINE;
// other lines run nothing.
func TestFollowLines(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{{Name: "alert", LineRule: true, Run: sh(`printf '%s|%s\n' "$VIGIL_LINE" "$VIGIL_PATHS" >> log`)}}, Options{}
	}).run()
	logFile := h.path("app.log")
	if err := os.WriteFile(logFile, []byte("old ERROR before start\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := follow.New(follow.Options{Patterns: []string{logFile}, Last: -1, Backend: vnode.Poll, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- h.r.FollowLines(ctx, LineSource{Rule: "alert", Follower: f, Line: regexp.MustCompile(`ERROR`), Debounce: 20 * time.Millisecond, Ready: func() { close(ready) }})
	}()
	select {
	case <-ready:
	case <-time.After(patience):
		t.Fatal("the follower did not get ready")
	}
	af, err := os.OpenFile(logFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	af.WriteString("info: fine\nERROR disk full\n")
	af.Close()
	waitFor(t, "the line rule to run", func() bool { return h.count("log", "ERROR disk full|app.log") == 1 })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("FollowLines after cancel: %v", err)
	}
	h.stop()
	if got := h.lines("log"); len(got) != 1 {
		t.Errorf("log %q: want one run, for the new ERROR line only", got)
	}
}

// TestFollowLinesThrottle: 1,000 matching lines within a second and
// throttle 1s: at most two runs, and every line is in an events file.
func TestFollowLinesThrottle(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{{Name: "alert", LineRule: true, Run: sh(`cat "$VIGIL_EVENTS_FILE" >> events; echo >> events; echo run >> log`)}}, Options{}
	}).run()
	logFile := h.path("app.log")
	if err := os.WriteFile(logFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := follow.New(follow.Options{Patterns: []string{logFile}, Last: -1, Backend: vnode.Poll, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- h.r.FollowLines(ctx, LineSource{Rule: "alert", Follower: f, Line: regexp.MustCompile(`ERROR`),
			Debounce: 20 * time.Millisecond, Throttle: time.Second, Ready: func() { close(ready) }})
	}()
	select {
	case <-ready:
	case <-time.After(patience):
		t.Fatal("the follower did not get ready")
	}
	af, err := os.OpenFile(logFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := range 1000 {
		fmt.Fprintf(af, "ERROR %d\n", i)
		if i%100 == 99 {
			time.Sleep(40 * time.Millisecond)
		}
	}
	af.Close()
	if d := time.Since(start); d > time.Second {
		t.Logf("writing took %v, more than the second the test is about", d)
	}
	countLines := func() int {
		n := 0
		for i := range 1000 {
			if strings.Contains(h.read("events"), fmt.Sprintf(`"line":"ERROR %d"`, i)) {
				n++
			}
		}
		return n
	}
	waitFor(t, "every line in an events file", func() bool { return countLines() == 1000 })
	time.Sleep(1500 * time.Millisecond) // a third run, if any, would come within the throttle
	cancel()
	if err := <-done; err != nil {
		t.Errorf("FollowLines after cancel: %v", err)
	}
	h.stop()
	if runs := len(h.lines("log")); runs > 2 || runs < 1 {
		t.Errorf("%d runs for 1,000 lines in a second with throttle 1s, want 1 or 2", runs)
	}
}
