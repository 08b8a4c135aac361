package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/vigil-watch/vigil/config"
	"github.com/vigil-watch/vigil/runner"
	"github.com/vigil-watch/vigil/watcher"
)

const rulesUsage = `
Usage:
  vigil [-c FILE] [flags]              run the rules in vigil.yaml
  vigil [flags] -- CMD [ARG...]        run CMD (exec'd, no shell) at start and on every change

A command gets VIGIL_RULE, VIGIL_PATHS (changed paths relative to its working
directory, one per line) and VIGIL_EVENTS_FILE (the batch as JSON). File names
are never pasted into a shell string.

Examples:
  vigil                                          # rules from ./vigil.yaml
  vigil -g '**/*.go' -- go test ./...
  vigil --restart -g '**/*.go' -x '**/*_test.go' -- go run ./cmd/server
  vigil --once --postpone -w docs -- make site   # CI: wait for a change, run once, exit with its status
  vigil --socket tcp://127.0.0.1:8080 --ready 'line: listening' \
        --livereload 3000=http://127.0.0.1:8080 -g '**/*.go' -- ./server
                                                 # live reload: open http://127.0.0.1:3000/
`

// ruleFlags are the flags of the two runner forms.
type ruleFlags struct {
	watchFlags
	config                  string
	postpone, once, restart bool
	clear                   bool
	onBusy                  string
	each                    bool
	jobs                    int
	policy                  runner.Policy // --restart or --on-busy, resolved; "" = each rule's own
	live                    liveFlags
}

// runRules serves `vigil` with a config file and the ad-hoc `vigil -- CMD`.
func runRules(args []string, stdout, stderr io.Writer) error {
	var argv []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, argv = args[:i], args[i+1:]
		if len(argv) == 0 {
			return usageError("nothing to run after -- (see 'vigil --help')")
		}
	}
	fs := newFlagSet("vigil", rulesUsage, stderr)
	var rf ruleFlags
	rf.register(fs.FlagSet)
	fs.StringVar(&rf.config, "c", "", "read rules from `FILE` (default ./vigil.yaml)")
	fs.BoolVar(&rf.postpone, "postpone", false, "do not run at start; wait for the first change")
	fs.BoolVar(&rf.once, "once", false, "run for the first batch only, then exit with the command's status")
	fs.BoolVar(&rf.restart, "restart", false, "restart the command when a change arrives while it runs (on_busy: restart)")
	fs.StringVar(&rf.onBusy, "on-busy", "", "what a change during a run does: queue, restart, signal or ignore")
	fs.BoolVar(&rf.clear, "clear", false, "clear the screen before each run")
	rf.live.register(fs)
	fs.BoolVar(&rf.each, "each", false, "run the command once per changed file, with VIGIL_PATH set to it (not at start)")
	fs.IntVar(&rf.jobs, "jobs", 1, "with --each, run at most `N` files' commands at a time")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if rf.jobs < 1 {
		return usageError("--jobs must be at least 1, got %d", rf.jobs)
	}
	if rf.jobs != 1 && !rf.each {
		return usageError("--jobs applies to --each")
	}
	if rf.each && (rf.restart || rf.onBusy != "" && rf.onBusy != "queue") {
		return usageError("--each runs every file: it does not mix with --restart or --on-busy other than queue")
	}
	if fs.NArg() > 0 {
		return usageError("unexpected %q: put the command after -- (vigil [flags] -- CMD ARGS...)", fs.Arg(0))
	}
	if err := rf.check(); err != nil {
		return err
	}
	if err := rf.live.check(); err != nil {
		return err
	}
	policy := runner.Policy(rf.onBusy)
	switch {
	case rf.restart && rf.onBusy != "" && rf.onBusy != "restart":
		return usageError("--restart and --on-busy %s disagree", rf.onBusy)
	case rf.restart:
		policy = runner.Policy("restart")
	}
	switch policy {
	case "", "queue", "restart", "signal", "ignore":
	default:
		return usageError("--on-busy wants queue, restart, signal or ignore, got %q", rf.onBusy)
	}
	if err := checkBackend(rf.backend, rf.poll); err != nil {
		return err
	}
	rf.policy = policy
	becomeSubreaper()
	// Clearing the screen only makes sense on one: escape codes in a log
	// file or a CI transcript are noise.
	rf.clear = rf.clear && isTerminal(stdout)
	opts := runner.Options{Out: stdout, Err: stderr, Color: colorOK(stdout), Once: rf.once, Postpone: rf.postpone}
	if argv != nil {
		if rf.config != "" {
			return usageError("-c and -- CMD do not mix: the ad-hoc rule replaces the config")
		}
		return runAdHoc(rf, policy, argv, opts, stderr)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, name := range []string{"w", "g", "x", "debounce", "max-wait", "no-ignore", "follow-symlinks", "socket", "ready", "livereload", "ops", "each", "jobs", "closed", "settle"} {
		if set[name] {
			return usageError("--%s applies to the ad-hoc form (vigil [flags] -- CMD); with vigil.yaml set it in the file", name)
		}
	}
	return runConfig(rf, opts, stdout, stderr)
}

