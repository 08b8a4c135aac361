package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vigil-watch/vigil/watcher"
)

// Line is one matching line of a followed file, for line rules.
type Line struct {
	File   string // absolute path of the file
	Text   string // the line, without its newline
	Offset int64  // byte offset of the line's first byte
}

// lineBatch is the matching lines of one line rule, debounced like file
// changes (see [Runner.FollowLines]).
type lineBatch struct {
	rule  string
	lines []Line // the first is passed in VIGIL_FILE, VIGIL_LINE and VIGIL_OFFSET
	// events is the batch as the object written to VIGIL_EVENTS_FILE.
	events []byte
}

// Options configure a Runner.
type Options struct {
	// Out and Err receive the children's prefixed stdout and stderr; status
	// lines go to Err. Nil means io.Discard.
	Out, Err io.Writer
	// Color colours the rule-name prefixes (the CLI decides: a terminal and
	// NO_COLOR unset).
	Color bool
	// Once runs for the first batch that triggers a rule (or for the start
	// run) only, then makes Run return the worst exit status. Daemons are
	// then ordinary commands: Run waits for them to exit.
	Once bool
	// Postpone skips the run at start, daemons included.
	Postpone bool
	// OnReload, if set, is told when browsers should reload: after a
	// batch that triggered rules with Reload set, once all of those have
	// run (daemons: started and passed their Ready probe, or failed to).
	// It is called from Run's goroutine and must not block.
	OnReload func(ReloadEvent)
}

// ReloadEvent is what [Options.OnReload] receives.
type ReloadEvent struct {
	// Rule is the first Reload rule the batch triggered, or the one that
	// failed.
	Rule string
	// Paths are the batch's paths that matched the Reload rules, absolute;
	// none for a run at start or after a config reload.
	Paths []string
	// Failed says a Reload rule's run failed, or its daemon did not become
	// ready; Output is then that run's stdout and stderr (its last 64 KiB).
	Failed bool
	Output string
}

// Runner runs rules for batches. Create it with [New], drive it with
// [Runner.Run].
type Runner struct {
	o      Options
	out    *output
	rules  []*compiled
	groups groupSet

	// textBusyHook is called before each ETXTBSY retry (tests only).
	textBusyHook func()

	started atomic.Bool

	mu       sync.Mutex
	next     []*compiled // rules from Reload not yet taken by Run
	views    []ruleView  // the rules Run has now, for Dropped
	reloadCh chan struct{}
	socks    socketSet // guarded by mu

	lines chan lineBatch // from FollowLines to Run
	ctl   chan control   // from RunAll and Pause to Run
}

// control is a request from the keyboard (or any caller) to Run.
type control int8

const (
	ctlRunAll control = iota
	ctlPause
	ctlResume
)

// RunAll runs every rule that is not a line rule now, as if each had
// matched a change: daemons restart, other rules run (or queue behind the
// run in progress). Safe to call from any goroutine.
func (r *Runner) RunAll() { r.control(ctlRunAll) }

// Pause holds every run that has not started, from now until Resume:
// changes keep accumulating into the rules' next runs, and what runs now
// goes on. Safe to call from any goroutine.
func (r *Runner) Pause() { r.control(ctlPause) }

// Resume starts what was held by Pause.
func (r *Runner) Resume() { r.control(ctlResume) }

// control hands c to Run, dropping it if eight are already waiting (keys
// pressed faster than Run takes them).
func (r *Runner) control(c control) {
	select {
	case r.ctl <- c:
	default:
	}
}

