//go:build unix

package runner

import (
	"sync"
	"sync/atomic"
)

// reaper is the process-wide record of which children have a Wait pending.
// When vigil adopts orphans (AdoptOrphans), every exited child that is not
// in it is an orphan nobody else will reap; the ones in it belong to os/exec
// and must be left alone, or Wait would lose the exit status that --once and
// 128+N report.
var reaper struct {
	// forks is held for reading across fork and registration and for
	// writing while the reaper decides about one zombie: a child that exits
	// before its PID is registered is then never taken for an orphan.
	forks sync.RWMutex

	mu    sync.Mutex
	owned map[int]int // PID -> pending Waits (a PID can be reused)

	on     atomic.Bool   // AdoptOrphans succeeded: reap every orphan
	kick   chan struct{} // asks the reaping goroutine for a pass
	reaped atomic.Int64  // orphans reaped so far (tests)
	pass   sync.Mutex    // one pass at a time
}

// startOwned runs start (which forks) and registers the PID it returns as
// owned by a Wait. disown must follow that Wait.
func startOwned(start func() (int, error)) (int, error) {
	reaper.forks.RLock()
	defer reaper.forks.RUnlock()
	pid, err := start()
	if err == nil {
		reaper.mu.Lock()
		if reaper.owned == nil {
			reaper.owned = map[int]int{}
		}
		reaper.owned[pid]++
		reaper.mu.Unlock()
	}
	return pid, err
}

// disown records that a Wait for pid has returned, and lets the reaper look
// past it: while that child was an unreaped zombie it hid the orphans queued
// behind it.
func disown(pid int) {
	reaper.mu.Lock()
	if reaper.owned[pid]--; reaper.owned[pid] <= 0 {
		delete(reaper.owned, pid)
	}
	reaper.mu.Unlock()
	kickReaper()
}

func isOwned(pid int) bool {
	reaper.mu.Lock()
	defer reaper.mu.Unlock()
	return reaper.owned[pid] > 0
}

func kickReaper() {
	if reaper.on.Load() {
		select {
		case reaper.kick <- struct{}{}:
		default:
		}
	}
}

// reapOrphans reaps what can be reaped now: the zombies of group pgid that
// are our children, and every other orphan once AdoptOrphans succeeded.
func reapOrphans(pgid int) {
	reapGroup(pgid)
	if reaper.on.Load() {
		reapPass()
	}
}
