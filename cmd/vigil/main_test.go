package main

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/vigil-watch/vigil/internal/testwait"
	"github.com/vigil-watch/vigil/vnode"
)

// TestMain lets the scripts run "vigil" as a real process: testscript
// re-executes this test binary under that name.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"vigil": func() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// TestCLI runs the command-line scripts in testdata/cli once per backend
// available here: the same script must hold on inotify, on kqueue (on
// darwin and the BSDs, or over libkqueue in a `-tags libkqueue` build on
// Linux) and on poll. Conditions: [inotify], [kqueue] and [poll] name the
// backend of the run; [kqueue-here] says this binary has kqueue at all.
func TestCLI(t *testing.T) {
	backends := availableBackends()
	hasKqueue := slices.Contains(backends, vnode.Kqueue)
	for _, backend := range backends {
		t.Run(string(backend), func(t *testing.T) {
			testscript.Run(t, testscript.Params{
				Dir: "../../testdata/cli",
				Setup: func(env *testscript.Env) error {
					env.Setenv("VIGIL_BACKEND", string(backend))
					env.Setenv("NO_COLOR", "1")
					return nil
				},
				Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
					"waitfile": cmdWaitFile,
				},
				Condition: func(cond string) (bool, error) {
					switch cond {
					case "poll", "inotify", "kqueue":
						return cond == string(backend), nil
					case "kqueue-here":
						return hasKqueue, nil
					}
					return false, fmt.Errorf("unknown condition %q", cond)
				},
			})
		})
	}
}

// availableBackends lists the kernel backends that open here, then poll.
func availableBackends() []vnode.Backend {
	var bs []vnode.Backend
	for _, b := range []vnode.Backend{vnode.Inotify, vnode.Kqueue} {
		if q, err := vnode.Open(vnode.Options{Backend: b}); err == nil {
			q.Close()
			bs = append(bs, b)
		}
	}
	return append(bs, vnode.Poll)
}

// cmdWaitFile is `waitfile [-n COUNT] [-t SECONDS] FILE REGEXP`: wait until
// FILE holds at least COUNT (default 1) matches of REGEXP, or fail after the
// deadline (default 20 s; the machine is shared and slow at times). With !
// it checks, without waiting, that FILE holds fewer than COUNT matches.
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	count, deadline := 1, 20*time.Second
	for len(args) > 2 && strings.HasPrefix(args[0], "-") {
		v, err := strconv.Atoi(args[1])
		ts.Check(err)
		switch args[0] {
		case "-n":
			count = v
		case "-t":
			deadline = time.Duration(v) * time.Second
		default:
			ts.Fatalf("waitfile: unknown flag %s", args[0])
		}
		args = args[2:]
	}
	if len(args) != 2 {
		ts.Fatalf("usage: waitfile [-n COUNT] [-t SECONDS] FILE REGEXP")
	}
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	path := ts.MkAbs(args[0])
	var data []byte
	matches := func() int {
		data, _ = os.ReadFile(path)
		return len(re.FindAllIndex(data, -1))
	}
	if neg {
		if n := matches(); n >= count {
			ts.Fatalf("waitfile: %s has %d match(es) of %q, want fewer than %d; it holds:\n%s", args[0], n, args[1], count, data)
		}
		return
	}
	if !testwait.For(deadline, func() bool { return matches() >= count }) {
		n := matches()
		ts.Fatalf("waitfile: %s has %d match(es) of %q after %s, want %d; it holds:\n%s", args[0], n, args[1], deadline, count, data)
	}
}
