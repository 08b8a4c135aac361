package vnode

// The kqueue backend's logic. It compiles on every OS and talks to the
// kernel only through the kernel interface below, so that it can be tested
// on Linux against a scripted fake; kqueue_bsd.go is the real kernel.
//
// The facts this file relies on are in docs/kqueue.md; the section numbers
// in comments (§N) refer to it.
//
// How it works, in short:
//   - Every Watch opens its own fd and adds an EVFILT_VNODE knote with
//     EV_ADD|EV_CLEAR; every Follow opens one O_RDONLY fd with EVFILT_READ
//     and EVFILT_VNODE knotes. Watching a path again (after NOTE_DELETE or
//     NOTE_RENAME, say) opens it again: a new ID, a new fd, a new knote.
//     Nothing is closed behind the caller's back: a deleted file's fd stays
//     open (FreeBSD posts NOTE_DELETE on every unlink, even with links
//     left) until the caller removes the watch.
//   - Changes are submitted by the calling goroutine, under mu, in one
//     kevent call with EV_RECEIPT and a zero timeout, so each change's
//     error comes back on its own. Waits submit nothing.
//   - Remove forgets the watch at once (its events are dropped from then
//     on) but closes the fd at the start of the next wait, once the batch
//     that may name it has been handled.
//   - Timers are EV_ONESHOT with fflags 0 and data in ms; armed state is
//     tracked so that EV_DELETE is only sent for a timer not yet delivered.
//   - A pipe registered EVFILT_READ wakes the wait, for Close and for the
//     polling fallback used when open runs out of fds.

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// kfilter is a kqueue filter in our own numbering. The real kernel maps it
// to the platform's EVFILT_* (NetBSD's are 0-based and unsigned, §1.1).
type kfilter int16

// The filters we use.
const (
	filtRead  kfilter = -1 // EVFILT_READ: the wake pipe, followed files
	filtVnode kfilter = -4 // EVFILT_VNODE: watches, followed files
	filtTimer kfilter = -7 // EVFILT_TIMER: one-shot timers
)

func (f kfilter) String() string {
	switch f {
	case filtRead:
		return "EVFILT_READ"
	case filtVnode:
		return "EVFILT_VNODE"
	case filtTimer:
		return "EVFILT_TIMER"
	}
	return fmt.Sprintf("filter(%d)", int16(f))
}

// kevent flags. The values are the same on darwin and every BSD (§1.4);
// kqueue_bsd.go checks them against x/sys at compile time.
const (
	evAdd     uint16 = 0x0001
	evDelete  uint16 = 0x0002
	evOneshot uint16 = 0x0010
	evClear   uint16 = 0x0020
	evReceipt uint16 = 0x0040 // absent from x/sys on NetBSD, 0x40 in its kernel
	evError   uint16 = 0x4000
	evEOF     uint16 = 0x8000
)

// EVFILT_VNODE notes, the same values everywhere (§1.4).
const (
	noteDelete uint32 = 0x01
	noteWrite  uint32 = 0x02
	noteExtend uint32 = 0x04
	noteAttrib uint32 = 0x08
	noteLink   uint32 = 0x10
	noteRename uint32 = 0x20
	noteRevoke uint32 = 0x40
)

// noteCloseWrite is FreeBSD's NOTE_CLOSE_WRITE (FreeBSD 11 and later): a
// descriptor opened for writing was closed. kqueue_freebsd.go checks the
// value against x/sys. Other kernels give 0x200 no meaning (darwin,
// OpenBSD, DragonFly) or a meaning x/sys does not export (NetBSD 10), so
// it is asked for and understood only where kqConfig.closeWrites is set.
const noteCloseWrite uint32 = 0x200

// watchNotes is what a vnode watch asks for: every portable note.
const watchNotes = noteDelete | noteWrite | noteExtend | noteAttrib | noteLink | noteRename | noteRevoke

// followNotes is what a followed file asks for besides EVFILT_READ: what
// tells a follower that the name no longer leads to this file.
const followNotes = noteDelete | noteRename | noteAttrib

// noteMap turns kernel notes into ours; bits not listed (OS extras) are
// dropped.
var noteMap = [...]struct {
	k uint32
	n Note
}{
	{noteDelete, NoteDelete},
	{noteWrite, NoteWrite},
	{noteExtend, NoteExtend},
	{noteAttrib, NoteAttrib},
	{noteLink, NoteLink},
	{noteRename, NoteRename},
	{noteRevoke, NoteRevoke},
}

func notesOf(fflags uint32) Note {
	var n Note
	for _, m := range noteMap {
		if fflags&m.k != 0 {
			n |= m.n
		}
	}
	return n
}

