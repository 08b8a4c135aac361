package watcher

import (
	"path/filepath"
	"testing"
)

// BenchmarkSnapshotUnchanged100k: `vigil changed` with nothing changed on
// a tree of 100,000 files in 10,000 directories: read the previous
// snapshot, crawl and stat the tree, compare. Compare its time with
// BenchmarkReady100k's ms-to-ready (issue 12: at most 1.5 times).
func BenchmarkSnapshotUnchanged100k(b *testing.B) {
	root := b.TempDir()
	buildTree(b, root, 10000, 100000)
	o := Options{Roots: []string{root}}
	s, err := TakeSnapshot(o, nil)
	if err != nil {
		b.Fatal(err)
	}
	// As if taken a while after the tree was built: nothing is racy.
	s.Time = s.Time.Add(RacyWindow + 1e9)
	file := filepath.Join(b.TempDir(), "snap")
	if err := s.WriteFile(file); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		prev, err := ReadSnapshot(file)
		if err != nil {
			b.Fatal(err)
		}
		cur, err := TakeSnapshot(o, prev)
		if err != nil {
			b.Fatal(err)
		}
		if n := len(cur.Changes()); n != 0 || !cur.SameAs(prev) {
			b.Fatalf("%d changes, same %v", n, cur.SameAs(prev))
		}
	}
	b.ReportMetric(float64(s.Len()), "nodes")
}
