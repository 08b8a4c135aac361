package main

// Exit codes, as DESIGN.md promises them.
const (
	exitOK        = 0   // success
	exitFailed    = 1   // a command failed, or `wait` timed out
	exitUsage     = 2   // bad flags or a bad config
	exitInterrupt = 130 // SIGINT
	exitTerm      = 143 // SIGTERM
	exitHangup    = 129 // SIGHUP
)
