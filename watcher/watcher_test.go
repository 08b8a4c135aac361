package watcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-watch/vigil/internal/testwait"
	"github.com/vigil-watch/vigil/vnode"
)

func TestBatchJSON(t *testing.T) {
	b := Batch{
		Time: time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC),
		Changes: []Change{
			{Path: "/abs/src/main.go", Op: Write},
			{Path: "/abs/b.go", Op: Rename, Old: "/abs/a.go"},
			{Path: "/abs/c.go", Op: Create, Old: "/ignored/for/non-renames"},
		},
	}
	got, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"time":"2026-11-26T10:00:00.123456789Z","rescan":false,"changes":[` +
		`{"path":"/abs/src/main.go","op":"write"},{"path":"/abs/b.go","op":"rename","old":"/abs/a.go"},` +
		`{"path":"/abs/c.go","op":"create"}]}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	empty, _ := json.Marshal(Batch{Time: b.Time, Rescan: true})
	if !strings.Contains(string(empty), `"rescan":true,"changes":[]`) {
		t.Errorf("empty batch: %s", empty)
	}
	var back Batch
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
	if back.Changes[1].Op != Rename || back.Changes[1].Old != "/abs/a.go" || !back.Time.Equal(b.Time) {
		t.Errorf("round trip: %+v", back)
	}
	for op, name := range map[Op]string{Create: "create", Write: "write", Remove: "remove", Rename: "rename", Chmod: "chmod"} {
		if op.String() != name {
			t.Errorf("%d.String() = %q, want %q", op, op.String(), name)
		}
	}
}

func TestNewRejectsBadGlobs(t *testing.T) {
	for _, o := range []Options{
		{Include: []string{"**/*.go", "src/[a-"}},
		{Exclude: []string{"{unclosed"}},
	} {
		_, err := New(o)
		if err == nil {
			t.Fatalf("New(%+v) accepted a bad pattern", o)
		}
		bad := append(o.Include, o.Exclude...)[len(append(o.Include, o.Exclude...))-1]
		if !strings.Contains(err.Error(), bad) {
			t.Errorf("error %q does not name the pattern %q", err, bad)
		}
	}
}

