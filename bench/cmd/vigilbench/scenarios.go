//go:build linux

package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Results of each measurement; JSON field names are the published schema.

type latencyResult struct {
	Samples int     `json:"samples"`
	Missed  int     `json:"missed"`
	P50MS   float64 `json:"p50_ms"`
	P90MS   float64 `json:"p90_ms"`
	MaxMS   float64 `json:"max_ms"`
}

type treeResult struct {
	Files int `json:"files"`
	Dirs  int `json:"dirs"`
	// ReadyMS: the median over ReadyStartsMS, each the time from one
	// start of the tool to its first run.
	ReadyMS       float64   `json:"ready_ms"`
	ReadyStartsMS []float64 `json:"ready_starts_ms"`
	RSSKB         int64     `json:"rss_kb"`
	MainRSSKB     int64     `json:"main_rss_kb"`
	MainComm      string    `json:"main_comm"`
	Processes     int       `json:"processes"`
	IdleCPUMS     float64   `json:"idle_cpu_ms"`
	IdleSeconds   float64   `json:"idle_seconds"`
	// StartupMS: from ready until the tool said its background start-up
	// work was done (tool.startupDone); memory and idle CPU are measured
	// after it. Zero for tools that do none.
	StartupMS float64 `json:"startup_ms,omitempty"`
	Error     string  `json:"error,omitempty"`
}

type burstResult struct {
	Creates      int     `json:"creates"`
	Writes       int     `json:"writes"`
	WriteMS      float64 `json:"write_ms"`
	Runs         int     `json:"runs"`
	LastSawFinal bool    `json:"last_saw_final"`
	Settled      bool    `json:"settled"`
	// Pauses: how often the harness paused between one change and the
	// next for longer than the tool's debounce while writing the burst
	// (descheduled on a shared machine, or held by the file system); each
	// such pause is a quiet period by definition. MaxPauseMS is the
	// longest. Some may be the tool's doing (its runs take CPU from the
	// harness), so the check allows only BaselinePauses: those of the
	// same burst written just before outside the watched tree, with the
	// tool up but idle.
	Pauses         int     `json:"pauses_over_debounce"`
	MaxPauseMS     float64 `json:"max_pause_ms"`
	BaselinePauses int     `json:"baseline_pauses_over_debounce"`
}

type spacedResult struct {
	Changes    int     `json:"changes"`
	IntervalMS float64 `json:"interval_ms"`
	WithRun    int     `json:"with_run"`    // changes matched to a run that started after them
	SeenStates int     `json:"seen_states"` // changes whose own state some run read
	Runs       int     `json:"runs"`
}

type atomicResult struct {
	Saves        int  `json:"saves"`
	Detected     int  `json:"detected"`
	StillWatched bool `json:"still_watched"`
}

type smallResult struct {
	ReadyMS float64        `json:"ready_ms"`
	Latency *latencyResult `json:"latency,omitempty"`
	Atomic  *atomicResult  `json:"atomic,omitempty"`
	Spaced  *spacedResult  `json:"spaced,omitempty"`
	Burst   *burstResult   `json:"burst,omitempty"`
	Error   string         `json:"error,omitempty"`
}

// makeTree builds files files spread over dirs leaf directories (in
// sqrt(dirs) parents) under root, unless a completed copy is there already.
// The last leaf directory holds touch.txt, the file the ready test appends to.
func makeTree(root string, files, dirs int) (string, error) {
	done := root + ".complete"
	parents := 1
	for parents*parents < dirs {
		parents++
	}
	perParent := (dirs + parents - 1) / parents
	leaf := func(i int) string {
		return filepath.Join(root, fmt.Sprintf("p%03d", i/perParent), fmt.Sprintf("d%03d", i%perParent))
	}
	last := filepath.Join(leaf(dirs-1), "touch.txt")
	if _, err := os.Stat(done); err == nil {
		return last, nil
	}
	if err := os.RemoveAll(root); err != nil {
		return "", fmt.Errorf("clear tree %s: %w", root, err)
	}
	for i := 0; i < dirs; i++ {
		d := leaf(i)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", fmt.Errorf("make tree: %w", err)
		}
		n := files / dirs
		if i < files%dirs {
			n++
		}
		for j := 0; j < n; j++ {
			p := filepath.Join(d, fmt.Sprintf("f%02d.txt", j))
			if i == dirs-1 && j == 0 {
				p = last
			}
			if err := os.WriteFile(p, []byte("x\n"), 0o644); err != nil {
				return "", fmt.Errorf("make tree: %w", err)
			}
		}
	}
	if err := os.WriteFile(done, nil, 0o644); err != nil {
		return "", fmt.Errorf("make tree: %w", err)
	}
	return last, nil
}

