package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vigil-watch/vigil/watcher"
	"github.com/vigil-watch/vigil/watcher/follow"
)

const tailUsage = `
Usage: vigil tail [flags] FILE|GLOB...
Follow files by name like tail -F: wait for files that do not exist yet,
survive rotation (rename+create and copytruncate), truncation and atomic
replacement, and pick up new files that match a glob. Lines are printed
whole; with several files a "==> FILE <==" header marks each switch.

Examples:
  vigil tail /var/log/app.log
  vigil tail -n 0 --json 'logs/*.log'
  vigil tail --pid 4242 build.log
  vigil tail --state ~/.cache/app.tail /var/log/app.log
  vigil tail --json --multiline '^\d{4}-' app.log
`

// runTail serves `vigil tail`.
func runTail(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tail", tailUsage, stderr)
	n := fs.String("n", "10", "start with the last `N` lines; +N starts at line N")
	asJSON := fs.Bool("json", false, `print {"file","line","offset"} per line`)
	var pids stringsFlag
	fs.Var(&pids, "pid", "exit once process `PID` is gone (repeatable: once all are gone)")
	var poll pollFlag
	fs.Var(&poll, "poll", "poll with stat instead of kernel notification (`[=INTERVAL]`)")
	var backend backendFlag
	fs.Var(&backend, "backend", "notification `MECHANISM`: auto, kqueue, inotify or poll")
	grace := fs.Duration("grace", time.Second, "keep reading a rotated-away file for `D`")
	multiline := fs.String("multiline", "", "a line matching `REGEXP` starts a record; the lines after it continue it")
	state := fs.String("state", "", "save positions to `FILE` and resume from it: lines written while stopped are shown once")
	// tail -f and -F are what vigil tail always does: accept them quietly.
	fs.Bool("f", true, "accepted for tail compatibility: vigil tail always follows by name")
	fs.Bool("F", true, "accepted for tail compatibility: vigil tail always follows by name")
	args = gnuTailArgs(args)
	// Flags may follow the file names, as with tail: parse in rounds.
	var files []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(files) == 0 {
		return usageError("tail needs at least one FILE or GLOB (see 'vigil tail --help')")
	}
	if *grace < 0 {
		return usageError("--grace must not be negative")
	}
	if err := checkBackend(backend, poll); err != nil {
		return err
	}
	var records *regexp.Regexp
	if *multiline != "" {
		re, err := regexp.Compile(*multiline)
		if err != nil {
			return usageError("--multiline: invalid regular expression %q: %v", *multiline, err)
		}
		records = re
	}
	// "-" and FIFOs are read as streams, the rest followed by name.
	var streams, patterns []string
	for _, f := range files {
		if follow.IsStream(f) {
			streams = append(streams, f)
		} else {
			patterns = append(patterns, f)
		}
	}
	opts := follow.Options{Patterns: patterns, Grace: *grace, Logf: logf(stderr), State: *state, Multiline: records}
	if err := parseLines(*n, &opts); err != nil {
		return err
	}
	for _, p := range pids {
		pid, err := strconv.Atoi(p)
		if err != nil || pid <= 0 {
			return usageError("--pid wants a process id, got %q", p)
		}
		opts.Pids = append(opts.Pids, pid)
	}
	opts.Backend, opts.PollInterval = backendOf(backend, poll)
	// Lines are written in one go per burst and flushed before the
	// follower sleeps: a write per line would cost 5x the throughput.
	pr := &lockedPrinter{p: follow.NewPrinter(stdout, follow.PrintOptions{JSON: *asJSON, Headers: len(files) > 1 || hasGlob(files), Buffered: true})}
	opts.Flush = pr.Flush
	// Runs of whole lines go to the printer as they were read: text is
	// copied, not split into lines (and JSON is built without a string
	// per line).
	opts.Chunks = pr.PrintChunk
	if err := stdoutOpen(stdout); err != nil {
		// Before anything is opened: a closed descriptor 1 would be
		// handed to the next file opened, and lines written into it.
		return err
	}
	var f *follow.Follower
	if len(patterns) > 0 {
		var err error
		if f, err = follow.New(opts); err != nil {
			return fmt.Errorf("%w: %w", errSetup, err)
		}
	}
	sig := catchSignals()
	defer sig.stop()
	ready := func() { fmt.Fprintln(stderr, "ready") }
	// Leave as soon as stdout's reader is gone, even with nothing to write.
	ctx, cancel := context.WithCancel(sig.ctx)
	defer cancel()
	var gone atomic.Bool
	go func() {
		if readerGone(stdout) {
			gone.Store(true)
			cancel()
		}
	}()
	err := runStreams(ctx, streams, opts, pr, func(ctx context.Context) error {
		if f == nil {
			ready()
			return nil
		}
		return f.Run(ctx, ready, pr.Print)
	})
	if serr := sig.err(); serr != nil {
		return serr
	}
	if gone.Load() || err != nil && isBrokenPipe(err) {
		// The reader went away: leave quietly with the status of a
		// program killed by SIGPIPE, as GNU tail does.
		return statusError(exitPipe)
	}
	return err
}

