//go:build linux

package runner

import (
	"os"

	"golang.org/x/sys/unix"
)

// awaitExit returns once process pid (our child, not yet waited for) has
// exited, leaving it for the Wait that follows. It waits through a pidfd
// in the runtime's poller: Wait alone would hold a thread in waitid(2) for
// the whole run, and while a thread sits in a system call the runtime's
// monitor polls every 20 µs, tens of context switches per run that a busy
// machine pays for in latency. Without pidfds (before Linux 5.10) it
// returns at once and Wait blocks as before.
func awaitExit(pid int) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	rc.Read(func(fd uintptr) bool {
		// Exited yet? WNOWAIT leaves the status for Wait.
		var info unix.Siginfo
		for {
			err := unix.Waitid(unix.P_PIDFD, int(fd), &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
			if err == unix.EINTR {
				continue
			}
			return err != nil || siPid(&info) != 0
		}
	})
}