// kev is a portable struct kevent. Udata is deliberately missing: it is not
// portable (an integer on NetBSD) and would hide Go pointers from the GC;
// state is keyed by (ident, filter) instead.
type kev struct {
	ident  uint64
	filter kfilter
	flags  uint16
	fflags uint32
	data   int64
}

// openMode says how a path is opened for the kernel.
type openMode int

const (
	// openVnode: an fd used only for EVFILT_VNODE (O_EVTONLY on darwin,
	// O_RDONLY elsewhere; never blocking on a FIFO).
	openVnode openMode = iota
	// openFollow: a followed file, O_RDONLY: the caller reads it.
	openFollow
)

// fileStat is what the backend needs to know about an opened fd.
type fileStat struct {
	dir bool
}

// kernel is the syscall seam. Every fd it returns is close-on-exec.
type kernel interface {
	// kqueue creates a kqueue fd (close-on-exec).
	kqueue() (int, error)
	// kevent is one kevent(2) call: it returns EINTR as is, and a nil
	// timeout blocks.
	kevent(kq int, changes, events []kev, timeout *time.Duration) (int, error)
	// open opens path with O_CLOEXEC and the flags mode implies,
	// retrying EINTR.
	open(path string, mode openMode) (int, error)
	close(fd int) error
	fstat(fd int) (fileStat, error)
	// stat says what path is (following a final symlink, as open
	// does), without using a descriptor.
	stat(path string) (fileStat, error)
	// unread is what EVFILT_READ reports for a regular file: the bytes
	// from fd's offset to EOF, negative after a truncation below it.
	unread(fd int) (int64, error)
	// pipe returns a pipe whose ends are close-on-exec and non-blocking.
	pipe() ([2]int, error)
	read(fd int, p []byte) (int, error)
	write(fd int, p []byte) (int, error)
	// raiseNoFile raises the soft RLIMIT_NOFILE towards the hard limit,
	// never lowering it.
	raiseNoFile() error
	// noFile is the soft RLIMIT_NOFILE, -1 when unknown.
	noFile() int64
}

// kqConfig is what differs between kernels and tests.
type kqConfig struct {
	// timerReAddResets: a re-EV_ADD of an armed timer resets it (see
	// the function of that name). Otherwise an armed timer is deleted
	// and added again.
	timerReAddResets bool
	// closeKeepsKnotes: closing a descriptor does not delete its knotes
	// (libkqueue; the BSD kernels do delete them), so each is deleted
	// with EV_DELETE before its descriptor is closed.
	closeKeepsKnotes bool
	// readStopsAtEOF: EVFILT_READ on a regular file stops firing once it
	// has reported EOF and never reports a truncation (libkqueue). A
	// followed file then also asks for NOTE_WRITE|NOTE_EXTEND, and those
	// notes become KindRead events measured with kernel.unread.
	readStopsAtEOF bool
	// knoteFDs is how many descriptors the kqueue implementation holds
	// per knote on a file besides ours: 0 in a kernel, 1 in libkqueue (an
	// inotify instance per vnode knote, an eventfd per read knote). The
	// descriptor budget counts them.
	knoteFDs int
	// closeWrites: vnode watches also ask for NOTE_CLOSE_WRITE, and the
	// backend reports it as NoteCloseWrite (FreeBSD; see closeWrites).
	closeWrites  bool
	pollInterval time.Duration
	now          func() time.Time
}

// timerReAddResets says whether an EV_ADD of an armed EVFILT_TIMER restarts
// it on goos (§2.5): darwin's, FreeBSD's and OpenBSD's filt_timertouch or
// filt_timermodify do. NetBSD got filt_timertouch only in NetBSD 10, and
// DragonFly's kern_event.c (an old revision) keeps a triggered filter as it
// is; there an armed timer is deleted and added in one changelist, which
// is right on every kernel, whatever its version.
func timerReAddResets(goos string) bool {
	switch goos {
	case "darwin", "freebsd", "openbsd":
		return true
	}
	return false
}

// closeWrites says whether goos's kqueue reports a writer's close of a
// watched file (NOTE_CLOSE_WRITE): FreeBSD does since FreeBSD 11. darwin,
// OpenBSD and DragonFly have no such note; NetBSD has one only since
// NetBSD 10 and x/sys does not export it; libkqueue on Linux has none.
// Those stay on settling for Options.Closed in the watcher.
func closeWrites(goos string) bool { return goos == "freebsd" }

// kqBatch is how many kernel events one wait takes at most; more stay
// queued in the kernel for the next wait.
const kqBatch = 64

// kkey identifies a knote: "there may only be one unique kevent per
// kqueue" per (ident, filter) (§2.1).
type kkey struct {
	ident  uint64
	filter kfilter
}

// kwatch is a watch or followed file.
type kwatch struct {
	id     ID
	path   string
	fd     int      // -1 when polled
	file   *os.File // followed files: owns fd
	polled bool     // under the poller, no fd
	cost   int      // descriptors it holds, counted in the budget
}

