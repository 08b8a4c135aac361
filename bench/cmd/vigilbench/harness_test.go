//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The stamp output parser must survive partial lines (a run caught mid-write)
// and keep every record in order.
func TestOutFileReadsWholeLinesOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stamps")
	o, err := newOutFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("100 L0\n200 L")
	o.poll()
	if len(o.recs) != 1 || o.recs[0] != (rec{100, "L0"}) {
		t.Fatalf("after a partial line: %+v, want one record {100 L0}", o.recs)
	}
	f.WriteString("1\n300 burst-final\n")
	got, ok := o.waitFor(1, time.Now().Add(10*time.Second), nil, func(r rec) bool { return r.state == "burst-final" })
	if !ok || got.ts != 300 {
		t.Fatalf("waitFor burst-final: %+v %v", got, ok)
	}
	if len(o.recs) != 3 || o.recs[1] != (rec{200, "L1"}) {
		t.Fatalf("records: %+v, want L0, L1, burst-final", o.recs)
	}
}

func TestPercentile(t *testing.T) {
	v := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if p := percentile(v, 0.5); p != 5 {
		t.Errorf("p50 = %v, want 5", p)
	}
	if p := percentile(v, 0.9); p != 9 {
		t.Errorf("p90 = %v, want 9", p)
	}
	if p := percentile(nil, 0.5); p != 0 {
		t.Errorf("p50 of nothing = %v, want 0", p)
	}
}

// The large tree must have exactly the files and leaf directories asked for,
// with the touch file in the last leaf directory.
func TestMakeTreeShape(t *testing.T) {
	root := filepath.Join(t.TempDir(), "tree")
	touch, err := makeTree(root, 95, 10)
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	var leaves []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if strings.Count(strings.TrimPrefix(p, root), "/") == 2 {
				leaves = append(leaves, p)
			}
		} else {
			files++
		}
		return nil
	})
	if files != 95 || len(leaves) != 10 {
		t.Fatalf("tree has %d files in %d leaf dirs, want 95 in 10", files, len(leaves))
	}
	if _, err := os.Stat(touch); err != nil {
		t.Fatalf("touch file: %v", err)
	}
	// WalkDir goes in lexical order, so the last leaf found is the last one.
	if last := leaves[len(leaves)-1]; filepath.Dir(touch) != last {
		t.Errorf("touch file %s is not in the last leaf directory %s", touch, last)
	}
}
