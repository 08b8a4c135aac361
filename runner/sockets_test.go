//go:build unix

package runner

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// envHelperServer turns the test binary into a server that knows nothing of
// vigil: it takes its listener by the socket-activation protocol alone.
const envHelperServer = "VIGIL_TEST_ACTIVATED_SERVER"

// TestHelperActivatedServer is not a test: run as a child with
// envHelperServer set, it serves HTTP on the inherited fd 3, answering with
// its PID, and on SIGTERM finishes the requests it accepted and exits.
func TestHelperActivatedServer(t *testing.T) {
	if os.Getenv(envHelperServer) == "" {
		t.Skip("helper process")
	}
	fail := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "activated server: "+format+"\n", a...)
		os.Exit(3)
	}
	if pid := os.Getenv("LISTEN_PID"); pid != strconv.Itoa(os.Getpid()) {
		fail("LISTEN_PID=%q, but my PID is %d", pid, os.Getpid())
	}
	n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if err != nil || n < 1 {
		fail("LISTEN_FDS=%q", os.Getenv("LISTEN_FDS"))
	}
	names := strings.Split(os.Getenv("LISTEN_FDNAMES"), ":")
	if len(names) != n {
		fail("LISTEN_FDNAMES=%q for %d fds", os.Getenv("LISTEN_FDNAMES"), n)
	}
	// Before serving: a SIGTERM's default action would drop accepted
	// connections.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	// Graceful stop by hand: http.Server.Shutdown drops a request that
	// it accepted but had not read yet, which a client sees as EOF.
	var conns atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "pid %d\n", os.Getpid())
	}), ConnState: func(c net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			conns.Add(1)
		case http.StateClosed, http.StateHijacked:
			conns.Add(-1)
		}
	}}
	var wg sync.WaitGroup
	var lns []net.Listener
	for i := range n {
		ln, err := net.FileListener(os.NewFile(uintptr(3+i), names[i]))
		if err != nil {
			fail("fd %d: %v", 3+i, err)
		}
		lns = append(lns, ln)
		wg.Add(1)
		go func() { defer wg.Done(); srv.Serve(ln) }()
	}
	fmt.Printf("serving %s on %d fds\n", os.Getenv("LISTEN_FDNAMES"), n)
	<-sig
	srv.SetKeepAlivesEnabled(false)
	for _, ln := range lns {
		ln.Close() // connections not accepted yet stay queued for the next run
	}
	wg.Wait()
	for conns.Load() > 0 {
		time.Sleep(5 * time.Millisecond)
	}
	os.Exit(0)
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// hammer sends requests to url at about rate per second until stop is
// closed, each on a new connection, and counts answers and failures.
type hammer struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	errs       []string
	bodies     map[string]bool
	done       chan struct{}
}

func startHammer(url string, rate int, stop <-chan struct{}) *hammer {
	h := &hammer{done: make(chan struct{}), bodies: map[string]bool{}}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}, Timeout: 30 * time.Second}
	go func() {
		defer close(h.done)
		var wg sync.WaitGroup
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for {
			select {
			case <-stop:
				wg.Wait()
				return
			case <-tick.C:
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := client.Get(url)
				if err == nil {
					var b []byte
					b, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = errors.New(resp.Status)
					}
					if err == nil {
						h.mu.Lock()
						h.bodies[string(b)] = true
						h.mu.Unlock()
					}
				}
				if err != nil {
					h.failed.Add(1)
					h.mu.Lock()
					h.errs = append(h.errs, err.Error())
					h.mu.Unlock()
					return
				}
				h.ok.Add(1)
			}()
		}
	}()
	return h
}

