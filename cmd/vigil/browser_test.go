//go:build linux

package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/vigil-watch/vigil/internal/testwait"
)

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// browserPatience bounds each wait on the page: a restart, a reload and a
// render on a loaded machine.
const browserPatience = 30 * time.Second

// newBrowser starts headless Chromium and returns a context for one tab. It
// skips the test when Chromium is absent, except in CI, where it must run.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing, and CI must run the browser tests (install the Debian package chromium)", chromiumPath)
		}
		t.Skipf("headless Chromium not installed (%s); apt-get install chromium to run the browser tests", chromiumPath)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelC(); cancelA() })
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return ctx
}

// evalString evaluates expr in the page; errors (a page between documents)
// give "".
func evalString(ctx context.Context, expr string) string {
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(c, chromedp.Evaluate[string](expr))
	if err != nil {
		return ""
	}
	return s
}

// waitPage waits until expr evaluates to want in the page, and returns how
// long that took.
func waitPage(t *testing.T, ctx context.Context, what, expr, want string) time.Duration {
	t.Helper()
	began := time.Now()
	testwait.Until(t, browserPatience, what, func() bool { return evalString(ctx, expr) == want })
	return time.Since(began)
}

func localPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

const siteServer = `
const fs = require("fs");
const server = require("http").createServer((req, res) => {
  if (req.url.startsWith("/style.css")) {
    res.setHeader("Content-Type", "text/css");
    return res.end(fs.readFileSync("style.css"));
  }
  res.setHeader("Content-Type", "text/html; charset=utf-8");
  res.end(fs.readFileSync("index.html"));
});
server.listen({fd: 3}, () => console.log("node listening"));
process.on("SIGTERM", () => { server.close(() => process.exit(0)); server.closeIdleConnections(); });
`

func page(text string) string {
	return `<!doctype html>
<html><head><link rel="stylesheet" href="/style.css">
<script>window.loadedAt = String(Math.random());</script></head>
<body><p id="msg">` + text + `</p></body></html>
`
}

// liveSite writes a small site served by node behind vigil's proxy, starts
// vigil on it, and returns the site's directory, the proxy's URL and a func
// that stops vigil, calls meanwhile and starts vigil again.
func liveSite(t *testing.T) (dir, url string, restart func(meanwhile func())) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	dir = t.TempDir()
	app, proxy := localPort(t), localPort(t)
	cfg := fmt.Sprintf(`livereload:
  listen: 127.0.0.1:%d
  proxy: http://127.0.0.1:%d
rules:
  - name: build
    match: ["*.html"]
    run: "if grep -q BROKEN index.html; then printf '\\033[31merror:\\033[0m index.html: BROKEN <tag> & more\\n' >&2; exit 1; fi"
    reload: true
  - name: server
    match: ["*.html", "*.css"]
    run: node server.js
    daemon: true
    sockets: ["tcp://127.0.0.1:%d"]
    ready: "line: node listening"
    after: [build]
    reload: true
`, proxy, app, app)
	for name, body := range map[string]string{
		"vigil.yaml": cfg, "server.js": siteServer, "index.html": page("hello"),
		"style.css": "#msg { color: rgb(0, 0, 255); }\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	log, err := os.Create(filepath.Join(dir, "vigil.log"))
	if err != nil {
		t.Fatal(err)
	}
	var cmd *exec.Cmd
	start := func() {
		log.Truncate(0)
		log.Seek(0, 0)
		cmd = exec.Command("vigil")
		cmd.Dir, cmd.Stdout, cmd.Stderr = dir, log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		testwait.Until(t, browserPatience, "vigil to start the server", func() bool {
			b, _ := os.ReadFile(log.Name())
			return strings.Contains(string(b), "[server] ready in")
		})
	}
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}
	t.Cleanup(func() {
		stop()
		log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("vigil's output:\n%s", b)
		}
	})
	start()
	return dir, fmt.Sprintf("http://127.0.0.1:%d/", proxy), func(meanwhile func()) { stop(); meanwhile(); start() }
}

func write(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

const (
	msgText  = `document.querySelector("#msg") ? document.querySelector("#msg").textContent : ""`
	msgColor = `document.querySelector("#msg") ? getComputedStyle(document.querySelector("#msg")).color : ""`
)

// TestBrowserLiveReload drives headless Chromium through vigil's proxy: a
// template edit shows without a manual refresh, a CSS edit restyles in place
// (state set at load survives), and a broken build shows the error page
// until the fix brings the page back.
func TestBrowserLiveReload(t *testing.T) {
	ctx := newBrowser(t)
	dir, url, restart := liveSite(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the first page", msgText, "hello")
	waitPage(t, ctx, "the reload script to connect", `String(!!window.__vigilLiveReload)`, "true")

	write(t, dir, "index.html", page("edited template"))
	took := waitPage(t, ctx, "the edited template to show without a refresh", msgText, "edited template")
	t.Logf("template save → new text in the browser: %v", took.Round(time.Millisecond))

	loadedAt := evalString(ctx, "window.loadedAt")
	waitPage(t, ctx, "the first stylesheet", msgColor, "rgb(0, 0, 255)")
	write(t, dir, "style.css", "#msg { color: rgb(255, 0, 0); }\n")
	took = waitPage(t, ctx, "the CSS edit to restyle the page", msgColor, "rgb(255, 0, 0)")
	t.Logf("stylesheet save → new colour: %v", took.Round(time.Millisecond))
	if got := evalString(ctx, "window.loadedAt"); got == "" || got != loadedAt {
		t.Errorf("the page reloaded for a CSS-only edit (a value set at load went from %q to %q)", loadedAt, got)
	}

	write(t, dir, "index.html", page("BROKEN"))
	waitPage(t, ctx, "the error page", `document.querySelector("h1.vigil-error") ? document.querySelector("h1.vigil-error").textContent : ""`, "build failed")
	body := evalString(ctx, "document.body.innerText")
	if !strings.Contains(body, "error: index.html: BROKEN <tag> & more") || strings.Contains(body, "\x1b") {
		t.Errorf("the error page does not show the build's output cleanly:\n%s", body)
	}
	write(t, dir, "index.html", page("fixed"))
	took = waitPage(t, ctx, "the fixed page to come back", msgText, "fixed")
	t.Logf("fix save → page back: %v", took.Round(time.Millisecond))

	// vigil restarts: the tab reconnects and reloads by itself.
	loadedAt = evalString(ctx, "window.loadedAt")
	// The edit happens while no vigil runs: only the reconnection can
	// bring it to the tab.
	restart(func() { write(t, dir, "index.html", page("after vigil restarted")) })
	waitPage(t, ctx, "the tab to reload after vigil restarted", msgText, "after vigil restarted")
	if got := evalString(ctx, "window.loadedAt"); got == loadedAt {
		t.Errorf("the page was not reloaded after vigil restarted")
	}
}
