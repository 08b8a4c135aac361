// Command lrbench measures live reload end to end (issue 10): for vigil with
// inherited sockets, vigil without them, and air, it opens the tool's proxy
// in headless Chromium, edits the template of a small Go server (lrserver)
// a number of times, and times each save until the page in the browser shows
// the new text. Meanwhile a client sends requests to the app's port and counts
// those refused or reset while the server restarts.
//
// Every row builds the server with `go build` and runs the binary, as air
// does, so the rows differ only in the tool. See bench/README.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/chromedp/chromedp"
)

type row struct {
	Name      string          `json:"name"`
	Skipped   string          `json:"skipped,omitempty"`
	Saves     []time.Duration `json:"saves_ns"`
	Missed    int             `json:"missed"`
	P50       time.Duration   `json:"p50_ns"`
	P90       time.Duration   `json:"p90_ns"`
	Requests  int64           `json:"requests"`
	Refused   int64           `json:"refused"`
	Reset     int64           `json:"reset"`
	OtherErrs int64           `json:"other_errors"`
}

func main() {
	vigil := flag.String("vigil", "", "vigil binary (empty: skip the vigil rows)")
	air := flag.String("air", "", "air binary (empty: skip the air row)")
	repo := flag.String("repo", ".", "the repository (for bench/cmd/lrserver)")
	chromium := flag.String("chromium", "/usr/bin/chromium", "Chromium binary")
	saves := flag.Int("saves", 20, "template edits per row")
	rate := flag.Int("rate", 60, "requests per second sent to the app's port")
	work := flag.String("work", "/tmp/lrbench", "scratch directory")
	results := flag.String("results", "", "write the rows as JSON into this directory")
	flag.Parse()

	if err := os.MkdirAll(*work, 0o755); err != nil {
		fatal(err)
	}
	if _, err := os.Stat(*chromium); err != nil {
		fatal(fmt.Errorf("chromium: %w", err))
	}
	var rows []*row
	for _, name := range []string{"vigil --socket", "vigil (no socket)", "air"} {
		r := &row{Name: name}
		rows = append(rows, r)
		switch {
		case strings.HasPrefix(name, "vigil") && *vigil == "":
			r.Skipped = "vigil did not build"
		case name == "air" && *air == "":
			r.Skipped = "air is not installed"
		}
		if r.Skipped != "" {
			log("%s: skipped: %s", name, r.Skipped)
			continue
		}
		if err := measure(r, *vigil, *air, *repo, *chromium, *work, *saves, *rate); err != nil {
			r.Skipped = err.Error()
			log("%s: failed: %v", name, err)
		}
	}
	report(rows)
	if *results != "" {
		b, _ := json.MarshalIndent(rows, "", "  ")
		p := filepath.Join(*results, time.Now().Format("20060102-150405")+"-livereload.json")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			log("writing %s: %v", p, err)
		} else {
			log("wrote %s", p)
		}
	}
}

func log(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
}

