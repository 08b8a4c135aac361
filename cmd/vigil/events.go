package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vigil-watch/vigil/watcher"
)

const eventsUsage = `
Usage: vigil events [flags]
Print every batch of changes under the watched paths as it happens: one line
per change ("write src/main.go", paths relative to the current directory), or
with --json one object per batch. "ready" goes to stderr once the watches are
in place. On SIGINT or SIGTERM a batch still waiting out its quiet period is
printed before vigil exits (130 or 143).

Examples:
  vigil events
  vigil events -w src -w go.mod -g '**/*.go' --json
  vigil events --poll=1s -w /mnt/nfs/share
`

const waitUsage = `
Usage: vigil wait [flags]
Block until something under the watched paths changes, print that batch as
'vigil events' would, and exit 0; exit 1 if --timeout passes first. A watched
path that does not exist yet is waited for: its creation is the change.
A change still waiting out its quiet period when SIGINT, SIGTERM or the
timeout comes is printed at once and counts: exit 0. With nothing changed,
a signal exits 130 (SIGINT) or 143 (SIGTERM).

Examples:
  vigil wait -w src && make
  vigil wait -g '**/*.json' --json --timeout 2m
`

// runEvents serves `vigil events` and, with once, `vigil wait`.
func runEvents(args []string, stdout, stderr io.Writer, once bool) error {
	name, usage := "events", eventsUsage
	if once {
		name, usage = "wait", waitUsage
	}
	fs := newFlagSet(name, usage, stderr)
	var wf watchFlags
	wf.register(fs.FlagSet)
	asJSON := fs.Bool("json", false, "print one JSON object per batch")
	var timeout time.Duration
	if once {
		fs.DurationVar(&timeout, "timeout", 0, "give up after `D` and exit 1 (0 = wait for ever)")
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("%s takes no arguments (got %q); watch paths go after -w", name, fs.Arg(0))
	}
	if err := wf.check(); err != nil {
		return err
	}
	if timeout < 0 {
		return usageError("--timeout must not be negative (0 waits for ever)")
	}
	if err := checkBackend(wf.backend, wf.poll); err != nil {
		return err
	}
	w, _, err := newWatcher(wf, stderr, once)
	if err != nil {
		return err
	}
	sig := catchSignals()
	defer sig.stop()
	ctx := sig.ctx
	timedOut := false
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	cwd, _ := os.Getwd()
	out := bufio.NewWriter(stdout)
	batches := make(chan watcher.Batch)
	ctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	// Leave as soon as stdout's reader is gone (`vigil events | head -1`),
	// not only at the next change.
	go func() {
		if readerGone(stdout) {
			stopWatch()
		}
	}()
	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx, readyPrinter(stderr), batches) }()
	// The watcher flushes on stop (FlushOnStop): a batch still waiting out
	// its quiet period when a signal or --timeout ends the wait is printed
	// before vigil exits, so batches are received until Run returns.
	printed, draining, outGone := false, false, false
	for {
		select {
		case b := <-batches:
			if draining {
				continue // wait printed its batch, or stdout is gone
			}
			if len(wf.ops.ops) > 0 {
				if b = watcher.FilterOps(b, wf.ops.ops); len(b.Changes) == 0 {
					continue // nothing with an op that counts
				}
			}
			if err := printBatch(out, b, *asJSON, cwd); err != nil {
				outGone, draining = true, true
				stopWatch()
				continue
			}
			printed = true
			if once {
				draining = true
				stopWatch()
			}
		case err := <-errc:
			switch {
			case outGone:
				return nil // stdout's reader went away: nothing more to say
			case once && printed:
				// A change came before the signal or the timeout, which
				// only cut its quiet period short: wait did its job.
				return nil
			}
			if serr := sig.err(); serr != nil {
				return serr
			}
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				timedOut = true
			}
			if timedOut {
				fmt.Fprintf(stderr, "vigil wait: no change within %s\n", timeout)
				return statusError(exitFailed)
			}
			return err
		}
	}
}

// readyPrinter reports the crawl and then "ready" on its own line, the
// signal scripts and tests wait for.
func readyPrinter(stderr io.Writer) func(watcher.Stats) {
	return func(s watcher.Stats) {
		readySummary(stderr, s)
		fmt.Fprintln(stderr, "ready")
	}
}

// readySummary is the start-up line: what is watched and how long the crawl
// took. It also returns the crawl's garbage to the OS: the heap grew to hold
// it next to the index and it is dead now. That is a process-wide choice,
// so the CLI makes it, not the library; on the side, so that the first
// events are not held up by the forced collection.
func readySummary(stderr io.Writer, s watcher.Stats) {
	fmt.Fprintf(stderr, "vigil: watching %s and %s with %s (crawl took %s)\n",
		plural(s.Dirs, "directory", "directories"), plural(s.Files, "file", "files"), s.Backend, roundDuration(s.Crawl))
	go debug.FreeOSMemory()
}

// plural says "1 file" or "3 files".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// roundDuration keeps two or three significant digits: 234ms, 1.5ms, 87µs.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// printBatch writes b as text (one "op path" line per change) or as one JSON
// object, and flushes so a pipe reader sees it at once.
func printBatch(out *bufio.Writer, b watcher.Batch, asJSON bool, cwd string) error {
	if asJSON {
		data, err := json.Marshal(b)
		if err != nil {
			return err
		}
		out.Write(data)
		out.WriteByte('\n')
		return out.Flush()
	}
	for _, c := range b.Changes {
		if c.Op == watcher.Rename && c.Old != "" {
			fmt.Fprintf(out, "%s %s -> %s\n", c.Op, showPath(relTo(cwd, c.Old)), showPath(relTo(cwd, c.Path)))
			continue
		}
		fmt.Fprintf(out, "%s %s\n", c.Op, showPath(relTo(cwd, c.Path)))
	}
	return out.Flush()
}

// showPath quotes a path that would break the one-change-per-line text
// output (a newline or another control character, invalid UTF-8, a leading
// quote), Go style; plain paths are printed as they are.
func showPath(p string) string {
	if !utf8.ValidString(p) || strings.HasPrefix(p, `"`) || strings.IndexFunc(p, unicode.IsControl) >= 0 {
		return strconv.Quote(p)
	}
	return p
}

// relTo shows p relative to dir when it lies below it, else as is.
func relTo(dir, p string) string {
	if dir == "" {
		return p
	}
	r, err := filepath.Rel(dir, p)
	if err != nil || r == ".." || len(r) > 2 && r[:3] == "../" {
		return p
	}
	return r
}