func TestScan(t *testing.T) {
	dir := t.TempDir()
	for p, content := range map[string]string{
		".gitignore":        "dist/\n*.out\n",
		"main.go":           "x",
		"main_test.go":      "x",
		"README.md":         "x",
		"a.out":             "x",
		"dist/bundle.go":    "x",
		"pkg/x/x.go":        "x",
		"pkg/x/x_gen.go":    "x",
		"pkg/x/.x.go.swp":   "x",
		".git/config":       "x",
		"node_modules/m.go": "x",
	} {
		full := filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Scan(Options{Roots: []string{dir}, Include: []string{"**/*.go"}, Exclude: []string{"**/*_gen.go", "node_modules/**"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "main.go"), filepath.Join(dir, "main_test.go"), filepath.Join(dir, "pkg/x/x.go")}
	if !slices.Equal(got, want) {
		t.Errorf("Scan = %q\nwant   %q", got, want)
	}
	// A file root admits just that file, whatever the filters say.
	got, err = Scan(Options{Roots: []string{filepath.Join(dir, "a.out")}, Include: []string{"**/*.go"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{filepath.Join(dir, "a.out")}) {
		t.Errorf("file root: Scan = %q", got)
	}
	// NoIgnore: .gitignore and the default ignores are off.
	got, _ = Scan(Options{Roots: []string{dir}, NoIgnore: true})
	if len(got) != 11 {
		t.Errorf("NoIgnore: %d files, want all 11: %q", len(got), got)
	}
}

// TestNetEffect drives the index's recording functions directly: the
// batch's net effect per path, judged against the batch's start.
func TestNetEffect(t *testing.T) {
	const (
		a, b, c, tmp = "/r/a", "/r/b", "/r/c", "/r/.a.tmp"
	)
	type op func(r *run)
	set := func(p string, had bool, ino, newIno uint64) op {
		return func(r *run) { r.recSet(p, had, kFile, ino, kFile, newIno) }
	}
	gone := func(p string, ino uint64) op { return func(r *run) { r.recGone(p, kFile, ino) } }
	mv := func(from, to string, ino uint64) op { return func(r *run) { r.recMoved(from, to, kFile, ino) } }
	write := func(p string) op { return func(r *run) { r.recWrite(p, kFile, 1) } }
	chmod := func(p string) op { return func(r *run) { r.recAttrib(p, kFile, 1) } }
	tests := []struct {
		name    string
		cookies bool
		ops     []op
		want    []Change
	}{
		{"create then remove vanishes", true, []op{set(c, false, 0, 9), write(c), gone(c, 9)}, nil},
		{"remove then create is a write", true, []op{gone(a, 1), set(a, false, 0, 2)}, []Change{{Path: a, Op: Write}}},
		{"remove then create reusing the inode is a write", true, []op{gone(a, 1), set(a, false, 0, 1)}, []Change{{Path: a, Op: Write}}},
		{"atomic save is a write of the target only", true,
			[]op{set(tmp, false, 0, 7), write(tmp), gone(a, 1), mv(tmp, a, 7)}, []Change{{Path: a, Op: Write}}},
		{"vim: rename away, create, delete backup", true,
			[]op{mv(a, a+"~", 1), set(a, false, 0, 2), write(a), gone(a+"~", 1)}, []Change{{Path: a, Op: Write}}},
		{"rename chain keeps the first name", true,
			[]op{mv(a, b, 1), mv(b, c, 1)}, []Change{{Path: c, Op: Rename, Old: a}}},
		{"rename then write stays a rename", true,
			[]op{mv(a, b, 1), write(b)}, []Change{{Path: b, Op: Rename, Old: a}}},
		{"rename over an existing file", true,
			[]op{gone(b, 2), mv(a, b, 1)}, []Change{{Path: b, Op: Rename, Old: a}}},
		{"renamed away and back is a write", true,
			[]op{mv(a, b, 1), mv(b, a, 1)}, []Change{{Path: a, Op: Write}}},
		{"chmod alone", true, []op{chmod(a)}, []Change{{Path: a, Op: Chmod}}},
		{"write and chmod is a write", true, []op{chmod(a), write(a)}, []Change{{Path: a, Op: Write}}},
		{"without cookies a remove and a create of one inode pair up", false,
			[]op{gone(a, 5), set(b, false, 0, 5)}, []Change{{Path: b, Op: Rename, Old: a}}},
		{"with cookies they do not (inode reuse is common)", true,
			[]op{gone(a, 5), set(b, false, 0, 5)}, []Change{{Path: a, Op: Remove}, {Path: b, Op: Create}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &run{cur: newPending(), caps: vnode.Caps{RenameCookies: tt.cookies}}
			// Files a and b exist at the start, with inodes 1 and 2; the
			// first record of a path snapshots the state it is given.
			for _, o := range tt.ops {
				o(r)
			}
			got := r.flush(time.Now()).Changes
			if !slices.Equal(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// collector gathers the batches of a running watcher.
type collector struct {
	mu      sync.Mutex
	batches []Batch
	times   []time.Time
}

// has says whether a batch so far reported path with op.
func (c *collector) has(path string, op Op) bool {
	return slices.ContainsFunc(c.changesOf(path), func(ch Change) bool { return ch.Path == path && ch.Op == op })
}

func startWatcher(t *testing.T, o Options) (*collector, context.CancelFunc) {
	t.Helper()
	w, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return runWatcher(t, w)
}

// runWatcher runs w (its test hooks set) as startWatcher does.
func runWatcher(t *testing.T, w *Watcher) (*collector, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan Batch)
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, func(Stats) { close(ready) }, out) }()
	c := &collector{}
	go func() {
		for {
			select {
			case b := <-out:
				c.mu.Lock()
				c.batches = append(c.batches, b)
				c.times = append(c.times, time.Now())
				c.mu.Unlock()
			case <-ctx.Done():
				return
			}
		}
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(deadline):
		t.Fatal("watcher not ready")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(deadline):
			t.Errorf("Run did not return after cancel")
		}
	})
	return c, cancel
}

// TestGrowingFileBatchesEveryMaxWait: a file written without pause never
// lets the quiet period elapse; the max wait still closes a batch.
func TestGrowingFileBatchesEveryMaxWait(t *testing.T) {
	for _, v := range variants() {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			log := filepath.Join(dir, "app.log")
			if err := os.WriteFile(log, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			const maxWait = 500 * time.Millisecond
			c, _ := startWatcher(t, Options{Roots: []string{dir}, Debounce: 200 * time.Millisecond,
				MaxWait: maxWait, Backend: v.backend, PollInterval: testPoll})
			f, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			start := time.Now()
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for time.Since(start) < 3*time.Second {
				<-tick.C
				f.WriteString("line\n")
			}
			stop := time.Now()
			c.mu.Lock()
			defer c.mu.Unlock()
			var during []time.Time
			for i, b := range c.batches {
				if c.times[i].Before(stop) {
					during = append(during, c.times[i])
				}
				if len(b.Changes) != 1 || b.Changes[0].Path != log || b.Changes[0].Op != Write {
					t.Errorf("batch %d: %+v, want one write of %s", i, b.Changes, log)
				}
			}
			// 3 s of writes with a 0.5 s max wait: about 6 batches. Allow
			// a loaded machine some slack, but the quiet period alone
			// would have produced none.
			if len(during) < 3 {
				t.Fatalf("%d batches during 3 s of continuous writes, want at least 3 (max wait %v)", len(during), maxWait)
			}
			for i := 1; i < len(during); i++ {
				if gap := during[i].Sub(during[i-1]); gap > 4*maxWait {
					t.Errorf("batches %d and %d are %v apart, want about %v", i, i+1, gap, maxWait)
				}
			}
		})
	}
}

// TestSlowConsumer: changes made while nobody takes batches are neither lost
// nor blocking; they come in the next batch.
func TestSlowConsumer(t *testing.T) {
	for _, v := range variants() {
		t.Run(v.name, func(t *testing.T) { testSlowConsumer(t, v) })
	}
}

func testSlowConsumer(t *testing.T, v variant) {
	dir := t.TempDir()
	w, err := New(Options{Roots: []string{dir}, Debounce: 50 * time.Millisecond, Backend: v.backend, PollInterval: testPoll})
	if err != nil {
		t.Fatal(err)
	}
	w.caps = v.caps
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan Batch) // unbuffered, and not read for a while
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, func(Stats) { close(ready) }, out) }()
	<-ready
	os.WriteFile(filepath.Join(dir, "one"), []byte("1"), 0o644)
	// The first batch is closed and waits for the consumer, who is busy
	// (running a build, say). Meanwhile another change happens.
	waitUntil(t, "the first batch is closed", func() bool { return w.handoffs.Load() >= 1 })
	os.WriteFile(filepath.Join(dir, "two"), []byte("2"), 0o644)
	seen := map[string]Op{}
	timeout := time.After(deadline)
	for len(seen) < 2 {
		select {
		case b := <-out:
			for _, c := range b.Changes {
				seen[filepath.Base(c.Path)] = c.Op
			}
		case <-timeout:
			t.Fatalf("after a slow consumer, saw only %v", seen)
		}
	}
	if seen["one"] != Create || seen["two"] != Create {
		t.Errorf("got %v, want both created", seen)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// waitUntil polls cond until it holds or the deadline passes.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.Until(t, deadline, what, cond)
}

// TestLimitReportedOnce: when the kernel layer says a limit was reached and
// the watch is polled instead, the user hears it once and nothing is lost.
func TestLimitReportedOnce(t *testing.T) {
	for _, v := range variants() {
		t.Run(v.name, func(t *testing.T) { testLimitReportedOnce(t, v) })
	}
}

func testLimitReportedOnce(t *testing.T, v variant) {
	dir := t.TempDir()
	for _, d := range []string{"a", "b", "c/d"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	w, err := New(Options{Roots: []string{dir}, Debounce: 50 * time.Millisecond, Backend: v.backend, PollInterval: testPoll})
	if err != nil {
		t.Fatal(err)
	}
	w.caps = v.caps
	var mu sync.Mutex
	var logs []string
	w.o.Logf = func(format string, args ...any) {
		mu.Lock()
		logs = append(logs, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	w.watchResult = func(path string, id vnode.ID, err error) (vnode.ID, error) {
		if err != nil {
			return id, err
		}
		return id, &vnode.LimitError{Path: path, Limit: "fs.inotify.max_user_watches", Value: 8192,
			Raise: "sudo sysctl fs.inotify.max_user_watches=524288", Polled: true}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan Batch, 10)
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, func(Stats) { close(ready) }, out) }()
	<-ready
	target := filepath.Join(dir, "c/d/new.go")
	os.WriteFile(target, []byte("x"), 0o644)
	select {
	case b := <-out:
		if len(b.Changes) != 1 || b.Changes[0].Path != target || b.Changes[0].Op != Create {
			t.Errorf("got %+v, want create %s", b.Changes, target)
		}
	case <-time.After(deadline):
		t.Fatal("no batch for a change under a polled watch")
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	n := 0
	for _, l := range logs {
		if strings.Contains(l, "fs.inotify.max_user_watches") {
			n++
			if !strings.Contains(l, "sudo sysctl fs.inotify.max_user_watches=524288") || !strings.Contains(l, "8192") {
				t.Errorf("limit notice lacks the value or the fix: %q", l)
			}
		}
	}
	if n != 1 {
		t.Errorf("limit reported %d times, want once: %q", n, logs)
	}
}

// TestOnErrorNotices: problems that do not stop Run reach a library user as
// *Notice values: an unreadable directory, a root removed and back.
func TestOnErrorNotices(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads any directory")
	}
	for _, v := range variants() {
		t.Run(v.name, func(t *testing.T) {
			parent := t.TempDir()
			root := filepath.Join(parent, "root")
			locked := filepath.Join(root, "locked")
			os.MkdirAll(locked, 0o755)
			os.Chmod(locked, 0)
			t.Cleanup(func() { os.Chmod(locked, 0o755) })
			var mu sync.Mutex
			var got []*Notice
			onError := func(err error) {
				var n *Notice
				if !errors.As(err, &n) {
					t.Errorf("OnError got %T %v, want a *Notice", err, err)
					return
				}
				mu.Lock()
				got = append(got, n)
				mu.Unlock()
			}
			has := func(k NoticeKind, path string) func() bool {
				return func() bool {
					mu.Lock()
					defer mu.Unlock()
					for _, n := range got {
						if n.Kind == k && n.Path == path {
							return true
						}
					}
					return false
				}
			}
			startWatcher(t, Options{Roots: []string{root}, Backend: v.backend, PollInterval: testPoll, OnError: onError,
				Logf: func(f string, a ...any) { t.Errorf("Logf called though OnError is set: "+f, a...) }})
			waitUntil(t, "the unreadable directory is reported", has(Unreadable, locked))
			mu.Lock()
			for _, n := range got {
				if n.Kind == Unreadable && !errors.Is(n, fs.ErrPermission) {
					t.Errorf("Unreadable notice %v does not wrap the permission error", n)
				}
			}
			mu.Unlock()
			os.Chmod(locked, 0o755)
			if err := os.RemoveAll(root); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, "the removed root is reported", has(RootRemoved, root))
			os.Mkdir(root, 0o755)
			waitUntil(t, "the root's return is reported", has(RootBack, root))
		})
	}
}

// TestQuietCountsFromTakingIn: the quiet period starts once the watcher
// has taken in the events it read, not when its wait returned. A change
// made while the watcher was busy with earlier ones (a burst it takes
// longer to apply than the quiet period) is unread, not quiet, and joins
// the same batch; counting from the wait split a 1 ms-debounce burst into
// up to nine runs in the peer benchmark.
func TestQuietCountsFromTakingIn(t *testing.T) {
	for _, v := range variants() {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			const quiet = 150 * time.Millisecond // several poll intervals
			w, err := New(Options{Roots: []string{dir}, Backend: v.backend, PollInterval: testPoll,
				Debounce: quiet, MaxWait: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			w.caps = v.caps
			var once sync.Once
			w.afterEvents = func(n int) {
				if n == 0 {
					return
				}
				once.Do(func() {
					// The watcher is busy with a's events: b comes now,
					// and applying them takes two quiet periods.
					if err := os.WriteFile(filepath.Join(dir, "b"), []byte("x"), 0o644); err != nil {
						t.Error(err)
					}
					time.Sleep(2 * quiet) // the stimulus: slow taking in, not a wait for a condition
				})
			}
			c, _ := runWatcher(t, w)
			if err := os.WriteFile(filepath.Join(dir, "a"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, "b reported", func() bool { return c.has(filepath.Join(dir, "b"), Create) })
			c.mu.Lock()
			defer c.mu.Unlock()
			if len(c.batches) != 1 || len(c.batches[0].Changes) != 2 {
				t.Errorf("got %+v, want one batch: create a, create b", c.batches)
			}
		})
	}
}