func fatal(err error) {
	log("lrbench: %v", err)
	os.Exit(1)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// pageHTML is the template with text in the element the browser reads.
func pageHTML(text string) string {
	return "<!doctype html>\n<html><head><title>lrserver</title></head>\n<body><p id=\"msg\">" + text + "</p></body></html>\n"
}

// setupApp copies lrserver into a fresh module in dir.
func setupApp(repo, dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	src, err := os.ReadFile(filepath.Join(repo, "bench", "cmd", "lrserver", "main.go"))
	if err != nil {
		return err
	}
	for name, body := range map[string]string{
		"go.mod":    "module lrapp\n\ngo 1.22\n",
		"main.go":   string(src),
		"page.html": pageHTML("hello"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func measure(r *row, vigil, air, repo, chromium, work string, saves, rate int) error {
	app, err := freePort()
	if err != nil {
		return err
	}
	proxy, err := freePort()
	if err != nil {
		return err
	}
	slug := strings.NewReplacer(" ", "-", "(", "", ")", "").Replace(r.Name)
	slug = strings.Trim(strings.ReplaceAll(slug, "--", "-"), "-")
	dir := filepath.Join(work, slug)
	if err := setupApp(repo, filepath.Join(dir, "app")); err != nil {
		return err
	}
	appDir := filepath.Join(dir, "app")
	bin := filepath.Join(dir, "server") // outside the watched tree
	appAddr := fmt.Sprintf("127.0.0.1:%d", app)
	// The same build-then-run for every row, as air does it.
	build := fmt.Sprintf("go build -o %s .", bin)

	var cmd *exec.Cmd
	switch r.Name {
	case "vigil --socket", "vigil (no socket)":
		args := []string{"--restart"}
		if r.Name == "vigil --socket" {
			args = append(args, "--socket", "tcp://"+appAddr)
		}
		args = append(args, "--ready", "line: lrserver listening",
			"--livereload", fmt.Sprintf("127.0.0.1:%d=http://%s", proxy, appAddr),
			"-g", "**/*.go", "-g", "**/*.html", "--",
			// exec, so that LISTEN_PID (sh's PID) is the server's own PID.
			"sh", "-c", fmt.Sprintf("%s && exec %s -addr %s", build, bin, appAddr))
		cmd = exec.Command(vigil, args...)
	case "air":
		conf := fmt.Sprintf(`root = "."
tmp_dir = %q
[build]
cmd = %q
entrypoint = [%q]
args_bin = ["-addr", %q]
include_ext = ["go", "html"]
exclude_dir = ["tmp"]
delay = 0
send_interrupt = true
kill_delay = "5s"
[proxy]
enabled = true
proxy_port = %d
app_port = %d
[screen]
clear_on_rebuild = false
[misc]
clean_on_exit = false
`, filepath.Join(dir, "airtmp"), build, bin, appAddr, proxy, app)
		if err := os.WriteFile(filepath.Join(appDir, ".air.toml"), []byte(conf), 0o644); err != nil {
			return err
		}
		cmd = exec.Command(air, "-c", ".air.toml")
	}
	logf, err := os.Create(filepath.Join(dir, "tool.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd.Dir, cmd.Stdout, cmd.Stderr = appDir, logf, logf
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer stopGroup(cmd, exited)

	ctx, closeBrowser, err := newBrowser(chromium, dir)
	if err != nil {
		return err
	}
	defer closeBrowser()

	url := fmt.Sprintf("http://127.0.0.1:%d/", proxy)
	log("%s: %s, app on %s (log %s)", r.Name, url, appAddr, logf.Name())
	// The first build and start: navigate until the proxy serves the page.
	deadline := time.Now().Add(120 * time.Second)
	for text(ctx) != "hello" {
		if time.Now().After(deadline) {
			return fmt.Errorf("the page never showed up at %s (see %s)", url, logf.Name())
		}
		nctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		chromedp.Do(nctx, chromedp.Navigate(url))
		cancel()
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second) // the reload script connects

	stop := make(chan struct{})
	h := startHammer("http://"+appAddr+"/", rate, stop)
	for i := 1; i <= saves; i++ {
		want := fmt.Sprintf("save %d", i)
		began := time.Now()
		if err := os.WriteFile(filepath.Join(appDir, "page.html"), []byte(pageHTML(want)), 0o644); err != nil {
			close(stop)
			return err
		}
		shown := false
		for time.Since(began) < 30*time.Second {
			if text(ctx) == want {
				shown = true
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		took := time.Since(began)
		if shown {
			r.Saves = append(r.Saves, took)
			log("%s: %s shown after %v", r.Name, want, took.Round(time.Millisecond))
		} else {
			r.Missed++
			log("%s: %s not shown after 30s", r.Name, want)
		}
		// Let the restart settle before the next save: saves in a burst
		// would measure the debounce, not the reload.
		time.Sleep(1500 * time.Millisecond)
	}
	close(stop)
	<-h.done
	r.Requests, r.Refused, r.Reset, r.OtherErrs = h.total.Load(), h.refused.Load(), h.reset.Load(), h.other.Load()
	for _, e := range h.sample() {
		log("%s: request error: %s", r.Name, e)
	}
	r.P50, r.P90 = pct(r.Saves, 50), pct(r.Saves, 90)
	return nil
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	if i < 1 {
		i = 1
	}
	return s[i-1]
}

// stopGroup stops a tool as a user would (SIGINT to its process group), then
// kills the group if it is still there after a while.
func stopGroup(cmd *exec.Cmd, exited <-chan struct{}) {
	syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-exited
}

func newBrowser(chromium, dir string) (context.Context, func(), error) {
	profile, err := os.MkdirTemp(dir, "chromium-")
	if err != nil {
		return nil, nil, err
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	closeAll := func() { cancelC(); cancelA(); os.RemoveAll(profile) }
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		closeAll()
		return nil, nil, fmt.Errorf("starting Chromium: %w", err)
	}
	return ctx, closeAll, nil
}

// text is the page's #msg text, or "" (no such element, or a page between
// documents).
func text(ctx context.Context) string {
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(c, chromedp.Evaluate[string](`document.querySelector("#msg") ? document.querySelector("#msg").textContent : ""`))
	if err != nil {
		return ""
	}
	return s
}

// hammer sends GETs at a steady rate, each on a new connection, and sorts
// the failures: refused (nothing listening), reset or cut (a connection
// dropped by a stopping server), and the rest.
type hammer struct {
	total, refused, reset, other atomic.Int64
	mu                           sync.Mutex
	errs                         []string
	done                         chan struct{}
}

func startHammer(url string, rate int, stop <-chan struct{}) *hammer {
	h := &hammer{done: make(chan struct{})}
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
			h.total.Add(1)
			go func() {
				defer wg.Done()
				resp, err := client.Get(url)
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						return
					}
					err = fmt.Errorf("status %s", resp.Status)
				}
				switch {
				case errors.Is(err, syscall.ECONNREFUSED):
					h.refused.Add(1)
				case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), strings.Contains(err.Error(), "EOF"):
					h.reset.Add(1)
				default:
					h.other.Add(1)
				}
				h.mu.Lock()
				if len(h.errs) < 3 {
					h.errs = append(h.errs, err.Error())
				}
				h.mu.Unlock()
			}()
		}
	}()
	return h
}

func (h *hammer) sample() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.errs...)
}

func report(rows []*row) {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
	fmt.Printf("\nlive reload: save -> new text in headless Chromium; requests to the app's port during the restarts\n")
	fmt.Printf("%-18s %8s %8s %6s %9s %8s %6s %6s\n", "row", "p50", "p90", "missed", "requests", "refused", "reset", "other")
	var vigilP50, airP50 time.Duration
	var sockRefused int64 = -1
	for _, r := range rows {
		if r.Skipped != "" {
			fmt.Printf("%-18s skipped: %s\n", r.Name, r.Skipped)
			continue
		}
		fmt.Printf("%-18s %8s %8s %6d %9d %8d %6d %6d\n", r.Name, ms(r.P50), ms(r.P90), r.Missed, r.Requests, r.Refused, r.Reset, r.OtherErrs)
		switch r.Name {
		case "vigil --socket":
			vigilP50, sockRefused = r.P50, r.Refused+r.Reset
		case "air":
			airP50 = r.P50
		}
	}
	fmt.Println("\ntargets:")
	if vigilP50 > 0 && airP50 > 0 {
		fmt.Printf("  vigil --socket p50 %s <= air p50 %s: %s\n", ms(vigilP50), ms(airP50), verdict(vigilP50 <= airP50))
	} else {
		fmt.Println("  vigil p50 <= air p50: not measured")
	}
	if sockRefused >= 0 {
		fmt.Printf("  0 refused or reset with sockets (%d): %s\n", sockRefused, verdict(sockRefused == 0))
	} else {
		fmt.Println("  0 refused with sockets: not measured")
	}
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}
