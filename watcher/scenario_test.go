package watcher

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-watch/vigil/vnode"
)

// The scenario language (testdata/scenarios/*.txt), one command per line,
// "#" starts a comment. Paths are relative to the watched root; "." is the
// root itself.
//
//	backends inotify poll kqueue   run only on these variants (poll-nocaps: kqueue's)
//	options debounce=D maxwait=D include=G exclude=G noignore follow root=P
//	                               (root= repeats: several roots)
//	mkdir P                        mkdir -p
//	write P TEXT...                create or truncate, write TEXT and "\n"
//	append P TEXT...
//	files N FMT [TEXT]             write N files named by FMT (with %d, 0..N-1)
//	rm P | rm -r P
//	mv A B
//	chmod MODE P                   octal mode
//	ln -s TARGET P
//	touch P
//	open N P                       open P for appending (created if need be) as descriptor N, kept open
//	fdwrite N TEXT...              write TEXT (no newline) to descriptor N
//	close N                        close descriptor N
//	mmap P TEXT                    overwrite the start of P with TEXT through a shared mapping:
//	                               no write(2), so the kernel reports no write, only the close
//	sh LINE                        /bin/sh -c LINE in the root (or its parent if gone)
//	hold P                         start a process whose working directory is P (a shell
//	                               in the directory), kept until the scenario ends
//	start                          run the watcher; wait for ready
//	pause | resume                 stop / restart the watcher's kernel reads
//	log TEXT                       wait for a Logf line containing TEXT
//	expect [max=N] [rescan | rescan=BACKEND]
//	  OP PATH [OLD]                a change expected (OLD for rename)
//	  each N OP FMT                N changes, paths by FMT
//	end
//	quiet                          no batch arrives for a while
//
// An expect block waits (up to a deadline) until the batches received since
// the previous block add up to exactly the changes listed, in at most N
// batches (default 1).

// variant is a backend the scenarios run against.
type variant struct {
	name    string
	backend vnode.Backend
	caps    *vnode.Caps // override: poll-nocaps runs poll without child names
}

// variants are the backends available here: inotify on Linux; the real
// kqueue backend where the kernel has kqueue or the test binary was built
// over libkqueue (-tags libkqueue, cgo); poll; and poll-nocaps.
func variants() []variant {
	var vs []variant
	if runtime.GOOS == "linux" {
		vs = append(vs, variant{name: "inotify", backend: vnode.Inotify})
	}
	if q, err := vnode.Open(vnode.Options{Backend: vnode.Kqueue}); err == nil {
		q.Close()
		vs = append(vs, variant{name: "kqueue", backend: vnode.Kqueue})
	}
	return append(vs,
		variant{name: "poll", backend: vnode.Poll},
		// The kqueue code paths of this package (rescan-and-diff of
		// directories, renames paired by inode, a watch per file) on the
		// poll backend, with the child names and child writes it could
		// report ignored: they run wherever the tests do.
		variant{name: "poll-nocaps", backend: vnode.Poll, caps: &vnode.Caps{}},
	)
}

// onLibkqueue says whether v is kqueue over libkqueue (Linux).
func onLibkqueue(v variant) bool { return v.backend == vnode.Kqueue && runtime.GOOS == "linux" }

const (
	testPoll    = 30 * time.Millisecond
	testQuiet   = 200 * time.Millisecond
	testMaxWait = time.Second
	deadline    = 20 * time.Second
)

func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("../testdata/scenarios/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios found: %v", err)
	}
	for _, v := range variants() {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			for _, file := range files {
				name := strings.TrimSuffix(filepath.Base(file), ".txt")
				t.Run(name, func(t *testing.T) {
					runScenario(t, v, file)
				})
			}
		})
	}
}

// harness runs one scenario against one variant.
type harness struct {
	t    *testing.T
	v    variant
	dir  string // the root
	opts Options

	rootSet bool             // a root= option replaced the default root
	fds     map[int]*os.File // open N P

	cancel context.CancelFunc
	done   chan error

	mu      sync.Mutex
	cond    *sync.Cond
	batches []Batch
	logs    []string
	taken   int // batches consumed by previous expect blocks

	pauseMu sync.Mutex
	paused  chan struct{} // non-nil while paused: the loop blocks on it
}