// ktimer is the state of one timer ID.
type ktimer struct {
	// armed: an EV_ADD was applied and its expiry has not been
	// delivered (a delivered EV_ONESHOT timer is gone from the kernel).
	armed   bool
	armSeq  uint64 // the wait sequence number current when it was armed
	armedAt time.Time
	d       time.Duration
}

// kqBackend serves a Queue with kqueue.
type kqBackend struct {
	k    kernel
	cfg  kqConfig
	kq   int
	pipe [2]int // wake pipe: [0] registered EVFILT_READ, [1] written by wake

	// wakeMu guards writes to pipe[1] against its closing. It is separate
	// from mu because the poller calls wake while we may hold mu in a
	// call into the poller.
	wakeMu   sync.Mutex
	wakeOpen bool
	woken    atomic.Bool // Wake was called: the next wait reports KindWake

	mu       sync.Mutex
	closed   bool
	waiting  bool          // a wait is in kevent, without mu
	done     chan struct{} // closed once everything is released
	closeErr error
	nextID   ID
	byID     map[ID]*kwatch
	byKey    map[kkey]*kwatch
	timers   map[ID]*ktimer
	closing  []*kwatch // removed; their fds close at the next wait
	pending  []Event   // events that came back from a change submission
	waitSeq  uint64    // counts waits' kernel calls
	fds      int       // descriptors watches and follows hold now (budget)
	budget   fdBudget
	poller   *poller // the fallback, created on first need
	evbuf    []kev   // the waiter's event buffer
}

// newKqueueWith builds the backend on k.
func newKqueueWith(k kernel, cfg kqConfig) (*kqBackend, error) {
	if cfg.now == nil {
		cfg.now = time.Now
	}
	// Go raised the soft limit at start-up already (§2.9); doing it here
	// too keeps us right if that ever changes or was undone. Failing is
	// not fatal: we run with what we have and report EMFILE if it comes.
	_ = k.raiseNoFile()
	kq, err := k.kqueue()
	if err != nil {
		return nil, fmt.Errorf("vnode: kqueue: creating the queue: %w", startError(k, err))
	}
	p, err := k.pipe()
	if err != nil {
		k.close(kq)
		return nil, fmt.Errorf("vnode: kqueue: creating the wake pipe: %w", startError(k, err))
	}
	b := &kqBackend{
		budget:   newFDBudget(k.noFile()),
		k:        k,
		cfg:      cfg,
		kq:       kq,
		pipe:     p,
		wakeOpen: true,
		done:     make(chan struct{}),
		byID:     make(map[ID]*kwatch),
		byKey:    make(map[kkey]*kwatch),
		timers:   make(map[ID]*ktimer),
		evbuf:    make([]kev, kqBatch),
	}
	b.mu.Lock()
	errs, err := b.submit([]kev{{ident: uint64(p[0]), filter: filtRead, flags: evAdd}})
	b.mu.Unlock()
	if err == nil {
		err = errs[0]
	}
	if err != nil {
		k.close(p[0])
		k.close(p[1])
		k.close(kq)
		return nil, fmt.Errorf("vnode: kqueue: registering the wake pipe: %w", err)
	}
	return b, nil
}

func (b *kqBackend) name() Backend { return Kqueue }

// caps: kqueue never names a directory's children nor sees their writes;
// a directory NOTE_WRITE means "rescan me". Where NOTE_CLOSE_WRITE exists,
// a file's own watch reports its writers' closes.
func (b *kqBackend) caps() Caps { return Caps{CloseWrites: b.cfg.closeWrites} }

// vnodeNotes is what a vnode watch asks for on this kernel. NOTE_CLOSE_WRITE
// is asked for on every watch, not only when the watcher wants finished
// files: it costs nothing until a writer closes the file, a directory is
// never opened for writing, and a close also reveals writes made through
// mmap, which raise no NOTE_WRITE.
func (b *kqBackend) vnodeNotes() uint32 {
	if b.cfg.closeWrites {
		return watchNotes | noteCloseWrite
	}
	return watchNotes
}

// kevent calls the kernel, retrying EINTR (and ETIMEDOUT, which darwin can
// return spuriously: go.dev/issue/59679) with an empty changelist: the
// changes were applied before the call was interrupted (§2.7), and applying
// a timer's EV_ADD twice would reset it. A finite timeout is recomputed.
func (b *kqBackend) kevent(changes, events []kev, timeout *time.Duration) (int, error) {
	var deadline time.Time
	if timeout != nil {
		deadline = b.cfg.now().Add(*timeout)
	}
	for {
		n, err := b.k.kevent(b.kq, changes, events, timeout)
		if err == nil {
			return n, nil
		}
		if !errors.Is(err, syscall.EINTR) && !errors.Is(err, syscall.ETIMEDOUT) {
			return 0, err
		}
		changes = nil
		if timeout != nil {
			rest := max(deadline.Sub(b.cfg.now()), 0)
			timeout = &rest
		}
	}
}

