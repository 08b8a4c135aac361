package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/vigil-watch/vigil/vnode"
	"github.com/vigil-watch/vigil/watcher"
)

// errUsage marks an error the user fixes by changing the command line.
var errUsage = errors.New("usage")

// usageError formats a command-line mistake; run prints it and exits 2.
func usageError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errUsage}, args...)...)
}

// stringsFlag is a repeatable string flag (-w a -w b).
type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

// pollFlag is --poll or --poll=INTERVAL: a bool flag that also takes a duration.
type pollFlag struct {
	on       bool
	interval time.Duration
}

func (p *pollFlag) String() string {
	if !p.on {
		return "off"
	}
	return p.interval.String()
}

func (p *pollFlag) IsBoolFlag() bool { return true }

func (p *pollFlag) Set(v string) error {
	switch v {
	case "true", "":
		p.on = true
		return nil
	case "false":
		p.on = false
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return fmt.Errorf("want a positive duration such as 500ms or 2s, got %q", v)
	}
	p.on, p.interval = true, d
	return nil
}

// backendFlag validates --backend.
type backendFlag struct{ b vnode.Backend }

func (f *backendFlag) String() string { return string(f.b) }

func (f *backendFlag) Set(v string) error {
	switch b := vnode.Backend(v); b {
	case vnode.Auto, vnode.Kqueue, vnode.Inotify, vnode.Poll:
		f.b = b
		return nil
	}
	return fmt.Errorf("want auto, kqueue, inotify or poll, got %q", v)
}

// backendOf resolves --backend and --poll into what vnode takes. Without
// either, $VIGIL_BACKEND (auto, kqueue, inotify or poll) decides, so that a
// site on a network file system can make polling the default.
func backendOf(b backendFlag, p pollFlag) (vnode.Backend, time.Duration) {
	if p.on {
		return vnode.Poll, p.interval
	}
	if b.b != "" {
		return b.b, 0
	}
	var env backendFlag
	if v := os.Getenv("VIGIL_BACKEND"); v != "" && env.Set(v) == nil {
		return env.b, 0
	}
	return vnode.Auto, 0
}

// checkBackend refuses, before anything starts, a backend this system does
// not have (--backend kqueue on Linux) or a bad $VIGIL_BACKEND: a CI hook
// must not pass without having watched anything.
func checkBackend(b backendFlag, p pollFlag) error {
	if v := os.Getenv("VIGIL_BACKEND"); v != "" && b.b == "" && !p.on {
		var env backendFlag
		if err := env.Set(v); err != nil {
			return usageError("$VIGIL_BACKEND: %v", err)
		}
	}
	name, interval := backendOf(b, p)
	q, err := vnode.Open(vnode.Options{Backend: name, PollInterval: interval})
	if err != nil {
		return fmt.Errorf("%w: %w", errSetup, err)
	}
	q.Close()
	return nil
}

// watchFlags are the flags shared by events, wait and the ad-hoc runner.
type watchFlags struct {
	watch, include, exclude stringsFlag
	debounce, maxWait       time.Duration
	noIgnore, symlinks      bool
	poll                    pollFlag
	backend                 backendFlag
	ops                     opsFlag
	closed                  bool
	settle                  time.Duration
}

// opsFlag is --ops create,write,...: only changes with these ops count.
type opsFlag struct{ ops []watcher.Op }

func (f *opsFlag) String() string {
	names := make([]string, len(f.ops))
	for i, o := range f.ops {
		names[i] = o.String()
	}
	return strings.Join(names, ",")
}

func (f *opsFlag) Set(v string) error {
	ops, err := watcher.ParseOps(v)
	if err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "watcher: "))
	}
	f.ops = ops
	return nil
}

func (w *watchFlags) register(fs *flag.FlagSet) {
	fs.Var(&w.watch, "w", "watch `PATH` (repeatable; default .); a file is watched through its directory, a symlink to a file follows the file")
	fs.Var(&w.include, "g", "only report paths matching `GLOB` (repeatable; relative to the watched root)")
	fs.Var(&w.exclude, "x", "ignore paths matching `GLOB` (repeatable)")
	fs.DurationVar(&w.debounce, "debounce", 50*time.Millisecond, "quiet period that ends a batch")
	fs.DurationVar(&w.maxWait, "max-wait", time.Second, "longest a batch waits for quiet once it has a change")
	fs.BoolVar(&w.noIgnore, "no-ignore", false, "do not honour .gitignore files or the default ignores")
	fs.BoolVar(&w.symlinks, "follow-symlinks", false, "descend into symlinked directories")
	fs.Var(&w.poll, "poll", "poll with stat instead of kernel notification (`[=INTERVAL]`, default 250ms);\nthe quiet period becomes at least two intervals (--poll=1s: a batch 2s after the last change)")
	fs.Var(&w.ops, "ops", "only changes with these `OPS` count (comma-separated: create, write, remove, rename, chmod)")
	fs.BoolVar(&w.closed, "closed", false, "report a created or written file only once its writer has closed it\n(inotify, FreeBSD kqueue; elsewhere and when polling: once unchanged for --settle)")
	fs.DurationVar(&w.settle, "settle", watcher.DefaultSettle, "with --closed, how long a file's size and mtime must stay unchanged where closes are not reported")
	fs.Var(&w.backend, "backend", "notification `MECHANISM`: auto, kqueue, inotify or poll")
}

// check validates the values flag cannot.
func (w *watchFlags) check() error {
	if w.debounce < 0 {
		return usageError("--debounce must not be negative")
	}
	if w.maxWait <= 0 {
		return usageError("--max-wait must be positive")
	}
	if w.settle <= 0 {
		return usageError("--settle must be positive")
	}
	if w.debounce > w.maxWait {
		return usageError("--debounce %s is longer than --max-wait %s: a batch would never wait for quiet", w.debounce, w.maxWait)
	}
	return nil
}

// flagSet is a flag set with the help it prints for -h. flag's own Usage
// hook stays silent, so that a mistyped flag gets one line, not the manual.
type flagSet struct {
	*flag.FlagSet
	help func()
}

// newFlagSet makes a flag set that reports errors instead of exiting, with
// help text from usage.
func newFlagSet(name, usage string, stderr io.Writer) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError)}
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.help = func() {
		fmt.Fprint(stderr, strings.TrimLeft(usage, "\n"))
		fmt.Fprintln(stderr, "\nFlags:")
		fs.SetOutput(stderr)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parseFlags parses args, printing help for -h and turning other mistakes
// into usage errors. It returns flag.ErrHelp after printing help.
func parseFlags(fs *flagSet, args []string) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fs.help()
		return err
	}
	if err != nil {
		if fs.Name() == "vigil" {
			return usageError("%v (see 'vigil --help')", err)
		}
		return usageError("%s: %v (see 'vigil %s --help')", fs.Name(), err, fs.Name())
	}
	return nil
}
