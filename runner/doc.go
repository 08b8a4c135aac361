// Package runner turns batches of changes into processes: it matches each
// [watcher.Batch] against a set of rules, starts their commands in order
// (honouring `after` dependencies), applies each rule's on-busy policy to
// changes that arrive while a command runs, and supervises the processes.
//
// # Matching
//
// A rule's Match and Exclude globs are in the one dialect of [watcher.Glob]
// and relative to its roots. A change triggers a rule when any path it names
// matches: its path, or for a rename its old path too, so that moving a.go
// away runs a rule for "**/*.go". Line rules are fed by [Runner.FollowLines]
// instead.
//
// # Processes
//
// Every command runs in its own process group with stdin from /dev/null.
// Stopping a command signals the whole group with the rule's stop signal,
// waits up to the stop timeout for every member to go, then sends SIGKILL to
// the group and waits again; a run never overlaps the previous run of the same
// rule, and no member of the group is left behind, not even one that outlives
// a command that exited by itself. Starting a binary that is still open for
// writing (ETXTBSY, typical right after a build) is retried a few times.
//
// # What a command learns
//
// VIGIL_RULE is the rule name; VIGIL_PATHS the paths that matched the rule
// (for a rename, the new path if it matches, else the old one), relative to its working directory, one per line (cut at 96 KiB of
// whole paths: Linux refuses to exec with a longer environment string);
// VIGIL_EVENTS_FILE a temporary file holding the batch's JSON object (one
// object per line when several batches were merged into one run), removed
// after the run; it is never cut. Line rules also get VIGIL_FILE, VIGIL_LINE
// and VIGIL_OFFSET for the first matching line. File names reach commands
// only through these variables, never through a shell command string.
//
// # Busy policies
//
// Queue merges every batch that arrives during a run into one more run.
// Restart stops the run (as above) and starts one for the new changes; the
// interrupted run's paths are not repeated, but rules waiting on it through
// After wait on its replacement instead. Signal sends BusySignal to the
// running command's group. Ignore drops the changes. Daemons restart unless
// their policy is Signal or Ignore; one that exits by itself is restarted
// after 0.5 s, doubling to 8 s while it keeps exiting within 10 s.
//
// # Dependencies
//
// A rule with After runs for a batch only once the listed rules' runs for
// the same batch have succeeded; if one failed, the rule is skipped for that
// batch. A listed rule that the batch did not trigger imposes no wait. A
// daemon counts as succeeded once its last command has started.
//
// # Concurrency
//
// [Runner.Run] owns all scheduling state in one goroutine. [Runner.Reload],
// [Runner.FollowLines] and [Runner.Kill] may be called from any goroutine, at
// any time.
package runner