// runAdHoc runs argv as one rule.
func runAdHoc(rf ruleFlags, policy runner.Policy, argv []string, opts runner.Options, stderr io.Writer) error {
	w, roots, err := newWatcher(rf.watchFlags, stderr)
	if err != nil {
		return err
	}
	cwd, _ := os.Getwd()
	rule := runner.Rule{
		Name:       filepath.Base(argv[0]),
		Roots:      roots,
		Ops:        rf.ops.ops,
		Each:       rf.each,
		Jobs:       rf.jobs,
		Run:        []runner.Command{{Argv: argv}},
		OnBusy:     policy, // zero signals and stop timeout: the runner's defaults
		RunAtStart: !rf.postpone,
		Clear:      rf.clear,
		Dir:        cwd,
		// With live-reload flags the command is a server: a daemon.
		Daemon:  rf.live.any() && !rf.once,
		Sockets: rf.live.sockets,
		Ready:   rf.live.ready,
		Reload:  rf.live.livereload != "",
	}
	if rf.live.livereload != "" {
		listen, upstream, _ := splitLive(rf.live.livereload)
		px, err := startProxy(listen, upstream, stderr)
		if err != nil {
			return err
		}
		defer px.close()
		opts.OnReload = px.notifier()
	}
	if err := runner.Validate([]runner.Rule{rule}); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	r, err := runner.New([]runner.Rule{rule}, opts)
	if err != nil {
		return socketError(err, nil)
	}
	sess := newSession(r, stderr)
	defer sess.startKeys()()
	sess.skipUnchanged = rf.live.skipUnchanged
	sess.expect(1)
	sess.startWatcher(w)
	return sess.wait()
}

// runConfig runs the rules of a vigil.yaml and reloads it when it changes.
func runConfig(rf ruleFlags, opts runner.Options, stdout, stderr io.Writer) error {
	path := rf.config
	if path == "" {
		path = "vigil.yaml"
	}
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	rules := runnerRules(cfg, rf)
	if rf.once {
		rules = dropDaemons(rules, stderr)
	}
	if lr := cfg.LiveReload; lr != nil && !rf.once {
		px, err := startProxy(lr.Listen, lr.Proxy, stderr)
		if err != nil {
			return err
		}
		defer px.close()
		opts.OnReload = px.notifier()
	}
	r, err := runner.New(rules, opts)
	if err != nil {
		return socketError(err, cfg)
	}
	sess := newSession(r, stderr)
	defer sess.startKeys()()
	sess.cfgPath, _ = filepath.Abs(path)
	sess.rf = rf
	if err := sess.apply(cfg, true); err != nil {
		sess.sig.stop()
		return err
	}
	return sess.wait()
}

// session is one running `vigil`: a runner fed by a watcher, the followers
// of line rules, and (with a config) a watch on the config file.
type session struct {
	r      *runner.Runner
	stderr io.Writer
	sig    *signals

	skipUnchanged bool // drop changes that leave contents as they were

	batches  chan watcher.Batch
	resc     chan runResult
	watchers sync.WaitGroup // startWatcher's goroutines

	mu        sync.Mutex
	pending   int   // components not yet ready
	saidReady bool  // "ready" printed
	fatal     error // why the session gave up, if it did

	// config mode only
	cfgPath             string
	rf                  ruleFlags
	cfg                 *config.Config
	stopTree, stopLines context.CancelFunc
	lines               sync.WaitGroup // the running followers of line rules
}

type runResult struct {
	status int
	err    error
}

func newSession(r *runner.Runner, stderr io.Writer) *session {
	s := &session{r: r, stderr: stderr, sig: catchSignals(), batches: make(chan watcher.Batch), resc: make(chan runResult, 1)}
	s.sig.onAgain(r.Kill)
	go func() {
		st, err := r.Run(s.sig.ctx, s.batches)
		s.resc <- runResult{st, err}
	}()
	return s
}

// fail ends the session because a part of it cannot go on: the commands
// are stopped and vigil exits 1 with err, rather than 0 as if all went well.
func (s *session) fail(err error) {
	s.mu.Lock()
	if s.fatal == nil {
		s.fatal = err
	}
	s.mu.Unlock()
	s.sig.cancel()
}

