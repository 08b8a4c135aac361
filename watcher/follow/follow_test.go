package follow

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-watch/vigil/vnode"
)

func TestAppend(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b vnode.Backend) {
		dir := t.TempDir()
		log := filepath.Join(dir, "app.log")
		var initial strings.Builder
		for i := 1; i <= 12; i++ {
			fmt.Fprintf(&initial, "l%d\n", i)
		}
		writeFile(t, log, initial.String())
		r := startFollower(t, b, Options{Patterns: []string{log}})
		want := []string{"l3", "l4", "l5", "l6", "l7", "l8", "l9", "l10", "l11", "l12"}
		r.expect(want...)
		appendFile(t, log, "a1\na2\n")
		want = append(want, "a1", "a2")
		r.expect(want...)
		appendFile(t, log, "a3\n")
		want = append(want, "a3")
		r.expect(want...)

		lines := r.snapshot()
		if lines[0].File != log {
			t.Errorf("File = %q, want %q", lines[0].File, log)
		}
		// Offsets point at each line's first byte.
		data, _ := os.ReadFile(log)
		for _, l := range lines {
			if !bytes.HasPrefix(data[l.Offset:], []byte(l.Text+"\n")) {
				t.Errorf("line %q: offset %d does not start it", l.Text, l.Offset)
			}
		}
	})
}

func TestLastAndFromLine(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	writeFile(t, log, "one\ntwo\nthree\nfour")
	cases := []struct {
		name string
		o    Options
		want []string
	}{
		{"last 2 with a partial last line", Options{Last: 2}, []string{"three"}},
		{"none", Options{Last: -1}, nil},
		{"from line 2", Options{FromLine: 2}, []string{"two", "three"}},
		{"more than the file holds", Options{Last: 100}, []string{"one", "two", "three"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.o.Patterns = []string{log}
			r := startFollower(t, vnode.Poll, c.o)
			r.expect(c.want...)
		})
	}
}

// TestRotateRenameCreate rotates like logrotate's create mode 50 times.
func TestRotateRenameCreate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b vnode.Backend) {
		dir := t.TempDir()
		log := filepath.Join(dir, "app.log")
		writeFile(t, log, "start\n")
		r := startFollower(t, b, Options{Patterns: []string{log}})
		want := []string{"start"}
		r.expect(want...)
		for i := range 50 {
			appendFile(t, log, fmt.Sprintf("old%d\n", i))
			if err := os.Rename(log, log+".1"); err != nil {
				t.Fatal(err)
			}
			writeFile(t, log, fmt.Sprintf("new%d\n", i))
			want = append(want, fmt.Sprintf("old%d", i), fmt.Sprintf("new%d", i))
			r.expect(want...)
		}
		r.waitLog("app.log: replaced, following new file")
		// No leak across rotations: once the grace periods are over, one
		// file and one directory watch remain.
		waitFor(t, "rotated files to be closed", func() bool { return r.f.nfiles.Load() == 1 })
		if n := r.f.ndirs.Load(); n != 1 {
			t.Errorf("%d directory watches after 50 rotations, want 1", n)
		}
	})
}

// TestRotateCopyTruncate rotates like logrotate's copytruncate 50 times.
func TestRotateCopyTruncate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b vnode.Backend) {
		dir := t.TempDir()
		log := filepath.Join(dir, "app.log")
		writeFile(t, log, "start of a long enough first line\n")
		r := startFollower(t, b, Options{Patterns: []string{log}})
		want := []string{"start of a long enough first line"}
		r.expect(want...)
		for i := range 50 {
			line := fmt.Sprintf("before truncation %d", i)
			appendFile(t, log, line+"\n")
			want = append(want, line)
			r.expect(want...)
			data, err := os.ReadFile(log)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, log+".1", string(data))
			if err := os.Truncate(log, 0); err != nil {
				t.Fatal(err)
			}
			line = fmt.Sprintf("after %d", i)
			appendFile(t, log, line+"\n")
			want = append(want, line)
			r.expect(want...)
		}
		r.waitLog("app.log: file truncated")
	})
}

