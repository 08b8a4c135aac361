package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/vigil-watch/vigil/watcher"
)

const changedUsage = `
Usage: vigil changed --since FILE [--save FILE2 | --no-save] [flags]
Print what differs under the watched paths from the snapshot in FILE, as
'vigil events' prints a batch (--json: one object, also when nothing
changed), then save the current state to FILE (or FILE2). No daemon: the
snapshot is the memory between runs. When FILE does not exist yet,
everything is reported as created. Contents are compared by hash, so a
file rewritten with the same bytes (a touch, a checkout) has not changed.

Exit status: 0 something changed, 1 nothing changed, 2 bad usage, a FILE
that is not a readable snapshot (damaged, foreign, newer version), or a
snapshot that could not be saved.

The timing, backend and writer flags (--debounce, --poll, --backend,
--closed, --settle, ...) are accepted, so that the flags of 'vigil events'
can be passed as they are, and have no effect: nothing is watched, and a
snapshot records files as they are when it is taken.

Examples:
  vigil changed --since src.snap --save src.new -w src && make && mv src.new src.snap
  vigil changed --since last-ok.snap --save candidate.snap --json
`

// runChanged serves `vigil changed`.
func runChanged(args []string, stdout, stderr io.Writer) error {
	flags := newFlagSet("changed", changedUsage, stderr)
	var wf watchFlags
	wf.register(flags.FlagSet)
	since := flags.String("since", "", "compare with the snapshot in `FILE` (required; missing: everything is new)")
	save := flags.String("save", "", "save the current state to `FILE2` instead of the --since file")
	noSave := flags.Bool("no-save", false, "save nothing")
	asJSON := flags.Bool("json", false, "print the changes as one JSON object")
	if err := parseFlags(flags, args); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return usageError("changed takes no arguments (got %q); watch paths go after -w", flags.Arg(0))
	}
	if *since == "" {
		return usageError("changed: --since FILE is required")
	}
	if *noSave && *save != "" {
		return usageError("changed: --save and --no-save exclude each other")
	}
	if err := wf.check(); err != nil {
		return err
	}
	sinceAbs, err := filepath.Abs(*since)
	if err != nil {
		return usageError("changed: --since %q: %v", *since, err)
	}
	saveAbs := sinceAbs
	if *save != "" {
		if saveAbs, err = filepath.Abs(*save); err != nil {
			return usageError("changed: --save %q: %v", *save, err)
		}
	}
	if *noSave {
		saveAbs = ""
	}
	if saveAbs != "" {
		// Found out now, not after the scan: a snapshot that cannot be
		// saved must not pass for a successful run.
		if fi, err := os.Stat(filepath.Dir(saveAbs)); err != nil || !fi.IsDir() {
			return usageError("changed: cannot save the snapshot to %s: its directory does not exist", saveAbs)
		}
	}
	watch := []string(wf.watch)
	if len(watch) == 0 {
		watch = []string{"."}
	}
	roots, err := absRoots(watch, false)
	if err != nil {
		return err
	}
	prev, err := watcher.ReadSnapshot(sinceAbs)
	var bad *watcher.SnapshotError
	switch {
	case errors.As(err, &bad):
		return fmt.Errorf("%w: changed: %w (remove it to start afresh)", errSetup, err)
	case errors.Is(err, fs.ErrNotExist):
		prev = nil
	case err != nil:
		return fmt.Errorf("%w: changed: --since %s: %w", errSetup, *since, unwrapPath(err))
	}
	cur, err := watcher.TakeSnapshot(watcher.Options{
		Roots:          roots,
		Include:        wf.include,
		Exclude:        wf.exclude,
		NoIgnore:       wf.noIgnore,
		FollowSymlinks: wf.symlinks,
		IgnoreFiles:    ownOutputs(),
		OnError:        printError(stderr),
	}, prev, sinceAbs, saveAbs)
	if err != nil {
		return fmt.Errorf("%w: %w", errSetup, err)
	}
	b := watcher.FilterOps(watcher.Batch{Time: time.Now(), Changes: cur.Changes()}, wf.ops.ops)
	cwd, _ := os.Getwd()
	out := bufio.NewWriter(stdout)
	if len(b.Changes) > 0 || *asJSON {
		if b.Changes == nil {
			b.Changes = []watcher.Change{}
		}
		if err := printBatch(out, b, *asJSON, cwd); err != nil {
			return fmt.Errorf("writing the changes: %w", err)
		}
	}
	if saveAbs != "" && !(saveAbs == sinceAbs && cur.SameAs(prev)) {
		if err := cur.WriteFile(saveAbs); err != nil {
			return fmt.Errorf("%w: changed: %w", errSetup, err)
		}
	}
	if len(b.Changes) == 0 {
		return statusError(exitFailed)
	}
	return nil
}
