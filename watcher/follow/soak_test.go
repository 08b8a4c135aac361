//go:build unix

package follow

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-watch/vigil/internal/testwait"
	"github.com/vigil-watch/vigil/vnode"
)

// soakRate is the writer's pace in lines per second.
const soakRate = 10000

// soakRotations is how many times each logrotate mode rotates.
const soakRotations = 20

// TestSoakLogrotate appends 10,000 sequence-numbered lines a second while
// the real logrotate rotates the file, 20 times in create mode and 20
// times in copytruncate mode. Create mode must lose and duplicate nothing;
// copytruncate must duplicate nothing, and the lines it loses (logrotate's
// documented window between copy and truncate) are counted and logged.
func TestSoakLogrotate(t *testing.T) {
	if testing.Short() {
		t.Skip("soak test: skipped with -short")
	}
	bin, err := exec.LookPath("logrotate")
	if err != nil {
		// Debian installs it in /usr/sbin, which a non-login PATH lacks.
		bin, err = exec.LookPath("/usr/sbin/logrotate")
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("logrotate is required in CI: %v", err)
		}
		t.Skipf("logrotate not installed: %v", err)
	}
	forEachBackend(t, func(t *testing.T, b vnode.Backend) {
		for _, mode := range []string{"create", "copytruncate"} {
			t.Run(mode, func(t *testing.T) { soak(t, b, bin, mode, false) })
			// A glob that also matches the rotated files: each line
			// must still come once.
			t.Run(mode+"-glob", func(t *testing.T) { soak(t, b, bin, mode, true) })
		}
	})
}

// soakWriter appends numbered lines at soakRate, in one write per 10 ms
// tick, and reopens the file by name when asked (as an application does
// when logrotate's postrotate signals it).
type soakWriter struct {
	path   string
	reopen chan chan struct{}
	stop   chan struct{}
	done   chan error
	next   atomic.Int64 // the next sequence number to write
}

func startWriter(path string) (*soakWriter, error) {
	w := &soakWriter{path: path, reopen: make(chan chan struct{}), stop: make(chan struct{}), done: make(chan error, 1)}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	go func() { w.done <- w.run(f) }()
	return w, nil
}

func (w *soakWriter) run(f *os.File) error {
	defer func() { f.Close() }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	var buf []byte
	for {
		select {
		case <-w.stop:
			return nil
		case ack := <-w.reopen:
			f.Close()
			var err error
			f, err = os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
			if err != nil {
				return fmt.Errorf("writer: reopen %s: %w", w.path, err)
			}
			close(ack)
		case now := <-tick.C:
			target := int64(now.Sub(start).Seconds() * soakRate)
			buf = buf[:0]
			n := w.next.Load()
			for ; n < target; n++ {
				buf = fmt.Appendf(buf, "seq %09d the quick brown fox\n", n)
			}
			if len(buf) == 0 {
				continue
			}
			if _, err := f.Write(buf); err != nil {
				return fmt.Errorf("writer: append to %s: %w", w.path, err)
			}
			w.next.Store(n)
		}
	}
}