func TestDeleteRecreate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b vnode.Backend) {
		dir := t.TempDir()
		log := filepath.Join(dir, "app.log")
		writeFile(t, log, "a1\n")
		r := startFollower(t, b, Options{Patterns: []string{log}})
		r.expect("a1")
		if err := os.Remove(log); err != nil {
			t.Fatal(err)
		}
		r.waitLog("app.log: removed")
		writeFile(t, log, "r1\n")
		r.expect("a1", "r1")
		r.waitLog("app.log: appeared")
		appendFile(t, log, "r2\n")
		r.expect("a1", "r1", "r2")
	})
}

// TestFileAndDirAppearLater follows a file whose directory does not exist.
func TestFileAndDirAppearLater(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b vnode.Backend) {
		dir := t.TempDir()
		log := filepath.Join(dir, "missing", "deeper", "app.log")
		r := startFollower(t, b, Options{Patterns: []string{log}})
		r.waitLog("not found")
		if err := os.MkdirAll(filepath.Dir(log), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, log, "x1\n")
		r.expect("x1")
		appendFile(t, log, "x2\n")
		r.expect("x1", "x2")
		// The directory goes away and comes back.
		if err := os.RemoveAll(filepath.Join(dir, "missing")); err != nil {
			t.Fatal(err)
		}
		r.waitLog("removed")
		if err := os.MkdirAll(filepath.Dir(log), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, log, "y1\n")
		r.expect("x1", "x2", "y1")
		// The watches placed on ancestors while waiting are dropped.
		waitFor(t, "one directory watch", func() bool { return r.f.ndirs.Load() == 1 })
	})
}

// TestTruncateRegrowPastOffset rewrites the file, in one go, with more bytes
// than were read: GNU tail loses the first bytes here.
func TestTruncateRegrowPastOffset(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b vnode.Backend) {
		dir := t.TempDir()
		log := filepath.Join(dir, "app.log")
		writeFile(t, log, "a1\na2\n")
		r := startFollower(t, b, Options{Patterns: []string{log}})
		r.expect("a1", "a2")
		// Build the new contents aside and swap the bytes in with one
		// write, so that no look can fall between truncation and growth.
		f, err := os.OpenFile(log, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte("XXXXXXXXXXXXXXXXXXXX-new-longer-line\n"), 0); err != nil {
			t.Fatal(err)
		}
		f.Close()
		r.expect("a1", "a2", "XXXXXXXXXXXXXXXXXXXX-new-longer-line")
		r.waitLog("file truncated")
		appendFile(t, log, "next\n")
		r.expect("a1", "a2", "XXXXXXXXXXXXXXXXXXXX-new-longer-line", "next")
	})
}

func TestAtomicReplace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b vnode.Backend) {
		dir := t.TempDir()
		log := filepath.Join(dir, "app.log")
		writeFile(t, log, "a1\na2\n")
		r := startFollower(t, b, Options{Patterns: []string{log}})
		r.expect("a1", "a2")
		writeFile(t, log+".tmp", "z1\nz2\n")
		if err := os.Rename(log+".tmp", log); err != nil {
			t.Fatal(err)
		}
		r.expect("a1", "a2", "z1", "z2")
		r.waitLog("replaced")
	})
}

// TestLateWritesToRotatedFile: the writer keeps appending to the old file
// after the rename, until it reopens; those lines must not be lost.
func TestLateWritesToRotatedFile(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b vnode.Backend) {
		dir := t.TempDir()
		log := filepath.Join(dir, "app.log")
		w, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		w.WriteString("a1\n")
		r := startFollower(t, b, Options{Patterns: []string{log}, Grace: 5 * time.Second})
		r.expect("a1")
		if err := os.Rename(log, log+".1"); err != nil {
			t.Fatal(err)
		}
		writeFile(t, log, "n1\n")
		r.expect("a1", "n1")
		// The follower has switched; the writer has not noticed yet.
		w.WriteString("LATE\n")
		appendFile(t, log, "n2\n")
		r.expectSet("a1", "n1", "LATE", "n2")
	})
}

