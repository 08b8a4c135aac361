//go:build linux

package runner

import "golang.org/x/sys/unix"

// reapGroup reaps members of group pgid that are our own zombie children.
// They are ours when vigil is PID 1 in a container or a child subreaper:
// orphaned grandchildren are then reparented to us, and nobody else would
// reap them, so the group would never read as empty. Only that group is
// waited for, so exec's Wait for other commands' leaders is undisturbed;
// ECHILD (not our children) is the usual, harmless answer.
func reapGroup(pgid int) {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PGID, pgid, &info, unix.WEXITED|unix.WNOHANG, nil)
		if err != nil || info.Signo == 0 {
			return
		}
	}
}
