package follow

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vigil-watch/vigil/vnode"
)

// TestGlobCopyTruncateSmall: copytruncate of a file far shorter than the
// fingerprint, with a glob that matches the copies: every line once.
func TestGlobCopyTruncateSmall(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b vnode.Backend) {
		dir := t.TempDir()
		log := filepath.Join(dir, "app.log")
		writeFile(t, log, "s\n")
		r := startFollower(t, b, Options{Patterns: []string{log + "*"}})
		want := []string{"s"}
		r.expect(want...)
		for i := range 5 {
			line := fmt.Sprintf("b%d", i)
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
			line = fmt.Sprintf("a%d", i)
			appendFile(t, log, line+"\n")
			want = append(want, line)
			r.expect(want...)
		}
		waitFor(t, "the last copy to be recognised", func() bool {
			return strings.Contains(r.logText(), "app.log.5: appeared; a copy")
		})
		r.expect(want...)
	})
}

// TestIdenticalHeaders: two files that start with the same header line
// are two files: each one's lines are shown, none taken for a copy.
func TestIdenticalHeaders(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b vnode.Backend) {
		dir := t.TempDir()
		a, c := filepath.Join(dir, "a.csv"), filepath.Join(dir, "b.csv")
		writeFile(t, a, "id,name\n1,x\n")
		r := startFollower(t, b, Options{Patterns: []string{filepath.Join(dir, "*.csv")}})
		r.expect("id,name", "1,x")
		// The same header, then the same first row: the very bytes of a.
		writeFile(t, c, "id,name\n")
		appendFile(t, c, "1,x\n")
		appendFile(t, a, "2,y\n")
		appendFile(t, c, "2,z\n")
		r.expectSet("id,name", "1,x", "2,y", "id,name", "1,x", "2,z")
		for _, l := range r.snapshot() {
			if l.Text == "2,z" && l.File != c || l.Text == "2,y" && l.File != a {
				t.Errorf("line %q reported under %s", l.Text, l.File)
			}
		}
	})
}

// TestRenameOntoFollowedWhileStopped: `mv a b` with both followed, done
// while the follower is held before it sleeps (as by SIGSTOP), and lines
// appended under the new name before it looks again: they are shown once,
// under b.
func TestRenameOntoFollowedWhileStopped(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b vnode.Backend) {
		dir := t.TempDir()
		a, c := filepath.Join(dir, "a"), filepath.Join(dir, "b")
		writeFile(t, a, "")
		writeFile(t, c, "b1\n")
		held, release := make(chan struct{}), make(chan struct{})
		var holding atomic.Bool
		flush := func() error {
			if holding.Load() {
				holding.Store(false)
				close(held)
				<-release
			}
			return nil
		}
		r := startWithOut(t, b, Options{Patterns: []string{a, c}, Flush: flush}, func(l Line) error {
			if l.Text == "hold" {
				holding.Store(true) // hold at the next flush, before the follower sleeps
			}
			return nil
		})
		r.expect("b1")
		appendFile(t, a, "hold\n")
		<-held
		if err := os.Rename(a, c); err != nil {
			t.Fatal(err)
		}
		appendFile(t, c, "moved\n")
		close(release)
		r.expect("b1", "hold", "moved")
		if l := r.snapshot()[2]; l.File != c {
			t.Errorf("line appended after the rename shown under %s, want %s", l.File, c)
		}
		appendFile(t, c, "more\n")
		r.expect("b1", "hold", "moved", "more")
	})
}