// submit applies changes and returns, per change, the error the kernel
// reported for it (nil: applied). It passes EV_RECEIPT and an event buffer
// with room for every change, so that a failing change comes back as an
// EV_ERROR entry instead of aborting the rest of the list (§2.1). Entries
// without EV_ERROR are real events (a kernel may scan for them too); they
// are converted and kept for the next wait. b.mu is held.
func (b *kqBackend) submit(changes []kev) ([]error, error) {
	for i := range changes {
		changes[i].flags |= evReceipt
	}
	out := make([]kev, len(changes)+8)
	zero := time.Duration(0)
	n, err := b.kevent(changes, out, &zero)
	if err != nil {
		return nil, err
	}
	errs := make([]error, len(changes))
	matched := make([]bool, len(changes))
	now := b.cfg.now()
	stashed := len(b.pending)
	for _, e := range out[:n] {
		if e.flags&evError == 0 {
			if e.filter == filtRead && e.ident == uint64(b.pipe[0]) {
				// The wake pipe is the waiter's to drain: left
				// full, it still wakes a wait in the kernel.
				continue
			}
			// A real event, taken from under a wait that may be
			// blocked: it is kept for the wait, which is woken
			// below. Its sequence number is past every arming:
			// changes are applied before the scan.
			b.pending = b.convert(e, b.waitSeq+1, now, b.pending)
			continue
		}
		// Receipts come back in changelist order; match each to the
		// first unmatched change with the same (ident, filter), which
		// keeps a timer's EV_DELETE and EV_ADD apart.
		for i, c := range changes {
			if !matched[i] && c.ident == e.ident && c.filter == e.filter {
				matched[i] = true
				if e.data != 0 {
					errs[i] = syscall.Errno(e.data)
				}
				break
			}
		}
	}
	if len(b.pending) > stashed && b.waiting {
		b.wake()
	}
	return errs, nil
}

// convert appends what kernel event e means to out, or nothing when it
// names something we no longer watch. seq is the number of the wait call
// that returned e. b.mu is held.
func (b *kqBackend) convert(e kev, seq uint64, now time.Time, out []Event) []Event {
	if e.flags&evError != 0 {
		// No changes are submitted by waits; nothing to report on.
		return out
	}
	switch e.filter {
	case filtTimer:
		id := timerID(e.ident)
		t := b.timers[id]
		if t == nil || !t.armed {
			// Stopped, or delivered already.
			return out
		}
		if seq <= t.armSeq && now.Sub(t.armedAt) < t.d/2 {
			// Re-armed while this wait was in the kernel: an expiry
			// this early belongs to the earlier arming, which the
			// re-arm discards. (Kernels never fire early; half the
			// duration leaves room for clocks that disagree.)
			return out
		}
		t.armed = false
		return append(out, Event{Kind: KindTimer, ID: id, Data: max(e.data, 1)})
	case filtRead:
		if e.ident == uint64(b.pipe[0]) {
			b.drainPipe()
			return out
		}
		w := b.byKey[kkey{e.ident, filtRead}]
		if w == nil {
			return out
		}
		if e.flags&evEOF != 0 {
			// Revoked or unmounted; the kernel deleted the read knote
			// (EV_ONESHOT is set with EV_EOF, §2.3).
			delete(b.byKey, kkey{e.ident, filtRead})
			out = append(out, Event{Kind: KindNote, ID: w.id, Notes: NoteRevoke})
		}
		if e.data == 0 {
			return out
		}
		// data is size minus our offset; negative after a truncation
		// below the offset (§2.4).
		return append(out, Event{Kind: KindRead, ID: w.id, Data: e.data})
	case filtVnode:
		w := b.byKey[kkey{e.ident, filtVnode}]
		if w == nil {
			return out
		}
		n := notesOf(e.fflags)
		if b.cfg.closeWrites && e.fflags&noteCloseWrite != 0 {
			n |= NoteCloseWrite
		}
		if e.flags&evEOF != 0 {
			n |= NoteRevoke
		}
		if n == 0 {
			// darwin can return empty events (fsnotify #590).
			return out
		}
		if w.file != nil && b.cfg.readStopsAtEOF && n&(NoteWrite|NoteExtend) != 0 {
			// The read filter cannot be trusted to say so: measure.
			if d, err := b.k.unread(w.fd); err == nil && d != 0 {
				out = append(out, Event{Kind: KindRead, ID: w.id, Data: d})
			}
			if n &^= NoteWrite | NoteExtend; n == 0 {
				return out
			}
		}
		// On a directory NOTE_WRITE means "entries changed"; kqueue never
		// says which, so Name stays "" and the layer above rescans.
		return append(out, Event{Kind: KindNote, ID: w.id, Notes: n})
	}
	return out
}

