//go:build unix

package runner

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/vigil-watch/vigil/watcher"
)

// BenchmarkMatch measures matching one changed path against a typical rule
// (two globs and an exclude), the per-path cost of a batch.
func BenchmarkMatch(b *testing.B) {
	c, err := compileRule(Rule{Name: "go", Dir: "/src", Match: []string{"**/*.go", "web/templates/**"}, Exclude: []string{"**/*_gen.go", "vendor"}, Run: sh("x")})
	if err != nil {
		b.Fatal(err)
	}
	paths := make([]string, 1000)
	for i := range paths {
		paths[i] = fmt.Sprintf("/src/pkg%d/sub/file%d.go", i%50, i)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		c.matches(paths[i%len(paths)])
	}
}

// BenchmarkRunOverhead measures one whole run of /bin/true: events file,
// environment, fork/exec in a new group, output pipes, wait and the
// group-empty check. It bounds how fast a rule can follow changes.
func BenchmarkRunOverhead(b *testing.B) {
	rules := []Rule{{Name: "t", RunAtStart: true, Run: []Command{{Argv: []string{"true"}}}}}
	for b.Loop() {
		r, err := New(rules, Options{Once: true})
		if err != nil {
			b.Fatal(err)
		}
		if st, err := r.Run(context.Background(), nil); st != 0 || err != nil {
			b.Fatalf("Run = %d, %v", st, err)
		}
	}
}

// BenchmarkQueuedBatch measures the runner's own cost per batch while a
// command runs: matching and merging into the queued run (no process).
func BenchmarkQueuedBatch(b *testing.B) {
	c, _ := compileRule(Rule{Name: "go", Dir: "/src", Match: []string{"**/*.go"}, Run: sh("x")})
	l := &loop{r: &Runner{out: &output{}}, rules: map[string]*ruleState{}, gone: map[string]*ruleState{}, recs: map[uint64]*batchRec{}}
	rs := l.addRule(c)
	rs.cur = &run{c: c, rs: rs, stopReq: make(chan struct{})} // busy: batches queue
	batch := watcher.Batch{Changes: []watcher.Change{{Path: "/src/a.go", Op: watcher.Write}, {Path: "/src/b/c.go", Op: watcher.Write}, {Path: "/src/README.md", Op: watcher.Write}}}
	for b.Loop() {
		l.addBatch(batch)
		l.schedule(rs)
		if len(rs.pending) > 1000 {
			for _, it := range rs.pending {
				l.resolve(rs, it, succeeded)
			}
			rs.pending = rs.pending[:0]
		}
	}
}

// upWriter signals each "up" line a child prints.
type upWriter struct{ up chan struct{} }

func (w upWriter) Write(p []byte) (int, error) {
	for range bytes.Count(p, []byte("] up\n")) {
		w.up <- struct{}{}
	}
	return len(p), nil
}

// BenchmarkRestartLatency measures a restart from the batch to the new
// process printing: SIGTERM to the old group, waiting for it to be gone,
// starting the new command and reading its first line.
func BenchmarkRestartLatency(b *testing.B) {
	w := upWriter{up: make(chan struct{}, 1)}
	r, err := New([]Rule{{Name: "srv", Daemon: true, Run: sh(`echo up; exec sleep 300`)}}, Options{Out: w})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	batches := make(chan watcher.Batch)
	done := make(chan struct{})
	go func() { r.Run(ctx, batches); close(done) }()
	defer func() { cancel(); <-done }()
	<-w.up
	cwd, _ := os.Getwd()
	batch := watcher.Batch{Changes: []watcher.Change{{Path: cwd + "/x.go", Op: watcher.Write}}}
	for b.Loop() {
		batches <- batch
		<-w.up
	}
}