// wait blocks until the runner is done (a signal, --once, or a failure) and
// turns how it ended into an error for exitCode.
func (s *session) wait() error {
	res := <-s.resc
	if s.sig.ctx.Err() != nil {
		// Stopped by a signal: let the line rules' followers save their
		// state before vigil exits.
		waitGroupFor(&s.lines, followersStop)
	}
	s.sig.stop()
	s.watchers.Wait() // what the watchers flush at the stop is reported first
	s.mu.Lock()
	fatal := s.fatal
	s.mu.Unlock()
	if fatal != nil {
		return fatal
	}
	if serr := s.sig.err(); serr != nil {
		return serr
	}
	if res.err != nil {
		return res.err
	}
	if res.status != 0 {
		return statusError(res.status)
	}
	return nil
}

// startWatcher runs w (made with FlushOnStop) in the background,
// forwarding its batches to the runner, until the session ends or the
// returned cancel is called. The batch a stop flushes goes to the runner
// when the watcher was only replaced (a reload); when a signal ends the
// session the runner starts nothing more, and says what it drops.
func (s *session) startWatcher(w *watcher.Watcher) context.CancelFunc {
	ctx, cancel := context.WithCancel(s.sig.ctx)
	out := make(chan watcher.Batch)
	ready := func(st watcher.Stats) {
		readySummary(s.stderr, st)
		s.partReady()
	}
	var contents *watcher.Contents
	if s.skipUnchanged {
		contents = watcher.NewContents()
		next := ready
		ready = func(st watcher.Stats) {
			next(st)
			go s.primeContents(ctx, w, contents, st.Files)
		}
	}
	ran := make(chan struct{})
	s.watchers.Add(2)
	go func() {
		defer s.watchers.Done()
		defer close(ran)
		if err := w.Run(ctx, ready, out); err != nil && ctx.Err() == nil {
			s.fail(fmt.Errorf("watcher stopped: %w", err))
		}
	}()
	go func() {
		defer s.watchers.Done()
		for {
			select {
			case <-ran:
				return
			case b := <-out:
				if contents != nil {
					// Changes that left a file as it was run nothing.
					if b = contents.Filter(b); len(b.Changes) == 0 {
						continue
					}
				}
				select {
				case s.batches <- b:
				case <-s.sig.ctx.Done():
					if s.sig.err() != nil {
						s.r.Dropped(b)
					}
				}
			}
		}
	}()
	return cancel
}

// primeLimit is how many files primeContents hashes at most: beyond it a
// start would read a whole large tree (a million files took 33 s of CPU
// and 16 MB here) for a feature that a file's first change also provides.
const primeLimit = 100_000

// primeContents hashes the watched files in the background once the
// watcher is ready, so that ready is not delayed, and says when it is done.
func (s *session) primeContents(ctx context.Context, w *watcher.Watcher, contents *watcher.Contents, watched int) {
	began := time.Now()
	// Only as many as are hashed are listed: a listing of a million
	// files, and the index its crawl builds, took 150 MB at its peak.
	files, err := w.Files(primeLimit)
	if err != nil {
		return
	}
	n, listed := contents.Prime(files, ctx.Done()), len(files)
	// The listing and the read buffers are garbage now, as the crawl's
	// was at ready (see readySummary). Returned before the line below, so
	// that the line marks the end of start-up work, collection included.
	files = nil
	debug.FreeOSMemory()
	if ctx.Err() == nil {
		rest := ""
		if listed == primeLimit && watched > primeLimit { // the listing stopped at the limit
			rest = fmt.Sprintf(" (of %d; the others count on their first change)", watched)
		}
		fmt.Fprintf(s.stderr, "vigil: skip_unchanged: hashed %d files in %s%s\n", n, time.Since(began).Round(time.Millisecond), rest)
	}
}

// expect adds n components that must report ready before "ready" is printed.
func (s *session) expect(n int) {
	s.mu.Lock()
	s.pending += n
	s.mu.Unlock()
}

// partReady records one ready component; the last one prints "ready", once.
func (s *session) partReady() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending--
	if s.pending == 0 && !s.saidReady {
		s.saidReady = true
		fmt.Fprintln(s.stderr, "ready")
	}
}

// dropDaemons leaves out daemon rules for --once: a server never finishes,
// so a one-shot CI run would never exit.
func dropDaemons(rules []runner.Rule, stderr io.Writer) []runner.Rule {
	kept := rules[:0:0]
	for _, r := range rules {
		if r.Daemon {
			fmt.Fprintf(stderr, "vigil: --once: not starting daemon rule %q (it would never finish)\n", r.Name)
			continue
		}
		kept = append(kept, r)
	}
	return kept
}

// isTerminal says whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// colorOK says whether rule prefixes may be coloured: stdout is a terminal
// and NO_COLOR is unset (https://no-color.org).
func colorOK(w io.Writer) bool {
	if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	return isTerminal(w)
}
