package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/vigil-watch/vigil/watcher"
)

// newWatcher builds a watcher from the shared watch flags and returns it
// with its absolute roots. A root that does not exist is a setup error: more
// likely a typo than something to wait for; except with missingOK (vigil
// wait), where a script waits for a directory another step creates.
func newWatcher(wf watchFlags, stderr io.Writer, missingOK ...bool) (*watcher.Watcher, []string, error) {
	roots := []string(wf.watch)
	if len(roots) == 0 {
		roots = []string{"."}
	}
	abs, err := absRoots(roots, len(missingOK) > 0 && missingOK[0])
	if err != nil {
		return nil, nil, err
	}
	backend, interval := backendOf(wf.backend, wf.poll)
	quiet := wf.debounce
	if quiet == 0 {
		// --debounce 0: deliver as soon as the kernel's burst is read. A
		// zero in the library's options means its default.
		quiet = watcher.NoDebounce
	}
	w, err := watcher.New(watcher.Options{
		Roots:          abs,
		Include:        wf.include,
		Exclude:        wf.exclude,
		NoIgnore:       wf.noIgnore,
		FollowSymlinks: wf.symlinks,
		Debounce:       quiet,
		MaxWait:        wf.maxWait,
		Backend:        backend,
		PollInterval:   interval,
		IgnoreFiles:    ownOutputs(),
		OnError:        printError(stderr),
		Logf:           logf(stderr),
		FlushOnStop:    true,
		Closed:         wf.closed,
		Settle:         wf.settle,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errSetup, err)
	}
	return w, abs, nil
}

// absRoots cleans roots into absolute paths and checks that they exist.
func absRoots(roots []string, missingOK bool) ([]string, error) {
	out := make([]string, 0, len(roots))
	for _, r := range roots {
		a, err := filepath.Abs(r)
		if err != nil {
			return nil, fmt.Errorf("%w: watch path %q: %w", errSetup, r, err)
		}
		if _, err := os.Stat(a); err != nil && !(missingOK && errors.Is(err, fs.ErrNotExist)) {
			return nil, fmt.Errorf("%w: watch path %q: %w", errSetup, r, unwrapPath(err))
		}
		out = append(out, a)
	}
	return out, nil
}

// unwrapPath drops the *PathError wrapper whose path we already printed.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// printError returns the printer of the problems the library packages
// report without stopping (a kernel limit, an unreadable directory, a root
// gone or back): one line on stderr each.
func printError(stderr io.Writer) func(error) {
	return func(err error) {
		fmt.Fprintf(stderr, "vigil: %v\n", err)
	}
}

// logf returns the notice printer handed to the library packages: one line
// on stderr per notice, prefixed so it stands out from command output.
func logf(stderr io.Writer) func(string, ...any) {
	return func(format string, args ...any) {
		fmt.Fprintf(stderr, "vigil: "+format+"\n", args...)
	}
}
