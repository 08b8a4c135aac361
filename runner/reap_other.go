//go:build unix && !linux

package runner

import (
	"errors"
	"fmt"
)

// AdoptOrphans is Linux-only. FreeBSD and DragonFly could become a reaper
// with procctl(PROC_REAP_ACQUIRE), but vigil deliberately does not: there
// orphans go to init, which reaps at once (jails included: their orphans go
// to the host's init), so a stopped group empties without our help, while a
// reaper must wait for every orphan of every descendant, through wait6
// peeking that x/sys does not wrap. darwin, OpenBSD and NetBSD have no
// subreaper at all. Nothing in the runner depends on being one: a stop waits
// for the group to empty by probing it, and init reaps what is left.
func AdoptOrphans() error {
	return fmt.Errorf("runner: adopt orphans: %w", errors.ErrUnsupported)
}

func reapPass() {}

// reapGroup is a no-op: never being a subreaper, we have no orphans to reap.
func reapGroup(pgid int) {}
