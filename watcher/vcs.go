package watcher

import (
	"os"
	"path/filepath"
	"strings"
	"time"
)

// vcsHoldMax bounds how long a due batch waits for a version-control
// operation to finish, so that a lock file left behind by a crashed git
// never silences vigil; the batch then goes out as it is (nothing is lost:
// what changes later lands in the next batch).
const vcsHoldMax = 10 * time.Second

// vcsLocks lists the lock files that git and Mercurial hold while they
// rewrite the work tree (checkout, merge, rebase, stash, update). While one
// exists a due batch is held, as watchman does, so that a checkout that
// takes longer than max_wait still arrives as one batch with its final
// state rather than several half-done ones.
func vcsLocks(roots []rootSpec) []string {
	seen := map[string]bool{}
	var locks []string
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			locks = append(locks, p)
		}
	}
	for _, rs := range roots {
		for dir := rs.path; ; {
			if gitDir, ok := gitDirOf(dir); ok {
				add(filepath.Join(gitDir, "index.lock"))
				break
			}
			if fi, err := os.Stat(filepath.Join(dir, ".hg")); err == nil && fi.IsDir() {
				add(filepath.Join(dir, ".hg", "wlock"))
				break
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return locks
}

// gitDirOf finds the git directory of a work tree rooted at dir: ".git"
// itself, or where a ".git" file points (worktrees and submodules).
func gitDirOf(dir string) (string, bool) {
	p := filepath.Join(dir, ".git")
	fi, err := os.Stat(p)
	if err != nil {
		return "", false
	}
	if fi.IsDir() {
		return p, true
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return "", false
	}
	line, _, _ := strings.Cut(string(data), "\n")
	target, ok := strings.CutPrefix(strings.TrimSpace(line), "gitdir:")
	if !ok {
		return "", false
	}
	target = strings.TrimSpace(target)
	if !filepath.IsAbs(target) {
		target = filepath.Join(dir, target)
	}
	return filepath.Clean(target), true
}

// vcsBusy says whether a due batch should wait for a VCS operation: one of
// the lock files exists and the batch has not been held for vcsHoldMax yet.
// holdSince is when the holding began (zero: not holding yet).
func vcsBusy(locks []string, holdSince *time.Time, now time.Time) bool {
	for _, l := range locks {
		if _, err := os.Lstat(l); err == nil {
			if holdSince.IsZero() {
				*holdSince = now
			}
			return now.Sub(*holdSince) < vcsHoldMax
		}
	}
	return false
}
