package runner

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-watch/vigil/watcher"
)

// sched drives the scheduler without processes: runs are captured instead
// of started, and their ends are fed back by hand, so every interleaving is
// deterministic.
type sched struct {
	t    *testing.T
	l    *loop
	runs []*run // every run launched, in order
	out  *syncBuf
}

func newSched(t *testing.T, o Options, rules ...Rule) *sched {
	t.Helper()
	for i := range rules {
		if rules[i].Dir == "" {
			rules[i].Dir = "/p"
		}
		if rules[i].Run == nil {
			rules[i].Run = sh("true")
		}
	}
	s := &sched{t: t, out: &syncBuf{}}
	o.Out, o.Err = s.out, s.out
	r, err := New(rules, o)
	if err != nil {
		t.Fatal(err)
	}
	s.l = newLoop(r, context.Background())
	s.l.launch = func(ru *run) { s.runs = append(s.runs, ru) }
	s.l.begin()
	s.l.scheduleAll()
	return s
}

func (s *sched) batch(paths ...string) {
	b := watcher.Batch{}
	for _, p := range paths {
		b.Changes = append(b.Changes, watcher.Change{Path: "/p/" + p, Op: watcher.Write})
	}
	s.l.addBatch(b)
	s.l.scheduleAll()
}

// end reports that ru ended with status.
func (s *sched) end(ru *run, status int) {
	s.l.handle(runEvent{ru: ru, status: status, reachedFinal: true})
	s.l.scheduleAll()
}

// started reports that daemon run ru reached its last command.
func (s *sched) started(ru *run) {
	s.l.handle(runEvent{ru: ru, started: true})
	s.l.scheduleAll()
}

// launched describes the runs launched so far: "rule:path,path".
func (s *sched) launched() []string {
	var out []string
	for _, ru := range s.runs {
		paths, _, _ := mergeItems(ru.items)
		for i, p := range paths {
			paths[i] = strings.TrimPrefix(p, "/p/")
		}
		out = append(out, ru.c.Name+":"+strings.Join(paths, ","))
	}
	return out
}

func (s *sched) want(want ...string) {
	s.t.Helper()
	if got := s.launched(); !slices.Equal(got, want) {
		s.t.Fatalf("runs launched %q, want %q\noutput:\n%s", got, want, s.out)
	}
}

func (s *sched) last() *run { return s.runs[len(s.runs)-1] }

func TestScheduleQueueMergesIntoOneRun(t *testing.T) {
	s := newSched(t, Options{}, Rule{Name: "a"})
	s.batch("1")
	s.batch("2")
	s.batch("3", "2")
	s.want("a:1")
	s.end(s.runs[0], 0)
	s.want("a:1", "a:2,3")
	s.end(s.runs[1], 0)
	s.want("a:1", "a:2,3")
	if len(s.l.recs) != 0 {
		t.Errorf("%d batch records left open after every run ended", len(s.l.recs))
	}
}

func TestScheduleAfterChain(t *testing.T) {
	s := newSched(t, Options{},
		Rule{Name: "deploy", After: []string{"test"}},
		Rule{Name: "test", After: []string{"build"}},
		Rule{Name: "build"},
	)
	s.batch("x")
	s.want("build:x")
	s.end(s.runs[0], 0)
	s.want("build:x", "test:x")
	s.end(s.runs[1], 0)
	s.want("build:x", "test:x", "deploy:x")
	s.end(s.runs[2], 0)

	s.batch("y")
	s.end(s.last(), 2) // build fails
	s.want("build:x", "test:x", "deploy:x", "build:y")
	if out := s.out.String(); !strings.Contains(out, `[test] skipped: "build" failed`) || !strings.Contains(out, `[deploy] skipped: "test" failed`) {
		t.Errorf("skips not reported:\n%s", out)
	}
	if len(s.l.recs) != 0 {
		t.Errorf("%d batch records left open", len(s.l.recs))
	}
}

func TestScheduleAfterWaitsWhileDependencyQueued(t *testing.T) {
	s := newSched(t, Options{}, Rule{Name: "build"}, Rule{Name: "test", After: []string{"build"}})
	s.batch("1")
	s.batch("2") // build busy: queued; test waits for build's run for 2
	s.want("build:1")
	s.end(s.runs[0], 0)
	s.want("build:1", "build:2", "test:1")
	s.end(s.runs[2], 0) // test for 1 done; test for 2 still waits on build
	s.want("build:1", "build:2", "test:1")
	s.end(s.runs[1], 0)
	s.want("build:1", "build:2", "test:1", "test:2")
}

func TestScheduleRestart(t *testing.T) {
	s := newSched(t, Options{}, Rule{Name: "srv", OnBusy: Restart})
	s.batch("1")
	s.batch("2")
	if s.runs[0].reason != forRestart {
		t.Fatalf("the running run was not asked to stop for a restart")
	}
	s.batch("3") // while it stops: no second stop, no overlap
	s.want("srv:1")
	s.end(s.runs[0], 143)
	s.want("srv:1", "srv:2,3")
	if s.l.worst != 0 {
		t.Errorf("a run stopped for restart counted as a failure: worst %d", s.l.worst)
	}
}