func TestPartialLine(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b vnode.Backend) {
		dir := t.TempDir()
		log := filepath.Join(dir, "app.log")
		other := filepath.Join(dir, "other.log")
		writeFile(t, log, "")
		writeFile(t, other, "")
		r := startFollower(t, b, Options{Patterns: []string{log, other}})
		appendFile(t, log, "first\npart")
		r.expect("first")
		// A later line in another file shows the follower has moved on
		// without delivering the partial line.
		appendFile(t, other, "marker\n")
		r.expect("first", "marker")
		appendFile(t, log, "ial\n")
		r.expect("first", "marker", "partial")
		if got := r.snapshot()[2]; got.Offset != 6 || got.File != log {
			t.Errorf("partial line = %+v, want offset 6 in %s", got, log)
		}
	})
}

func TestMaxLine(t *testing.T) {
	var got []Line
	tf := &tfile{name: "/x"}
	emit := func(l Line) error { got = append(got, l); return nil }
	for _, chunk := range []string{"abc", "defgh", "ij\nklmnopqrstu\nv"} {
		if err := tf.consume([]byte(chunk), 4, emit); err != nil {
			t.Fatal(err)
		}
	}
	want := []Line{
		{File: "/x", Text: "abcd", Offset: 0}, {File: "/x", Text: "efgh", Offset: 4}, {File: "/x", Text: "ij", Offset: 8},
		{File: "/x", Text: "klmn", Offset: 11}, {File: "/x", Text: "opqr", Offset: 15}, {File: "/x", Text: "stu", Offset: 19},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
	if string(tf.partial) != "v" || tf.partialOff != 23 || tf.off != 24 {
		t.Errorf("waiting partial %q at %d (offset %d), want \"v\" at 23 (offset 24)", tf.partial, tf.partialOff, tf.off)
	}
}

// TestTwoFilesHeaders prints two followed files through a Printer.
func TestTwoFilesHeaders(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b vnode.Backend) {
		dir := t.TempDir()
		a, c := filepath.Join(dir, "a.log"), filepath.Join(dir, "c.log")
		writeFile(t, a, "a1\n")
		var buf syncBuffer
		p := NewPrinter(&buf, PrintOptions{Headers: true})
		o := Options{Patterns: []string{a, c}}
		r := startWithOut(t, b, o, p.Print)
		r.waitLog("c.log: not found")
		r.expect("a1")
		writeFile(t, c, "c1\n")
		r.expect("a1", "c1")
		appendFile(t, c, "c2\n")
		r.expect("a1", "c1", "c2")
		appendFile(t, a, "a2\n")
		r.expect("a1", "c1", "c2", "a2")
		want := fmt.Sprintf("==> %s <==\na1\n\n==> %s <==\nc1\nc2\n\n==> %s <==\na2\n", a, c, a)
		if got := buf.String(); got != want {
			t.Errorf("output:\n%s\nwant:\n%s", got, want)
		}
	})
}

func TestPrinterJSON(t *testing.T) {
	var buf bytes.Buffer
	p := NewPrinter(&buf, PrintOptions{JSON: true, Headers: true})
	p.Print(Line{File: "/a.log", Text: "plain", Offset: 5_000_000_000})
	p.Print(Line{File: "/b \"q\".log", Text: "tab\there <é> \xff", Offset: 0})
	want := `{"file":"/a.log","line":"plain","offset":5000000000}` + "\n" +
		`{"file":"/b \"q\".log","line":"tab\there \u003cé\u003e \ufffd","offset":0}` + "\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

func TestPid(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b vnode.Backend) {
		dir := t.TempDir()
		log := filepath.Join(dir, "app.log")
		writeFile(t, log, "a1\n")
		cmd := exec.Command("sleep", "60")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Process.Kill()
		r := startFollower(t, b, Options{Patterns: []string{log}, Pids: []int{cmd.Process.Pid}})
		r.expect("a1")
		appendFile(t, log, "a2\n")
		r.expect("a1", "a2")
		select {
		case err := <-r.done:
			t.Fatalf("Run returned while the process lives: %v", err)
		default:
		}
		cmd.Process.Kill()
		cmd.Wait()
		select {
		case err := <-r.done:
			if err != nil {
				t.Fatalf("Run after the process exited: %v", err)
			}
			r.done <- nil // for the cleanup
		case <-time.After(waitTimeout):
			t.Fatalf("Run still running %v after the process exited", waitTimeout)
		}
	})
}