// timerID and timerIdent map timer IDs to idents through 32 bits, so that
// a negative ID survives the round trip on 32-bit and 64-bit idents alike.
func timerID(ident uint64) ID { return ID(int32(uint32(ident))) }

func timerIdent(id ID) uint64 { return uint64(uint32(id)) }

// isFDLimit says whether err is running out of descriptors, for the
// process (EMFILE) or the system (ENFILE).
func isFDLimit(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// newID hands out the next watch ID. b.mu is held.
func (b *kqBackend) newID() ID {
	b.nextID++
	return b.nextID
}

func (b *kqBackend) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// timerMillis is d in whole milliseconds, rounded up and at least 1: with
// fflags 0, milliseconds are the one unit every kernel agrees on (§1.4).
func timerMillis(d time.Duration) int64 {
	if d <= time.Millisecond {
		return 1
	}
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

// wake makes a blocked (or the next) wait return to look for events. It is
// the poller's wake function too.
func (b *kqBackend) wake() {
	b.wakeMu.Lock()
	defer b.wakeMu.Unlock()
	if !b.wakeOpen {
		return
	}
	// EAGAIN means the pipe is full, hence readable: nothing to do.
	b.k.write(b.pipe[1], []byte{1})
}

// wakeUp is Queue.Wake.
func (b *kqBackend) wakeUp() error {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return ErrClosed
	}
	b.woken.Store(true)
	b.wake()
	return nil
}

// drainPipe empties the wake pipe (its registration is level-triggered).
func (b *kqBackend) drainPipe() {
	var p [64]byte
	for {
		n, err := b.k.read(b.pipe[0], p[:])
		if n <= 0 || err != nil {
			return
		}
	}
}

// startError turns running out of descriptors while creating the queue
// into a *LimitError, which names the limit and lets Open fall back to
// polling; other errors are returned as they are.
func startError(k kernel, err error) error {
	if isFDLimit(err) {
		return fdLimitError(k, "", err, false)
	}
	return err
}

// budgetError is the one message for the budget being spent: it names the
// limit, its value, what vigil keeps in reserve and how to raise it.
func (b *kqBackend) budgetError(cause error) *LimitError {
	le := fdLimitError(b.k, "", &budgetSpent{b.budget}, true)
	le.Value = b.budget.limit
	return le
}

// limitError describes running out of descriptors while opening path.
func (b *kqBackend) limitError(path string, cause error, polled bool) *LimitError {
	return fdLimitError(b.k, path, cause, polled)
}

// fdLimitError describes running out of descriptors, for the process
// (EMFILE) or the system (ENFILE).
func fdLimitError(k kernel, path string, cause error, polled bool) *LimitError {
	raise := "ulimit -n N in the shell that starts vigil, up to the hard limit; " +
		"macOS: sudo launchctl limit maxfiles N M and sudo sysctl kern.maxfilesperproc=N kern.maxfiles=M; " +
		"FreeBSD: sysctl kern.maxfilesperproc=N kern.maxfiles=M, and openfiles=N in /etc/login.conf (then cap_mkdb /etc/login.conf)"
	if errors.Is(cause, syscall.ENFILE) {
		raise = "sysctl kern.maxfiles (the system-wide table is full), then " + raise
	}
	return &LimitError{
		Path:   path,
		Limit:  "RLIMIT_NOFILE (open files)",
		Value:  k.noFile(),
		Raise:  raise,
		Polled: polled,
		Err:    cause,
	}
}

func (b *kqBackend) watch(path string) (ID, error) {
	if b.isClosed() {
		return 0, ErrClosed
	}
	if err := b.admit(path); err != nil {
		return b.watchPolled(path, err)
	}
	fd, err := b.k.open(path, openVnode)
	if err != nil {
		if isFDLimit(err) {
			return b.watchPolled(path, err)
		}
		return 0, fmt.Errorf("vnode: kqueue watch %s: %w", path, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		b.k.close(fd)
		return 0, ErrClosed
	}
	w := &kwatch{id: b.newID(), path: path, fd: fd, cost: 1 + b.cfg.knoteFDs}
	b.fds += w.cost
	// The mapping is published before the kevent exists, so that no event
	// can find the fd unknown (watchman's rule, §2.6).
	b.byID[w.id] = w
	b.byKey[kkey{uint64(fd), filtVnode}] = w
	errs, err := b.submit([]kev{{ident: uint64(fd), filter: filtVnode, flags: evAdd | evClear, fflags: b.vnodeNotes()}})
	if err == nil {
		err = errs[0]
	}
	if err != nil {
		b.forget(w)
		b.k.close(fd)
		b.fds -= w.cost
		if isFDLimit(err) || errors.Is(err, syscall.ENOMEM) {
			// The kqueue ran out of room for the knote (libkqueue: of
			// inotify instances, EMFILE; a kernel: of memory): like
			// EMFILE from open, poll this path.
			b.mu.Unlock()
			id, perr := b.watchPolled(path, err)
			b.mu.Lock()
			return id, perr
		}
		return 0, fmt.Errorf("vnode: kqueue watch %s: adding EVFILT_VNODE: %w", path, err)
	}
	return w.id, nil
}

// watchPoll places path under the poller by request (see
// Queue.WatchPolled).
func (b *kqBackend) watchPoll(path string) (ID, error) {
	id, err := b.pollPath(path)
	if err != nil {
		return 0, fmt.Errorf("vnode: poll %s: %w", path, err)
	}
	return id, nil
}

// watchPolled places path under the poller after open ran out of fds.
func (b *kqBackend) watchPolled(path string, cause error) (ID, error) {
	id, err := b.pollPath(path)
	if err != nil {
		return 0, fmt.Errorf("vnode: kqueue watch %s: out of descriptors (%v) and polling failed: %w", path, cause, err)
	}
	if errors.Is(cause, errFDBudget) {
		return id, b.budgetError(cause)
	}
	return id, b.limitError(path, cause, true)
}

// pollPath watches path through the poller, made on first use.
func (b *kqBackend) pollPath(path string) (ID, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, ErrClosed
	}
	if b.poller == nil {
		b.poller = newPoller(b.cfg.pollInterval, b.wake)
	}
	id := b.newID()
	if err := b.poller.watch(id, path); err != nil {
		return 0, err
	}
	b.byID[id] = &kwatch{id: id, path: path, fd: -1, polled: true}
	return id, nil
}

// admit decides whether path may take a descriptor now (nil) or is to be
// polled (errFDBudget), following the descriptor budget: directories may
// use all of it, files all but the share kept for directories (see
// fdBudget). Only past the file share does it cost a stat.
func (b *kqBackend) admit(path string) error {
	b.mu.Lock()
	used, budget := b.fds, b.budget
	b.mu.Unlock()
	if used < budget.files {
		return nil
	}
	if used < budget.total {
		st, err := b.k.stat(path)
		if err != nil || st.dir {
			// A directory may; an error is open's to report.
			return nil
		}
	}
	return errFDBudget
}

func (b *kqBackend) follow(path string) (ID, *os.File, error) {
	if b.isClosed() {
		return 0, nil, ErrClosed
	}
	fd, err := b.k.open(path, openFollow)
	if err != nil {
		if isFDLimit(err) {
			// Following needs a descriptor to read from; there is no
			// polled stand-in for that.
			return 0, nil, b.limitError(path, err, false)
		}
		return 0, nil, fmt.Errorf("vnode: kqueue follow %s: %w", path, err)
	}
	// The *os.File owns fd from here: closing fd any other way would let
	// the file's finalizer close a reused number later.
	f := os.NewFile(uintptr(fd), path)
	st, err := b.k.fstat(fd)
	if err == nil && st.dir {
		// darwin refuses EVFILT_READ on a directory (EINVAL, §2.4);
		// say what is wrong instead.
		err = errors.New("is a directory")
	}
	if err != nil {
		f.Close()
		return 0, nil, fmt.Errorf("vnode: kqueue follow %s: %w", path, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		f.Close()
		return 0, nil, ErrClosed
	}
	w := &kwatch{id: b.newID(), path: path, fd: fd, file: f, cost: 1 + 2*b.cfg.knoteFDs}
	b.fds += w.cost
	b.byID[w.id] = w
	b.byKey[kkey{uint64(fd), filtRead}] = w
	b.byKey[kkey{uint64(fd), filtVnode}] = w
	notes := followNotes
	if b.cfg.readStopsAtEOF {
		notes |= noteWrite | noteExtend
	}
	changes := []kev{
		{ident: uint64(fd), filter: filtRead, flags: evAdd | evClear},
		{ident: uint64(fd), filter: filtVnode, flags: evAdd | evClear, fflags: notes},
	}
	errs, err := b.submit(changes)
	if err == nil {
		for i, e := range errs {
			if e != nil {
				err = fmt.Errorf("adding %v: %w", changes[i].filter, e)
				break
			}
		}
	}
	if err != nil {
		// One of the two knotes may be in place and may have fired into
		// a wait blocked in the kernel: like Remove, close the fd only at
		// the next wait, so that its number is not reused while that
		// wait's batch can still name it.
		b.forget(w)
		b.closing = append(b.closing, w)
		return 0, nil, fmt.Errorf("vnode: kqueue follow %s: %w", path, err)
	}
	return w.id, f, nil
}

// forget drops w from the maps and its not yet returned events. b.mu is
// held.
func (b *kqBackend) forget(w *kwatch) {
	delete(b.byID, w.id)
	for _, f := range []kfilter{filtRead, filtVnode} {
		k := kkey{uint64(w.fd), f}
		if b.byKey[k] == w {
			delete(b.byKey, k)
		}
	}
	b.dropPending(func(e Event) bool { return e.ID == w.id && e.Kind != KindTimer })
}

// dropPending removes the pending events drop selects. b.mu is held.
func (b *kqBackend) dropPending(drop func(Event) bool) {
	kept := b.pending[:0]
	for _, e := range b.pending {
		if !drop(e) {
			kept = append(kept, e)
		}
	}
	clear(b.pending[len(kept):])
	b.pending = kept
}

func (b *kqBackend) remove(id ID) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	w := b.byID[id]
	if w == nil {
		return fmt.Errorf("vnode: kqueue remove %d: no such watch or followed file", id)
	}
	b.forget(w)
	if w.polled {
		b.poller.remove(id)
		return nil
	}
	// The caller may be handling a batch that names this fd; a close now
	// could let the next open reuse the number while that batch is read.
	// Events for it are dropped from here on: its keys are gone.
	b.closing = append(b.closing, w)
	return nil
}

func (b *kqBackend) setTimer(id ID, d time.Duration) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	d = max(d, 0)
	t := b.timers[id]
	if t == nil {
		t = &ktimer{}
		b.timers[id] = t
	}
	ident := timerIdent(id)
	var changes []kev
	if t.armed && !b.cfg.timerReAddResets {
		// This kernel may not reset on re-add: delete first. Only an
		// armed timer is deleted; one whose expiry was delivered is gone
		// from the kernel and would give ENOENT.
		changes = append(changes, kev{ident: ident, filter: filtTimer, flags: evDelete})
	}
	changes = append(changes, kev{ident: ident, filter: filtTimer, flags: evAdd | evOneshot, data: timerMillis(d)})
	now := b.cfg.now()
	errs, err := b.submit(changes)
	if err != nil {
		return fmt.Errorf("vnode: kqueue timer %d: %w", id, err)
	}
	// The old arming is void whatever happens next.
	b.dropPending(func(e Event) bool { return e.Kind == KindTimer && e.ID == id })
	for i, e := range errs {
		if e == nil {
			continue
		}
		if changes[i].flags&evDelete != 0 && errors.Is(e, syscall.ENOENT) {
			// It fired and a wait in the kernel collected it; convert
			// drops that expiry as the old arming's (armSeq, armedAt).
			continue
		}
		t.armed = false
		return fmt.Errorf("vnode: kqueue timer %d: %s: %w", id, flagName(changes[i].flags), e)
	}
	t.armed, t.armSeq, t.armedAt, t.d = true, b.waitSeq, now, d
	return nil
}

