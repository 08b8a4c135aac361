package follow

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-watch/vigil/vnode"
)

// benchLine is 100 bytes with its newline.
var benchLine = append(bytes.Repeat([]byte("x"), 99), '\n')

// startBench runs a follower with o on a new empty file with out, until
// the benchmark ends.
func startBench(b *testing.B, be vnode.Backend, o Options, out func(Line) error) string {
	b.Helper()
	log := filepath.Join(b.TempDir(), "app.log")
	writeFile(b, log, "")
	o.Patterns, o.Last, o.Backend = []string{log}, -1, be
	f, err := New(o)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx, func() { close(ready) }, out) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		b.Fatalf("Run: %v", err)
	}
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("Run: %v", err)
		}
	})
	return log
}

// BenchmarkFollowThroughput measures lines of 100 bytes going from a
// growing file through Follower and a buffered Printer to io.Discard (and,
// for comparison, to a pipe, buffered and not); one op is one line, so MB/s
// is the throughput. The plain sub-benchmarks hand the printer whole runs of
// lines (Options.Chunks), as `vigil tail` does; the "-lines" ones a Line per
// line, as --json did and line rules do. The "-state" ones save the state
// (Options.State) as `vigil tail --state` does: their cost against the
// plain ones is what --state costs.
func BenchmarkFollowThroughput(b *testing.B) {
	for _, be := range backends {
		b.Run(string(be), func(b *testing.B) { benchThroughput(b, be, io.Discard, true, true) })
		b.Run(string(be)+"-state", func(b *testing.B) {
			benchState = filepath.Join(b.TempDir(), "state.json")
			defer func() { benchState = "" }()
			benchThroughput(b, be, io.Discard, true, true)
		})
	}
	b.Run("inotify-pipe-buffered", func(b *testing.B) { benchThroughput(b, vnode.Inotify, drainedPipe(b), true, true) })
	b.Run("inotify-lines", func(b *testing.B) { benchThroughput(b, vnode.Inotify, io.Discard, true, false) })
	b.Run("inotify-pipe-buffered-lines", func(b *testing.B) { benchThroughput(b, vnode.Inotify, drainedPipe(b), true, false) })
	b.Run("inotify-pipe-unbuffered-lines", func(b *testing.B) { benchThroughput(b, vnode.Inotify, drainedPipe(b), false, false) })
}

// drainedPipe returns the write end of a pipe whose reader discards all.
func drainedPipe(b *testing.B) io.Writer {
	pr, pw, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	b.Cleanup(func() { pw.Close() })
	return pw
}

// benchState is the state file of the benchmark running, if any.
var benchState string

func benchThroughput(b *testing.B, be vnode.Backend, out io.Writer, buffered, chunks bool) {
	p := NewPrinter(out, PrintOptions{})
	if buffered {
		p = NewPrinter(out, PrintOptions{Buffered: true})
	}
	// Bytes delivered, counted in whichever way they come.
	var got atomic.Int64
	all := make(chan struct{})
	var want atomic.Int64
	want.Store(-1)
	arrived := func(n int) {
		if got.Add(int64(n)) == want.Load() {
			close(all)
		}
	}
	o := Options{Flush: p.Flush, State: benchState}
	if chunks {
		o.Chunks = func(c Chunk) error {
			arrived(len(c.Text))
			return p.PrintChunk(c)
		}
	}
	log := startBench(b, be, o, func(l Line) error {
		arrived(len(l.Text) + 1)
		return p.Print(l)
	})
	w, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	chunk := bytes.Repeat(benchLine, 640) // 64 000 bytes
	b.SetBytes(int64(len(benchLine)))
	b.ResetTimer()
	want.Store(int64(b.N) * int64(len(benchLine)))
	for left := b.N; left > 0; {
		n := min(left, 640)
		if _, err := w.Write(chunk[:n*len(benchLine)]); err != nil {
			b.Fatal(err)
		}
		left -= n
	}
	select {
	case <-all:
	case <-time.After(time.Minute):
		b.Fatalf("only %d of %d bytes arrived", got.Load(), want.Load())
	}
}

// BenchmarkAppendLatency measures the time from one append of a line to
// its delivery by the follower (one op = one line). On the poll backend it
// is bounded below by the poll interval (default 250 ms).
func BenchmarkAppendLatency(b *testing.B) {
	for _, be := range backends {
		b.Run(string(be), func(b *testing.B) {
			arrived := make(chan struct{}, 1)
			log := startBench(b, be, Options{}, func(Line) error {
				arrived <- struct{}{}
				return nil
			})
			w, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			b.ResetTimer()
			for range b.N {
				if _, err := w.Write(benchLine); err != nil {
					b.Fatal(err)
				}
				select {
				case <-arrived:
				case <-time.After(10 * time.Second):
					b.Fatal("line not delivered within 10 s")
				}
			}
		})
	}
}
