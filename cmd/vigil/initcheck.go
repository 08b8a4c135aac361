package main

import (
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"strings"

	"github.com/vigil-watch/vigil/config"
	"github.com/vigil-watch/vigil/watcher"
)

const initUsage = `
Usage: vigil init [FILE]
Write a commented starter vigil.yaml (or FILE). An existing file is never
overwritten.
`

const checkUsage = `
Usage: vigil check [-c FILE]
Validate vigil.yaml (or FILE) and print each rule with what it watches and
how many files it matches now. Exit 2 if the config is not valid.
`

// runInit serves `vigil init`.
func runInit(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("init", initUsage, stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	path := "vigil.yaml"
	switch fs.NArg() {
	case 0:
	case 1:
		path = fs.Arg(0)
	default:
		return usageError("init takes at most one file name")
	}
	if err := config.Init(path); err != nil {
		if errors.Is(err, iofs.ErrExist) {
			return fmt.Errorf("%w: %s already exists; not overwriting it (check it with 'vigil check -c %s')", errSetup, path, path)
		}
		return fmt.Errorf("%w: %w", errSetup, err)
	}
	fmt.Fprintf(stdout, "wrote %s: edit its rules, then run 'vigil'\n", path)
	return nil
}

// runCheck serves `vigil check`.
func runCheck(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("check", checkUsage, stderr)
	path := fs.String("c", "vigil.yaml", "the config `FILE`")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("check takes no arguments; name the file with -c")
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s is valid: %d rule(s); watching %s", *path, len(cfg.Rules), strings.Join(cfg.Watch, ", "))
	fmt.Fprintf(stdout, " (debounce %s, max wait %s, gitignore %v)\n", cfg.Debounce, cfg.MaxWait, cfg.Gitignore)
	for _, root := range cfg.Watch {
		// Network and user-space file systems are polled (see watcher.RemoteFS).
		if fsName, remote := watcher.RemoteFS(root); remote {
			fmt.Fprintf(stdout, "  %s is on %s: polled (unless --backend or $VIGIL_BACKEND chooses)\n", root, fsName)
		} else if fsName != "" {
			fmt.Fprintf(stdout, "  %s is on %s: kernel notification\n", root, fsName)
		}
	}
	for _, r := range cfg.Rules {
		run := strings.Join(r.Run, " && ")
		if len(r.Follow) > 0 {
			fmt.Fprintf(stdout, "  %s: follows %s for lines matching %q; runs %s\n", r.Name, strings.Join(r.Follow, " "), r.Line.String(), run)
			continue
		}
		files, err := watcher.Scan(watcher.Options{
			Roots:    cfg.Watch,
			Include:  r.Match,
			Exclude:  append(append([]string(nil), cfg.Ignore...), r.Exclude...),
			NoIgnore: !cfg.Gitignore,
		})
		if err != nil {
			return fmt.Errorf("rule %q: %w", r.Name, err)
		}
		match := "everything not ignored"
		if len(r.Match) > 0 {
			match = strings.Join(r.Match, " ")
		}
		kind := ""
		if r.Daemon {
			kind = " (daemon)"
		}
		fmt.Fprintf(stdout, "  %s%s: %s — %d file(s) now; runs %s\n", r.Name, kind, match, len(files), run)
	}
	return nil
}