func flagName(f uint16) string {
	if f&evDelete != 0 {
		return "EV_DELETE"
	}
	return "EV_ADD"
}

func (b *kqBackend) stopTimer(id ID) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	b.dropPending(func(e Event) bool { return e.Kind == KindTimer && e.ID == id })
	t := b.timers[id]
	if t == nil || !t.armed {
		return nil
	}
	delete(b.timers, id)
	errs, err := b.submit([]kev{{ident: timerIdent(id), filter: filtTimer, flags: evDelete}})
	if err == nil {
		err = errs[0]
	}
	if err != nil && !errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("vnode: kqueue timer %d: EV_DELETE: %w", id, err)
	}
	return nil
}

// closeRemoved closes the fds of removed watches. It runs at the start of
// a wait: the batch that could name them has been handled. b.mu is held.
func (b *kqBackend) closeRemoved() {
	b.deleteKnotes(b.closing)
	for i, w := range b.closing {
		b.closeWatch(w)
		b.closing[i] = nil
	}
	b.closing = b.closing[:0]
}

// deleteKnotes deletes the knotes of ws before their descriptors are
// closed, on a kernel whose close leaves them (closeKeepsKnotes). A knote
// the kernel dropped already (EV_EOF) answers ENOENT, which is fine, so
// the receipts are not looked at. b.mu is held.
func (b *kqBackend) deleteKnotes(ws []*kwatch) {
	if !b.cfg.closeKeepsKnotes {
		return
	}
	var changes []kev
	for _, w := range ws {
		if w.fd < 0 {
			continue
		}
		changes = append(changes, kev{ident: uint64(w.fd), filter: filtVnode, flags: evDelete})
		if w.file != nil {
			changes = append(changes, kev{ident: uint64(w.fd), filter: filtRead, flags: evDelete})
		}
	}
	if len(changes) > 0 {
		b.submit(changes)
	}
}

