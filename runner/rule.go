package runner

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-watch/vigil/internal/order"
	"github.com/vigil-watch/vigil/watcher"
)

// Command is one command of a rule: exactly one of Shell (run with `sh -c`)
// and Argv (exec'd directly, without a shell) is set.
type Command struct {
	Shell string   // a shell command string, run with sh -c
	Argv  []string // a program and its arguments, exec'd as they are
}

// Policy says what a change that arrives while a rule's command runs does.
type Policy string

// The on-busy policies.
const (
	// Queue runs once more after the current run, with everything that
	// changed meanwhile merged into that one run. It is the default.
	Queue Policy = "queue"
	// Restart stops the current run and starts a new one.
	Restart Policy = "restart"
	// Signal sends the rule's BusySignal to the running command's group.
	Signal Policy = "signal"
	// Ignore drops the change.
	Ignore Policy = "ignore"
)

// Defaults applied by [New] to zero fields of a [Rule].
const (
	DefaultStopSignal  = syscall.SIGTERM
	DefaultStopTimeout = 10 * time.Second
	DefaultBusySignal  = syscall.SIGHUP
)

// Rule is what to run for which changes, and how.
type Rule struct {
	// Name identifies the rule in output, VIGIL_RULE and After; unique.
	Name string
	// Roots are the directories Match and Exclude are relative to; relative
	// roots are taken relative to Dir. No roots means Dir.
	Roots []string
	// Match and Exclude are globs relative to a root, in the dialect of
	// [watcher.Glob] (normalized and compiled by [watcher.CompileGlob], as
	// the CLI's -g and vigil.yaml's globs are). An empty Match matches every
	// path. An Exclude pattern that matches a directory excludes everything
	// beneath it.
	Match, Exclude []string
	// Ops, when not empty, are the only ops that count: a change with
	// another op (a chmod, with Ops create and write) does not trigger the
	// rule and is not among its paths.
	Ops []watcher.Op
	// Run is the commands of one run, in order, stopping at the first failure.
	Run []Command
	// OnBusy is the policy for changes arriving during a run ("" = Queue).
	// Daemons restart unless OnBusy is Signal or Ignore.
	OnBusy Policy
	// BusySignal is what the Signal policy sends (0 = SIGHUP).
	BusySignal syscall.Signal
	// RunAtStart runs the rule once when Run begins (unless Options.Postpone).
	RunAtStart bool
	// Timeout limits each run (0 = none); a run stopped by it has failed.
	Timeout time.Duration
	// Clear clears the screen before each run.
	Clear bool
	// Daemon marks a long-running command: started at launch, restarted on
	// change, restarted with backoff when it exits by itself.
	Daemon bool
	// StopSignal and StopTimeout say how a run is stopped: StopSignal to the
	// group, then SIGKILL after StopTimeout (0 = SIGTERM and 10 s).
	StopSignal  syscall.Signal
	StopTimeout time.Duration
	// After names rules whose runs for the same batch must succeed first.
	After []string
	// LineRule marks a rule triggered only by batches addressed to it.
	LineRule bool
	// Dir is the working directory ("" = the current directory).
	Dir string

	// Sockets are listen addresses (tcp://HOST:PORT, unix:///PATH, see
	// [ParseSocketAddr]) that the runner opens once, when the Runner is
	// made, and hands to every run by the systemd socket-activation
	// protocol: fds 3 and up, LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID.
	Sockets []string
	// Ready is a readiness probe for a daemon: tcp://HOST:PORT, http(s)://URL
	// (2xx) or "line: REGEXP" on its output: the run
	// counts as succeeded, for After and reloads, once it passes.
	Ready string
	// ReadyTimeout bounds the wait for Ready (0 = DefaultReadyTimeout).
	ReadyTimeout time.Duration
	// Reload marks a rule whose runs browsers wait for: see
	// [Options.OnReload].
	Reload bool
	// Each runs the commands once per matching path instead of once per
	// batch, with VIGIL_PATH (and VIGIL_PATHS) set to that one path
	// relative to Dir; at most Jobs (0 = 1) run at a time. Every path runs
	// once for each batch that names it, a path named again before its
	// run started runs once, and one path's failure does not stop the
	// others. Paths that arrive while the rule's runs are going join them.
	// An Each rule runs only for changes: not at start, never as a daemon,
	// and only with the Queue policy, since the others would drop or cut
	// short some files' runs.
	Each bool
	Jobs int
}