func runScenario(t *testing.T, v variant, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) > 0 && f[0] == "backends" && !slices.Contains(f[1:], v.name) &&
			(v.name != "poll-nocaps" || !slices.Contains(f[1:], "kqueue")) {
			if onLibkqueue(v) {
				t.Skipf("libkqueue: scenario not meant for kqueue (backends %s)", strings.Join(f[1:], " "))
			}
			t.Skipf("scenario not meant for %s", v.name)
		}
	}
	h := &harness{t: t, v: v, dir: filepath.Join(t.TempDir(), "root")}
	h.cond = sync.NewCond(&h.mu)
	if err := os.Mkdir(h.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	h.opts = Options{
		Roots: []string{h.dir}, Debounce: testQuiet, MaxWait: testMaxWait,
		Backend: v.backend, PollInterval: testPoll,
	}
	defer h.stop()
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		where := fmt.Sprintf("%s:%d", filepath.Base(file), i+1)
		f := strings.Fields(line)
		if f[0] == "expect" {
			j := i + 1
			for j < len(lines) && strings.TrimSpace(lines[j]) != "end" {
				j++
			}
			if j == len(lines) {
				t.Fatalf("%s: expect without end", where)
			}
			h.expect(where, f[1:], lines[i+1:j])
			i = j
			continue
		}
		h.do(where, line, f)
	}
	if h.cancel != nil {
		h.quiet("end of script")
	}
}

func (h *harness) path(p string) string {
	if p == "." {
		return h.dir
	}
	return filepath.Join(h.dir, p)
}

