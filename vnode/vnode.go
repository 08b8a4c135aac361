// Package vnode is vigil's kernel layer: a pull-based queue of vnode watches,
// followed files and one-shot timers, spoken in kqueue's vocabulary.
//
// One [Queue] serves three kinds of interest:
//
//   - vnode watches on files and directories ([Queue.Watch]), reporting
//     kqueue's notes (write, extend, attrib, link, rename, delete, revoke) and,
//     where the kernel names the child (inotify) or the backend sees it (poll),
//     the child's name and what happened to it;
//   - followed files ([Queue.Follow]), the EVFILT_READ case: an event says how
//     many bytes lie between the follower's read offset and EOF, negative when
//     the file was truncated below it;
//   - one-shot timers ([Queue.SetTimer]), delivered through the same wait;
//   - wake-ups ([Queue.Wake]) from other goroutines, for a caller whose
//     helpers must bring the waiting goroutine back without a kernel timer.
//
// Backends: kqueue (darwin and the BSDs), inotify + epoll + timerfd (Linux),
// and poll (stat-based, everywhere). When a kernel limit is reached, the
// kernel backends put the affected watch under polling and say so with a
// [*LimitError] whose Polled field is true.
//
// The queue owns no goroutine except where a backend truly needs one (poll,
// and the polling fallback). [Queue.Wait] is the one blocking call; [Queue.Close]
// wakes it.
package vnode

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// Backend names a notification mechanism.
type Backend string

// The backends. Auto picks the best one for the platform.
const (
	Auto    Backend = "auto"
	Kqueue  Backend = "kqueue"
	Inotify Backend = "inotify"
	Poll    Backend = "poll"
)

// DefaultPollInterval is how often the poll backend stats what it watches when
// no interval is given. FreeBSD tail polls non-local files every 250 ms; we
// match it so polling feels as live as tail without spinning.
const DefaultPollInterval = 250 * time.Millisecond

// Options configure a Queue.
type Options struct {
	// Backend forces a mechanism; "" or Auto picks the platform's best.
	Backend Backend
	// PollInterval is the scan period of the poll backend and of the
	// polling fallback; 0 means DefaultPollInterval.
	PollInterval time.Duration
}

// ID identifies a watch or followed file (assigned by the queue) or a timer
// (chosen by the caller). Watch IDs and timer IDs are separate name spaces:
// an Event's Kind says which one its ID belongs to.
type ID int32

// Note is a set of kqueue vnode notes.
type Note uint32

// The notes, with kqueue's meanings.
const (
	NoteDelete Note = 1 << iota // the node was unlinked (inotify: its last link)
	NoteWrite                   // contents written; for a directory: entries changed
	NoteExtend                  // the file grew
	NoteAttrib                  // mode, owner, times or link count changed
	NoteLink                    // the link count changed
	NoteRename                  // the node itself was renamed
	NoteRevoke                  // access revoked or the file system unmounted
	// NoteCloseWrite: a writer closed the file (inotify IN_CLOSE_WRITE,
	// FreeBSD NOTE_CLOSE_WRITE). It is no proof of a change: a close that
	// follows writes already reported, or no write at all, changes
	// nothing. Only a writer through mmap, which raises no write note, is
	// seen by nothing else; the caller compares the file with what it knew.
	NoteCloseWrite
)

// String lists the notes, e.g. "write|extend".
func (n Note) String() string {
	names := []string{"delete", "write", "extend", "attrib", "link", "rename", "revoke", "close-write"}
	s := ""
	for i, name := range names {
		if n&(1<<i) != 0 {
			if s != "" {
				s += "|"
			}
			s += name
		}
	}
	if s == "" {
		return "none"
	}
	return s
}

// Kind says what an Event is about.
type Kind uint8

