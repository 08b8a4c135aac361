//go:build unix

package watcher

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// An inode number names a node only on its device: a file that vanished on
// one file system and a file with the same inode number that appeared on
// another are a remove and a create, never a rename (rename(2) cannot cross
// devices). On one device the same records pair as a rename.
func TestRenamePairingComparesDevice(t *testing.T) {
	other, err := os.MkdirTemp("/dev/shm", "vigil-dev-")
	if err != nil {
		t.Skipf("no second file system to test on: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(other) })
	here := t.TempDir()
	hfi, _ := os.Stat(here)
	ofi, _ := os.Stat(other)
	if devOf(hfi) == devOf(ofi) {
		t.Skip("/dev/shm is on the same device as the temporary directory")
	}
	pair := func(goneDir, newDir string) []Change {
		newPath := filepath.Join(newDir, "new")
		if err := os.WriteFile(newPath, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(newPath)
		if err != nil {
			t.Fatal(err)
		}
		ino := inoOf(fi)
		r := &run{cur: newPending()}
		// The batch opened before the new file was born, as a rename's
		// target was.
		r.cur.opened = time.Now().Add(time.Hour)
		r.cur.recs[filepath.Join(goneDir, "old")] = &rec{startKind: kFile, startIno: ino}
		r.cur.recs[newPath] = &rec{nowKind: kFile, nowIno: ino}
		r.cur.unpaired = true
		return r.flush(time.Now()).Changes
	}
	if got := pair(here, other); len(got) != 2 || got[0].Op == Rename || got[1].Op == Rename {
		t.Errorf("across devices: %+v, want a create and a remove", got)
	}
	if got := pair(here, here); len(got) != 1 || got[0].Op != Rename {
		t.Errorf("on one device: %+v, want one rename", got)
	}
}

// sameNodeAt compares the device too, as os.SameFile does.
func TestSameNodeAt(t *testing.T) {
	dir := t.TempDir()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !sameNodeAt(dir, fi) {
		t.Error("a directory is not the same node as itself")
	}
	if sameNodeAt(filepath.Join(dir, "missing"), fi) {
		t.Error("a missing path is the same node as a directory")
	}
	if shm, err := os.Stat("/dev/shm"); err == nil && devOf(shm) != devOf(fi) && sameNodeAt("/dev/shm", fi) {
		t.Error("nodes on two devices compare the same")
	}
}
