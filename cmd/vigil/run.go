package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"

	"github.com/vigil-watch/vigil/config"
)

const rootUsage = `
vigil watches files and acts when they change.

Usage:
  vigil [-c FILE] [flags]          run the rules in ./vigil.yaml (or FILE)
  vigil [flags] -- CMD [ARG...]    run CMD (no shell) at start and on every change
  vigil events [flags]             print changes as they happen (--json: one object per batch)
  vigil wait [flags]               exit 0 after the first change (printing it); --timeout D
  vigil changed --since FILE       print what changed since the snapshot in FILE, save a new one
  vigil tail [flags] FILE|GLOB...  follow files like tail -F
  vigil init                       write a commented starter vigil.yaml
  vigil check [-c FILE]            validate a config and show what each rule watches
  vigil version

Examples:
  vigil -g '**/*.go' -- go test ./...
  vigil --restart -g '**/*.go' -- go run ./cmd/server
  vigil events -w src --json
  vigil wait -w build/ --timeout 30s && ./deploy.sh
  vigil changed --since src.snap --save src.new -w src && make && mv src.new src.snap
  vigil tail -n 0 '/var/log/app/*.log'

Run 'vigil COMMAND --help' for a command's flags.
`

// run is the whole program: it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	var err error
	sub := ""
	if len(args) > 0 {
		sub = args[0]
	}
	switch sub {
	case "events":
		err = runEvents(args[1:], stdout, stderr, false)
	case "wait":
		err = runEvents(args[1:], stdout, stderr, true)
	case "changed":
		err = runChanged(args[1:], stdout, stderr)
	case "tail":
		err = runTail(args[1:], stdout, stderr)
	case "init":
		err = runInit(args[1:], stdout, stderr)
	case "check":
		err = runCheck(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "vigil", version())
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, rootUsage[1:])
	default:
		err = runRules(args, stdout, stderr)
	}
	return exitCode(err, stderr)
}

// exitCode maps an error to vigil's exit codes (see exit.go), printing what
// the user needs to see.
func exitCode(err error, stderr io.Writer) int {
	var (
		cfgErr *config.Error
		sig    signalError
		status statusError
	)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &sig):
		return sig.code()
	case errors.As(err, &status):
		return int(status)
	case errors.As(err, &cfgErr):
		fmt.Fprintln(stderr, err)
		return exitUsage
	case errors.Is(err, errUsage), errors.Is(err, errSetup):
		fmt.Fprintln(stderr, "vigil:", trimUsage(err))
		return exitUsage
	}
	fmt.Fprintln(stderr, "vigil:", err)
	return exitFailed
}

// trimUsage drops the "usage: " marker from a usage error's text.
func trimUsage(err error) string {
	s := err.Error()
	for _, p := range []string{errUsage.Error() + ": ", errSetup.Error() + ": "} {
		if len(s) >= len(p) && s[:len(p)] == p {
			return s[len(p):]
		}
	}
	return s
}

// errSetup marks bad input found while starting (a missing root, a bad
// glob): exit code 2, nothing started.
var errSetup = errors.New("setup")

// signalError says vigil stopped because of a signal.
type signalError struct{ sig os.Signal }

func (e signalError) Error() string { return "interrupted by " + e.sig.String() }

func (e signalError) code() int {
	switch e.sig {
	case syscall.SIGTERM:
		return exitTerm
	case syscall.SIGHUP:
		return exitHangup
	}
	return exitInterrupt
}

// statusError carries a command's exit status out of --once and wait.
type statusError int

func (e statusError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// signals cancels a context on the first SIGINT, SIGTERM or SIGHUP and calls
// again (if set) on every later one: the second Ctrl-C kills at once.
type signals struct {
	ctx    context.Context
	cancel context.CancelFunc
	ch     chan os.Signal

	mu     sync.Mutex
	caught os.Signal
	again  func()
}

func catchSignals() *signals {
	s := &signals{ch: make(chan os.Signal, 4)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	signal.Notify(s.ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		for sig := range s.ch {
			s.mu.Lock()
			first := s.caught == nil
			if first {
				s.caught = sig
			}
			again := s.again
			s.mu.Unlock()
			if first {
				s.cancel()
			} else if again != nil {
				again()
			}
		}
	}()
	return s
}

// onAgain sets what a second signal does.
func (s *signals) onAgain(f func()) {
	s.mu.Lock()
	s.again = f
	s.mu.Unlock()
}

// err is the error to return once the work has stopped: a signalError when
// a signal stopped it.
func (s *signals) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.caught != nil {
		return signalError{s.caught}
	}
	return nil
}

func (s *signals) stop() {
	signal.Stop(s.ch)
	close(s.ch)
	s.cancel()
}

// version reports the module version stamped by the go tool, or for a build
// from a checkout the VCS revision, its commit time and whether the tree had
// uncommitted changes.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, when, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
			if len(rev) > 12 {
				rev = rev[:12]
			}
		case "vcs.time":
			when = " " + s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev == "" {
		return "devel"
	}
	return "devel " + rev + dirty + when
}
