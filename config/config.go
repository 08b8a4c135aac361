// Package config reads vigil.yaml into a validated [Config].
//
// The file is decoded into a yaml.Node tree and walked by hand, so that every
// problem is reported with the line and column it was found at, and all
// problems are reported at once, as a [*Error]. Nothing is left to be
// validated later: globs are compiled, durations and signals parsed, regular
// expressions compiled, and rule names and their `after` references checked
// (including for cycles) before Parse returns.
//
// # Paths and globs
//
// Relative paths (watch roots, followed files) are relative to the config
// file's directory and are made absolute. Globs in match, exclude and ignore
// are relative to a watch root and follow the one glob dialect of
// [watcher.Glob]: '*' and '?' stop at '/', and "**/" matches zero or more
// directories. They are kept in the form [watcher.NormalizeGlob] gives them
// (a leading "./" dropped, a trailing "/" meaning everything below that
// directory), so that the runner and the watcher read them as written here.
//
// # Extensions
//
// Top-level keys starting with "x-" are ignored, so that a file can hold
// YAML anchors for reuse; merge keys ("<<: *defaults") are honoured inside
// mappings.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"syscall"
	"time"

	"github.com/vigil-watch/vigil/watcher"
)

// The on_busy words the file accepts: the runner's policies by name.
const (
	onBusyQueue   = "queue"   // run once more afterwards, with everything that changed meanwhile
	onBusyRestart = "restart" // stop the command and start it again
	onBusySignal  = "signal"  // send BusySignal to the command
	onBusyIgnore  = "ignore"  // drop the changes
)

// Config is a validated vigil.yaml.
type Config struct {
	// Path is the absolute path of the file the config came from.
	Path string
	// Watch holds the roots to watch, absolute and clean. Default: the
	// config file's directory.
	Watch []string
	// Ignore holds extra exclude globs, relative to a root, applied to every
	// rule on top of .gitignore and the default ignores.
	Ignore []string
	// Gitignore says whether .gitignore files and vigil's default ignores
	// apply. Default true.
	Gitignore bool
	// Debounce is the quiet period that ends a batch; MaxWait caps a batch's
	// age. Defaults debounce.DefaultQuiet (50 ms) and
	// debounce.DefaultMaxWait (1 s).
	Debounce, MaxWait time.Duration
	// State, when set (absolute), is where line rules save how far they
	// read each followed file, to resume there after a restart: each line
	// rule keeps its own file, State + "." + its name (see StateFor).
	State string
	// Rules in file order; never empty.
	Rules []Rule
	// LiveReload is the livereload section, nil when absent.
	LiveReload *LiveReload
	// SkipUnchanged drops changes that leave a file's contents (and mode)
	// as they were, so that they run nothing. Default true.
	SkipUnchanged bool
}

