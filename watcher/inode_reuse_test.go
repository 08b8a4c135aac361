package watcher

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-watch/vigil/vnode"
)

// TestDeleteCreateReusingInode: `rm a.go; echo > b.go` inside one batch,
// where the file system hands a.go's inode number to b.go (ext4 and tmpfs
// do at once), is a remove and a create, not a rename: on backends without
// rename cookies pairing by inode alone said "b.go renamed from a.go".
func TestDeleteCreateReusingInode(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.go"), filepath.Join(dir, "b.go")
	if err := os.WriteFile(a, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, _ := startWatcher(t, Options{Roots: []string{dir}, Backend: vnode.Poll, PollInterval: testPoll, Debounce: testQuiet, MaxWait: testMaxWait})
	readyAt := time.Now() // the open batch began before this
	inoA := inodeOf(t, a)
	// File systems stamp birth times from a coarse clock, a tick behind
	// time.Now: wait until a file born now is stamped after readyAt, or
	// b.go could look older than the batch (and be paired, as before).
	probe := filepath.Join(t.TempDir(), "probe")
	waitUntil(t, "the file system clock passes the batch's start", func() bool {
		os.Remove(probe)
		if err := os.WriteFile(probe, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		_, born, ok := birthOf(probe)
		return !ok || !born.Before(readyAt)
	})
	if err := os.Remove(a); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, []byte("new\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := birthOf(b); !ok {
		t.Skip("no birth times here: a reused inode still looks like a rename")
	}
	if inodeOf(t, b) != inoA {
		t.Skip("the file system did not reuse the inode number; nothing to tell apart")
	}
	got := map[string]Change{}
	waitUntil(t, "a.go and b.go reported", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, bt := range c.batches {
			for _, ch := range bt.Changes {
				got[ch.Path] = ch
				if ch.Op == Rename {
					got[ch.Old] = ch
				}
			}
		}
		return len(got) >= 2
	})
	if ch := got[b]; ch.Op != Create {
		t.Errorf("b.go: %s (old %q), want create", ch.Op, ch.Old)
	}
	if ch := got[a]; ch.Path != a || ch.Op != Remove {
		t.Errorf("a.go: %s %s (old %q), want remove", ch.Path, ch.Op, ch.Old)
	}
}

func inodeOf(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		t.Skip("no inode numbers here")
	}
	return uint64(st.Ino)
}