func soak(t *testing.T, b vnode.Backend, bin, mode string, glob bool) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	conf := filepath.Join(dir, "logrotate.conf")
	state := filepath.Join(dir, "logrotate.state")
	// In create mode the writer reopens the log when postrotate tells it
	// to, through a FIFO, as a daemon does on SIGHUP.
	fifo := filepath.Join(dir, "reopen.fifo")
	how := fmt.Sprintf("create 0644\n\tpostrotate\n\t\techo reopen > %s\n\tendscript", fifo)
	if mode == "copytruncate" {
		how = "copytruncate"
	}
	writeFile(t, conf, fmt.Sprintf("%s {\n\trotate %d\n\t%s\n\tmissingok\n\tnocompress\n}\n", log, soakRotations+5, how))
	writeFile(t, log, "")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// Opened for reading and writing, so that neither side blocks on open.
	ff, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ff.Close()

	var (
		mu    sync.Mutex
		seen  = make(map[int64]int)
		bad   []string
		count atomic.Int64
		last  atomic.Int64
	)
	last.Store(-1)
	pattern := log
	if glob {
		pattern = log + "*"
	}
	r := startWithOut(t, b, Options{Patterns: []string{pattern}}, func(l Line) error {
		n, err := parseSeq(l.Text)
		mu.Lock()
		if err != nil {
			if len(bad) < 5 {
				bad = append(bad, fmt.Sprintf("%q at %d: %v", l.Text, l.Offset, err))
			}
		} else {
			seen[n]++
			if n > last.Load() {
				last.Store(n)
			}
		}
		mu.Unlock()
		count.Add(1)
		return nil
	})
	w, err := startWriter(log)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(ff)
		for sc.Scan() {
			ack := make(chan struct{})
			select {
			case w.reopen <- ack:
				<-ack
			case <-w.stop:
				return
			}
		}
	}()
	stopWriter := func() {
		select {
		case <-w.stop:
		default:
			close(w.stop)
		}
		if err := <-w.done; err != nil {
			t.Error(err)
		}
	}
	defer func() {
		select {
		case <-w.stop:
		default:
			close(w.stop)
			<-w.done
		}
	}()

	began := time.Now()
	for i := range soakRotations {
		// Pace rotations by what the follower has received: about
		// 0.2 s of writing between two rotations.
		from := count.Load()
		waitFor(t, "lines between rotations", func() bool { return count.Load() >= from+soakRate/5 })
		out, err := exec.Command(bin, "-f", "-s", state, conf).CombinedOutput()
		if err != nil {
			t.Fatalf("rotation %d: logrotate: %v\n%s", i, err, out)
		}
	}
	// Keep writing a while after the last rotation, so that the last
	// line is not one lost in copytruncate's window.
	from := count.Load()
	waitFor(t, "lines after the last rotation", func() bool { return count.Load() >= from+soakRate/5 })
	stopWriter()
	total := w.next.Load()
	rotated := time.Since(began)

	// Everything written ends in the last line; wait for it, then for
	// the rest when nothing may be missing.
	if !testwait.For(waitTimeout, func() bool { return last.Load() == total-1 }) {
		t.Fatalf("the last line written (%d) did not arrive in %v; the last to arrive was %d; notices:\n%s", total-1, waitTimeout, last.Load(), r.logText())
	}
	if mode == "create" {
		waitFor(t, "every line", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return int64(len(seen)) == total
		})
	}
	r.cancel()
	<-r.done
	r.done <- nil

	mu.Lock()
	defer mu.Unlock()
	var dups, gaps int64
	for n := range total {
		switch c := seen[n]; {
		case c == 0:
			gaps++
		case c > 1:
			dups += int64(c - 1)
		}
	}
	if len(bad) > 0 {
		t.Errorf("malformed lines: %s", strings.Join(bad, "; "))
	}
	if dups != 0 {
		t.Errorf("%s: %d duplicate lines out of %d", mode, dups, total)
	}
	if mode == "create" && gaps != 0 {
		t.Errorf("%s: %d lines lost out of %d", mode, gaps, total)
	}
	t.Logf("%s (glob %v) on %s: %d lines in %v with %d rotations; %d lost, %d duplicated", mode, glob, b, total, rotated.Round(time.Millisecond), soakRotations, gaps, dups)
	if mode == "copytruncate" && gaps > 0 {
		t.Logf("copytruncate loses what is written between logrotate's copy and its truncation (it fsyncs the copy in between) and was not read before the truncation")
	}
}

func parseSeq(s string) (int64, error) {
	rest, ok := strings.CutPrefix(s, "seq ")
	if !ok || len(rest) < 9 || !strings.HasSuffix(rest, " the quick brown fox") {
		return 0, fmt.Errorf("not a writer line")
	}
	return strconv.ParseInt(rest[:9], 10, 64)
}
