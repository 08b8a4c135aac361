package watcher

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestFlushOnStop: a change waiting out its quiet period when the watcher
// is stopped is delivered before Run returns (vigil events and wait on
// SIGTERM), and without FlushOnStop it is dropped, as before.
func TestFlushOnStop(t *testing.T) {
	for _, v := range variants() {
		for _, flush := range []bool{true, false} {
			name := v.name + "/flush"
			if !flush {
				name = v.name + "/no-flush"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				w, err := New(Options{
					Roots: []string{dir}, Backend: v.backend, PollInterval: testPoll,
					// Far longer than the test: only the stop can close the batch.
					Debounce: time.Hour, MaxWait: time.Hour,
					FlushOnStop: flush,
				})
				if err != nil {
					t.Fatal(err)
				}
				w.caps = v.caps
				seen := make(chan struct{}, 1)
				w.afterEvents = func(n int) {
					if n > 0 {
						select {
						case seen <- struct{}{}:
						default:
						}
					}
				}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				out := make(chan Batch)
				ready := make(chan struct{})
				done := make(chan error, 1)
				go func() { done <- w.Run(ctx, func(Stats) { close(ready) }, out) }()
				select {
				case <-ready:
				case <-time.After(deadline):
					t.Fatal("not ready")
				}
				if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
				select {
				case <-seen:
				case <-time.After(deadline):
					t.Fatal("the watcher never recorded the change")
				}
				// A second change, made just before the stop: the stop
				// reads (inotify) or scans (poll) for it.
				if err := os.WriteFile(filepath.Join(dir, "g"), []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
				cancel()
				var got []Batch
				for {
					select {
					case b := <-out:
						got = append(got, b)
						continue
					case err := <-done:
						if err != nil {
							t.Fatalf("Run: %v", err)
						}
					case <-time.After(deadline):
						t.Fatal("Run did not return after the stop")
					}
					break
				}
				switch {
				case flush && (len(got) != 1 || len(got[0].Changes) != 2 || got[0].Changes[0].Op != Create || got[0].Changes[1].Op != Create):
					t.Errorf("flush on stop: got %+v, want one batch: create f, create g", got)
				case !flush && len(got) != 0:
					t.Errorf("no flush on stop: got %+v, want nothing", got)
				}
			})
		}
	}
}
