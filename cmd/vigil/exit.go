package main

// Exit codes. They are part of the command line's contract (README.md,
// "Exit codes"): scripts and CI branch on them. 128+N for a signal N is the
// shell's convention, so `vigil; echo $?` reads the same as for any other
// program stopped by that signal.
const (
	exitOK        = 0   // success
	exitFailed    = 1   // a command failed, or `wait` timed out
	exitUsage     = 2   // bad flags or a bad config
	exitInterrupt = 130 // SIGINT
	exitTerm      = 143 // SIGTERM
	exitHangup    = 129 // SIGHUP
	exitPipe      = 141 // SIGPIPE: vigil tail's reader went away
)