// restartUnderLoad restarts an activated daemon 20 times while a client
// sends 60 requests a second, and asserts that every request was answered.
func restartUnderLoad(t *testing.T, run []Command, ready string) {
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{{Name: "web", Run: run, Daemon: true, Sockets: []string{"tcp://" + addr}, Ready: ready, StopTimeout: 5 * time.Second}}, Options{}
	}).run()
	// The listener exists before any run: a request now waits in the
	// backlog for the first server.
	stop := make(chan struct{})
	hm := startHammer("http://"+addr+"/", 60, stop)
	waitFor(t, "the first run to be ready", func() bool { return strings.Count(h.out.String(), "ready in") >= 1 })
	const restarts = 20
	for i := 1; i <= restarts; i++ {
		// Each server answers a few requests before the next restart.
		before := hm.ok.Load()
		waitFor(t, "requests to be answered", func() bool { return hm.ok.Load() >= before+5 })
		h.send("main.go")
		waitFor(t, fmt.Sprintf("restart %d to be ready", i), func() bool { return strings.Count(h.out.String(), "ready in") >= i+1 })
	}
	close(stop)
	<-hm.done
	h.stop()
	t.Logf("%d requests answered, %d failed, %d distinct servers answered", hm.ok.Load(), hm.failed.Load(), len(hm.bodies))
	if n := hm.failed.Load(); n > 0 {
		t.Errorf("%d requests failed across %d restarts: %v", n, restarts, hm.errs[:min(5, len(hm.errs))])
	}
	if hm.ok.Load() < 100 {
		t.Errorf("only %d requests were made; the client did not load the server", hm.ok.Load())
	}
	if len(hm.bodies) < restarts/2 {
		t.Errorf("answers came from %d distinct servers over %d restarts: the restarts did not happen under load", len(hm.bodies), restarts)
	}
	// At exit the address is free again: vigil closed its listener.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Errorf("after Run returned, %s is still taken: %v", addr, err)
	} else {
		ln.Close()
	}
}

func TestSocketsGoServerRestartsRefuseNothing(t *testing.T) {
	exe, _ := os.Executable()
	t.Setenv(envHelperServer, "1")
	restartUnderLoad(t, []Command{{Argv: []string{exe, "-test.run=^TestHelperActivatedServer$"}}}, "line: ^serving web on 1 fds")
}

const nodeServer = `
if (process.env.LISTEN_PID !== String(process.pid)) { console.error("LISTEN_PID", process.env.LISTEN_PID, "is not", process.pid); process.exit(3); }
const server = require("http").createServer((req, res) => res.end("node " + process.pid + "\n"));
server.listen({fd: 3}, () => console.log("node listening"));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
`

func TestSocketsNodeServerRestartsRefuseNothing(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node is not installed, and CI must run this test")
		}
		t.Skip("node is not installed")
	}
	script := filepath.Join(t.TempDir(), "server.js")
	if err := os.WriteFile(script, []byte(nodeServer), 0o644); err != nil {
		t.Fatal(err)
	}
	// A plain shell string: vigil execs it without a shell, so LISTEN_PID
	// is node's own PID.
	restartUnderLoad(t, []Command{{Shell: "node " + script}}, "line: node listening")
}

func TestSocketsEnvironment(t *testing.T) {
	p1, p2 := freePort(t), freePort(t)
	sock := filepath.Join(t.TempDir(), "app.sock")
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{
			{Name: "two", Run: sh(`exec sh -c 'echo "fds=$LISTEN_FDS names=$LISTEN_FDNAMES pidok=$([ "$LISTEN_PID" = $$ ] && echo yes)" > env.txt; ls /proc/$$/fd > fds.txt'`),
				RunAtStart: true, Sockets: []string{fmt.Sprintf("tcp://127.0.0.1:%d", p1), fmt.Sprintf("tcp://[::1]:%d", p2), "unix://" + sock}},
			{Name: "none", Run: sh(`echo "fds=${LISTEN_FDS-unset} pid=${LISTEN_PID-unset}" > none.txt`), RunAtStart: true},
		}, Options{}
	})
	t.Setenv("LISTEN_FDS", "7") // vigil's own must not leak through
	h.run()
	waitFor(t, "both rules to run", func() bool { return h.read("env.txt") != "" && h.read("none.txt") != "" })
	if got, want := strings.TrimSpace(h.read("env.txt")), "fds=3 names=two-1:two-2:two-3 pidok=yes"; got != want {
		t.Errorf("socket rule's environment: %q, want %q", got, want)
	}
	if got, want := strings.TrimSpace(h.read("none.txt")), "fds=unset pid=unset"; got != want {
		t.Errorf("rule without sockets: %q, want %q", got, want)
	}
	// The unix socket exists while vigil runs and answers (from the backlog).
	if c, err := net.Dial("unix", sock); err != nil {
		t.Errorf("unix socket while running: %v", err)
	} else {
		c.Close()
	}
	h.stop()
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unix socket %s still exists after Run returned (%v)", sock, err)
	}
}