// The kinds of event.
const (
	// KindNote: Notes happened to watch or followed file ID, or, when Name
	// is set, to the child Name of directory watch ID (see ChildOp).
	KindNote Kind = iota + 1
	// KindRead: followed file ID has Data bytes between the read offset and
	// EOF; Data < 0 means the file was truncated below the offset.
	KindRead
	// KindTimer: timer ID fired; Data is the number of expirations.
	KindTimer
	// KindOverflow: the kernel dropped events. ID is the watch whose events
	// were lost, or 0 for all of them; the caller must rescan.
	KindOverflow
	// KindWake: Wake was called (once or more) since the last Wait
	// returned. ID is 0.
	KindWake
)

// String names the kind, for messages and test output.
func (k Kind) String() string {
	switch k {
	case KindNote:
		return "note"
	case KindRead:
		return "read"
	case KindTimer:
		return "timer"
	case KindOverflow:
		return "overflow"
	case KindWake:
		return "wake"
	}
	return fmt.Sprintf("kind(%d)", k)
}

// ChildOp is what happened to a named child of a watched directory.
type ChildOp uint8

// The child operations. ChildNone with a Name means Notes happened to the
// child in place (a write or attribute change seen through its directory).
const (
	ChildNone      ChildOp = iota
	ChildCreate            // the name appeared (created, linked, or moved in without a cookie)
	ChildRemove            // the name went away
	ChildMovedFrom         // renamed away; pairs with ChildMovedTo by Cookie
	ChildMovedTo           // renamed here; pairs with ChildMovedFrom by Cookie
)

// String names the child operation, for messages and test output.
func (o ChildOp) String() string {
	switch o {
	case ChildNone:
		return "none"
	case ChildCreate:
		return "create"
	case ChildRemove:
		return "remove"
	case ChildMovedFrom:
		return "moved-from"
	case ChildMovedTo:
		return "moved-to"
	}
	return fmt.Sprintf("childop(%d)", o)
}

// Event is one thing the queue observed.
type Event struct {
	Kind   Kind    // what kind of observation this is
	ID     ID      // the watch, followed file or timer it concerns; 0 for an overflow of everything
	Notes  Note    // KindNote: what happened
	Name   string  // KindNote on a directory: the child's name, "" for the directory itself
	Op     ChildOp // KindNote with Name: what happened to the name
	IsDir  bool    // KindNote with Name: the child is a directory, when known
	Cookie uint32  // ChildMovedFrom/ChildMovedTo pairing (inotify); 0 when unknown
	Data   int64   // KindRead: bytes from the read offset to EOF; KindTimer: expirations
}

// Caps describe what a backend can tell the layer above, so that it knows
// when it must rescan a directory to learn what changed.
type Caps struct {
	// ChildNames: directory watches report which child changed and how
	// (inotify, poll). Without it a directory NoteWrite means "rescan me".
	ChildNames bool
	// ChildWrites: a directory watch sees writes and attribute changes of
	// the files in it (inotify, poll). Without it (kqueue) a file's writes
	// are only seen through a watch on the file itself.
	ChildWrites bool
	// RenameCookies: ChildMovedFrom/ChildMovedTo carry a Cookie that pairs
	// them (inotify). Without it renames are paired by (dev, inode).
	RenameCookies bool
	// CloseWrites: a writer's close of a file is reported as
	// NoteCloseWrite: by the directory watch, naming the child (inotify),
	// or, without ChildWrites, by the file's own watch (kqueue on FreeBSD).
	// Such a note is a change only when the file differs from what the
	// caller last saw of it.
	CloseWrites bool
}

// ErrClosed is returned by every method of a closed Queue.
var ErrClosed = errors.New("vnode: queue closed")

// LimitError reports a kernel or process limit that stopped a watch from
// being placed with the kernel mechanism. When Polled is true the watch was
// placed under polling instead and its ID is valid; the caller should tell
// the user once and carry on.
type LimitError struct {
	Path   string // the path that could not be watched
	Limit  string // e.g. "fs.inotify.max_user_watches" or "RLIMIT_NOFILE (open files)"
	Value  int64  // the limit's current value, -1 when unknown
	Raise  string // how to raise it, e.g. "sudo sysctl fs.inotify.max_user_watches=524288"
	Polled bool   // the watch was placed under polling instead
	Err    error  // the underlying errno
}

