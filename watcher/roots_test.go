package watcher

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-watch/vigil/internal/testwait"
)

// TestMissingRootRacingItsWatch: a missing root is waited for on its nearest
// existing ancestor. When `mkdir -p` creates the path one level at a time,
// the next level can appear after the ancestor moved down but before the
// new watch is armed; the watcher must look again once it is armed, or it
// waits forever (vigil wait -w later/out in a CI step). The test creates the
// rest of the path at exactly that moment.
func TestMissingRootRacingItsWatch(t *testing.T) {
	for _, v := range variants() {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			root := filepath.Join(dir, "a", "b", "c")
			w, err := New(Options{Roots: []string{root}, Backend: v.backend, PollInterval: testPoll, Debounce: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			w.caps = v.caps
			var armed atomic.Bool // the test has made the first level
			var raced atomic.Int32
			w.beforeArmWait = func(ancestor string) {
				if armed.Load() && ancestor == filepath.Join(dir, "a") && raced.Add(1) == 1 {
					if err := os.MkdirAll(root, 0o755); err != nil {
						t.Error(err)
					}
					if err := os.WriteFile(filepath.Join(root, "f"), []byte("x"), 0o644); err != nil {
						t.Error(err)
					}
				}
			}
			c, _ := runWatcher(t, w)
			armed.Store(true)
			if err := os.Mkdir(filepath.Join(dir, "a"), 0o755); err != nil {
				t.Fatal(err)
			}
			want := filepath.Join(root, "f")
			testwait.Until(t, deadline, "the root made while its watch was armed reported", func() bool { return c.has(want, Create) })
			if raced.Load() != 1 {
				t.Errorf("the hook ran %d times, want once: the test did not race the watch", raced.Load())
			}
		})
	}
}
