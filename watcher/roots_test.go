package watcher

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
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
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			out := make(chan Batch, 16)
			ready := make(chan struct{})
			done := make(chan error, 1)
			go func() { done <- w.Run(ctx, func(Stats) { close(ready) }, out) }()
			<-ready
			armed.Store(true)
			if err := os.Mkdir(filepath.Join(dir, "a"), 0o755); err != nil {
				t.Fatal(err)
			}
			seen := map[string]Op{}
			timeout := time.After(deadline)
			for seen[filepath.Join(root, "f")] != Create {
				select {
				case b := <-out:
					for _, c := range b.Changes {
						seen[c.Path] = c.Op
					}
				case <-timeout:
					t.Fatalf("the root made while its watch was armed was never reported; saw %v (raced %d)", seen, raced.Load())
				}
			}
			if raced.Load() != 1 {
				t.Errorf("the hook never ran: the test did not race the watch")
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
}