func (b *kqBackend) closeWatch(w *kwatch) error {
	b.fds -= w.cost
	if w.file != nil {
		return w.file.Close()
	}
	if w.fd >= 0 {
		return b.k.close(w.fd)
	}
	return nil
}

// takeQueued closes the descriptors of removed watches and appends the
// events already queued (pending ones, the poller's); b.mu is held.
func (b *kqBackend) takeQueued(buf []Event) []Event {
	b.closeRemoved()
	buf = append(buf, b.pending...)
	clear(b.pending)
	b.pending = b.pending[:0]
	if b.poller != nil {
		buf = b.pollerEvents(buf)
	}
	return buf
}

func (b *kqBackend) wait(buf []Event) ([]Event, error) {
	buf = buf[:0]
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		if b.closed {
			return buf, ErrClosed
		}
		buf = b.takeQueued(buf)
		var timeout *time.Duration
		if len(buf) > 0 {
			// Something is in hand already: collect what the kernel
			// has too, without blocking.
			zero := time.Duration(0)
			timeout = &zero
		}
		b.waitSeq++
		seq := b.waitSeq
		b.waiting = true
		b.mu.Unlock()
		n, err := b.kevent(nil, b.evbuf, timeout)
		b.mu.Lock()
		b.waiting = false
		if b.closed {
			b.teardown()
			return buf[:0], ErrClosed
		}
		if err != nil {
			return buf, fmt.Errorf("vnode: kqueue wait: %w", err)
		}
		now := b.cfg.now()
		for _, e := range b.evbuf[:n] {
			buf = b.convert(e, seq, now, buf)
		}
		if b.woken.Swap(false) {
			buf = append(buf, Event{Kind: KindWake})
		}
		if len(buf) > 0 {
			return buf, nil
		}
	}
}