// runStreams reads the streams (see follow.Stream) while files runs the
// follower, if any (it returns at once otherwise). With files followed,
// vigil tail ends when the follower does; without, when every stream that
// ends has ended (a pipe on standard input, at EOF) and, if a FIFO is
// read, only with ctx.
func runStreams(ctx context.Context, streams []string, o follow.Options, pr *lockedPrinter, files func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		err  error
		ends bool
	}
	res := make(chan result, len(streams))
	ends, fifos := 0, 0
	for _, name := range streams {
		r, toEOF, err := follow.OpenStream(name)
		if err != nil {
			return fmt.Errorf("%w: %w", errSetup, err)
		}
		if toEOF {
			ends++
		} else {
			fifos++
			defer r.Close()
			stop := context.AfterFunc(ctx, func() { r.Close() })
			defer stop()
		}
		shown := name
		if name == "-" {
			shown = "standard input"
		}
		so := follow.StreamOptions{File: name, Name: shown, ToEOF: toEOF, Last: o.Last, FromLine: o.FromLine, MaxLine: o.MaxLine, Flush: pr.Flush}
		go func() {
			err := follow.Stream(ctx, r, so, pr.Print)
			if err != nil {
				cancel() // the output is gone: stop everything
			}
			res <- result{err, toEOF}
		}()
	}
	if len(o.Patterns) > 0 {
		return files(ctx)
	}
	if err := files(ctx); err != nil {
		return err
	}
	for ends > 0 || fifos > 0 {
		select {
		case r := <-res:
			if r.err != nil {
				return r.err
			}
			if r.ends {
				ends--
			} else {
				fifos--
			}
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

// lockedPrinter lets the follower and the streams share one Printer.
type lockedPrinter struct {
	mu sync.Mutex
	p  *follow.Printer
}

func (l *lockedPrinter) Print(line follow.Line) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.p.Print(line)
}

func (l *lockedPrinter) PrintChunk(c follow.Chunk) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.p.PrintChunk(c)
}

func (l *lockedPrinter) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.p.Flush()
}

// gnuTailArgs rewrites tail's short forms that Go's flag package would
// misread: -n3 and -3 become -n 3, -n+3 and +3 become -n +3, and -n -3
// becomes -n 3 (GNU's way of saying "last 3").
func gnuTailArgs(args []string) []string {
	out := make([]string, 0, len(args)+1)
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return append(out, args[i:]...)
		case a == "-n" && i+1 < len(args) && strings.HasPrefix(args[i+1], "-") && isDigits(args[i+1][1:]):
			out = append(out, "-n", args[i+1][1:])
			i++
		case strings.HasPrefix(a, "-n") && len(a) > 2 && (isDigits(a[2:]) || a[2] == '+' && isDigits(a[3:])):
			out = append(out, "-n", a[2:])
		case len(a) > 1 && (a[0] == '-' || a[0] == '+') && isDigits(a[1:]) && i == 0:
			n := a[1:]
			if a[0] == '+' {
				n = "+" + n
			}
			out = append(out, "-n", n)
		default:
			out = append(out, a)
		}
	}
	return out
}

// isDigits reports whether s is a non-empty run of ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// parseLines reads -n: N (last N lines) or +N (from line N).
func parseLines(s string, o *follow.Options) error {
	from := strings.HasPrefix(s, "+")
	v, err := strconv.ParseInt(strings.TrimPrefix(s, "+"), 10, 64)
	if err != nil || v < 0 {
		return usageError("-n wants N or +N, got %q", s)
	}
	if from {
		if v == 0 {
			v = 1
		}
		o.FromLine = v
		return nil
	}
	o.Last = int(v)
	if v == 0 {
		o.Last = -1 // follow's "none"; its zero means tail's default of 10
	}
	return nil
}

// hasGlob says whether any pattern can match more than one file.
func hasGlob(patterns []string) bool {
	return slices.ContainsFunc(patterns, watcher.IsPattern)
}

// isBrokenPipe recognises a write to a closed pipe.
func isBrokenPipe(err error) bool {
	return errors.Is(err, syscall.EPIPE)
}
