//go:build linux

package runner

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// adopterEnv marks the child test process that runs a scenario as an
// orphan adopter (AdoptOrphans is process-wide, so it gets its own process).
const adopterEnv = "VIGIL_RUNNER_TEST_ADOPTER"

// asAdopter re-runs the calling test in a child process that has called
// AdoptOrphans, and reports true inside that child. Outside it, it waits for
// the child and fails the test if the child failed.
func asAdopter(t *testing.T) bool {
	t.Helper()
	if os.Getenv(adopterEnv) == t.Name() {
		if err := AdoptOrphans(); err != nil {
			t.Skipf("cannot adopt orphans here: %v", err)
		}
		return true
	}
	t.Parallel()
	args := []string{"-test.run=^" + t.Name() + "$", "-test.v", "-test.count=1"}
	if testing.Short() {
		args = append(args, "-test.short")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), adopterEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("adopter scenario failed: %v\n%s", err, out)
	}
	// Pass the child's figures on.
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "figures:") {
			t.Log(strings.TrimSpace(l))
		}
	}
	return false
}

// procSnapshot is what a leak would grow.
type procSnapshot struct {
	zombies, fds, threads int
	rssKB, heapKB         int
}

func (s procSnapshot) String() string {
	return fmt.Sprintf("zombies %d, fds %d, threads %d, RSS %d kB (Go heap in use %d kB)", s.zombies, s.fds, s.threads, s.rssKB, s.heapKB)
}

func snapshot(t *testing.T) procSnapshot {
	t.Helper()
	var s procSnapshot
	// Garbage not yet returned to the OS is no leak.
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.heapKB = int(ms.HeapInuse >> 10)
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("count fds: %v", err)
	}
	s.fds = len(fds)
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatalf("read status: %v", err)
	}
	for _, l := range strings.Split(string(status), "\n") {
		k, v, _ := strings.Cut(l, ":")
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		switch k {
		case "Threads":
			s.threads, _ = strconv.Atoi(f[0])
		case "VmRSS":
			s.rssKB, _ = strconv.Atoi(f[0])
		}
	}
	s.zombies = len(children(t, true))
	return s
}

// children lists our child processes (only the zombies, if zombies).
func children(t *testing.T, zombies bool) []int {
	t.Helper()
	me := os.Getpid()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("list /proc: %v", err)
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		if ppid == me && (!zombies || f[0] == "Z") {
			out = append(out, pid)
		}
	}
	return out
}

// The exit status a user sees must be the command's own, exactly, even while
// orphans in other groups keep exiting and being reaped around it: the
// reaper must never take a status that a Wait is waiting for.
func TestExitStatusesExactUnderOrphanChurn(t *testing.T) {
	if !asAdopter(t) {
		return
	}
	// Orphans in their own groups, exiting all the time.
	churn := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{{
			Name:   "churn",
			Daemon: true,
			Run:    sh(`while :; do setsid sh -c 'sleep 0.01 & exit 0'; sh -c 'sleep 0.02 & exit 0'; done`),
		}}, Options{}
	}).run()
	cases := []struct {
		cmd  string
		want int
	}{
		{`sleep 0.01 & exit 0`, 0},
		{`setsid sh -c 'sleep 0.01 &'; exit 3`, 3},
		{`sh -c 'sleep 0.02 & exit 0'; exit 42`, 42},
		{`setsid sh -c 'sleep 0.01 &'; kill -TERM $$`, 143},
		{`kill -KILL $$`, 137},
	}
	rounds := 40
	if testing.Short() {
		rounds = 8
	}
	var wg sync.WaitGroup
	errs := make(chan error, rounds*len(cases))
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < rounds*len(cases); i += 4 {
				c := cases[i%len(cases)]
				r, err := New([]Rule{{Name: "x", RunAtStart: true, Run: sh(c.cmd), Dir: t.TempDir()}}, Options{Once: true})
				if err != nil {
					errs <- err
					return
				}
				st, err := r.Run(context.Background(), nil)
				if err != nil || st != c.want {
					errs <- fmt.Errorf("run %d: %q gave status %d (err %v), want %d", i, c.cmd, st, err, c.want)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	churn.stop()
	waitFor(t, "every orphan reaped", func() bool { return len(children(t, false)) == 0 })
	if reaper.reaped.Load() == 0 {
		t.Errorf("no orphan was reaped: the scenario did not exercise the reaper")
	}
}

// Soak: many runs of a command that orphans grandchildren in their own
// process groups (setsid, and a group leader exiting before its child) leave
// nothing behind in a long-lived runner: no zombies, no fds, no threads, and
// RSS grows by at most a few MB (checked without the race detector, whose
// own bookkeeping grows with every goroutine started).
func TestSoakOrphanChurn(t *testing.T) {
	if !asAdopter(t) {
		return
	}
	runs := 1000
	if testing.Short() {
		runs = 100
	}
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{{
			Name: "orphans",
			Run:  sh(`exec >/dev/null 2>&1; setsid sh -c 'sleep 0.01 & exit 0'; setsid -f sleep 0.01; echo x >> runs`),
		}}, Options{}
	}).run()
	// Warm up so that lazily made threads and buffers count as the baseline.
	for i := 1; i <= 20; i++ {
		h.send("f")
		waitFor(t, "warm-up run", func() bool { return len(h.lines("runs")) >= i })
	}
	settle := func() procSnapshot {
		waitFor(t, "orphans gone", func() bool { return len(children(t, false)) == 0 })
		return snapshot(t)
	}
	before := settle()
	began := time.Now()
	for i := 1; i <= runs; i++ {
		h.send("f")
		waitFor(t, fmt.Sprintf("run %d", i), func() bool { return len(h.lines("runs")) >= 20+i })
	}
	took := time.Since(began)
	after := settle()
	t.Logf("figures: %d runs in %v; before: %v; after: %v; orphans reaped: %d", runs, took.Round(time.Millisecond), before, after, reaper.reaped.Load())
	if after.zombies != 0 {
		t.Errorf("%d zombies left", after.zombies)
	}
	if after.fds > before.fds {
		t.Errorf("fds grew from %d to %d", before.fds, after.fds)
	}
	if after.threads > before.threads+4 {
		t.Errorf("threads grew from %d to %d", before.threads, after.threads)
	}
	if !raceEnabled && after.rssKB > before.rssKB+5<<10 {
		t.Errorf("RSS grew from %d kB to %d kB", before.rssKB, after.rssKB)
	}
	if got := reaper.reaped.Load(); got < int64(runs) {
		t.Errorf("reaped %d orphans over %d runs that each left two", got, runs)
	}
}