// Rule is one entry under rules: what to watch (or follow) and what to run.
type Rule struct {
	// Name is unique within the config; made of letters, digits, '-', '_'
	// and '.'.
	Name string
	// Match holds globs relative to a root selecting the changes this rule
	// runs for; empty means every change that is not ignored. Exclude
	// removes changes from Match. Both are empty for a line rule.
	Match, Exclude []string
	// Ops, when not empty, are the only ops whose changes count (the ops:
	// key); empty means all.
	Ops []watcher.Op
	// Run holds shell command strings (run with sh -c), run in order,
	// stopping at the first failure. Never empty; no entry is blank.
	Run []string
	// OnBusy is "queue", "restart", "signal" or "ignore", the names of the
	// runner's policies. Default "queue", or "restart" for a daemon.
	OnBusy string
	// BusySignal is what on_busy: signal sends, when busy_signal is given;
	// 0 otherwise, which leaves the choice to the runner (SIGHUP).
	BusySignal syscall.Signal
	// RunAtStart says whether the rule runs once at launch. Default true,
	// but false for a line rule (it has no line to report at launch).
	RunAtStart bool
	// Timeout limits each run; 0 means none.
	Timeout time.Duration
	// Clear clears the terminal before each run.
	Clear bool
	// Daemon marks a long-running command: started at launch, restarted
	// (or signalled, with on_busy: signal) on change.
	Daemon bool
	// StopSignal asks the command's process group to stop; StopTimeout
	// later the group is killed. 0 when left out, which leaves the choice
	// to the runner (SIGTERM and 10 s): the defaults live in one place.
	StopSignal  syscall.Signal
	StopTimeout time.Duration
	// After names rules whose run for the same batch must succeed before
	// this rule runs. Every name exists, is a file rule and no cycle forms.
	After []string
	// Follow, for a line rule, holds the files or globs of files to follow,
	// absolute and clean. Empty for a file rule.
	Follow []string
	// Line selects the followed lines that trigger the rule; non-nil
	// exactly when Follow is not empty.
	Line *regexp.Regexp
	// Multiline, for a line rule, gathers lines into records: a line that
	// matches starts one, the lines after it continue it; Line is then
	// matched against whole records. nil: every line is its own.
	Multiline *regexp.Regexp
	// Throttle, for a line rule, runs it at most once per Throttle; lines
	// that match meanwhile go to the next run. 0: no throttle.
	Throttle time.Duration
	// Closed: a created or written file counts only once it is finished
	// (its writer closed it, or its size and mtime stayed unchanged for
	// Settle; 0 = the watcher's default). Every file rule agrees on both.
	Closed bool
	Settle time.Duration
	// Each runs the commands once per changed file, with VIGIL_PATH set,
	// at most Jobs (1 or more when Each is set, else 0) at a time.
	Each bool
	Jobs int
	// Dir is the command's working directory: the config file's directory.
	Dir string
	// Pos is where the rule starts in the file, for messages.
	Pos Pos

	// Sockets are listen addresses (tcp://HOST:PORT, unix:///PATH) handed
	// to every run by socket activation; SocketPos says where each is
	// written, for errors found when opening them.
	Sockets   []string
	SocketPos []Pos
	// Ready is a daemon's readiness probe (tcp://, http://, "line: RE");
	// ReadyTimeout bounds the wait (default 30 s).
	Ready        string
	ReadyTimeout time.Duration
	// Reload makes browsers on the livereload proxy reload after its runs.
	Reload bool
}

// IsLineRule reports whether r follows files rather than watching the tree.
func (r Rule) IsLineRule() bool { return len(r.Follow) > 0 }

// Equal reports whether r and o define the same rule, so that a reload can
// leave it running. Pos is not compared: moving a rule in the file does not
// change what it does.
func (r Rule) Equal(o Rule) bool {
	return reEqual(r.Line, o.Line) && reEqual(r.Multiline, o.Multiline) &&
		r.Throttle == o.Throttle &&
		r.Name == o.Name &&
		slices.Equal(r.Match, o.Match) &&
		slices.Equal(r.Exclude, o.Exclude) &&
		slices.Equal(r.Ops, o.Ops) &&
		r.Each == o.Each && r.Jobs == o.Jobs &&
		r.Closed == o.Closed && r.Settle == o.Settle &&
		slices.Equal(r.Run, o.Run) &&
		r.OnBusy == o.OnBusy &&
		r.BusySignal == o.BusySignal &&
		r.RunAtStart == o.RunAtStart &&
		r.Timeout == o.Timeout &&
		r.Clear == o.Clear &&
		r.Daemon == o.Daemon &&
		r.StopSignal == o.StopSignal &&
		r.StopTimeout == o.StopTimeout &&
		slices.Equal(r.After, o.After) &&
		slices.Equal(r.Follow, o.Follow) &&
		slices.Equal(r.Sockets, o.Sockets) &&
		r.Ready == o.Ready && r.ReadyTimeout == o.ReadyTimeout && r.Reload == o.Reload &&
		r.Dir == o.Dir
}

// reEqual reports whether a and b are both nil or the same expression.
func reEqual(a, b *regexp.Regexp) bool {
	return (a == nil) == (b == nil) && (a == nil || a.String() == b.String())
}

