package watcher

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestContentsDropsSavesThatChangeNothing(t *testing.T) {
	dir := t.TempDir()
	path := func(n string) string { return filepath.Join(dir, n) }
	old := time.Now().Add(-time.Hour)
	for _, n := range []string{"a.go", "b.go", "big.bin"} {
		body := []byte("package " + n + "\n")
		if n == "big.bin" {
			body = make([]byte, MaxHashSize+1)
		}
		if err := os.WriteFile(path(n), body, 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(path(n), old, old)
	}
	c := NewContents()
	// fresh.go was written after priming began: its content may already be
	// a change a batch will report, so it gets no baseline.
	os.WriteFile(path("fresh.go"), []byte("x"), 0o644)
	if n := c.Prime([]string{path("a.go"), path("b.go"), path("big.bin"), path("fresh.go")}, nil); n != 2 {
		t.Errorf("primed %d files, want 2 (a.go, b.go)", n)
	}
	batch := func(ops ...any) Batch {
		var b Batch
		for i := 0; i < len(ops); i += 2 {
			b.Changes = append(b.Changes, Change{Path: path(ops[i].(string)), Op: ops[i+1].(Op)})
		}
		return b
	}
	names := func(b Batch) (s []string) {
		for _, ch := range b.Changes {
			s = append(s, filepath.Base(ch.Path))
		}
		return s
	}
	// A save without an edit, and a touch.
	os.WriteFile(path("a.go"), []byte("package a.go\n"), 0o644)
	os.Chtimes(path("b.go"), time.Now(), time.Now())
	if got := names(c.Filter(batch("a.go", Write, "b.go", Chmod, "big.bin", Write, "fresh.go", Write))); len(got) != 2 || got[0] != "big.bin" || got[1] != "fresh.go" {
		t.Errorf("kept %q, want only big.bin (beyond the cap) and fresh.go (no baseline)", got)
	}
	// fresh.go has a baseline now: saving it unchanged runs nothing.
	if got := names(c.Filter(batch("fresh.go", Write))); len(got) != 0 {
		t.Errorf("kept %q for an unchanged save of a file seen before", got)
	}
	// A real edit, a mode change, a remove: all count.
	os.WriteFile(path("a.go"), []byte("package a // edited\n"), 0o644)
	os.Chmod(path("b.go"), 0o755)
	os.Remove(path("fresh.go"))
	if got := names(c.Filter(batch("a.go", Write, "b.go", Chmod, "fresh.go", Remove))); len(got) != 3 {
		t.Errorf("kept %q, want the edit, the chmod and the remove", got)
	}
	// A file re-created with the content it had before it was removed counts:
	// it was gone meanwhile.
	os.WriteFile(path("fresh.go"), []byte("x"), 0o644)
	if got := names(c.Filter(batch("fresh.go", Create))); len(got) != 1 {
		t.Errorf("kept %q for a re-created file", got)
	}
}

// TestFilesMax: Files(max) lists max of the files, each once and sorted,
// and Files(0) all of them.
func TestFilesMax(t *testing.T) {
	root := t.TempDir()
	want := map[string]bool{}
	for d := range 5 {
		dir := filepath.Join(root, "d"+string(rune('a'+d)))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for f := range 10 {
			p := filepath.Join(dir, "f"+string(rune('a'+f)))
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			want[p] = true
		}
	}
	w, err := New(Options{Roots: []string{root}})
	if err != nil {
		t.Fatal(err)
	}
	all, err := w.Files(0)
	if err != nil || len(all) != len(want) {
		t.Fatalf("Files(0) = %d files, %v; want %d", len(all), err, len(want))
	}
	some, err := w.Files(12)
	if err != nil || len(some) != 12 {
		t.Fatalf("Files(12) = %d files, %v; want 12", len(some), err)
	}
	for i, p := range some {
		if !want[p] || (i > 0 && some[i-1] >= p) {
			t.Fatalf("Files(12) = %q: not 12 distinct sorted files of the tree", some)
		}
	}
}

// TestContentsPrimeAgain: a baseline forgotten since a priming (the file
// was removed) is set again by a later priming, not lost to the forgotten
// slot.
func TestContentsPrimeAgain(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.txt")
	old := time.Now().Add(-time.Hour)
	write := func() {
		if err := os.WriteFile(p, []byte("same"), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, old, old)
	}
	write()
	c := NewContents()
	if n := c.Prime([]string{p}, nil); n != 1 {
		t.Fatalf("first priming hashed %d files, want 1", n)
	}
	c.Filter(Batch{Changes: []Change{{Path: p, Op: Remove}}})
	write()
	if n := c.Prime([]string{p}, nil); n != 1 {
		t.Fatalf("second priming hashed %d files, want 1", n)
	}
	if b := c.Filter(Batch{Changes: []Change{{Path: p, Op: Write}}}); len(b.Changes) != 0 {
		t.Errorf("a write leaving the primed contents kept: %v", b.Changes)
	}
}
