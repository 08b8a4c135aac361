package vnode

import (
	"errors"
	"fmt"
	"syscall"
)

// The descriptor budget of the kqueue backend (docs/kqueue.md, "The
// descriptor budget"). kqueue needs one open descriptor per watched node,
// and RLIMIT_NOFILE is far below the size of a large tree on macOS
// (kern.maxfilesperproc is 10240 or so by default). The backend therefore
// spends at most a budget of descriptors on watches:
//
//   - it keeps a reserve for everything else vigil does (pipes and
//     /dev/null for the commands it runs, reading directories and ignore
//     files, followed files): vigil itself must never be the reason a
//     command fails to start with EMFILE;
//   - directories may use the whole budget: their NOTE_WRITE is how kqueue
//     learns of every create, remove and rename below them;
//   - files may use all but a quarter of it, which stays for directories
//     made later;
//   - a file (or directory) past its share is polled instead: a stat per
//     poll interval, so that a save is still seen within debounce plus one
//     poll interval. Saying so once is the caller's job (a *LimitError
//     with Polled set).

// errFDBudget is the cause of a watch polled because the budget is spent.
var errFDBudget = errors.New("the descriptor budget for watches is spent")

// budgetSpent is the error a *LimitError carries when the budget, not the
// kernel, refused a descriptor: it says how the limit was shared out.
type budgetSpent struct{ b fdBudget }

func (e *budgetSpent) Error() string {
	return fmt.Sprintf("%d descriptors for watches, %d kept for the commands vigil runs and its own work", e.b.total, e.b.reserve)
}

// Is makes errors.Is(err, errFDBudget) and errors.Is(err, syscall.EMFILE)
// hold: the budget stands in for the EMFILE it avoids.
func (e *budgetSpent) Is(target error) bool { return target == errFDBudget || target == syscall.EMFILE }

// fdBudget is the descriptor budget derived from the limit.
type fdBudget struct {
	limit   int64 // RLIMIT_NOFILE after raising the soft limit; -1 unknown
	reserve int   // kept for the rest of vigil
	total   int   // descriptors watches and follows may hold
	files   int   // of which files may hold this many
}

// Reserve bounds: at least minReserve, else an eighth of the limit, at most
// maxReserve (a command needs a handful of descriptors in vigil while it
// starts, however large the limit).
const (
	minReserve = 64
	maxReserve = 1024
)

// unlimitedFDs stands for "no budget": an unknown or infinite limit.
const unlimitedFDs = 1 << 30

func newFDBudget(limit int64) fdBudget {
	if limit < 0 || limit >= unlimitedFDs {
		return fdBudget{limit: limit, total: unlimitedFDs, files: unlimitedFDs}
	}
	reserve := min(max(int(limit/8), minReserve), maxReserve)
	total := max(int(limit)-reserve, 0)
	return fdBudget{limit: limit, reserve: reserve, total: total, files: total - total/4}
}