// makeSmallTree lays out the tree for the behaviour tests: state.txt, which
// every change ends by writing, burst/ with a seed file (so that file-list
// tools such as entr track the directory), and 100 more files in 10 dirs.
func makeSmallTree(root string) error {
	if err := os.RemoveAll(root); err != nil {
		return fmt.Errorf("clear %s: %w", root, err)
	}
	for i := 0; i < 10; i++ {
		d := filepath.Join(root, "src", fmt.Sprintf("a%d", i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("make small tree: %w", err)
		}
		for j := 0; j < 10; j++ {
			if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%d.txt", j)), []byte("x\n"), 0o644); err != nil {
				return fmt.Errorf("make small tree: %w", err)
			}
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "burst"), 0o755); err != nil {
		return fmt.Errorf("make small tree: %w", err)
	}
	if err := os.WriteFile(filepath.Join(root, "burst", "seed.txt"), []byte("x\n"), 0o644); err != nil {
		return fmt.Errorf("make small tree: %w", err)
	}
	return os.WriteFile(filepath.Join(root, "state.txt"), []byte("init\n"), 0o644)
}

// session is one started tool with its stamp output.
type session struct {
	t     tool
	p     *proc
	out   *outFile
	state string
	log   string
}

// launch starts t on root and touches state every 20 ms until a run records
// a touch, and returns the time from start to that run's timestamp. A tool
// with a debounce is touched every debounce + 20 ms instead: touches 20 ms
// apart would keep its quiet period from ever ending.
func (b *bench) launch(t tool, root, state, work string, timeout time.Duration) (*session, float64, error) {
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, 0, fmt.Errorf("%s: %w", t.name, err)
	}
	e := launchEnv{root: root, out: filepath.Join(work, "stamps"), state: state, stamp: b.stamp, work: work, vigil: b.vigil}
	if t.bin == "vigil-libkqueue" {
		e.vigil = b.vigilLKQ
	}
	out, err := newOutFile(e.out)
	if err != nil {
		return nil, 0, err
	}
	if err := os.WriteFile(state, []byte("init\n"), 0o644); err != nil {
		return nil, 0, fmt.Errorf("%s: reset %s: %w", t.name, state, err)
	}
	if t.prepare != nil {
		if err := t.prepare(e); err != nil {
			return nil, 0, fmt.Errorf("%s: prepare: %w", t.name, err)
		}
	}
	logPath := filepath.Join(work, "log")
	p, err := startProc(t.name, t.script(e), root, logPath, []string{"PATH=" + b.path}, nil)
	if err != nil {
		return nil, 0, err
	}
	s := &session{t: t, p: p, out: out, state: state, log: logPath}
	// Touches are a debounce plus 20 ms apart, so that each can close a
	// batch of its own; a start's ready time is known to within that
	// period. The first comes after a random part of it: over several
	// starts, where the grid of touches falls relative to the moment the
	// tool is ready is then random, not the same each time.
	every := 20*time.Millisecond + t.debounce
	time.Sleep(time.Duration(rand.Int64N(int64(every))))
	deadline := p.start.Add(timeout)
	for i := 0; ; i++ {
		if _, err := appendLine(state, fmt.Sprintf("R%d", i)); err != nil {
			s.stop()
			return nil, 0, err
		}
		r, ok := out.waitFor(0, time.Now().Add(every), nil, func(r rec) bool { return strings.HasPrefix(r.state, "R") })
		if ok {
			return s, float64(r.ts-p.start.UnixNano()) / 1e6, nil
		}
		if !p.alive() {
			s.stop()
			return nil, 0, fmt.Errorf("%s exited before it was ready (%v): %s", t.name, p.exited, tailOf(logPath))
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, 0, fmt.Errorf("%s not ready after %v: %s", t.name, timeout, tailOf(logPath))
		}
	}
}

