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
// daemon counts as succeeded once its last command has started, or with a
// Ready probe once the probe passes.
//
// # Sockets, readiness, reloads
//
// A rule's Sockets are opened once, by [New] (an address in use is a
// [*SocketError] naming the rule and address), kept across [Runner.Reload]
// for addresses that stay, and closed when Run returns (a unix socket's file
// is removed; a stale one found at start is replaced). Every run inherits
// them by the systemd socket-activation protocol: fds 3, 4, …, LISTEN_FDS,
// LISTEN_FDNAMES (the rule's name, or NAME-1:NAME-2:… for several) and
// LISTEN_PID. LISTEN_PID is set by a /bin/sh that then execs the program,
// so that it is the program's own PID: an Argv command and a shell string
// made only of plain words are exec'd that way; any other shell string runs
// after the assignment and must exec its server itself. Nobody accepts on
// the sockets in between runs: clients wait in the backlog.
//
// A daemon's Ready probe (tcp connect, http 2xx, or a regexp on its output
// lines) decides when its run counts as succeeded for After and reloads;
// past ReadyTimeout the run counts as failed. [Options.OnReload] is told,
// once per batch, when all the batch's Reload rules have run (daemons: are
// ready), with the failed run's output if one failed.
//
// [Runner.RunAll] runs every rule now; [Runner.Pause] holds new runs until
// [Runner.Resume].
//
// # Concurrency
//
// [Runner.Run] owns all scheduling state in one goroutine. [Runner.Reload],
// [Runner.FollowLines] and [Runner.Kill] may be called from any goroutine, at
// any time.
package runner
