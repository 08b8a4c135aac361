package follow

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-watch/vigil/vnode"
)

// session runs one follower with a state file until stop, as one run of
// `vigil tail --state` between a start and a SIGTERM.
func session(t *testing.T, b vnode.Backend, o Options) *run {
	t.Helper()
	return startFollower(t, b, o)
}

// stop ends r as a SIGTERM does and waits for Run to return.
func (r *run) stop() {
	r.t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			r.t.Fatalf("Run: %v", err)
		}
		r.done <- nil // for the cleanup
	case <-time.After(waitTimeout):
		r.t.Fatalf("Run did not return after cancel")
	}
}

func stateOf(t *testing.T, path string) stateDoc {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc stateDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("state %s: %v\n%s", path, err, data)
	}
	return doc
}

// TestStateResume: lines written while stopped appear once, with the
// saved position winning over -n; also for an empty and a one-byte file.
func TestStateResume(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b vnode.Backend) {
		dir := t.TempDir()
		log, empty, one := filepath.Join(dir, "app.log"), filepath.Join(dir, "empty.log"), filepath.Join(dir, "one.log")
		state := filepath.Join(dir, "state.json")
		writeFile(t, log, "a1\na2\n")
		writeFile(t, empty, "")
		writeFile(t, one, "x")
		o := Options{Patterns: []string{log, empty, one}, State: state}
		r := session(t, b, o)
		r.expectSet("a1", "a2")
		r.stop()
		if doc := stateOf(t, state); len(doc.Files) != 3 {
			t.Fatalf("state lists %d files, want 3: %+v", len(doc.Files), doc)
		}
		appendFile(t, log, "b1\n")
		appendFile(t, empty, "e1\n")
		appendFile(t, one, "y\n")
		r = session(t, b, o)
		r.expectSet("b1", "e1", "xy")
		appendFile(t, log, "c1\n")
		r.expectSet("b1", "e1", "xy", "c1")
		r.stop()
		r = session(t, b, o)
		appendFile(t, log, "d1\n")
		r.expect("d1")
	})
}

// TestStateResumeRotated: rotations while stopped, by rename (logrotate
// create) and by copytruncate, with and without a glob that matches the
// rotated file: the rest of the old file comes first, then the new one,
// every line once.
func TestStateResumeRotated(t *testing.T) {
	for _, tc := range []struct {
		name string
		glob bool
		copy bool
	}{{"create", false, false}, {"copytruncate", false, true}, {"create-glob", true, false}, {"copytruncate-glob", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, b vnode.Backend) {
				dir := t.TempDir()
				log, state := filepath.Join(dir, "app.log"), filepath.Join(dir, "state.json")
				writeFile(t, log, "a1\n")
				pat := log
				if tc.glob {
					pat = log + "*"
				}
				o := Options{Patterns: []string{pat}, State: state}
				r := session(t, b, o)
				r.expect("a1")
				r.stop()
				appendFile(t, log, "x1\n")
				if tc.copy {
					data, err := os.ReadFile(log)
					if err != nil {
						t.Fatal(err)
					}
					writeFile(t, log+".1", string(data))
					if err := os.Truncate(log, 0); err != nil {
						t.Fatal(err)
					}
				} else if err := os.Rename(log, log+".1"); err != nil {
					t.Fatal(err)
				}
				appendFile(t, log, "n1\n")
				r = session(t, b, o)
				r.expect("x1", "n1")
				appendFile(t, log, "n2\n")
				r.expect("x1", "n1", "n2")
				r.stop()
				// Once more, with both files known.
				appendFile(t, log, "n3\n")
				r = session(t, b, o)
				r.expect("n3")
			})
		})
	}
}

// TestStateSameHeaders: two files with the same first bytes, one rotated
// while stopped: each goes on from its own position.
func TestStateSameHeaders(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b vnode.Backend) {
		dir := t.TempDir()
		a, c, state := filepath.Join(dir, "a.csv"), filepath.Join(dir, "b.csv"), filepath.Join(dir, "state.json")
		writeFile(t, a, "id,name\n1,x\n")
		writeFile(t, c, "id,name\n1,x\n2,y\n")
		o := Options{Patterns: []string{filepath.Join(dir, "*.csv")}, State: state}
		r := session(t, b, o)
		r.expectSet("id,name", "1,x", "id,name", "1,x", "2,y")
		r.stop()
		appendFile(t, a, "2,a\n")
		if err := os.Rename(a, a+".old"); err != nil {
			t.Fatal(err)
		}
		writeFile(t, a, "id,name\n")
		appendFile(t, c, "3,b\n")
		r = session(t, b, o)
		r.expectSet("2,a", "id,name", "3,b")
		for _, l := range r.snapshot() {
			if l.Text == "3,b" && l.File != c || l.Text == "2,a" && l.File != a {
				t.Errorf("line %q reported under %s", l.Text, l.File)
			}
		}
	})
}

// TestStateBad: a corrupt or foreign state file is named in a message, the
// follower starts as if there were none (-n), and the file is left as it
// was; a state naming a file that is gone is fine.
func TestStateBad(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b vnode.Backend) {
		dir := t.TempDir()
		log := filepath.Join(dir, "app.log")
		writeFile(t, log, "a1\na2\n")
		for _, bad := range []string{"{not json", `{"format":"something else","files":[]}`, "id,name\n1,x\n"} {
			state := filepath.Join(dir, "bad.state")
			writeFile(t, state, bad)
			r := session(t, b, Options{Patterns: []string{log}, State: state, Last: 1})
			r.expect("a2")
			r.waitLog("state " + state + ": ")
			r.stop()
			if data, _ := os.ReadFile(state); string(data) != bad {
				t.Fatalf("bad state rewritten: %q", data)
			}
		}
		// A state naming a file that is gone.
		state := filepath.Join(dir, "state.json")
		gone := filepath.Join(dir, "gone.log")
		writeFile(t, gone, "g\n")
		r := session(t, b, Options{Patterns: []string{log, gone}, State: state})
		r.expectSet("a1", "a2", "g")
		r.stop()
		os.Remove(gone)
		appendFile(t, log, "a3\n")
		r = session(t, b, Options{Patterns: []string{log}, State: state})
		r.expect("a3")
		if strings.Contains(r.logText(), "state") {
			t.Errorf("notices about the state: %s", r.logText())
		}
	})
}
