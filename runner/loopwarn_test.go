package runner

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A rule re-triggered again and again only by files its own runs wrote gets
// one warning naming them and the ignore entry that stops it, and keeps
// running.
func TestLoopWarningForSelfTriggeringRule(t *testing.T) {
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{{
			Name:       "gen",
			RunAtStart: true,
			Run:        sh(`echo x >> 'out[1].txt'; echo run >> runs`),
		}}, Options{}
	}).run()
	const runs = 9
	for i := 1; i < runs; i++ {
		waitFor(t, "run "+itoa(i), func() bool { return len(h.lines("runs")) >= i })
		waitFor(t, "run "+itoa(i)+" ended", func() bool { return strings.Count(h.out.String(), "ok: exit status 0") >= i })
		// What a watcher would deliver: the file the run wrote.
		h.send("out[1].txt")
	}
	waitFor(t, "the last run", func() bool { return strings.Count(h.out.String(), "ok: exit status 0") >= runs })
	out := h.out.String()
	if n := strings.Count(out, "warning: re-triggered"); n != 1 {
		t.Fatalf("%d loop warnings, want exactly 1:\n%s", n, out)
	}
	for _, want := range []string{
		"[gen] warning: re-triggered 5 times in a row only by changes made while it ran (out[1].txt)",
		`ignore: ['out\[1\].txt'] in vigil.yaml, or -x 'out\[1\].txt'`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The warning comes as the fifth re-triggered run (the sixth run) starts.
	before, _, _ := strings.Cut(out, "warning: re-triggered")
	if n := strings.Count(before, "running ("); n != 5 {
		t.Errorf("warned after %d runs had started, want 5", n)
	}
}

// Changes made between runs, by someone else, are no loop however many
// there are.
func TestNoLoopWarningForChangesBetweenRuns(t *testing.T) {
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{{
			Name:       "build",
			RunAtStart: true,
			Run:        sh(`echo run >> runs`),
		}}, Options{}
	}).run()
	for i := 1; i <= 8; i++ {
		waitFor(t, "run "+itoa(i)+" ended", func() bool { return strings.Count(h.out.String(), "ok: exit status 0") >= i })
		p := h.path("main.go")
		if err := os.WriteFile(p, []byte(itoa(i)), 0o644); err != nil {
			t.Fatal(err)
		}
		// An edit after the run ended (dated so, whatever the clock's grain).
		later := time.Now().Add(time.Hour)
		os.Chtimes(p, later, later)
		h.send("main.go")
	}
	waitFor(t, "the last run", func() bool { return strings.Count(h.out.String(), "ok: exit status 0") >= 9 })
	if out := h.out.String(); strings.Contains(out, "warning: re-triggered") {
		t.Errorf("warned about a loop for edits made between runs:\n%s", out)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// A server restarted by edits was running when each edit came: that is no
// loop. One that writes into the tree as it starts is.
func TestLoopWarningForRestartedServers(t *testing.T) {
	old := loopRestartWindow
	loopRestartWindow = 100 * time.Millisecond
	defer func() { loopRestartWindow = old }()
	for _, tc := range []struct {
		name   string
		writes bool // the server writes the file itself
	}{{"edits", false}, {"self-writes", true}} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := `echo run >> runs; exec sleep 300`
			if tc.writes {
				cmd = `echo x >> server.pid; ` + cmd
			}
			h := newHarness(t, func(dir string) ([]Rule, Options) {
				return []Rule{{Name: "server", Daemon: true, Run: sh(cmd), StopTimeout: patience}}, Options{}
			}).run()
			for i := 1; i <= 7; i++ {
				waitFor(t, "start "+itoa(i), func() bool { return len(h.lines("runs")) >= i })
				if !tc.writes {
					// The user saves while the server runs, past its
					// first moments.
					seen := time.Now()
					waitFor(t, "the server to run a while", func() bool { return time.Since(seen) > 2*loopRestartWindow })
					if err := os.WriteFile(h.path("server.pid"), []byte(itoa(i)), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				h.send("server.pid")
			}
			waitFor(t, "the last start", func() bool { return len(h.lines("runs")) >= 8 })
			got := strings.Count(h.out.String(), "warning: re-triggered")
			if want := map[bool]int{false: 0, true: 1}[tc.writes]; got != want {
				t.Errorf("%d loop warnings, want %d:\n%s", got, want, h.out.String())
			}
		})
	}
}