func TestSocketsStaleUnixReplacedLiveRefused(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s.sock")
	// A stale socket: bound, then its owner went away without removing it.
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	r, err := New([]Rule{{Name: "s", Run: sh("true"), Sockets: []string{"unix://" + sock}}}, Options{})
	if err != nil {
		t.Fatalf("a stale socket file must be replaced: %v", err)
	}
	// Now it is live: a second runner must refuse it, naming rule and address.
	_, err = New([]Rule{{Name: "other", Run: sh("true"), Sockets: []string{"unix://" + sock}}}, Options{})
	var se *SocketError
	if !errors.As(err, &se) || se.Rule != "other" || !strings.Contains(err.Error(), sock) || !strings.Contains(err.Error(), "in use") {
		t.Errorf("a live socket: got %v, want a SocketError naming rule other, %s, in use", err, sock)
	}
	r.Close()
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Close left %s behind", sock)
	}
}

func TestSocketsAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := "tcp://" + ln.Addr().String()
	_, err = New([]Rule{{Name: "web", Run: sh("true"), Sockets: []string{addr}}}, Options{})
	var se *SocketError
	if !errors.As(err, &se) || se.Rule != "web" || se.Addr != addr || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("got %v, want a SocketError for rule web, %s, already in use", err, addr)
	}
	if os.Geteuid() != 0 {
		_, err = New([]Rule{{Name: "low", Run: sh("true"), Sockets: []string{"tcp://127.0.0.1:81"}}}, Options{})
		if err == nil || !strings.Contains(err.Error(), "privilege") {
			t.Errorf("a privileged port without privilege: got %v", err)
		}
	}
}

func TestSocketAddrParse(t *testing.T) {
	good := map[string]SocketAddr{
		"tcp://127.0.0.1:8080": {Network: "tcp", Addr: "127.0.0.1:8080"},
		"tcp://[::1]:80":       {Network: "tcp", Addr: "[::1]:80"},
		"tcp://localhost:3000": {Network: "tcp", Addr: "localhost:3000"},
		"unix:///run/app.sock": {Network: "unix", Addr: "/run/app.sock"},
	}
	for in, want := range good {
		got, err := ParseSocketAddr(in)
		if err != nil || got != want {
			t.Errorf("ParseSocketAddr(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"127.0.0.1:80", "tcp://127.0.0.1", "tcp://example.com:80", "tcp://1.2.3.4:0", "tcp://1.2.3.4:99999", "udp://1.2.3.4:5", "unix://rel.sock", "tcp://::1:80"} {
		if _, err := ParseSocketAddr(in); err == nil {
			t.Errorf("ParseSocketAddr(%q) accepted a malformed address", in)
		}
	}
	if err := Validate([]Rule{{Name: "x", Run: sh("x"), Daemon: true, Sockets: []string{"tcp://127.0.0.1:9"}, Ready: "tcp://127.0.0.1:9"}}); err == nil || !strings.Contains(err.Error(), "own socket") {
		t.Errorf("ready on the rule's own socket: got %v", err)
	}
}

func TestSimpleCommand(t *testing.T) {
	for in, want := range map[string]string{
		"node server.js":           "node|server.js",
		"exec ./bin/app --port=80": "./bin/app|--port=80",
		"go run ./cmd/server":      "go|run|./cmd/server",
	} {
		got, ok := simpleCommand(in)
		if !ok || strings.Join(got, "|") != want {
			t.Errorf("simpleCommand(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"a && b", "PORT=1 app", "echo $HOME", "cd x", "app > log", "echo 'x'"} {
		if _, ok := simpleCommand(in); ok {
			t.Errorf("simpleCommand(%q) took a shell command for a plain one", in)
		}
	}
}