// Error says which limit stopped which path, its value, how to raise it,
// and whether the path is polled instead.
func (e *LimitError) Error() string {
	v := "unknown"
	if e.Value >= 0 {
		v = fmt.Sprint(e.Value)
	}
	s := fmt.Sprintf("%s reached (%s = %s); raise it with: %s", e.Limit, e.Limit, v, e.Raise)
	if e.Polled && e.Path == "" && e.Err != nil && errors.Is(e.Err, errFDBudget) {
		// The kqueue backend's descriptor budget: one message for every
		// file past it.
		return fmt.Sprintf("%s = %s is too low to watch every file (%v); files past it are polled instead; raise it with: %s",
			e.Limit, v, e.Err, e.Raise)
	}
	if e.Path != "" {
		s = "watch " + e.Path + ": " + s
	}
	switch {
	case e.Polled && e.Path != "":
		s += "; polling this path instead"
	case e.Polled:
		s += "; polling instead"
	}
	return s
}

// Unwrap returns the underlying errno, so that errors.Is(err, syscall.ENOSPC)
// and the like hold.
func (e *LimitError) Unwrap() error { return e.Err }

// backend is what each mechanism implements. Queue forwards to it; the
// methods have the same contracts as Queue's.
type backend interface {
	name() Backend
	caps() Caps
	watch(path string) (ID, error)
	follow(path string) (ID, *os.File, error)
	remove(id ID) error
	setTimer(id ID, d time.Duration) error
	stopTimer(id ID) error
	wakeUp() error
	wait(buf []Event) ([]Event, error)
	close() error
}

// Queue is a set of watches, followed files and timers with one blocking
// Wait. Watch, Follow, Remove, SetTimer and StopTimer may be called from any
// goroutine, also while another goroutine is blocked in Wait; Wait itself is
// called from one goroutine at a time. Close may be called at any time and
// more than once.
type Queue struct {
	b        backend
	degraded error
}

// Open creates a queue with the backend named in o (or the platform's best).
func Open(o Options) (*Queue, error) {
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	name := o.Backend
	if name == "" || name == Auto {
		name = platformBackend
	}
	var (
		b   backend
		err error
	)
	switch name {
	case Poll:
		b, err = newPoll(o)
	case Kqueue:
		b, err = newKqueue(o)
	case Inotify:
		b, err = newInotify(o)
	default:
		return nil, fmt.Errorf("vnode: unknown backend %q (want auto, kqueue, inotify or poll)", o.Backend)
	}
	var le *LimitError
	if err != nil && (o.Backend == "" || o.Backend == Auto) && name != Poll && errors.As(err, &le) {
		// Auto promised a working queue: out of kernel instances (inotify's
		// max_user_instances, open files for a kqueue) we still can poll.
		le.Polled = true
		le.Path = "" // no path was refused: the whole queue polls
		pb, perr := newPoll(o)
		if perr != nil {
			return nil, err
		}
		return &Queue{b: pb, degraded: le}, nil
	}
	if err != nil {
		return nil, err
	}
	return &Queue{b: b}, nil
}

// Degraded returns the *LimitError that made Open fall back from the
// platform's kernel mechanism to polling, or nil. Callers should tell the
// user, since polling costs CPU and latency.
func (q *Queue) Degraded() error { return q.degraded }

// Backend names the mechanism in use.
func (q *Queue) Backend() Backend { return q.b.name() }

// Caps says what the backend reports, see Caps.
func (q *Queue) Caps() Caps { return q.b.caps() }

// Watch places a vnode watch on path, a file or a directory, without
// following a final symlink where the mechanism allows it. Events for it
// carry the returned ID. A directory watch is not recursive.
func (q *Queue) Watch(path string) (ID, error) { return q.b.watch(path) }

