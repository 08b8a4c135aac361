package follow

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