func (h *harness) do(where, line string, f []string) {
	t := h.t
	t.Helper()
	fail := func(err error) {
		if err != nil {
			t.Fatalf("%s: %s: %v", where, line, err)
		}
	}
	need := func(n int) {
		if len(f) < n+1 {
			t.Fatalf("%s: %s: want %d arguments", where, line, n)
		}
	}
	rest := func(n int) string { // the line after n fields
		s := line
		for i := 0; i < n; i++ {
			s = strings.TrimLeft(s, " \t")
			s = s[strings.IndexAny(s+" ", " \t"):]
		}
		return strings.TrimLeft(s, " \t")
	}
	switch f[0] {
	case "backends":
	case "options":
		for _, o := range f[1:] {
			k, val, _ := strings.Cut(o, "=")
			switch k {
			case "debounce", "maxwait":
				d, err := time.ParseDuration(val)
				fail(err)
				if k == "debounce" {
					h.opts.Debounce = d
				} else {
					h.opts.MaxWait = d
				}
			case "include":
				h.opts.Include = append(h.opts.Include, val)
			case "exclude":
				h.opts.Exclude = append(h.opts.Exclude, val)
			case "noignore":
				h.opts.NoIgnore = true
			case "follow":
				h.opts.FollowSymlinks = true
			case "root":
				if !h.rootSet {
					h.opts.Roots, h.rootSet = nil, true
				}
				h.opts.Roots = append(h.opts.Roots, h.path(val))
			default:
				t.Fatalf("%s: unknown option %q", where, o)
			}
		}
	case "mkdir":
		need(1)
		fail(os.MkdirAll(h.path(f[1]), 0o755))
	case "write":
		need(1)
		fail(os.WriteFile(h.path(f[1]), []byte(rest(2)+"\n"), 0o644))
	case "append":
		need(1)
		fh, err := os.OpenFile(h.path(f[1]), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		fail(err)
		_, err = fh.WriteString(rest(2) + "\n")
		fail(err)
		fail(fh.Close())
	case "files":
		need(2)
		n, err := strconv.Atoi(f[1])
		fail(err)
		text := []byte(rest(3) + "\n")
		for i := 0; i < n; i++ {
			fail(os.WriteFile(h.path(fmt.Sprintf(f[2], i)), text, 0o644))
		}
	case "rm":
		need(1)
		if f[1] == "-r" {
			need(2)
			fail(os.RemoveAll(h.path(f[2])))
		} else {
			fail(os.Remove(h.path(f[1])))
		}
	case "mv":
		need(2)
		fail(os.Rename(h.path(f[1]), h.path(f[2])))
	case "chmod":
		need(2)
		m, err := strconv.ParseUint(f[1], 8, 32)
		fail(err)
		fail(os.Chmod(h.path(f[2]), os.FileMode(m)))
	case "ln":
		need(3)
		fail(os.Symlink(f[2], h.path(f[3])))
	case "touch":
		need(1)
		p := h.path(f[1])
		if _, err := os.Stat(p); err != nil {
			fail(os.WriteFile(p, nil, 0o644))
		} else {
			now := time.Now()
			fail(os.Chtimes(p, now, now))
		}
	case "open":
		need(2)
		n, err := strconv.Atoi(f[1])
		fail(err)
		fh, err := os.OpenFile(h.path(f[2]), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		fail(err)
		if h.fds == nil {
			h.fds = map[int]*os.File{}
		}
		h.fds[n] = fh
	case "fdwrite", "close":
		need(1)
		n, err := strconv.Atoi(f[1])
		fail(err)
		fh := h.fds[n]
		if fh == nil {
			t.Fatalf("%s: %s: descriptor %d is not open", where, line, n)
		}
		if f[0] == "close" {
			delete(h.fds, n)
			fail(fh.Close())
			break
		}
		_, err = fh.WriteString(rest(2))
		fail(err)
	case "mmap":
		need(2)
		fail(writeMapped(h.path(f[1]), []byte(rest(2))))
	case "sh":
		dir := h.dir
		if _, err := os.Stat(dir); err != nil {
			dir = filepath.Dir(dir)
		}
		cmd := exec.Command("/bin/sh", "-c", rest(1))
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %s: %v\n%s", where, line, err, out)
		}
	case "hold":
		cmd := exec.Command("sleep", "600")
		cmd.Dir = h.path(rest(1))
		if err := cmd.Start(); err != nil {
			t.Fatalf("%s: %s: %v", where, line, err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	case "start":
		h.start(where)
	case "pause":
		h.pauseMu.Lock()
		h.paused = make(chan struct{})
		h.pauseMu.Unlock()
	case "resume":
		h.pauseMu.Lock()
		close(h.paused)
		h.paused = nil
		h.pauseMu.Unlock()
	case "log":
		h.waitLog(where, rest(1))
	case "quiet":
		h.quiet(where)
	default:
		t.Fatalf("%s: unknown command %q", where, f[0])
	}
}

func (h *harness) start(where string) {
	w, err := New(h.opts)
	if err != nil {
		h.t.Fatalf("%s: New: %v", where, err)
	}
	w.caps = h.v.caps
	w.beforeWait = func() {
		h.pauseMu.Lock()
		p := h.paused
		h.pauseMu.Unlock()
		if p != nil {
			<-p
		}
	}
	w.o.Logf = func(format string, args ...any) {
		h.mu.Lock()
		h.logs = append(h.logs, fmt.Sprintf(format, args...))
		h.mu.Unlock()
		h.cond.Broadcast()
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	out := make(chan Batch)
	ready := make(chan Stats, 1)
	go func() { h.done <- w.Run(ctx, func(s Stats) { ready <- s }, out) }()
	go func() {
		for {
			select {
			case b := <-out:
				h.mu.Lock()
				h.batches = append(h.batches, b)
				h.mu.Unlock()
				h.cond.Broadcast()
			case <-ctx.Done():
				return
			}
		}
	}()
	select {
	case <-ready:
	case err := <-h.done:
		h.t.Fatalf("%s: Run returned before ready: %v", where, err)
	case <-time.After(deadline):
		h.t.Fatalf("%s: not ready after %v", where, deadline)
	}
}

func (h *harness) stop() {
	for n, fh := range h.fds {
		fh.Close()
		delete(h.fds, n)
	}
	if h.cancel == nil {
		return
	}
	h.pauseMu.Lock()
	if h.paused != nil {
		close(h.paused)
		h.paused = nil
	}
	h.pauseMu.Unlock()
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
	case <-time.After(deadline):
		h.t.Errorf("Run did not return after cancel")
	}
	h.cancel = nil
}

// waitFor waits until cond (called with h.mu held) is true or the deadline
// passes; it reports whether cond became true.
func (h *harness) waitFor(d time.Duration, cond func() bool) bool {
	// end is fixed before the timer starts, and the timer broadcasts under
	// h.mu: a wake-up that came just before end, or between the check
	// and the Wait, would otherwise leave the Wait with no one to wake it.
	end := time.Now().Add(d)
	timer := time.AfterFunc(time.Until(end)+time.Millisecond, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.cond.Broadcast()
	})
	defer timer.Stop()
	h.mu.Lock()
	defer h.mu.Unlock()
	for !cond() {
		if !time.Now().Before(end) {
			return false
		}
		h.cond.Wait()
	}
	return true
}

func (h *harness) waitLog(where, text string) {
	ok := h.waitFor(deadline, func() bool {
		return slices.ContainsFunc(h.logs, func(l string) bool { return strings.Contains(l, text) })
	})
	if !ok {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.t.Fatalf("%s: no log line containing %q; got:\n%s", where, text, strings.Join(h.logs, "\n"))
	}
}

// quiet checks that no batch arrives for a few quiet periods.
func (h *harness) quiet(where string) {
	settle := 3*h.opts.Debounce + 5*testPoll
	if h.waitFor(settle, func() bool { return len(h.batches) > h.taken }) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.t.Fatalf("%s: unexpected batch(es):\n%s", where, fmtBatches(h.dir, h.batches[h.taken:]))
	}
}

type changeKey struct{ op, path, old string }

func (h *harness) expect(where string, args []string, body []string) {
	t := h.t
	maxBatches := 1
	rescan := "" // "" unchecked, "yes" required
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "max":
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("%s: bad max: %v", where, err)
			}
			maxBatches = n
		case "rescan":
			if v == "" || v == h.v.name {
				rescan = "yes"
			}
		default:
			t.Fatalf("%s: unknown expect argument %q", where, a)
		}
	}
	want := map[changeKey]bool{}
	for _, l := range body {
		f := strings.Fields(l)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if f[0] == "each" {
			n, _ := strconv.Atoi(f[1])
			for i := 0; i < n; i++ {
				want[changeKey{f[2], h.path(fmt.Sprintf(f[3], i)), ""}] = true
			}
			continue
		}
		k := changeKey{op: f[0], path: h.path(f[1])}
		if len(f) > 2 {
			k.old = h.path(f[2])
		}
		want[k] = true
	}
	got := func() map[changeKey]bool {
		// Batches add up: a create followed by a write in a later batch
		// (a poll tick that saw the file empty) is still a create.
		m := map[string]changeKey{}
		for _, b := range h.batches[h.taken:] {
			for _, c := range b.Changes {
				k := changeKey{c.Op.String(), c.Path, c.Old}
				if prev, ok := m[c.Path]; ok && (prev.op == "create" || prev.op == "rename") && (k.op == "write" || k.op == "chmod") {
					k = prev
				}
				m[c.Path] = k
			}
		}
		out := map[changeKey]bool{}
		for _, k := range m {
			out[k] = true
		}
		return out
	}
	equal := func(a, b map[changeKey]bool) bool {
		if len(a) != len(b) {
			return false
		}
		for k := range a {
			if !b[k] {
				return false
			}
		}
		return true
	}
	ok := h.waitFor(deadline, func() bool { return equal(got(), want) })
	h.mu.Lock()
	defer h.mu.Unlock()
	recv := h.batches[h.taken:]
	if !ok {
		t.Fatalf("%s: want changes:\n%s\ngot batches:\n%s", where, fmtKeys(h.dir, want), fmtBatches(h.dir, recv))
	}
	if len(recv) > maxBatches {
		t.Errorf("%s: changes came in %d batches, want at most %d:\n%s", where, len(recv), maxBatches, fmtBatches(h.dir, recv))
	}
	if rescan == "yes" && !slices.ContainsFunc(recv, func(b Batch) bool { return b.Rescan }) {
		t.Errorf("%s: no batch marked rescan", where)
	}
	for _, b := range recv {
		seen := map[string]bool{}
		for _, c := range b.Changes {
			if seen[c.Path] {
				t.Errorf("%s: %s appears twice in one batch", where, c.Path)
			}
			seen[c.Path] = true
		}
	}
	h.taken = len(h.batches)
}