func (s *session) stop() { s.p.stop(3 * time.Second) }

// settle waits for the runs that earlier changes caused to finish.
func (s *session) settle(max time.Duration) bool {
	return s.out.waitQuiet(s.t.debounce+300*time.Millisecond, max)
}

func tailOf(path string) string {
	b, _ := os.ReadFile(path)
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = "…" + s[len(s)-300:]
	}
	return strings.ReplaceAll(s, "\n", " | ")
}

func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted)) + 0.5)
	if i > 0 {
		i--
	}
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return sorted[i]
}

// measureLatency appends to state n times, each after the previous change's
// runs are over, and takes the time from each append to the first run that
// saw it.
func (s *session) measureLatency(n int) (*latencyResult, error) {
	res := &latencyResult{Samples: n}
	var lat []float64
	for i := 0; i < n; i++ {
		want := fmt.Sprintf("L%d", i)
		from := len(s.out.recs)
		t, err := appendLine(s.state, want)
		if err != nil {
			return nil, err
		}
		r, ok := s.out.waitFor(from, time.Now().Add(s.t.debounce+5*time.Second), s.p.alive, func(r rec) bool { return r.state == want })
		if !ok {
			res.Missed++
			if !s.p.alive() {
				return res, fmt.Errorf("%s exited during the latency test: %s", s.t.name, tailOf(s.log))
			}
		} else {
			lat = append(lat, float64(r.ts-t)/1e6)
		}
		s.out.waitQuiet(s.t.debounce+50*time.Millisecond, 5*time.Second)
	}
	sort.Float64s(lat)
	res.P50MS = percentile(lat, 0.5)
	res.P90MS = percentile(lat, 0.9)
	if len(lat) > 0 {
		res.MaxMS = lat[len(lat)-1]
	}
	return res, nil
}

// measureAtomic saves state n times the way editors do (write a temporary
// file, rename it over the target), then appends to it once more to see
// whether the file is still watched.
func (s *session) measureAtomic(n int) (*atomicResult, error) {
	res := &atomicResult{Saves: n}
	tmp := s.state + ".tmp"
	for i := 0; i < n; i++ {
		want := fmt.Sprintf("A%d", i)
		from := len(s.out.recs)
		if err := os.WriteFile(tmp, []byte(want+"\n"), 0o644); err != nil {
			return nil, fmt.Errorf("atomic save: %w", err)
		}
		if err := os.Rename(tmp, s.state); err != nil {
			return nil, fmt.Errorf("atomic save: %w", err)
		}
		if _, ok := s.out.waitFor(from, time.Now().Add(s.t.debounce+3*time.Second), s.p.alive, func(r rec) bool { return r.state == want }); ok {
			res.Detected++
		}
		s.out.waitQuiet(s.t.debounce+100*time.Millisecond, 5*time.Second)
	}
	from := len(s.out.recs)
	if _, err := appendLine(s.state, "after"); err != nil {
		return nil, err
	}
	_, res.StillWatched = s.out.waitFor(from, time.Now().Add(s.t.debounce+3*time.Second), s.p.alive, func(r rec) bool { return r.state == "after" })
	s.settle(5 * time.Second)
	return res, nil
}

// measureSpaced makes n changes at a fixed pace (the tool's debounce plus
// 100 ms, so each deserves its own run) and counts those a run saw.
func (s *session) measureSpaced(n int) (*spacedResult, error) {
	interval := s.t.debounce + 100*time.Millisecond
	res := &spacedResult{Changes: n, IntervalMS: float64(interval) / 1e6}
	from := len(s.out.recs)
	start := time.Now()
	times := make([]int64, n)
	var prev time.Time
	for i := 0; i < n; i++ {
		// Keep to the schedule, but never write two changes less than an
		// interval apart after the harness itself was descheduled.
		next := start.Add(time.Duration(i) * interval)
		if i > 0 && next.Before(prev.Add(interval)) {
			next = prev.Add(interval)
		}
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		prev = time.Now()
		t, err := appendLine(s.state, fmt.Sprintf("S%d", i))
		if err != nil {
			return nil, err
		}
		times[i] = t
		s.out.poll()
	}
	s.out.waitQuiet(s.t.debounce+2*time.Second, 30*time.Second)
	runs := append([]rec(nil), s.out.recs[from:]...)
	sort.Slice(runs, func(a, b int) bool { return runs[a].ts < runs[b].ts })
	res.Runs = len(runs)
	seen := map[string]bool{}
	for _, r := range runs {
		if strings.HasPrefix(r.state, "S") {
			seen[r.state] = true
		}
	}
	res.SeenStates = len(seen)
	// Match each change, in order, to the first run not yet matched that
	// started after it: a run delayed past the next change still counts for
	// its own, and one run for several changes counts once.
	j := 0
	for _, t := range times {
		for j < len(runs) && runs[j].ts < t {
			j++
		}
		if j < len(runs) {
			res.WithRun++
			j++
		}
	}
	return res, nil
}

