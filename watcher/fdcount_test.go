package watcher

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vigil-watch/vigil/vnode"
)

// TestKqueueDescriptorCount counts the watches, hence the descriptors, the
// kqueue backend asks for on the benchmark's tree shape (bench/cmd/
// vigilbench makeTree: files spread over leaf directories in sqrt(dirs)
// parents), with no filter and with -g '**/*.go'. It runs kqueue's code
// paths of this package (poll without child names, a watch per admitted
// file) and counts Queue.Watch calls through the watchResult seam. By
// default the tree is the benchmark's divided by 100; VIGIL_FD_COUNT_SCALE=1
// counts the full 100,000-file tree (docs/kqueue.md has the figures).
func TestKqueueDescriptorCount(t *testing.T) {
	scale := 100
	if v := os.Getenv("VIGIL_FD_COUNT_SCALE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("VIGIL_FD_COUNT_SCALE=%q: want a positive integer", v)
		}
		scale = n
	}
	files, dirs := 100000/scale, 10000/scale
	root := filepath.Join(t.TempDir(), "tree")
	parents := makeBenchTree(t, root, files, dirs)
	wantDirs := 1 + parents + dirs

	for _, c := range []struct {
		name      string
		include   []string
		wantFiles int
	}{
		{"no filter", nil, files},
		{"-g **/*.go", []string{"**/*.go"}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			var mu sync.Mutex
			nd, nf := 0, 0
			w, err := New(Options{Roots: []string{root}, Include: c.include, Backend: vnode.Poll,
				PollInterval: time.Hour, Debounce: testQuiet, MaxWait: testMaxWait})
			if err != nil {
				t.Fatal(err)
			}
			w.caps = &vnode.Caps{}
			w.watchResult = func(path string, id vnode.ID, err error) (vnode.ID, error) {
				fi, serr := os.Stat(path)
				mu.Lock()
				if serr == nil && fi.IsDir() {
					nd++
				} else {
					nf++
				}
				mu.Unlock()
				return id, err
			}
			ctx, cancel := context.WithCancel(context.Background())
			ready := make(chan struct{})
			done := make(chan error, 1)
			out := make(chan Batch, 16)
			go func() { done <- w.Run(ctx, func(Stats) { close(ready) }, out) }()
			select {
			case <-ready:
			case err := <-done:
				t.Fatalf("Run: %v", err)
			case <-time.After(5 * time.Minute):
				t.Fatal("no ready")
			}
			cancel()
			<-done
			mu.Lock()
			defer mu.Unlock()
			// Besides one per watch: the kqueue and its wake pipe.
			t.Logf("tree %d files in %d leaf dirs: %d directory watches + %d file watches + 3 = %d descriptors",
				files, dirs, nd, nf, nd+nf+3)
			if nd != wantDirs || nf != c.wantFiles {
				t.Errorf("watches: %d directories, %d files; want %d and %d", nd, nf, wantDirs, c.wantFiles)
			}
		})
	}
}

// makeBenchTree lays out the benchmark's large tree shape and returns the
// number of parent directories.
func makeBenchTree(t *testing.T, root string, files, dirs int) int {
	parents := 1
	for parents*parents < dirs {
		parents++
	}
	perParent := (dirs + parents - 1) / parents
	used := map[int]bool{}
	for i := range dirs {
		used[i/perParent] = true
		d := filepath.Join(root, fmt.Sprintf("p%03d", i/perParent), fmt.Sprintf("d%03d", i%perParent))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		n := files / dirs
		if i < files%dirs {
			n++
		}
		for j := range n {
			if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%02d.txt", j)), []byte("x\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return len(used)
}