// TestOutputClosed: the reader of the output goes away; Run must return
// the write error promptly.
func TestOutputClosed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b vnode.Backend) {
		dir := t.TempDir()
		log := filepath.Join(dir, "app.log")
		writeFile(t, log, "")
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer pw.Close()
		p := NewPrinter(pw, PrintOptions{})
		r := startWithOut(t, b, Options{Patterns: []string{log}}, p.Print)
		pr.Close()
		appendFile(t, log, "nobody reads this\n")
		select {
		case err := <-r.done:
			if !errors.Is(err, syscall.EPIPE) {
				t.Fatalf("Run returned %v, want EPIPE", err)
			}
			r.done <- nil
		case <-time.After(waitTimeout):
			t.Fatalf("Run still running %v after its output closed", waitTimeout)
		}
	})
}

// TestSparsePast4GiB follows a sparse file whose lines sit past 4 GiB.
func TestSparsePast4GiB(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b vnode.Backend) {
		dir := t.TempDir()
		log := filepath.Join(dir, "big.log")
		const hole = 1<<32 + 7
		f, err := os.Create(log)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte("\nA\nB\nC\n"), hole); err != nil {
			f.Close()
			t.Skipf("cannot make a sparse file past 4 GiB here: %v", err)
		}
		f.Close()
		r := startFollower(t, b, Options{Patterns: []string{log}, Last: 3})
		r.expect("A", "B", "C")
		appendFile(t, log, "D\n")
		r.expect("A", "B", "C", "D")
		for i, l := range r.snapshot() {
			if want := int64(hole + 1 + 2*i); l.Offset != want {
				t.Errorf("%q at offset %d, want %d", l.Text, l.Offset, want)
			}
		}
	})
}

// TestGlobRotation follows a glob that also matches rotated files: each
// file is read once, whatever names it takes.
func TestGlobRotation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b vnode.Backend) {
		dir := t.TempDir()
		log := filepath.Join(dir, "app.log")
		writeFile(t, log, "a1\n")
		r := startFollower(t, b, Options{Patterns: []string{filepath.Join(dir, "*.log*")}})
		r.expect("a1")
		// A new file that matches.
		writeFile(t, filepath.Join(dir, "db.log"), "d1\n")
		r.expect("a1", "d1")
		// A file that does not match.
		writeFile(t, filepath.Join(dir, "notes.txt"), "skip\n")
		for i := range 5 {
			if err := os.Rename(log, fmt.Sprintf("%s.%d", log, i+1)); err != nil {
				t.Fatal(err)
			}
			appendFile(t, fmt.Sprintf("%s.%d", log, i+1), fmt.Sprintf("late%d\n", i))
			writeFile(t, log, fmt.Sprintf("n%d\n", i))
			want := []string{"a1", "d1"}
			for j := 0; j <= i; j++ {
				want = append(want, fmt.Sprintf("late%d", j), fmt.Sprintf("n%d", j))
			}
			r.expectSet(want...)
		}
	})
}

// TestGlobstar follows a glob over a tree where directories appear later.
func TestGlobstar(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b vnode.Backend) {
		dir := t.TempDir()
		r := startFollower(t, b, Options{Patterns: []string{filepath.Join(dir, "**", "*.log")}})
		writeFile(t, filepath.Join(dir, "top.log"), "t1\n")
		r.expect("t1")
		sub := filepath.Join(dir, "a", "b")
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(sub, "deep.log"), "d1\n")
		writeFile(t, filepath.Join(sub, "deep.txt"), "no\n")
		r.expect("t1", "d1")
	})
}

