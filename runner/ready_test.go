//go:build unix

package runner

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// A rule after a daemon waits until the daemon's probe passes, not merely
// until it started; the status line says how long readiness took.
func TestAfterWaitsForDaemonReadiness(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{
			{Name: "server", Daemon: true, Ready: fmt.Sprintf("tcp://127.0.0.1:%d", port), Run: sh("echo started; exec sleep 60")},
			{Name: "client", After: []string{"server"}, RunAtStart: true, Run: sh(`echo client >> log`)},
		}, Options{}
	}).run()
	waitFor(t, "the server to start", func() bool { return strings.Contains(h.out.String(), "[server] started") })
	time.Sleep(300 * time.Millisecond) // the probe is refused meanwhile
	if h.read("log") != "" {
		t.Fatalf("the client ran before the server's port was open")
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	waitFor(t, "the client to run once the port is open", func() bool { return h.read("log") == "client\n" })
	if !regexp.MustCompile(`\[server\] ready in [0-9.]+s \(tcp://127\.0\.0\.1:\d+\)`).MatchString(h.out.String()) {
		t.Errorf("no ready status line:\n%s", h.out.String())
	}
}

// An HTTP probe needs a 2xx: a 503 keeps the rule not ready.
func TestReadyHTTPNeeds2xx(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	status := 503
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.WriteHeader(status)
	}))
	defer ln.Close()
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{
			{Name: "app", Daemon: true, Ready: "http://" + ln.Addr().String() + "/healthz", Run: sh("sleep 60")},
			{Name: "after", After: []string{"app"}, RunAtStart: true, Run: sh("echo after >> log")},
		}, Options{}
	}).run()
	time.Sleep(300 * time.Millisecond) // the probe sees 503s meanwhile
	if h.read("log") != "" {
		t.Fatalf("a dependent ran while the probe answered 503")
	}
	mu.Lock()
	status = 204
	mu.Unlock()
	waitFor(t, "the dependent to run once the probe answers 204", func() bool { return h.read("log") == "after\n" })
}

// Past ready_timeout the rule is reported with its probe, and its
// dependents are skipped for that batch.
func TestReadyTimeoutReportsRuleAndProbe(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{
			{Name: "slow", Daemon: true, Ready: "line: never printed", ReadyTimeout: 300 * time.Millisecond, Run: sh("echo starting; sleep 60")},
			{Name: "dep", After: []string{"slow"}, RunAtStart: true, Run: sh("echo dep >> log")},
		}, Options{}
	}).run()
	waitFor(t, "the timeout report", func() bool {
		return strings.Contains(h.out.String(), `[slow] not ready after 0.30s: line: never printed: no output line matched "never printed"`)
	})
	waitFor(t, "the dependent to be skipped", func() bool { return strings.Contains(h.out.String(), `[dep] skipped: "slow" failed`) })
	if h.read("log") != "" {
		t.Errorf("the dependent ran although its daemon never became ready")
	}
}

// OnReload fires once per batch, after the reload rules ran and the daemon
// is ready; a failure carries the command's output.
func TestOnReloadAfterRunsAndReadiness(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []ReloadEvent
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{
			{Name: "build", Match: []string{"*.go"}, Reload: true, Run: sh(`echo building; [ ! -e broken ] || { echo "syntax error" >&2; exit 1; }`)},
			{Name: "server", Match: []string{"*.go", "*.css"}, Daemon: true, Reload: true, After: []string{"build"},
				Ready: "line: up", Run: sh("sleep 0.3; echo up; exec sleep 60")},
		}, Options{OnReload: func(ev ReloadEvent) { mu.Lock(); got = append(got, ev); mu.Unlock() }}
	}).run()
	events := func() []ReloadEvent { mu.Lock(); defer mu.Unlock(); return append([]ReloadEvent(nil), got...) }
	waitFor(t, "the start event", func() bool { return len(events()) == 1 })
	h.send("main.go")
	waitFor(t, "the batch's event", func() bool { return len(events()) == 2 })
	if !strings.Contains(h.out.String(), "ready in") || strings.Count(h.out.String(), "[server] up") < 2 {
		t.Errorf("the event came before the restarted daemon was ready:\n%s", h.out.String())
	}
	ev := events()[1]
	if ev.Failed || ev.Rule != "build" || len(ev.Paths) != 2 || ev.Paths[0] != h.path("main.go") {
		t.Errorf("event %+v, want build ok with main.go for both rules", ev)
	}
	if err := os.WriteFile(h.path("broken"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	h.send("main.go")
	waitFor(t, "the failure's event", func() bool { return len(events()) == 3 })
	ev = events()[2]
	if !ev.Failed || ev.Rule != "build" || !strings.Contains(ev.Output, "syntax error") || !strings.Contains(ev.Output, "building") {
		t.Errorf("failure event %+v, want build failed with its output", ev)
	}
}