// drainNow is Queue.Drain: what is pending, what the poller finds now and
// what the kernel has queued, collected with a zero timeout.
func (b *kqBackend) drainNow(buf []Event) ([]Event, error) {
	b.mu.Lock()
	p := b.poller
	b.mu.Unlock()
	if p != nil {
		p.scanNow()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return buf, ErrClosed
	}
	buf = b.takeQueued(buf)
	b.waitSeq++
	zero := time.Duration(0)
	n, err := b.kevent(nil, b.evbuf, &zero)
	if err != nil {
		return buf, fmt.Errorf("vnode: kqueue drain: %w", err)
	}
	now := b.cfg.now()
	for _, e := range b.evbuf[:n] {
		buf = b.convert(e, b.waitSeq, now, buf)
	}
	if b.woken.Swap(false) {
		buf = append(buf, Event{Kind: KindWake})
	}
	return buf, nil
}

// pollerEvents appends the poller's events for watches still present.
// b.mu is held.
func (b *kqBackend) pollerEvents(buf []Event) []Event {
	start := len(buf)
	buf = b.poller.drain(buf)
	kept := buf[:start]
	for _, e := range buf[start:] {
		if _, ok := b.byID[e.ID]; ok || e.Kind == KindOverflow {
			kept = append(kept, e)
		}
	}
	return kept
}

func (b *kqBackend) close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		<-b.done
		return nil
	}
	b.closed = true
	if b.waiting {
		// The waiter owns the kqueue fd until kevent returns; it tears
		// down when it sees closed.
		b.mu.Unlock()
		b.wake()
		<-b.done
		b.mu.Lock()
		err := b.closeErr
		b.mu.Unlock()
		return err
	}
	b.teardown()
	err := b.closeErr
	b.mu.Unlock()
	return err
}

// teardown releases everything. b.mu is held and b.closed set.
func (b *kqBackend) teardown() {
	var errs []error
	if b.poller != nil {
		// Its wake takes only wakeMu, so this cannot deadlock.
		b.poller.close()
	}
	b.wakeMu.Lock()
	b.wakeOpen = false
	b.wakeMu.Unlock()
	if b.cfg.closeKeepsKnotes {
		all := slices.Collect(maps.Values(b.byID))
		b.deleteKnotes(append(all, b.closing...))
	}
	for _, w := range b.byID {
		if err := b.closeWatch(w); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", w.path, err))
		}
	}
	for _, w := range b.closing {
		if err := b.closeWatch(w); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", w.path, err))
		}
	}
	for _, fd := range []int{b.pipe[0], b.pipe[1], b.kq} {
		if err := b.k.close(fd); err != nil {
			errs = append(errs, err)
		}
	}
	b.byID, b.byKey, b.timers, b.closing, b.pending = nil, nil, nil, nil, nil
	if err := errors.Join(errs...); err != nil {
		b.closeErr = fmt.Errorf("vnode: kqueue close: %w", err)
	}
	close(b.done)
}
