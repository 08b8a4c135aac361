package runner

import (
	"strconv"

	"github.com/vigil-watch/vigil/watcher"
)

// Stopping drops work: once Run's context is done no command starts, and
// the changes that were queued for a rule, or that reach the Runner only
// now (the batch a watcher flushes when it is stopped), are said to be
// dropped, one line per rule, so that a change never vanishes silently.

// ruleView is what Dropped needs of a rule, copied so that it can be read
// from any goroutine while Run's loop changes its own state.
type ruleView struct {
	c      *compiled
	prefix string
}

// publish records the loop's current rules for Dropped.
func (l *loop) publish() {
	views := make([]ruleView, 0, len(l.order))
	for _, rs := range l.order {
		views = append(views, ruleView{c: rs.c, prefix: rs.prefix})
	}
	l.r.mu.Lock()
	l.r.views = views
	l.r.mu.Unlock()
}

// Dropped reports on Err, without running anything, what b would have
// run: for each rule it matches, the rule's name and the number of its
// paths. Callers use it for batches that arrive once the Runner is
// stopping (what a watcher flushes when it is stopped). Safe to call from
// any goroutine.
func (r *Runner) Dropped(b watcher.Batch) {
	r.mu.Lock()
	views := r.views
	r.mu.Unlock()
	for _, v := range views {
		if v.c.LineRule {
			continue
		}
		if n := len(v.c.matchChanges(b.Changes)); n > 0 {
			r.out.status(v.prefix, "%s", droppedText(false, n))
		}
	}
}

// reportDropped says, at shutdown, what each rule had queued and will not
// run.
func (l *loop) reportDropped() {
	for _, rs := range l.order {
		paths, _, lines := mergeItems(rs.pending)
		switch {
		case len(lines) > 0:
			l.r.out.status(rs.prefix, "%s", droppedText(true, len(lines)))
		case len(paths) > 0:
			l.r.out.status(rs.prefix, "%s", droppedText(false, len(paths)))
		}
	}
}

func droppedText(lines bool, n int) string {
	what := "changed paths"
	switch {
	case lines && n == 1:
		what = "matching line"
	case lines:
		what = "matching lines"
	case n == 1:
		what = "changed path"
	}
	return "stopping: not run for " + strconv.Itoa(n) + " " + what
}
