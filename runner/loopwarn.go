package runner

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A command that writes into the tree it watches triggers itself: each run's
// output is the next run's change. The runner cannot tell an intended
// rebuild loop from a mistake, so it keeps running and says once, after
// loopRuns re-triggers in a row by nothing but paths that changed while the
// rule's previous run ran, which paths and which ignore entry would stop it.
const (
	loopRuns = 5
	// loopSlack widens the run's time span by file-timestamp granularity
	// (the kernel stamps files with a coarse clock).
	loopSlack = 20 * time.Millisecond
	// loopMaxStat bounds the lstats per run start; a larger batch is judged
	// by its first paths.
	loopMaxStat = 1000
	// loopShowPaths bounds the paths the warning names.
	loopShowPaths = 5
)

// loopWatch is a rule's record of re-triggers by its own changes.
type loopWatch struct {
	began, ended time.Time // the last run that ended
	streak       int       // runs in a row triggered only by changes made during the previous one
	paths        []string  // those changes, first seen first
	warned       bool
}

// runEnded records the span of a run that just ended. A run stopped for a
// restart (a server, typically) was running whenever the user saved a
// file, so there only its first moments count: a server that writes into
// the tree as it starts restarts itself within them, an edit rarely falls
// in them five times in a row.
func (lw *loopWatch) runEnded(began time.Time, restarted bool) {
	lw.began, lw.ended = began, time.Now()
	if w := began.Add(loopRestartWindow); restarted && lw.ended.After(w) {
		lw.ended = w
	}
}

// runStarting counts a run that starts for items, and returns the warning
// to print when the streak has just reached loopRuns ("" otherwise).
func (lw *loopWatch) runStarting(c *compiled, items []*item) string {
	paths, _, lines := mergeItems(items)
	self := len(paths) > 0 && len(lines) == 0 && !lw.ended.IsZero()
	for _, it := range items {
		if it.why != "" {
			self = false
		}
	}
	for i, p := range paths {
		if !self || i == loopMaxStat {
			break
		}
		self = changedBetween(p, lw.began.Add(-loopSlack), lw.ended.Add(loopSlack))
	}
	if !self {
		lw.streak, lw.paths = 0, nil
		return ""
	}
	lw.streak++
	for _, p := range paths {
		if len(lw.paths) == loopShowPaths {
			break
		}
		if !slices.Contains(lw.paths, p) {
			lw.paths = append(lw.paths, p)
		}
	}
	if lw.streak < loopRuns || lw.warned {
		return ""
	}
	lw.warned = true
	var yaml, flags []string
	for _, p := range lw.paths {
		g := quoteGlob(relToRoot(c, p))
		yaml = append(yaml, "'"+strings.ReplaceAll(g, "'", "''")+"'")
		flags = append(flags, "-x '"+strings.ReplaceAll(g, "'", `'\''`)+"'")
	}
	return "warning: re-triggered " + strconv.Itoa(lw.streak) + " times in a row only by changes made while it ran (" +
		describePaths(c.dir, lw.paths) + "): it may be triggering itself; if that is not intended, ignore its output: " +
		"ignore: [" + strings.Join(yaml, ", ") + "] in vigil.yaml, or " + strings.Join(flags, " ") + " on the command line"
}

// loopRestartWindow is how much of a run stopped for a restart counts (a
// variable for tests).
var loopRestartWindow = 2 * time.Second

// changedBetween reports whether path's modification time falls in
// [from, to]; a path that is gone cannot tell, and counts as not.
func changedBetween(path string, from, to time.Time) bool {
	fi, err := os.Lstat(path)
	if err != nil {
		return false
	}
	mt := fi.ModTime()
	return !mt.Before(from) && !mt.After(to)
}

// relToRoot makes p relative to the rule's root that holds it, the form
// ignore globs take.
func relToRoot(c *compiled, p string) string {
	for _, r := range c.roots {
		if rel, err := filepath.Rel(r, p); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			return filepath.ToSlash(rel)
		}
	}
	return filepath.ToSlash(relTo(c.dir, p))
}

// quoteGlob escapes the glob metacharacters of a literal path.
func quoteGlob(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]{}\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