// namesWatcher is a backend that can watch a directory for its entries'
// names alone.
type namesWatcher interface {
	watchNames(path string) (ID, error)
}

// WatchNames is Watch for a directory of which only the names matter:
// entries created, removed or renamed, and the directory's own removal or
// rename. Writes to its files and attribute changes raise no event where
// the kernel can leave them out (inotify), so a watch on a busy directory
// such as a home directory (a root's parent) does not wake the caller for
// every write beside the root. Elsewhere it is Watch, and callers must
// still ignore what they did not ask for.
func (q *Queue) WatchNames(path string) (ID, error) {
	if nw, ok := q.b.(namesWatcher); ok {
		return nw.watchNames(path)
	}
	return q.b.watch(path)
}

// pollWatcher is a backend that can poll single watches on request.
type pollWatcher interface {
	watchPoll(path string) (ID, error)
}

// WatchPolled is Watch, but the watch is polled (every PollInterval) even
// on a kernel backend, with events in that backend's terms (its Caps hold
// for it too): for a path on a network file system, whose changes made
// elsewhere raise no kernel event, next to paths the kernel watches.
func (q *Queue) WatchPolled(path string) (ID, error) {
	if pw, ok := q.b.(pollWatcher); ok {
		return pw.watchPoll(path)
	}
	return q.b.watch(path) // the poll backend polls every watch anyway
}

// Follow opens path for reading (O_RDONLY|O_CLOEXEC, following symlinks, as
// tail does) and reports KindRead events whenever data lies between the
// file's read offset and EOF, plus KindNote events (delete, rename, attrib)
// for the file itself. The caller reads from the returned file, which moves
// the offset the events are measured from, and must read to EOF once after
// Follow returns: only changes after registration raise events. The queue
// owns the file: Remove closes it.
func (q *Queue) Follow(path string) (ID, *os.File, error) { return q.b.follow(path) }

// Remove drops a watch or followed file. Events already returned may still
// name it; descriptors are closed only once the batch that may mention them
// has been handled (at the next Wait).
func (q *Queue) Remove(id ID) error { return q.b.remove(id) }

// SetTimer arms one-shot timer id to fire once after d; arming an armed
// timer resets it and discards an expiry not yet returned by Wait.
func (q *Queue) SetTimer(id ID, d time.Duration) error { return q.b.setTimer(id, d) }

// StopTimer disarms timer id; stopping an unarmed timer is not an error.
func (q *Queue) StopTimer(id ID) error { return q.b.stopTimer(id) }

// Wake makes a blocked Wait, or the next one, return a KindWake event.
// Wakes before that Wait returns are one event. It is the way for another
// goroutine to get the waiter's attention: cheaper and sooner than a
// timer, since it only signals the queue's own wake-up descriptor (an
// eventfd on Linux, a pipe with kqueue) or channel (poll).
func (q *Queue) Wake() error { return q.b.wakeUp() }

// Wait blocks until at least one event is ready and returns them appended to
// buf[:0]. It returns ErrClosed once the queue is closed, also when Close is
// called while Wait is blocked.
func (q *Queue) Wait(buf []Event) ([]Event, error) { return q.b.wait(buf) }

// drainer is implemented by backends that can be asked for what is
// pending without blocking (inotify and poll).
type drainer interface {
	drainNow(buf []Event) ([]Event, error)
}

// Drain returns, appended to buf[:0] and without blocking, the events that
// are ready now: what the kernel has queued and, for watches served by
// polling, what a scan made now finds. A caller that is about to stop uses
// it so that changes made just before are not left unread. It is called
// from the goroutine that calls Wait, never while Wait blocks.
func (q *Queue) Drain(buf []Event) ([]Event, error) {
	if d, ok := q.b.(drainer); ok {
		return d.drainNow(buf[:0])
	}
	return buf[:0], nil
}

// Close releases every watch, file and timer and wakes a blocked Wait.
func (q *Queue) Close() error { return q.b.close() }