// New checks and compiles rules (see [Validate]) and returns a Runner.
func New(rules []Rule, o Options) (*Runner, error) {
	cs, err := compileRules(rules)
	if err != nil {
		return nil, err
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Err == nil {
		o.Err = io.Discard
	}
	r := &Runner{
		o:        o,
		out:      &output{out: o.Out, err: o.Err, color: o.Color},
		rules:    cs,
		reloadCh: make(chan struct{}, 1),
		lines:    make(chan lineBatch),
		ctl:      make(chan control, 8),
	}
	if _, err := r.socks.open(cs); err != nil {
		return nil, fmt.Errorf("runner: %w", err)
	}
	return r, nil
}

// Close closes the listen sockets of a Runner whose Run was never called
// (Run closes them when it returns), removing unix socket files.
func (r *Runner) Close() {
	if r.started.Load() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.socks.closeAll()
}

// Reload replaces the rules: rules whose definition changed are stopped and
// started again (if they are daemons or run at start), new ones are added
// (and started likewise), removed ones are stopped. Invalid rules are
// returned (as [Validate] would report them) and the old ones keep running.
// The runner decides what restarts: a rule whose definition is unchanged
// keeps its run. Safe to call from any goroutine, before or during Run.
func (r *Runner) Reload(rules []Rule) error {
	cs, err := compileRules(rules)
	if err != nil {
		return err
	}
	r.mu.Lock()
	// Listeners for addresses that stay are kept, so that clients never
	// see a refusal across a reload; a running daemon keeps its own copy
	// of one that goes.
	unused, err := r.socks.open(cs)
	if err != nil {
		r.mu.Unlock()
		return fmt.Errorf("runner: %w", err)
	}
	for _, l := range unused {
		l.close()
	}
	r.next = cs
	r.mu.Unlock()
	select {
	case r.reloadCh <- struct{}{}:
	default: // a reload is already signalled; it will take the newest rules
	}
	return nil
}

// Kill sends SIGKILL to every process group now, and to any started later:
// the second Ctrl-C, meant for after Run's context is cancelled, to cut the
// stop timeouts short. Run still returns only once every child has exited.
func (r *Runner) Kill() {
	r.groups.killAll()
}

// Run runs the rules for the batches of changes it receives until ctx is
// done, the changes channel is closed and all work is finished, or
// (Options.Once) the first batch has been handled. A rule that is not a
// line rule runs for a batch when any path a change names, its new path or
// for a rename its old one, matches the rule; the command gets the matching
// paths in VIGIL_PATHS and the whole batch, renames included, in
// VIGIL_EVENTS_FILE. Line rules run for the lines [Runner.FollowLines]
// hands over. On return no child is left: each was
// stopped with its stop signal, stop timeout and SIGKILL.
//
// status is the worst exit status (128+N for signal N) among runs that
// ended by themselves or by their timeout; with Once it is the command's
// status. err reports misuse only; failed commands are reported on Err.
func (r *Runner) Run(ctx context.Context, changes <-chan watcher.Batch) (status int, err error) {
	if !r.started.CompareAndSwap(false, true) {
		return 0, errors.New("runner: Run called twice")
	}
	l := newLoop(r, ctx)
	defer func() {
		r.mu.Lock()
		r.socks.closeAll()
		r.mu.Unlock()
	}()
	l.begin()
	in := changes
	for {
		l.scheduleAll()
		if l.done() {
			break
		}
		select {
		case <-ctx.Done():
			l.reportDropped()
			l.shutdown()
			return l.worst, nil
		case b, ok := <-in:
			if !ok {
				in = nil
				l.closed = true
				continue
			}
			l.addBatch(b)
			if l.paused {
				l.r.out.status("vigil: ", "paused: holding a batch of %d changes", len(b.Changes))
			}
		case lb := <-r.lines:
			l.addLines(lb)
		case c := <-r.ctl:
			switch c {
			case ctlRunAll:
				l.addPseudo("run by request", func(rs *ruleState) bool { return !rs.c.LineRule })
				if l.paused {
					l.r.out.status("vigil: ", "paused: holding the run of every rule")
				}
			case ctlPause:
				l.paused = true
				l.r.out.status("vigil: ", "paused: changes are held until resumed")
			case ctlResume:
				l.paused = false
				l.r.out.status("vigil: ", "resumed")
			}
		case ev := <-l.events:
			l.handle(ev)
		case w := <-l.wake:
			l.wakeUp(w)
		case <-r.reloadCh:
			r.mu.Lock()
			next := r.next
			r.next = nil
			r.mu.Unlock()
			if next != nil {
				l.reload(next)
			}
		}
	}
	l.shutdown()
	return l.worst, nil
}

// item is one batch's contribution to a rule's next run.
type item struct {
	seq    uint64
	why    string   // for runs not caused by changes: "at start", ...
	paths  []string // the batch's paths that matched the rule
	events []byte
	lines  []Line
}

// batchRec tracks, for one batch, which rules it triggered and how their
// runs for it went, so that After can wait for them.
type batchRec struct {
	matched map[string]bool
	result  map[string]outcome
	open    int // matched rules not yet resolved

	// Reload rules the batch triggered that have not resolved, and what
	// the resolved ones make of it (see Options.OnReload).
	reloadOpen int
	reload     ReloadEvent
}

type outcome int8

const (
	waiting outcome = iota
	succeeded
	failed
)

type stopReason int8

const (
	notStopped stopReason = iota
	forRestart
	forReload
	forShutdown
	forRemoval
)

// run is one execution of a rule's command list.
type run struct {
	c      *compiled
	rs     *ruleState
	prefix string
	items  []*item
	daemon bool
	why    string
	began  time.Time

	stopReq  chan struct{} // closed to ask the run to stop
	reason   stopReason    // coordinator only; set before stopReq is closed
	resolved bool          // coordinator only: items' outcomes recorded

	files   []*os.File // inherited listeners, fds 3...
	fdNames string     // LISTEN_FDNAMES
	capture *tailBuf   // output kept for ReloadEvent (Reload rules only)

	mu sync.Mutex
	p  *proc // the command running now, if any

	// For an Each rule (under mu): the paths not yet started, and whether
	// the run has stopped taking more (see feed).
	todo     []eachPath
	todoSet  map[string]bool
	noMore   bool
	moreWake chan struct{} // poked (buffer 1) when todo grows
}

// eachPath is one path of an Each run, with its batch's events object.
type eachPath struct {
	path   string
	events []byte
}

// feed hands items to a running Each run; it reports false when the run
// has finished taking paths (its items then wait for the next run).
func (ru *run) feed(items []*item) bool {
	ru.mu.Lock()
	defer ru.mu.Unlock()
	if ru.noMore || ru.reason != notStopped {
		return false
	}
	for _, it := range items {
		ru.addTodo(it)
	}
	ru.items = append(ru.items, items...)
	select {
	case ru.moreWake <- struct{}{}:
	default:
	}
	return true
}

// addTodo queues an item's paths not already waiting; ru.mu is held.
func (ru *run) addTodo(it *item) {
	if ru.todoSet == nil {
		ru.todoSet = map[string]bool{}
	}
	for _, p := range it.paths {
		if !ru.todoSet[p] {
			ru.todoSet[p] = true
			ru.todo = append(ru.todo, eachPath{path: p, events: it.events})
		}
	}
}

func (ru *run) requestStop(why stopReason) {
	if ru.reason != notStopped {
		return
	}
	ru.reason = why
	close(ru.stopReq)
}

func (ru *run) setProc(p *proc) {
	ru.mu.Lock()
	ru.p = p
	ru.mu.Unlock()
}

var errBetweenCommands = errors.New("no command is running (between commands)")

func (ru *run) signal(sig syscall.Signal) error {
	ru.mu.Lock()
	defer ru.mu.Unlock()
	if ru.p == nil {
		return errBetweenCommands
	}
	return ru.p.signal(sig)
}

// runEvent is what a run's goroutine tells the coordinator.
type runEvent struct {
	ru           *run
	started      bool // a daemon's last command started; otherwise the run ended
	status       int
	reachedFinal bool
	lived        time.Duration

	// With started: the readiness probe passed (ready, after took) or
	// gave up (notReady says why).
	ready    bool
	notReady error
	took     time.Duration
}

// ruleState is the coordinator's view of one rule.
type ruleState struct {
	c       *compiled
	idx     int
	prefix  string
	pending []*item
	cur     *run
	removed bool

	loop loopWatch // re-triggers by its own output

	lastOutput string // the output of the last run that ended (Reload rules)

	// crash-loop backoff of a daemon
	backoff  time.Duration
	timer    *time.Timer
	timerGen int
}

type wakeup struct {
	rs  *ruleState
	gen int
}

// Crash-loop backoff for daemons that exit by themselves (modd's numbers):
// 0.5 s, doubling up to 8 s; a run that lived backoffReset resets it.
const (
	backoffMin   = 500 * time.Millisecond
	backoffMax   = 8 * time.Second
	backoffReset = 10 * time.Second
)

// loop is Run's state, owned by Run's goroutine.
type loop struct {
	r      *Runner
	ctx    context.Context
	rules  map[string]*ruleState
	order  []*ruleState
	gone   map[string]*ruleState // removed rules whose run is still stopping
	recs   map[uint64]*batchRec
	seq    uint64
	events chan runEvent
	wake   chan wakeup
	quit   chan struct{}
	active int // runs that have not reported their end
	worst  int
	closed bool
	nIdx   int
	paused bool // hold runs that have not started (Runner.Pause)

	onceTaken bool
	onceSeq   uint64

	// launch replaces starting a run's goroutine (scheduling tests only).
	launch func(*run)
}

func newLoop(r *Runner, ctx context.Context) *loop {
	l := &loop{
		r:      r,
		ctx:    ctx,
		rules:  map[string]*ruleState{},
		gone:   map[string]*ruleState{},
		recs:   map[uint64]*batchRec{},
		events: make(chan runEvent, 16),
		wake:   make(chan wakeup),
		quit:   make(chan struct{}),
	}
	for _, c := range r.rules {
		l.addRule(c)
	}
	l.publish()
	return l
}

// begin queues the run at start.
func (l *loop) begin() {
	if !l.r.o.Postpone {
		l.addPseudo("at start", func(rs *ruleState) bool {
			return (rs.c.RunAtStart || rs.c.Daemon) && !rs.c.LineRule && !rs.c.Each
		})
	}
}

func (l *loop) addRule(c *compiled) *ruleState {
	if rs := l.gone[c.Name]; rs != nil {
		// Re-added while its old run still stops: reuse the state so the
		// new run waits for the old one.
		delete(l.gone, c.Name)
		rs.c, rs.removed = c, false
		l.rules[c.Name] = rs
		l.order = append(l.order, rs)
		return rs
	}
	rs := &ruleState{c: c, idx: l.nIdx, prefix: l.r.out.prefix(c.Name, l.nIdx)}
	l.nIdx++
	l.rules[c.Name] = rs
	l.order = append(l.order, rs)
	return rs
}

func (l *loop) newRec(hit []*ruleState) uint64 {
	l.seq++
	rec := &batchRec{matched: map[string]bool{}, result: map[string]outcome{}, open: len(hit)}
	for _, rs := range hit {
		rec.matched[rs.c.Name] = true
		if rs.c.Reload {
			rec.reloadOpen++
			if rec.reload.Rule == "" {
				rec.reload.Rule = rs.c.Name
			}
		}
	}
	l.recs[l.seq] = rec
	if l.r.o.Once && !l.onceTaken {
		l.onceTaken, l.onceSeq = true, l.seq
	}
	return l.seq
}

// addPseudo queues a run not caused by changes for the rules pred selects.
func (l *loop) addPseudo(why string, pred func(*ruleState) bool) {
	var hit []*ruleState
	for _, rs := range l.order {
		if pred(rs) {
			hit = append(hit, rs)
		}
	}
	if len(hit) == 0 {
		return
	}
	seq := l.newRec(hit)
	for _, rs := range hit {
		rs.pending = append(rs.pending, &item{seq: seq, why: why})
	}
}

// addBatch offers a batch of changes to every rule that is not a line rule.
func (l *loop) addBatch(b watcher.Batch) {
	if l.r.o.Once && l.onceTaken {
		return
	}
	var events []byte // encoded once, for the rules the batch triggers
	var hit []*ruleState
	var items []*item
	for _, rs := range l.order {
		if rs.c.LineRule {
			continue
		}
		paths := rs.c.matchChanges(b.Changes)
		if len(paths) == 0 {
			continue
		}
		if events == nil {
			events, _ = json.Marshal(b)
		}
		ev := events
		if len(rs.c.Ops) > 0 {
			// The events file shows what the rule counts.
			ev, _ = json.Marshal(watcher.FilterOps(b, rs.c.Ops))
		}
		hit = append(hit, rs)
		items = append(items, &item{paths: paths, events: ev})
	}
	l.queue(hit, items)
}

// addLines offers a line batch to its rule.
func (l *loop) addLines(lb lineBatch) {
	if l.r.o.Once && l.onceTaken {
		return
	}
	rs := l.rules[lb.rule]
	if rs == nil {
		return // removed by a reload meanwhile
	}
	seen := map[string]bool{}
	it := &item{events: lb.events, lines: lb.lines}
	for _, ln := range lb.lines {
		if !seen[ln.File] {
			seen[ln.File] = true
			it.paths = append(it.paths, ln.File)
		}
	}
	l.queue([]*ruleState{rs}, []*item{it})
}

// queue records one batch's items, one per rule it triggered.
func (l *loop) queue(hit []*ruleState, items []*item) {
	if len(hit) == 0 {
		return
	}
	seq := l.newRec(hit)
	for i, rs := range hit {
		items[i].seq = seq
		rs.pending = append(rs.pending, items[i])
	}
}

// resolve records how rs fared for its batch.
func (l *loop) resolve(rs *ruleState, it *item, o outcome) {
	rec := l.recs[it.seq]
	if rec == nil || rec.result[rs.c.Name] != waiting {
		return
	}
	rec.result[rs.c.Name] = o
	if rs.c.Reload && rec.reloadOpen > 0 {
		rec.reloadOpen--
		rec.reload.Paths = append(rec.reload.Paths, it.paths...)
		if o == failed && !rec.reload.Failed {
			rec.reload.Failed, rec.reload.Rule = true, rs.c.Name
			if rs.cur != nil {
				rec.reload.Output = rs.cur.capture.String()
			} else {
				rec.reload.Output = rs.lastOutput
			}
		}
		if rec.reloadOpen == 0 && l.r.o.OnReload != nil && l.ctx.Err() == nil {
			l.r.o.OnReload(rec.reload)
		}
	}
	rec.open--
	if rec.open == 0 {
		delete(l.recs, it.seq)
	}
}

// depState says whether its After dependencies are settled, and names one
// that failed.
func (l *loop) depState(rs *ruleState, it *item) (ready bool, failedDep string) {
	rec := l.recs[it.seq]
	if rec == nil {
		return true, ""
	}
	for _, d := range rs.c.After {
		if !rec.matched[d] || l.rules[d] == nil {
			continue // not triggered by this batch, or removed since
		}
		switch rec.result[d] {
		case waiting:
			return false, ""
		case failed:
			failedDep = d
		}
	}
	return true, failedDep
}

func (l *loop) scheduleAll() {
	if l.paused {
		return
	}
	for changed := true; changed; {
		changed = false
		for _, rs := range l.order {
			if l.schedule(rs) {
				changed = true
			}
		}
	}
}

// schedule applies rs's policy to its ready pending items; it reports
// whether anything changed.
func (l *loop) schedule(rs *ruleState) bool {
	if rs.c.Each && rs.cur != nil && len(rs.pending) > 0 {
		return l.feedEach(rs)
	}
	if rs.cur != nil && (rs.cur.reason != notStopped || rs.c.busyPolicy(rs.cur.daemon) == Queue) {
		return false // items wait for the run to end, whatever their state
	}
	changed := false
	n := 0
	for n < len(rs.pending) {
		ready, failedDep := l.depState(rs, rs.pending[n])
		if !ready {
			break
		}
		if failedDep != "" {
			if n > 0 {
				break // run the ready ones first
			}
			it := rs.pending[0]
			rs.pending = rs.pending[1:]
			l.r.out.status(rs.prefix, "skipped: %q failed", failedDep)
			l.resolve(rs, it, failed)
			changed = true
			continue
		}
		n++
	}
	if n == 0 {
		return changed
	}
	ready := rs.pending[:n:n]
	if rs.cur == nil {
		rs.pending = rs.pending[n:]
		l.start(rs, ready, "")
		return true
	}
	if rs.cur.reason != notStopped {
		return changed // the next run starts once this one has ended
	}
	switch rs.c.busyPolicy(rs.cur.daemon) {
	case Restart:
		l.r.out.status(rs.prefix, "restarting (%s)", describeItems(rs.c, ready))
		rs.cur.requestStop(forRestart)
		return true
	case Signal:
		o := succeeded
		if err := rs.cur.signal(rs.c.BusySignal); errors.Is(err, errBetweenCommands) {
			return changed // nothing to signal now: the items wait for the next run
		} else if err != nil {
			l.r.out.status(rs.prefix, "could not send %s: %v", signalName(rs.c.BusySignal), err)
			o = failed
		} else {
			l.r.out.status(rs.prefix, "sent %s (%s)", signalName(rs.c.BusySignal), describeItems(rs.c, ready))
		}
		for _, it := range ready {
			l.resolve(rs, it, o)
		}
		rs.pending = rs.pending[n:]
		return true
	case Ignore:
		l.r.out.status(rs.prefix, "busy, ignored (%s)", describeItems(rs.c, ready))
		for _, it := range ready {
			l.resolve(rs, it, succeeded)
		}
		rs.pending = rs.pending[n:]
		return true
	}
	return changed // Queue: wait for the run to end
}

// feedEach hands the pending items whose After dependencies succeeded to
// rs's running Each run, so that files arriving meanwhile do not wait for
// the slowest file of the earlier ones.
func (l *loop) feedEach(rs *ruleState) bool {
	n := 0
	for n < len(rs.pending) {
		ready, failedDep := l.depState(rs, rs.pending[n])
		if !ready || failedDep != "" {
			break
		}
		n++
	}
	if n == 0 || !rs.cur.feed(rs.pending[:n:n]) {
		return false
	}
	rs.pending = rs.pending[n:]
	return true
}

func (l *loop) start(rs *ruleState, items []*item, why string) {
	l.stopTimer(rs)
	if why == "" {
		// A change may be the fix for whatever made a daemon crash: its
		// next crash starts the backoff from the bottom again.
		rs.backoff = 0
	}
	if warn := rs.loop.runStarting(rs.c, items); warn != "" {
		l.r.out.status(rs.prefix, "%s", warn)
	}
	ru := &run{
		c:       rs.c,
		rs:      rs,
		prefix:  rs.prefix,
		items:   items,
		daemon:  rs.c.Daemon && !l.r.o.Once,
		why:     why,
		began:   time.Now(),
		stopReq: make(chan struct{}),
	}
	if rs.c.Reload {
		ru.capture = &tailBuf{}
	}
	l.r.mu.Lock()
	ru.files, ru.fdNames = l.r.socks.files(rs.c)
	l.r.mu.Unlock()
	if rs.c.Each {
		ru.moreWake = make(chan struct{}, 1)
		for _, it := range items {
			ru.addTodo(it)
		}
	}
	rs.cur = ru
	l.active++
	if l.launch != nil {
		l.launch(ru)
		return
	}
	go l.r.execRun(ru, l.events)
}

func (l *loop) stopTimer(rs *ruleState) {
	rs.timerGen++
	if rs.timer != nil {
		rs.timer.Stop()
		rs.timer = nil
	}
}

func (l *loop) handle(ev runEvent) {
	ru, rs := ev.ru, ev.ru.rs
	if ev.started {
		if ru.resolved || ru.reason != notStopped {
			return
		}
		if ev.notReady != nil {
			l.r.out.status(rs.prefix, "%v", ev.notReady)
			ru.resolved = true
			for _, it := range ru.items {
				l.resolve(rs, it, failed)
			}
			return
		}
		if ev.ready {
			l.r.out.status(rs.prefix, "ready in %s (%s)", seconds(ev.took), ru.c.probe.text)
		}
		if ev.ready || ru.c.probe == nil || !ru.daemon {
			ru.resolved = true
			for _, it := range ru.items {
				l.resolve(rs, it, succeeded)
			}
		}
		return
	}
	l.active--
	rs.loop.runEnded(ru.began, ru.reason == forRestart)
	if rs.cur == ru {
		rs.cur = nil
	}
	if rs.removed && rs.cur == nil {
		delete(l.gone, rs.c.Name)
	}
	switch ru.reason {
	case forReload:
		if !ru.resolved {
			// Interrupted by a new definition before it could succeed: its
			// changes go into the new definition's first run.
			rs.pending = append(append([]*item{}, ru.items...), rs.pending...)
		}
		return
	case forRestart:
		// The next run supersedes this one. Its changes are not carried
		// along (that would grow a never-ending server's VIGIL_PATHS with
		// every restart), but rules waiting on this run through After now
		// wait on the next one: a bare item keeps each batch open.
		if !ru.resolved {
			var ghosts []*item
			for _, it := range ru.items {
				if rec := l.recs[it.seq]; rec != nil && rec.open > 1 {
					ghosts = append(ghosts, &item{seq: it.seq})
				} else {
					l.resolve(rs, it, succeeded) // nobody else cares
				}
			}
			rs.pending = append(ghosts, rs.pending...)
		}
		return
	case forShutdown, forRemoval:
		if !ru.resolved {
			for _, it := range ru.items {
				l.resolve(rs, it, failed)
			}
		}
		return
	}
	rs.lastOutput = ru.capture.String()
	if !ru.resolved {
		o := succeeded
		if ev.status != 0 || ru.daemon && ru.c.probe != nil {
			// A daemon with a probe that ends before passing it failed.
			o = failed
		}
		for _, it := range ru.items {
			l.resolve(rs, it, o)
		}
	}
	l.worst = max(l.worst, ev.status)
	if ru.daemon && ev.reachedFinal && !rs.removed && !l.closed && l.ctx.Err() == nil {
		switch {
		case ev.lived >= backoffReset || rs.backoff == 0:
			rs.backoff = backoffMin
		default:
			rs.backoff = min(2*rs.backoff, backoffMax)
		}
		l.r.out.status(rs.prefix, "exited by itself; restarting in %s", seconds(rs.backoff))
		l.stopTimer(rs)
		w := wakeup{rs: rs, gen: rs.timerGen}
		rs.timer = time.AfterFunc(rs.backoff, func() {
			select {
			case l.wake <- w:
			case <-l.quit:
			}
		})
	}
}

func (l *loop) wakeUp(w wakeup) {
	rs := w.rs
	if w.gen != rs.timerGen || rs.cur != nil || rs.removed {
		return
	}
	rs.timer = nil
	l.start(rs, nil, "restart after exit")
}

func (l *loop) reload(next []*compiled) {
	keep := map[string]bool{}
	for _, c := range next {
		keep[c.Name] = true
	}
	for _, rs := range l.order {
		if keep[rs.c.Name] {
			continue
		}
		rs.removed = true
		l.stopTimer(rs)
		for _, it := range rs.pending {
			l.resolve(rs, it, failed)
		}
		rs.pending = nil
		delete(l.rules, rs.c.Name)
		l.r.out.status(rs.prefix, "removed by reload")
		if rs.cur != nil {
			rs.cur.requestStop(forRemoval)
			l.gone[rs.c.Name] = rs
		}
	}
	old := l.order
	l.order = nil
	byName := map[string]*ruleState{}
	for _, rs := range old {
		if !rs.removed {
			byName[rs.c.Name] = rs
		}
	}
	fresh := map[*ruleState]bool{}
	for _, c := range next {
		rs := byName[c.Name]
		switch {
		case rs == nil:
			rs = l.addRule(c)
			fresh[rs] = true
			continue // addRule appended it to l.order
		case !sameDefinition(rs.c, c):
			rs.c = c
			l.stopTimer(rs)
			if rs.cur != nil {
				rs.cur.requestStop(forReload)
			}
			l.r.out.status(rs.prefix, "definition changed by reload")
			fresh[rs] = true
		}
		l.order = append(l.order, rs)
	}
	l.addPseudo("config reloaded", func(rs *ruleState) bool {
		return fresh[rs] && (rs.c.RunAtStart || rs.c.Daemon) && !rs.c.LineRule && !rs.c.Each
	})
	l.publish()
}

// done reports whether Run should return.
func (l *loop) done() bool {
	if l.r.o.Once {
		if !l.onceTaken {
			return l.closed
		}
		_, open := l.recs[l.onceSeq]
		return !open && l.active == 0
	}
	if !l.closed {
		return false
	}
	for _, rs := range l.order {
		if len(rs.pending) > 0 || rs.cur != nil && !rs.cur.daemon {
			return false
		}
	}
	return len(l.gone) == 0
}

// shutdown stops every run and waits for all of them to end.
func (l *loop) shutdown() {
	stopAll := func() {
		for _, rs := range l.order {
			l.stopTimer(rs)
			if rs.cur != nil {
				rs.cur.requestStop(forShutdown)
			}
		}
		for _, rs := range l.gone {
			rs.cur.requestStop(forShutdown)
		}
	}
	stopAll()
	for l.active > 0 {
		ev := <-l.events
		if !ev.started {
			l.active--
			if ev.ru.rs.cur == ev.ru {
				ev.ru.rs.cur = nil
			}
		}
	}
	close(l.quit)
}

// describeItems says why a run happens, for status lines.
func describeItems(c *compiled, items []*item) string {
	paths, _, lines := mergeItems(items)
	why := ""
	for _, it := range items {
		if it.why != "" {
			why = it.why
		}
	}
	switch {
	case len(lines) > 0:
		s := fmt.Sprintf("%s: %s", displayName(relTo(c.dir, lines[0].File)), displayName(shorten(lines[0].Text, 60)))
		if len(lines) > 1 {
			s += fmt.Sprintf(" and %d more lines", len(lines)-1)
		}
		return s
	case len(paths) > 0:
		return "changed: " + describePaths(c.dir, paths)
	case why != "":
		return why
	}
	return "triggered"
}

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