// WatchesTree reports whether some rule is a file rule, so that the tree
// under Watch needs watching at all.
func (c *Config) WatchesTree() bool {
	for _, r := range c.Rules {
		if !r.IsLineRule() {
			return true
		}
	}
	return false
}

// SameTree reports whether c and o watch the same tree the same way: roots,
// ignores, .gitignore, debounce and max wait, and whether any rule needs the
// tree. A reload from c to o can then keep its tree watcher. A nil config
// is the same as no other.
func (c *Config) SameTree(o *Config) bool {
	if c == nil || o == nil {
		return false
	}
	return slices.Equal(c.Watch, o.Watch) && slices.Equal(c.Ignore, o.Ignore) &&
		c.Gitignore == o.Gitignore && c.Debounce == o.Debounce && c.MaxWait == o.MaxWait &&
		c.SkipUnchanged == o.SkipUnchanged &&
		c.WatchesTree() == o.WatchesTree() && c.closed() == o.closed()
}

// closed returns the closed: and settle: the file rules agree on.
func (c *Config) closed() [2]int64 {
	for _, r := range c.Rules {
		if !r.IsLineRule() {
			var on int64
			if r.Closed {
				on = 1
			}
			return [2]int64{on, int64(r.Settle)}
		}
	}
	return [2]int64{}
}

// Closed reports whether the file rules count files only once finished,
// and the settle time they give (0 = the default).
func (c *Config) Closed() (bool, time.Duration) {
	v := c.closed()
	return v[0] == 1, time.Duration(v[1])
}

// SameFollow reports whether c's and o's line rules have the same names and
// follow the same files for the same lines, in the same order, with the
// same batching (debounce, max wait) and state file. A reload from c to o can then keep its
// followers. A nil config is the same as no other.
func (c *Config) SameFollow(o *Config) bool {
	if c == nil || o == nil {
		return false
	}
	a, b := c.LineRules(), o.LineRules()
	if len(a) != len(b) || c.Debounce != o.Debounce || c.MaxWait != o.MaxWait || c.State != o.State {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || !slices.Equal(a[i].Follow, b[i].Follow) ||
			a[i].Line.String() != b[i].Line.String() || !reEqual(a[i].Multiline, b[i].Multiline) ||
			a[i].Throttle != b[i].Throttle {
			return false
		}
	}
	return true
}

// StateFor returns the state file of line rule r: State + "." + r's name,
// or "" when State is not set.
func (c *Config) StateFor(r Rule) string {
	if c.State == "" {
		return ""
	}
	return c.State + "." + r.Name
}

// LineRules returns the line rules, in file order.
func (c *Config) LineRules() []Rule {
	var out []Rule
	for _, r := range c.Rules {
		if r.IsLineRule() {
			out = append(out, r)
		}
	}
	return out
}

// Load reads and parses the config file at path. A missing or empty file is
// an error that says how to create one. Every error is a [*Error]; one for a
// missing file also matches fs.ErrNotExist.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		msg := fmt.Sprintf("cannot read the config: %v", unwrapPathErr(err))
		if errors.Is(err, fs.ErrNotExist) {
			msg = "no such file; run \"vigil init\" to write a commented starter vigil.yaml"
		}
		return nil, &Error{File: path, Issues: []Issue{{Msg: msg}}, Err: err}
	}
	return Parse(path, data)
}

// unwrapPathErr drops the *fs.PathError wrapping, whose operation and path
// would repeat what the message already says.
func unwrapPathErr(err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err
	}
	return err
}

// Init writes [Starter] to path. It never overwrites: if path exists, the
// error says so (and matches fs.ErrExist).
func Init(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s already exists; not overwriting it: %w", path, fs.ErrExist)
		}
		return fmt.Errorf("writing starter config: %w", err)
	}
	_, werr := f.WriteString(Starter)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		// Leave no half-written file behind: the next init would refuse it.
		os.Remove(path)
		return fmt.Errorf("writing starter config %s: %w", path, err)
	}
	return nil
}
