//go:build linux

package main

import "golang.org/x/sys/unix"

// becomeSubreaper makes vigil the parent of the orphans its commands leave
// (a shell's child whose shell was killed first). Without it they go to PID
// 1, and where PID 1 reaps late or never (a container running `sleep
// infinity`, some init shims) their zombies keep the command's process group
// looking alive, so every stop waits for the kill timeout. The runner reaps
// the members of its own groups. Failure only loses that speed-up.
func becomeSubreaper() {
	_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}
