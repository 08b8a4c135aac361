package follow

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-watch/vigil/internal/testwait"
	"github.com/vigil-watch/vigil/vnode"
)

// splitChunk turns a chunk back into the lines it holds, as out would have
// received them.
func splitChunk(t *testing.T, c Chunk) []Line {
	t.Helper()
	if len(c.Text) == 0 || c.Text[len(c.Text)-1] != '\n' {
		t.Fatalf("chunk at %d does not end with a newline: %q", c.Offset, c.Text)
	}
	var ls []Line
	off := c.Offset
	for _, s := range strings.SplitAfter(string(c.Text), "\n") {
		if s == "" {
			continue
		}
		ls = append(ls, Line{File: c.File, Name: c.Name, Text: strings.TrimSuffix(s, "\n"), Offset: off})
		off += int64(len(s))
	}
	return ls
}

// TestConsumeChunksMatchesLines: whatever the reads and the bound, handing
// whole-line runs to Chunks, and delivering lines whose texts share a block
// string (consume), give exactly the lines, offsets and waiting partial line
// that taking one line at a time does.
func TestConsumeChunksMatchesLines(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var data []byte
		for range rng.IntN(80) {
			n := rng.IntN(12)
			if rng.IntN(20) == 0 {
				n = rng.IntN(3 * lineBlock)
			}
			data = append(data, bytes.Repeat([]byte{'a' + byte(rng.IntN(26))}, n)...)
			if rng.IntN(4) > 0 {
				data = append(data, '\n')
			}
		}
		maxLine := 1 + rng.IntN(10)
		switch rng.IntN(4) {
		case 0:
			maxLine = DefaultMaxLine
		case 1:
			maxLine = lineBlock/2 + rng.IntN(2*lineBlock)
		}
		var reads [][]byte
		for rest := data; len(rest) > 0; {
			n := 1 + rng.IntN(len(rest))
			reads = append(reads, rest[:n])
			rest = rest[n:]
		}

		var want, got, blocks []Line
		ref := &tfile{name: "/x", shown: "x"}
		for _, r := range reads {
			for rest := r; len(rest) > 0; {
				var err error
				rest, err = ref.consumeLine(rest, maxLine, func(l Line) error { want = append(want, l); return nil })
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		bf := &tfile{name: "/x", shown: "x"}
		for _, r := range reads {
			buf := bytes.Clone(r)
			if err := bf.consume(buf, maxLine, func(l Line) error { blocks = append(blocks, l); return nil }); err != nil {
				t.Fatal(err)
			}
			clear(buf) // lines must not alias the read buffer
		}
		if !slices.Equal(blocks, want) {
			t.Fatalf("round %d, block strings (maxLine %d, reads %q):\n got %v\nwant %v", round, maxLine, reads, blocks, want)
		}
		if string(bf.partial) != string(ref.partial) || bf.partialOff != ref.partialOff || bf.off != ref.off {
			t.Fatalf("round %d, block strings: waiting %q at %d (offset %d), want %q at %d (offset %d)",
				round, bf.partial, bf.partialOff, bf.off, ref.partial, ref.partialOff, ref.off)
		}
		tf := &tfile{name: "/x", shown: "x"}
		chunks := 0
		for _, r := range reads {
			buf := bytes.Clone(r)
			err := tf.consumeChunks(buf, maxLine,
				func(l Line) error { got = append(got, l); return nil },
				func(c Chunk) error {
					chunks++
					for _, l := range splitChunk(t, c) {
						if len(l.Text) > maxLine {
							t.Fatalf("chunk line %q longer than %d", l.Text, maxLine)
						}
						got = append(got, l)
					}
					return nil
				})
			if err != nil {
				t.Fatal(err)
			}
			clear(buf) // a chunk must not be kept past its call
		}
		if !slices.Equal(got, want) {
			t.Fatalf("round %d (maxLine %d, reads %q):\n got %v\nwant %v", round, maxLine, reads, got, want)
		}
		if string(tf.partial) != string(ref.partial) || tf.partialOff != ref.partialOff || tf.off != ref.off {
			t.Fatalf("round %d: waiting %q at %d (offset %d), want %q at %d (offset %d)",
				round, tf.partial, tf.partialOff, tf.off, ref.partial, ref.partialOff, ref.off)
		}
		if round == 0 && chunks == 0 && len(want) > 0 {
			t.Fatalf("no chunks used")
		}
	}
}

// TestPrintChunk: a Printer prints a chunk exactly as it prints its lines
// one by one, in text and JSON, with headers, buffered or not, for chunks
// small enough to gather and too big to.
func TestPrintChunk(t *testing.T) {
	big := strings.Repeat(strings.Repeat("b", 99)+"\n", 2*bufferedMax/100)
	seq := []Chunk{
		{File: "/a.log", Name: "a.log", Text: []byte("a1\na2\n"), Offset: 0},
		{File: "/c.log", Text: []byte("c1 <\"é\">\n"), Offset: 7},
		{File: "/c.log", Text: []byte(big), Offset: 100},
		{File: "/a.log", Name: "a.log", Text: []byte("a3\n"), Offset: 6},
		{File: "/a.log", Name: "a.log", Text: []byte(big), Offset: 9},
	}
	for _, json := range []bool{false, true} {
		for _, buffered := range []bool{false, true} {
			t.Run(fmt.Sprintf("json=%v,buffered=%v", json, buffered), func(t *testing.T) {
				o := PrintOptions{JSON: json, Headers: true, Buffered: buffered}
				var want, got bytes.Buffer
				pl, pc := NewPrinter(&want, o), NewPrinter(&got, o)
				for _, c := range seq {
					for _, l := range splitChunk(t, c) {
						if err := pl.Print(l); err != nil {
							t.Fatal(err)
						}
					}
					if err := pc.PrintChunk(c); err != nil {
						t.Fatal(err)
					}
				}
				pl.Flush()
				pc.Flush()
				if got.String() != want.String() {
					t.Errorf("PrintChunk wrote %d bytes, Print %d; they differ:\n got %.300q\nwant %.300q", got.Len(), want.Len(), got.String(), want.String())
				}
			})
		}
	}
}

// TestChunksThroughPrinter follows two files with a Printer taking whole
// runs of lines (as `vigil tail` does): headers, a partial line completed
// later, and a line over MaxLine come out as line by line.
func TestChunksThroughPrinter(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b vnode.Backend) {
		dir := t.TempDir()
		a, c := filepath.Join(dir, "a.log"), filepath.Join(dir, "c.log")
		writeFile(t, a, "old\na1\na2\n")
		writeFile(t, c, "")
		var buf syncBuffer
		p := NewPrinter(&buf, PrintOptions{Headers: true, Buffered: true})
		o := Options{Patterns: []string{a, c}, Last: 2, MaxLine: 8, Flush: p.Flush, Chunks: p.PrintChunk}
		startWithOut(t, b, o, p.Print)
		want := fmt.Sprintf("==> %s <==\na1\na2\n", a)
		if got := buf.String(); got != want {
			t.Fatalf("output at ready:\n%q\nwant:\n%q", got, want)
		}
		appendFile(t, c, "c1\nc2\npart")
		want += fmt.Sprintf("\n==> %s <==\nc1\nc2\n", c)
		waitOut := func(what string) {
			t.Helper()
			if !testwait.For(waitTimeout, func() bool { return buf.String() == want }) {
				t.Fatalf("%s: after %v, output\n%q\nwant\n%q", what, waitTimeout, buf.String(), want)
			}
		}
		waitOut("c1 c2 printed")
		appendFile(t, c, "ial\nc3\n0123456789abc\nc4\n")
		want += "partial\nc3\n01234567\n89abc\nc4\n"
		waitOut("the rest of c printed")
		appendFile(t, a, "a3\n")
		want += fmt.Sprintf("\n==> %s <==\na3\n", a)
		waitOut("a3 printed")
	})
}
