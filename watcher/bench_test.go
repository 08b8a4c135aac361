package watcher

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/vigil-watch/vigil/vnode"
)

// benchRun returns a run over a real directory with n files in it, indexed
// and ready to record changes, but with no kernel queue.
func benchRun(b *testing.B, n int, o Options) (*run, *dirNode) {
	b.Helper()
	dir := b.TempDir()
	for i := 0; i < n; i++ {
		if err := os.WriteFile(filepath.Join(dir, "f"+strconv.Itoa(i)+".go"), nil, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	o.Roots = []string{dir}
	w, err := New(o)
	if err != nil {
		b.Fatal(err)
	}
	r := newRun(w, nil)
	r.crawl()
	return r, r.roots[0].top
}

// BenchmarkEventWrite: a kernel note "child written" turned into a recorded
// change (the hot path while a file is saved or grows).
func BenchmarkEventWrite(b *testing.B) {
	r, top := benchRun(b, 1000, Options{})
	evs := make([]vnode.Event, 1000)
	for i := range evs {
		evs[i] = vnode.Event{Kind: vnode.KindNote, ID: 7, Name: "f" + strconv.Itoa(i) + ".go", Op: vnode.ChildNone, Notes: vnode.NoteWrite}
	}
	r.dirs.Set(7, top)
	i := 0
	for b.Loop() {
		r.handle(evs[i%len(evs)])
		i++
		if i%5000 == 0 {
			r.flush(time.Now())
		}
	}
}

// BenchmarkEventCreateRemove: a created-then-removed file (lstat, filters,
// index insert and delete, records).
func BenchmarkEventCreateRemove(b *testing.B) {
	r, top := benchRun(b, 0, Options{})
	r.dirs.Set(7, top)
	path := filepath.Join(top.path(), "new.go")
	create := vnode.Event{Kind: vnode.KindNote, ID: 7, Name: "new.go", Op: vnode.ChildCreate}
	remove := vnode.Event{Kind: vnode.KindNote, ID: 7, Name: "new.go", Op: vnode.ChildRemove}
	os.WriteFile(path, nil, 0o644)
	i := 0
	for b.Loop() {
		r.handle(create)
		r.handle(remove)
		i++
		if i%1000 == 0 {
			r.flush(time.Now())
		}
	}
}

// BenchmarkIndexPutDrop: adding and removing a file entry in a directory of
// 1000 (no I/O: the cost of the index and the records).
func BenchmarkIndexPutDrop(b *testing.B) {
	r, top := benchRun(b, 1000, Options{})
	i := 0
	for b.Loop() {
		name := "x" + strconv.Itoa(i%512)
		r.put(top, name, kFile, uint64(i), "")
		r.drop(top, name)
		i++
		if i%1000 == 0 {
			r.flush(time.Now())
		}
	}
}

// BenchmarkFlush5000: closing a batch of 5,000 written files.
func BenchmarkFlush5000(b *testing.B) {
	r := &run{cur: newPending()}
	paths := make([]string, 5000)
	for i := range paths {
		paths[i] = "/src/pkg/f" + strconv.Itoa(i) + ".go"
	}
	for b.Loop() {
		for _, p := range paths {
			r.recWrite(p, kFile, 1)
		}
		if got := len(r.flush(time.Now()).Changes); got != len(paths) {
			b.Fatalf("%d changes", got)
		}
	}
}

// BenchmarkAdmitGlobs: include/exclude matching for one path.
func BenchmarkAdmitGlobs(b *testing.B) {
	r, top := benchRun(b, 0, Options{NoIgnore: true,
		Include: []string{"**/*.go", "**/*.mod"}, Exclude: []string{"vendor/**", "**/*_gen.go", "**/testdata/**"}})
	sub := &dirNode{nm: "internal/pkg/sub", parent: top}
	for b.Loop() {
		r.admit(sub, "handler_test.go", kFile)
	}
}

// BenchmarkAdmitGitignore: default ignores plus a 20-rule .gitignore at
// the root and one below, for one path three levels down.
func BenchmarkAdmitGitignore(b *testing.B) {
	r, top := benchRun(b, 0, Options{})
	var rules string
	for i := 0; i < 18; i++ {
		rules += fmt.Sprintf("*.ext%d\n", i)
	}
	rules += "build/\n/dist\n"
	top.setIgnore(parseIgnore([]byte(rules)))
	mid := &dirNode{nm: "a", parent: top}
	mid.setIgnore(parseIgnore([]byte("!keep.ext1\n**/gen/**\n")))
	leaf := &dirNode{nm: "b/c", parent: mid}
	for b.Loop() {
		r.admit(leaf, "main.go", kFile)
	}
}

// BenchmarkWildmatch: one gitignore glob with a globstar.
func BenchmarkWildmatch(b *testing.B) {
	for b.Loop() {
		wildmatch("src/**/test/*_test.go", "src/a/b/c/test/x_test.go")
	}
}

// buildTree makes dirs directories holding files files in total.
func buildTree(b *testing.B, root string, dirs, files int) {
	b.Helper()
	perDir := files / dirs
	for d := 0; d < dirs; d++ {
		dir := filepath.Join(root, "d"+strconv.Itoa(d/100), "e"+strconv.Itoa(d%100))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		for f := 0; f < perDir; f++ {
			if err := os.WriteFile(filepath.Join(dir, "f"+strconv.Itoa(f)+".go"), nil, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkReady100k: time to ready and heap after ready for a tree of
// 100,000 files in 10,000 directories (plus 100 intermediate ones), with
// the platform's default backend.
func BenchmarkReady100k(b *testing.B) {
	root := b.TempDir()
	buildTree(b, root, 10000, 100000)
	var crawl time.Duration
	var heap, dirs, files float64
	n := 0
	for b.Loop() {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		w, err := New(Options{Roots: []string{root}})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- w.Run(ctx, func(s Stats) {
				crawl += s.Crawl
				dirs, files = float64(s.Dirs), float64(s.Files)
				runtime.GC()
				var after runtime.MemStats
				runtime.ReadMemStats(&after)
				heap += float64(after.HeapAlloc) - float64(before.HeapAlloc)
				close(ready)
			}, make(chan Batch))
		}()
		select {
		case <-ready:
		case err := <-done:
			b.Fatalf("Run: %v", err)
		}
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(crawl.Milliseconds())/float64(n), "ms-to-ready")
	b.ReportMetric(heap/float64(n)/(1<<20), "MiB-heap-after-ready")
	b.ReportMetric(dirs, "dirs")
	b.ReportMetric(files, "files")
}