// TestIdleSleeps checks that an idle follower sleeps in the kernel: while
// two recheck periods pass, its loop wakes for little else.
func TestIdleSleeps(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b vnode.Backend) {
		dir := t.TempDir()
		log := filepath.Join(dir, "app.log")
		writeFile(t, log, "a\n")
		r := startFollower(t, b, Options{Patterns: []string{log}})
		r.expect("a")
		f := r.f
		ticks0, wakes0 := f.ticks.Load(), f.wakes.Load()
		waitFor(t, "two recheck periods", func() bool { return f.ticks.Load() >= ticks0+2 })
		if n := f.wakes.Load() - wakes0; n > 4 {
			t.Errorf("an idle follower woke %d times during two recheck periods", n)
		}
	})
}

// TestRenameOntoFollowed: `mv a b` with both followed (coreutils'
// F-vs-rename): b now means a's file, which is not read again.
func TestRenameOntoFollowed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b vnode.Backend) {
		dir := t.TempDir()
		a, c := filepath.Join(dir, "a"), filepath.Join(dir, "b")
		writeFile(t, a, "a1\n")
		writeFile(t, c, "b1\n")
		r := startFollower(t, b, Options{Patterns: []string{a, c}})
		r.expectSet("a1", "b1")
		if err := os.Rename(a, c); err != nil {
			t.Fatal(err)
		}
		r.waitLog(a + ": renamed to " + c)
		appendFile(t, c, "b2\n")
		r.expectSet("a1", "b1", "b2")
		if l := r.snapshot()[2]; l.File != c || l.Offset != 3 {
			t.Errorf("appended line %+v, want offset 3 in %s", l, c)
		}
		writeFile(t, a, "a2\n")
		r.expectSet("a1", "b1", "b2", "a2")
	})
}

// TestSymlinkRetarget follows a symlink whose target changes.
func TestSymlinkRetarget(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b vnode.Backend) {
		dir := t.TempDir()
		t1, t2, link := filepath.Join(dir, "t1"), filepath.Join(dir, "t2"), filepath.Join(dir, "current.log")
		writeFile(t, t1, "one\n")
		writeFile(t, t2, "two\n")
		if err := os.Symlink("t1", link); err != nil {
			t.Fatal(err)
		}
		r := startFollower(t, b, Options{Patterns: []string{link}})
		r.expect("one")
		appendFile(t, t1, "one more\n")
		r.expect("one", "one more")
		if err := os.Symlink("t2", link+".new"); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(link+".new", link); err != nil {
			t.Fatal(err)
		}
		r.expect("one", "one more", "two")
		r.waitLog("replaced")
		if l := r.snapshot()[2]; l.File != link {
			t.Errorf("line from the new target reported as %s, want %s", l.File, link)
		}
	})
}

// TestGlobCopyTruncate: a glob that matches copytruncate's copies must not
// deliver the copied lines a second time.
func TestGlobCopyTruncate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b vnode.Backend) {
		dir := t.TempDir()
		log := filepath.Join(dir, "app.log")
		pad := strings.Repeat("-", 70)
		writeFile(t, log, "start "+pad+"\n")
		r := startFollower(t, b, Options{Patterns: []string{log + "*"}})
		want := []string{"start " + pad}
		r.expect(want...)
		for i := range 20 {
			line := fmt.Sprintf("before %d %s", i, pad)
			appendFile(t, log, line+"\n")
			want = append(want, line)
			r.expect(want...)
			data, err := os.ReadFile(log)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, fmt.Sprintf("%s.%d", log, i+1), string(data))
			if err := os.Truncate(log, 0); err != nil {
				t.Fatal(err)
			}
			line = fmt.Sprintf("after %d %s", i, pad)
			appendFile(t, log, line+"\n")
			want = append(want, line)
			r.expect(want...)
		}
		// Every copy was seen as one, and nothing more came of them.
		waitFor(t, "the last copy to be recognised", func() bool {
			return strings.Contains(r.logText(), "app.log.20: appeared; a copy")
		})
		r.expect(want...)
	})
}