// compiled is a Rule with defaults applied, paths made absolute and its
// globs compiled.
type compiled struct {
	Rule
	dir            string
	roots          []string
	match, exclude []*watcher.Glob
	sockets        []SocketAddr
	probe          *probe
}

// Validate checks rules the way [New] does, without starting anything: names
// present and unique, commands well formed, globs compiling, policies known,
// After naming existing rules without cycles.
func Validate(rules []Rule) error {
	_, err := compileRules(rules)
	return err
}

func compileRules(rules []Rule) ([]*compiled, error) {
	var errs []error
	out := make([]*compiled, 0, len(rules))
	byName := map[string]bool{}
	for i, r := range rules {
		c, err := compileRule(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if byName[r.Name] {
			errs = append(errs, fmt.Errorf("runner: rule %d: duplicate name %q", i+1, r.Name))
			continue
		}
		byName[r.Name] = true
		out = append(out, c)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sockOwner := map[SocketAddr]string{}
	for _, c := range out {
		for i, a := range c.sockets {
			if o, ok := sockOwner[a]; ok {
				errs = append(errs, fmt.Errorf("runner: rule %q: sockets: %s is also rule %q's socket", c.Name, c.Sockets[i], o))
			}
			sockOwner[a] = c.Name
		}
		for _, a := range c.After {
			if !byName[a] {
				errs = append(errs, fmt.Errorf("runner: rule %q: after names unknown rule %q", c.Name, a))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	names := make([]string, len(out))
	by := make(map[string]*compiled, len(out))
	for i, c := range out {
		names[i], by[c.Name] = c.Name, c
	}
	after := func(n string) []string {
		if c := by[n]; c != nil {
			return c.After
		}
		return nil
	}
	if cycles := order.Cycles(names, after); len(cycles) > 0 {
		return nil, fmt.Errorf("runner: rules wait for each other in a cycle: %s", strings.Join(cycles[0], " after "))
	}
	return out, nil
}

func compileRule(r Rule) (*compiled, error) {
	if r.Name == "" {
		return nil, errors.New("runner: a rule has no name")
	}
	fail := func(format string, a ...any) error {
		return fmt.Errorf("runner: rule %q: "+format, append([]any{r.Name}, a...)...)
	}
	if len(r.Run) == 0 {
		return nil, fail("nothing to run")
	}
	for i, cmd := range r.Run {
		switch {
		case cmd.Shell != "" && len(cmd.Argv) > 0:
			return nil, fail("command %d has both a shell string and an argv", i+1)
		case strings.TrimSpace(cmd.Shell) == "" && len(cmd.Argv) == 0:
			return nil, fail("command %d is empty", i+1)
		case len(cmd.Argv) > 0 && cmd.Argv[0] == "":
			return nil, fail("command %d has an empty program name", i+1)
		}
	}
	switch r.OnBusy {
	case "":
		r.OnBusy = Queue
	case Queue, Restart, Signal, Ignore:
	default:
		return nil, fail("unknown on_busy policy %q (want queue, restart, signal or ignore)", r.OnBusy)
	}
	if r.BusySignal == 0 {
		r.BusySignal = DefaultBusySignal
	}
	if r.StopSignal == 0 {
		r.StopSignal = DefaultStopSignal
	}
	if r.StopTimeout <= 0 {
		r.StopTimeout = DefaultStopTimeout
	}
	if r.Timeout < 0 {
		return nil, fail("negative timeout %v", r.Timeout)
	}
	if r.Jobs < 0 {
		return nil, fail("negative jobs %d", r.Jobs)
	}
	if r.Each {
		switch {
		case r.Daemon:
			return nil, fail("each and daemon do not mix: a per-file run must end")
		case r.LineRule:
			return nil, fail("each applies to file rules, not line rules")
		case r.OnBusy != Queue:
			return nil, fail("each needs on_busy queue: %s would drop or cut short some files' runs", r.OnBusy)
		}
		if r.Jobs == 0 {
			r.Jobs = 1
		}
	}
	c := &compiled{Rule: r}
	for _, s := range r.Sockets {
		a, err := ParseSocketAddr(s)
		if err != nil {
			return nil, fail("sockets: %w", err)
		}
		for _, b := range c.sockets {
			if a == b {
				return nil, fail("sockets: %s is listed twice", s)
			}
		}
		c.sockets = append(c.sockets, a)
	}
	if r.Ready != "" {
		pr, err := parseProbe(r.Ready)
		if err != nil {
			return nil, fail("ready: %w", err)
		}
		for _, a := range c.sockets {
			if a.Network == "tcp" && a.Addr == pr.tcp {
				return nil, fail("ready: %s is the rule's own socket, which vigil keeps open: it would always answer; probe with http:// or \"line: REGEXP\" instead", r.Ready)
			}
		}
		c.probe = pr
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = DefaultReadyTimeout
	}
	dir := r.Dir
	if dir == "" {
		dir = "."
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fail("working directory %q: %w", r.Dir, err)
	}
	c.dir = abs
	roots := r.Roots
	if len(roots) == 0 {
		roots = []string{c.dir}
	}
	for _, root := range roots {
		if !filepath.IsAbs(root) {
			root = filepath.Join(c.dir, root)
		}
		c.roots = append(c.roots, filepath.Clean(root))
	}
	for _, o := range r.Ops {
		if _, err := o.MarshalText(); err != nil {
			return nil, fail("ops: %w", err)
		}
	}
	for _, p := range r.Match {
		g, err := watcher.CompileGlob(p)
		if err != nil {
			return nil, fail("match: %w", err)
		}
		c.match = append(c.match, g)
	}
	for _, p := range r.Exclude {
		g, err := watcher.CompileGlob(p)
		if err != nil {
			return nil, fail("exclude: %w", err)
		}
		c.exclude = append(c.exclude, g)
	}
	return c, nil
}

// matches reports whether the absolute path p falls under one of the rule's
// roots, matches its Match globs and none of its Exclude globs.
func (c *compiled) matches(p string) bool {
	for _, root := range c.roots {
		rel, ok := under(root, p)
		if !ok {
			continue
		}
		if c.excluded(rel) {
			continue
		}
		if len(c.match) == 0 {
			return true
		}
		for _, g := range c.match {
			if g.Match(rel) {
				return true
			}
		}
	}
	return false
}

// matchChanges returns the paths of changes that the rule matches: a
// change counts when its path or, for a rename, its old path matches, so
// that moving a.go away runs a rule for "**/*.go". The new path is listed
// when it matches, else the old one.
func (c *compiled) matchChanges(changes []watcher.Change) []string {
	var paths []string
	for _, ch := range changes {
		if len(c.Ops) > 0 && !slices.Contains(c.Ops, ch.Op) {
			continue
		}
		switch {
		case c.matches(ch.Path):
			paths = append(paths, ch.Path)
		case ch.Old != "" && c.matches(ch.Old):
			paths = append(paths, ch.Old)
		}
	}
	return paths
}

// excluded tests rel and each of its parent directories, so that excluding
// a directory ("node_modules") excludes what lies beneath it.
func (c *compiled) excluded(rel string) bool {
	if len(c.exclude) == 0 {
		return false
	}
	for s := rel; ; {
		for _, g := range c.exclude {
			if g.Match(s) {
				return true
			}
		}
		i := strings.LastIndexByte(s, '/')
		if i <= 0 {
			return false
		}
		s = s[:i]
	}
}

// under returns p relative to root, '/'-separated, if p lies beneath root.
// A root that is p itself (a watched file) gives p's base name, so that
// `-w main.go -g '*.go'` matches.
func under(root, p string) (string, bool) {
	p = filepath.Clean(p)
	if p == root && root != string(filepath.Separator) {
		return filepath.Base(p), true
	}
	if root != string(filepath.Separator) {
		if !strings.HasPrefix(p, root) || len(p) <= len(root) || p[len(root)] != filepath.Separator {
			return "", false
		}
		p = p[len(root):]
	}
	rel := p[1:]
	if rel == "" {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

// busyPolicy is the policy that applies while a run of this rule is active.
func (c *compiled) busyPolicy(daemon bool) Policy {
	if daemon && c.OnBusy != Signal && c.OnBusy != Ignore {
		return Restart
	}
	return c.OnBusy
}

// argv is how the command is exec'd.
func (cmd Command) argv() []string {
	if len(cmd.Argv) > 0 {
		return cmd.Argv
	}
	return []string{"/bin/sh", "-c", cmd.Shell}
}

// String is the command as shown in status lines.
func (cmd Command) String() string {
	if len(cmd.Argv) > 0 {
		return strings.Join(cmd.Argv, " ")
	}
	return cmd.Shell
}

// sameDefinition reports whether two rules would behave identically.
func sameDefinition(a, b *compiled) bool {
	return reflect.DeepEqual(a.Rule, b.Rule) && a.dir == b.dir
}