// pauses counts the writer's pauses between one change and the next that
// are longer than a debounce: each is a quiet period by definition.
type pauses struct {
	pauses int
	maxMS  float64
}

// writeBurst creates n files in dir, then appends to n-1 of them and last
// to state, as fast as it can. It returns its pauses longer than debounce
// (with debounce 0, none are counted) and the time of the final write.
func writeBurst(dir, state string, n int, debounce time.Duration) (p pauses, end int64, err error) {
	var lastEnd time.Time
	op := func(f func() error) error {
		t0 := time.Now()
		if gap := t0.Sub(lastEnd); !lastEnd.IsZero() && debounce > 0 && gap > debounce {
			p.pauses++
			p.maxMS = max(p.maxMS, float64(gap)/1e6)
		}
		err := f()
		lastEnd = time.Now()
		return err
	}
	name := func(i int) string { return filepath.Join(dir, fmt.Sprintf("c%05d.txt", i)) }
	create := func(i int) error {
		f, err := os.OpenFile(name(i), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		_, err = f.WriteString("c\n")
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	for i := 0; i < n; i++ {
		if err := op(func() error { return create(i) }); err != nil {
			return p, 0, fmt.Errorf("burst: %w", err)
		}
	}
	for i := 0; i < n-1; i++ {
		if err := op(func() error { _, err := appendLine(name(i), "w"); return err }); err != nil {
			return p, 0, fmt.Errorf("burst: %w", err)
		}
	}
	err = op(func() (err error) { end, err = appendLine(state, "burst-final"); return })
	if err != nil {
		return p, 0, fmt.Errorf("burst: %w", err)
	}
	return p, end, nil
}

// measureBurst creates n files and then writes n times (the last write is to
// state), as fast as possible, and counts the runs that follow.
func (s *session) measureBurst(root string, n int, maxWait time.Duration) (*burstResult, error) {
	res := &burstResult{Creates: n, Writes: n}
	// The same burst first outside the watched tree, with the tool up but
	// idle: the pauses the harness makes on its own (see
	// burstResult.BaselinePauses).
	dry := filepath.Join(filepath.Dir(s.log), "burst-dry")
	os.RemoveAll(dry)
	if err := os.MkdirAll(dry, 0o755); err != nil {
		return nil, fmt.Errorf("burst: %w", err)
	}
	dryState := filepath.Join(dry, "state.txt")
	base, _, err := writeBurst(dry, dryState, n, s.t.debounce)
	os.RemoveAll(dry)
	settleDisk()
	if err != nil {
		return nil, err
	}
	res.BaselinePauses = base.pauses
	from := len(s.out.recs)
	start := time.Now()
	p, end, err := writeBurst(filepath.Join(root, "burst"), s.state, n, s.t.debounce)
	if err != nil {
		return nil, err
	}
	res.Pauses, res.MaxPauseMS = p.pauses, p.maxMS
	res.WriteMS = float64(time.Since(start)) / 1e6
	// A slow tool may take seconds before its first run: wait for one, then
	// for the runs to stop.
	deadline := start.Add(maxWait)
	s.out.waitFor(from, deadline, s.p.alive, func(rec) bool { return true })
	res.Settled = s.out.waitQuiet(s.t.debounce+2*time.Second, time.Until(deadline))
	runs := s.out.recs[from:]
	res.Runs = len(runs)
	if len(runs) > 0 {
		last := runs[len(runs)-1]
		res.LastSawFinal = last.state == "burst-final" && last.ts >= end
	}
	return res, nil
}

// runSmall runs the behaviour tests for one tool on a fresh small tree.
func (b *bench) runSmall(t tool) *smallResult {
	res := &smallResult{}
	work := filepath.Join(b.work, t.name, "small-work")
	root := filepath.Join(b.work, t.name, "small")
	os.RemoveAll(work)
	if err := makeSmallTree(root); err != nil {
		res.Error = err.Error()
		return res
	}
	s, ready, err := b.launch(t, root, filepath.Join(root, "state.txt"), work, 60*time.Second)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	defer s.stop()
	res.ReadyMS = ready
	s.settle(10 * time.Second)
	step := func(name string, f func() error) bool {
		if err := f(); err != nil {
			res.Error = name + ": " + err.Error()
			return false
		}
		return s.p.alive()
	}
	_ = step("latency", func() (err error) { res.Latency, err = s.measureLatency(b.samples); return }) &&
		step("atomic", func() (err error) { res.Atomic, err = s.measureAtomic(b.atomic); return }) &&
		step("spaced", func() (err error) { res.Spaced, err = s.measureSpaced(b.spaced); return }) &&
		step("burst", func() (err error) { res.Burst, err = s.measureBurst(root, b.burst, b.burstWait); return })
	if res.Error == "" && !s.p.alive() {
		res.Error = fmt.Sprintf("%s exited during the tests (%v): %s", t.name, s.p.exited, tailOf(s.log))
	}
	return res
}

// runTree measures time to ready, memory and idle CPU on a large tree (the
// large tree, or the --scale tree) whose touch file is touch.
func (b *bench) runTree(t tool, root, touch string, files, dirs int, readyTimeout time.Duration) *treeResult {
	res := &treeResult{Files: files, Dirs: dirs}
	work := filepath.Join(b.work, t.name, "tree-work")
	// Time to ready is taken over several starts, each stopped once it
	// has run (the last kept for memory and idle CPU): one start knows it
	// only to within the spacing of the touches.
	var s *session
	for i := 0; i < b.readyStarts; i++ {
		if s != nil {
			s.stop()
		}
		os.RemoveAll(work)
		var ready float64
		var err error
		s, ready, err = b.launch(t, root, touch, work, readyTimeout)
		if err != nil {
			res.Error = err.Error()
			return res
		}
		res.ReadyStartsMS = append(res.ReadyStartsMS, ready)
	}
	defer s.stop()
	res.ReadyMS = median(res.ReadyStartsMS)
	if t.startupDone != "" {
		// Start-up work after ready (vigil hashing the tree for
		// skip_unchanged) is finite work, not idling: wait it out,
		// watching from ready on so that its end is timed to 10 ms.
		ready := res.ReadyStartsMS[len(res.ReadyStartsMS)-1] // the kept start's
		readyAt := s.p.start.Add(time.Duration(ready * float64(time.Millisecond)))
		for limit := time.Now().Add(readyTimeout); ; time.Sleep(10 * time.Millisecond) {
			if data, _ := os.ReadFile(s.log); strings.Contains(string(data), t.startupDone) {
				res.StartupMS = float64(time.Since(readyAt).Milliseconds())
				break
			}
			if time.Now().After(limit) || !s.p.alive() {
				res.Error = fmt.Sprintf("no %q in the log after %v: %s", t.startupDone, readyTimeout, tailOf(s.log))
				break
			}
		}
	}
	s.settle(10 * time.Second)
	tree := s.p.tree()
	res.Processes = len(tree)
	res.MainComm = t.comm
	res.RSSKB, res.MainRSSKB = s.p.rssKB(t.comm)
	c0 := s.p.cpuNS()
	t0 := time.Now()
	// Wait out the idle period while watching that the tool stays up.
	for time.Since(t0) < b.idle && s.p.alive() {
		time.Sleep(100 * time.Millisecond)
	}
	c1 := s.p.cpuNS()
	res.IdleSeconds = time.Since(t0).Seconds()
	res.IdleCPUMS = float64(c1-c0) / 1e6
	if !s.p.alive() {
		res.Error = fmt.Sprintf("%s exited while idle: %s", t.name, tailOf(s.log))
	}
	return res
}
