//go:build unix

package follow

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-watch/vigil/internal/testwait"
	"github.com/vigil-watch/vigil/vnode"
)

// TestResumeSoakChild is the follower TestResumeSoak starts, stops and
// starts again: a process of its own, so that SIGKILL is a real one. It
// runs only when that test runs it.
func TestResumeSoakChild(t *testing.T) {
	env := os.Getenv("VIGIL_SOAK_CHILD")
	if env == "" {
		t.Skip("started by TestResumeSoak only")
	}
	// log|state|out|ready|backend
	args := strings.Split(env, "|")
	out, err := os.OpenFile(args[2], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	pr := NewPrinter(out, PrintOptions{Buffered: true})
	f, err := New(Options{Patterns: []string{args[0]}, Last: -1, State: args[1], Grace: 2 * time.Second,
		Backend: vnode.Backend(args[4]), PollInterval: 20 * time.Millisecond,
		Flush: pr.Flush, Chunks: pr.PrintChunk,
		Logf: func(format string, a ...any) { fmt.Fprintf(os.Stderr, format+"\n", a...) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	ready := func() {
		if err := os.WriteFile(args[3], nil, 0o644); err != nil {
			t.Error(err)
		}
	}
	if err := f.Run(ctx, ready, pr.Print); err != nil {
		t.Fatal(err)
	}
}

// TestResumeSoak: a writer appends 10,000 numbered lines a second while a
// follower with a state file is stopped and started again 20 times (8 with
// -short), alternately by SIGTERM and SIGKILL, and the file is rotated by
// rename (logrotate create) and by copytruncate, some of the rotations
// while the follower is stopped (at most one per stop: the state knows
// the files of the last run, not of rotations it never saw). No line may
// be lost, none shown twice after a SIGTERM; duplicates after a SIGKILL
// (lines shown after the last save) are counted and logged.
func TestResumeSoak(t *testing.T) {
	restarts := 20
	if testing.Short() {
		restarts = 8
	}
	forEachBackend(t, func(t *testing.T, b vnode.Backend) { resumeSoak(t, b, restarts) })
}

func resumeSoak(t *testing.T, b vnode.Backend, restarts int) {
	dir := t.TempDir()
	log, state, outName, readyName := filepath.Join(dir, "app.log"), filepath.Join(dir, "state.json"),
		filepath.Join(dir, "out"), filepath.Join(dir, "ready")
	writeFile(t, log, "")
	writeFile(t, outName, "")
	var stderr syncBuffer

	start := func() *exec.Cmd {
		t.Helper()
		os.Remove(readyName)
		cmd := exec.Command(os.Args[0], "-test.run=^TestResumeSoakChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "VIGIL_SOAK_CHILD="+strings.Join([]string{log, state, outName, readyName, string(b)}, "|"))
		cmd.Stderr = &stderr
		cmd.Stdout = io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		testwait.Until(t, 30*time.Second, "the follower to be ready", func() bool {
			_, err := os.Stat(readyName)
			return err == nil
		})
		return cmd
	}

	// The writer: 100 lines every 10 ms; rotations when asked, done by
	// the writer itself between two writes, so that no line falls into
	// logrotate's copytruncate window (which no follower can close).
	var (
		mu       sync.Mutex
		rotate   string // "create" or "copytruncate", pending
		next     int    // next line number
		rotation int
	)
	stopWriter, begin := make(chan struct{}), make(chan struct{})
	writerDone := make(chan error, 1)
	go func() {
		<-begin // once the first follower is in place
		w, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			writerDone <- err
			return
		}
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		var buf []byte
		for {
			select {
			case <-stopWriter:
				writerDone <- w.Close()
				return
			case <-tick.C:
			}
			mu.Lock()
			buf = buf[:0]
			for range soakRate / 100 {
				buf = fmt.Appendf(buf, "L%09d\n", next)
				next++
			}
			mode := rotate
			rotate = ""
			mu.Unlock()
			if _, err := w.Write(buf); err != nil {
				writerDone <- err
				return
			}
			if mode == "" {
				continue
			}
			rotation++
			old := fmt.Sprintf("%s.%d", log, rotation)
			switch mode {
			case "create":
				if err := os.Rename(log, old); err != nil {
					writerDone <- err
					return
				}
				w.Close()
				if w, err = os.OpenFile(log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err != nil {
					writerDone <- err
					return
				}
			case "copytruncate":
				data, err := os.ReadFile(log)
				if err == nil {
					err = os.WriteFile(old, data, 0o644)
				}
				if err == nil {
					err = w.Truncate(0)
				}
				if err != nil {
					writerDone <- err
					return
				}
			}
		}
	}()
	ask := func(mode string) {
		mu.Lock()
		rotate = mode
		mu.Unlock()
	}
	outSize := func() int64 {
		fi, err := os.Stat(outName)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}

	// segments[i] starts at out offset starts[i] and follows a stop by
	// signal sigs[i] (none for the first).
	var (
		starts []int64
		sigs   []syscall.Signal
	)
	cmd := start()
	close(begin)
	starts, sigs = append(starts, 0), append(sigs, 0)
	modes := []string{"create", "copytruncate"}
	for i := range restarts {
		time.Sleep(time.Duration(200+50*(i%4)) * time.Millisecond)
		if i%3 == 0 {
			ask(modes[i/3%2]) // a rotation while running
			time.Sleep(60 * time.Millisecond)
		}
		sig := syscall.SIGTERM
		if i%2 == 1 {
			sig = syscall.SIGKILL
		}
		cmd.Process.Signal(sig)
		cmd.Wait()
		if i%3 == 1 {
			ask(modes[i/3%2]) // a rotation while stopped
		}
		time.Sleep(time.Duration(100+40*(i%3)) * time.Millisecond)
		starts, sigs = append(starts, outSize()), append(sigs, sig)
		cmd = start()
	}
	close(stopWriter)
	if err := <-writerDone; err != nil {
		t.Fatalf("writer: %v", err)
	}
	mu.Lock()
	total := next
	mu.Unlock()
	last := fmt.Sprintf("L%09d\n", total-1)
	testwait.Until(t, 60*time.Second, "the last line", func() bool {
		data, _ := os.ReadFile(outName)
		return strings.Contains(string(data), last)
	})
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()

	// Count: every line seen, and each repeat charged to the stop before
	// the segment it came in.
	f, err := os.Open(outName)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := make([]int, total)
	var dupTerm, dupKill, bad int
	var off int64
	seg := 0
	sc := bufio.NewScanner(f)
	var torn int
	for sc.Scan() {
		line := sc.Text()
		for seg+1 < len(starts) && off >= starts[seg+1] {
			seg++
		}
		if seg+1 < len(starts) && starts[seg+1] < off+int64(len(line)) && sigs[seg+1] == syscall.SIGKILL {
			// SIGKILL can cut a write short: the killed follower's
			// last bytes, then the next one's first line.
			line = line[starts[seg+1]-off:]
			off = starts[seg+1]
			seg++
			torn++
		}
		off += int64(len(line)) + 1
		n, err := strconv.Atoi(strings.TrimPrefix(line, "L"))
		if err != nil || n < 0 || n >= total || !strings.HasPrefix(line, "L") {
			bad++
			continue
		}
		seen[n]++
		if seen[n] > 1 {
			if sigs[seg] == syscall.SIGKILL {
				dupKill++
			} else {
				dupTerm++
			}
		}
	}
	lost := 0
	firstLost := -1
	for n, c := range seen {
		if c == 0 {
			lost++
			if firstLost < 0 {
				firstLost = n
			}
		}
	}
	t.Logf("%s: %d lines, %d restarts (%d rotations): lost %d, duplicates after SIGTERM %d, after SIGKILL %d (%d writes cut by SIGKILL)",
		b, total, restarts, rotation, lost, dupTerm, dupKill, torn)
	if lost > 0 || dupTerm > 0 || bad > 0 {
		t.Errorf("lost %d lines (first L%09d), %d duplicates after SIGTERM, %d malformed lines\nfollower notices:\n%s",
			lost, firstLost, dupTerm, bad, stderr.String())
	}
}