// TestRelativeNames: headers and notices name files the way the user did.
func TestRelativeNames(t *testing.T) {
	// Not parallel: the test changes directory.
	for _, b := range backends {
		t.Run(string(b), func(t *testing.T) { testRelativeNames(t, b) })
	}
}

func testRelativeNames(t *testing.T, b vnode.Backend) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.Mkdir("logs", 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, "a.log", "a1\n")
	var buf syncBuffer
	p := NewPrinter(&buf, PrintOptions{Headers: true})
	r := startWithOut(t, b, Options{Patterns: []string{"a.log", "logs/*.log"}}, p.Print)
	r.expect("a1")
	writeFile(t, filepath.Join("logs", "b.log"), "b1\n")
	r.expect("a1", "b1")
	r.waitLog("logs/b.log: appeared")
	if err := os.Truncate("a.log", 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, "a.log", "a2\n")
	r.expect("a1", "b1", "a2")
	r.waitLog("\na.log: file truncated")
	want := "==> a.log <==\na1\n\n==> logs/b.log <==\nb1\n\n==> a.log <==\na2\n"
	if got := buf.String(); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
	if l := r.snapshot()[0]; l.File != filepath.Join(dir, "a.log") {
		t.Errorf("File = %q, want the absolute name", l.File)
	}
}

// TestBufferedPrinter: a buffered Printer's lines come out when the
// follower flushes, and a closed reader still ends Run with EPIPE.
func TestBufferedPrinter(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b vnode.Backend) {
		dir := t.TempDir()
		log := filepath.Join(dir, "app.log")
		writeFile(t, log, "a1\na2\n")
		var buf syncBuffer
		p := NewPrinter(&buf, PrintOptions{JSON: true, Buffered: true})
		startWithOut(t, b, Options{Patterns: []string{log}, Flush: p.Flush}, p.Print)
		// The initial lines are out before ready.
		want := fmt.Sprintf(`{"file":%q,"line":"a1","offset":0}`+"\n"+`{"file":%q,"line":"a2","offset":3}`+"\n", log, log)
		if got := buf.String(); got != want {
			t.Fatalf("output at ready:\n%s\nwant:\n%s", got, want)
		}
		appendFile(t, log, "a3\n")
		want += fmt.Sprintf(`{"file":%q,"line":"a3","offset":6}`+"\n", log)
		waitFor(t, "a3 printed", func() bool { return buf.String() == want })

		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer pw.Close()
		p2 := NewPrinter(pw, PrintOptions{Buffered: true})
		r2 := startWithOut(t, b, Options{Patterns: []string{log}, Last: -1, Flush: p2.Flush}, p2.Print)
		pr.Close()
		appendFile(t, log, "nobody reads this\n")
		select {
		case err := <-r2.done:
			if !errors.Is(err, syscall.EPIPE) {
				t.Fatalf("Run returned %v, want EPIPE", err)
			}
			r2.done <- nil
		case <-time.After(waitTimeout):
			t.Fatalf("Run still running %v after its output closed", waitTimeout)
		}
	})
}

// TestOnErrorProblems: with OnError set, a missing file reaches a library
// user as a *Problem value, once, and not as Logf text.
func TestOnErrorProblems(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b vnode.Backend) {
		dir := t.TempDir()
		name := filepath.Join(dir, "later.log")
		var mu sync.Mutex
		var probs []*Problem
		r := startFollower(t, b, Options{Patterns: []string{name}, OnError: func(err error) {
			var p *Problem
			if !errors.As(err, &p) {
				t.Errorf("OnError got %T %v, want a *Problem", err, err)
				return
			}
			mu.Lock()
			probs = append(probs, p)
			mu.Unlock()
		}})
		waitFor(t, "the missing file reported", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(probs) > 0
		})
		mu.Lock()
		defer mu.Unlock()
		if probs[0].Path != name || probs[0].What != "not found" || !strings.HasPrefix(probs[0].Error(), name) {
			t.Errorf("problem %+v (%v), want \"not found\" for %s", probs[0], probs[0], name)
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, l := range r.logs {
			if strings.Contains(l, "not found") {
				t.Errorf("the problem went to Logf too: %q", l)
			}
		}
	})
}