func TestScheduleDaemonCountsAsSucceededOnceStarted(t *testing.T) {
	s := newSched(t, Options{}, Rule{Name: "db", Daemon: true}, Rule{Name: "migrate", RunAtStart: true, After: []string{"db"}})
	s.want("db:")
	s.started(s.runs[0])
	s.want("db:", "migrate:")
	s.batch("schema.sql")
	if s.runs[0].reason != forRestart {
		t.Fatal("a change did not restart the daemon")
	}
	s.end(s.runs[0], 143)
	s.want("db:", "migrate:", "db:schema.sql")
	s.end(s.runs[1], 0)
	s.started(s.runs[2])
	s.want("db:", "migrate:", "db:schema.sql", "migrate:schema.sql")
}

func TestScheduleDaemonCrashArmsBackoff(t *testing.T) {
	s := newSched(t, Options{}, Rule{Name: "srv", Daemon: true})
	s.started(s.runs[0])
	s.end(s.runs[0], 1)
	rs := s.l.rules["srv"]
	if rs.timer == nil || rs.backoff != backoffMin {
		t.Fatalf("no %v restart timer after a crash (backoff %v)", backoffMin, rs.backoff)
	}
	// A change does not wait for the backoff.
	s.batch("main.go")
	s.want("srv:", "srv:main.go")
	if rs.timer != nil {
		t.Error("the backoff timer survived a change-triggered start")
	}
	s.end(s.runs[1], 1)
	// The change may have been the fix: its crash starts the backoff anew.
	if rs.backoff != backoffMin {
		t.Errorf("backoff %v after a crash following a change, want %v", rs.backoff, backoffMin)
	}
	// A crash of the restart that the timer made doubles it.
	s.l.wakeUp(wakeup{rs: rs, gen: rs.timerGen})
	s.started(s.runs[2])
	s.end(s.runs[2], 1)
	if rs.backoff != 2*backoffMin {
		t.Errorf("backoff %v after a second quick crash, want %v", rs.backoff, 2*backoffMin)
	}
	s.l.stopTimer(rs)
}

func TestScheduleIgnoreAndSignal(t *testing.T) {
	s := newSched(t, Options{}, Rule{Name: "i", OnBusy: Ignore})
	s.batch("1")
	s.batch("2")
	s.end(s.runs[0], 0)
	s.want("i:1")
	if out := s.out.String(); !strings.Contains(out, "[i] busy, ignored (changed: 2)") {
		t.Errorf("ignore not reported:\n%s", out)
	}

	// Signal with no command running (between commands) keeps the change.
	s2 := newSched(t, Options{}, Rule{Name: "s", OnBusy: Signal})
	s2.batch("1")
	s2.batch("2")
	s2.end(s2.runs[0], 0)
	s2.want("s:1", "s:2")
}

func TestScheduleReload(t *testing.T) {
	s := newSched(t, Options{},
		Rule{Name: "a", RunAtStart: true},
		Rule{Name: "b", RunAtStart: true, Match: []string{"*.b"}},
		Rule{Name: "gone", Daemon: true, Match: []string{"*.gone"}})
	s.want("a:", "b:", "gone:")
	s.end(s.runs[1], 0)
	s.batch("x") // a is busy: queued
	next, err := compileRules([]Rule{
		{Name: "a", RunAtStart: true, Run: sh("changed"), Dir: "/p"},
		{Name: "b", RunAtStart: true, Match: []string{"*.b"}, Run: sh("true"), Dir: "/p"},
		{Name: "new", Run: sh("true"), Dir: "/p"},
	})
	if err != nil {
		t.Fatal(err)
	}
	s.l.reload(next)
	s.l.scheduleAll()
	if s.runs[0].reason != forReload || s.runs[2].reason != forRemoval {
		t.Fatalf("stop reasons %v, %v; want reload and removal", s.runs[0].reason, s.runs[2].reason)
	}
	s.want("a:", "b:", "gone:") // unchanged b does not rerun; new has no run_at_start
	s.end(s.runs[0], 143)
	s.end(s.runs[2], 143)
	s.want("a:", "b:", "gone:", "a:x")
	if got := s.last().c.Run[0].Shell; got != "changed" {
		t.Errorf("the restarted run uses %q, not the new definition", got)
	}
	if len(s.l.gone) != 0 || s.l.rules["gone"] != nil {
		t.Error("the removed rule is still tracked")
	}
}

func TestScheduleOnceDone(t *testing.T) {
	s := newSched(t, Options{Once: true, Postpone: true}, Rule{Name: "a"}, Rule{Name: "b", After: []string{"a"}})
	if s.l.done() {
		t.Fatal("done before any batch")
	}
	s.batch("1")
	s.batch("2") // ignored: Once handles the first batch only
	s.end(s.runs[0], 0)
	if s.l.done() {
		t.Fatal("done while b still has to run")
	}
	s.end(s.runs[1], 5)
	s.want("a:1", "b:1")
	if !s.l.done() || s.l.worst != 5 {
		t.Errorf("done=%v worst=%d; want true, 5", s.l.done(), s.l.worst)
	}
}
