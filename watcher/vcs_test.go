package watcher

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestVCSLockHoldsBatch: while git holds .git/index.lock (a checkout that
// takes longer than max wait), the batch is held, and it arrives whole once
// the lock goes.
func TestVCSLockHoldsBatch(t *testing.T) {
	for _, v := range variants() {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			repo := t.TempDir()
			src := filepath.Join(repo, "src")
			if err := os.MkdirAll(filepath.Join(repo, ".git"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(src, 0o755); err != nil {
				t.Fatal(err)
			}
			lock := filepath.Join(repo, ".git", "index.lock")
			if err := os.WriteFile(lock, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			const maxWait = 200 * time.Millisecond
			// Watching src, below the work tree's root: the lock is found
			// by walking up.
			c, _ := startWatcher(t, Options{Roots: []string{src}, Debounce: 50 * time.Millisecond,
				MaxWait: maxWait, Backend: v.backend, PollInterval: testPoll})
			os.WriteFile(filepath.Join(src, "a.go"), []byte("a"), 0o644)
			// The checkout goes on for several max waits.
			time.Sleep(4 * maxWait)
			os.WriteFile(filepath.Join(src, "b.go"), []byte("b"), 0o644)
			time.Sleep(4 * maxWait)
			if err := os.Remove(lock); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, "a batch arrives after the lock is gone", func() bool {
				c.mu.Lock()
				defer c.mu.Unlock()
				return len(c.batches) > 0
			})
			c.mu.Lock()
			defer c.mu.Unlock()
			b := c.batches[0]
			if len(b.Changes) != 2 {
				t.Fatalf("first batch %+v, want both files created in one batch", b.Changes)
			}
		})
	}
}

func TestGitDirOfWorktree(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "main", ".git", "worktrees", "wt")
	if err := os.MkdirAll(real, 0o755); err != nil {
		t.Fatal(err)
	}
	wt := filepath.Join(dir, "wt")
	os.MkdirAll(wt, 0o755)
	os.WriteFile(filepath.Join(wt, ".git"), []byte("gitdir: ../main/.git/worktrees/wt\n"), 0o644)
	got, ok := gitDirOf(wt)
	if !ok || got != real {
		t.Fatalf("gitDirOf(worktree) = %q, %v; want %q", got, ok, real)
	}
	locks := vcsLocks([]rootSpec{{path: filepath.Join(wt)}})
	if len(locks) != 1 || locks[0] != filepath.Join(real, "index.lock") {
		t.Fatalf("locks %v", locks)
	}
}
