//go:build linux

package runner

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// AdoptOrphans makes this process a child subreaper and reaps, from then
// on, every orphan reparented to it, leaving the exit statuses of the
// commands the runner waits for to their Wait.
//
// Why: without it, a command's orphans (a shell's child whose shell was
// killed first) go to PID 1, and where PID 1 reaps late or never (a
// container running `sleep infinity`) their zombies keep a process group
// looking alive, so every stop waits for the kill timeout. Being a
// subreaper is only half of it: every orphan of every descendant then
// comes to us, including those of commands that start their own groups
// (test runners, make -j, a nested vigil), and each must be reaped or it
// stays a zombie for as long as we run, and makes the group it was in
// look alive to whichever descendant waits for that group to empty.
//
// How: on SIGCHLD and whenever a Wait returns, waitid(P_ALL, WNOWAIT) peeks
// at an exited child; one that no Wait owns is reaped by PID, one that is
// owned is left to its Wait, which then asks for another look.
//
// It is process-wide; call it from a program's main, and only in a program
// whose children are all started by the runner: a child started elsewhere
// (os/exec directly) would look like an orphan and be reaped, and its Wait
// would fail.
func AdoptOrphans() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil && os.Getpid() != 1 {
		return fmt.Errorf("runner: become a child subreaper: %w", err)
	}
	adopt.Do(func() {
		reaper.kick = make(chan struct{}, 1)
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGCHLD)
		go func() {
			for {
				select {
				case <-sigs:
				case <-reaper.kick:
				}
				reapPass()
			}
		}()
		reaper.on.Store(true) // after kick is made: kickReaper reads it then
	})
	// Orphans may be waiting already (we were PID 1 before this call).
	kickReaper()
	return nil
}

var adopt sync.Once

// childInfo is the start of the kernel's siginfo_t for SIGCHLD: the union
// after the three ints is pointer-aligned, and si_pid comes first in it.
type childInfo struct {
	signo, errno, code int32
	_                  [0]uintptr
	pid                int32
}

// siPid reads si_pid (by offset: unix.Siginfo is only 4-aligned).
func siPid(info *unix.Siginfo) int {
	return int(*(*int32)(unsafe.Add(unsafe.Pointer(info), unsafe.Offsetof(childInfo{}.pid))))
}

// reapPass reaps exited children that no Wait owns, until none is left or
// the next one is owned.
func reapPass() {
	reaper.pass.Lock()
	defer reaper.pass.Unlock()
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		pid := siPid(&info)
		if err != nil || pid == 0 {
			return // ECHILD: no children at all; pid 0: none has exited
		}
		reaper.forks.Lock()
		if isOwned(pid) {
			// Its Wait reaps it and then kicks us: the kernel shows the
			// same first zombie until then, hiding any behind it.
			reaper.forks.Unlock()
			return
		}
		for {
			err = unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOHANG, nil)
			if !errors.Is(err, unix.EINTR) {
				break
			}
		}
		reaper.forks.Unlock()
		if err != nil {
			return
		}
		reaper.reaped.Add(1)
	}
}

// reapGroup reaps members of group pgid that are our own zombie children.
// They are ours when this process is PID 1 in a container or a child
// subreaper. Only that group is waited for: the runner starts each command
// as a new group and its leader has been reaped by Wait before this runs,
// so no other Wait is disturbed; ECHILD (not our children) is the usual,
// harmless answer.
func reapGroup(pgid int) {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PGID, pgid, &info, unix.WEXITED|unix.WNOHANG, nil)
		if err != nil || info.Signo == 0 {
			return
		}
	}
}