func rel(dir, p string) string {
	if p == dir {
		return "."
	}
	if r, err := filepath.Rel(dir, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}

func fmtKeys(dir string, m map[changeKey]bool) string {
	var lines []string
	for k := range m {
		s := "  " + k.op + " " + rel(dir, k.path)
		if k.old != "" {
			s += " " + rel(dir, k.old)
		}
		lines = append(lines, s)
	}
	sort.Strings(lines)
	return trimLines(lines)
}

func fmtBatches(dir string, bs []Batch) string {
	var sb strings.Builder
	for i, b := range bs {
		fmt.Fprintf(&sb, "  batch %d (rescan %v, %d changes):\n", i+1, b.Rescan, len(b.Changes))
		var lines []string
		for _, c := range b.Changes {
			s := "    " + c.Op.String() + " " + rel(dir, c.Path)
			if c.Old != "" {
				s += " " + rel(dir, c.Old)
			}
			lines = append(lines, s)
		}
		sb.WriteString(trimLines(lines))
		sb.WriteByte('\n')
	}
	return sb.String()
}

// trimLines keeps failure output readable for the 20,000-file scenarios.
func trimLines(lines []string) string {
	if len(lines) > 40 {
		n := len(lines)
		lines = append(lines[:30:30], fmt.Sprintf("  ... %d more", n-30))
	}
	var sb strings.Builder
	w := bufio.NewWriter(&sb)
	for _, l := range lines {
		w.WriteString(l + "\n")
	}
	w.Flush()
	return strings.TrimRight(sb.String(), "\n")
}
