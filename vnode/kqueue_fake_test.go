package vnode

// A scripted fake of the kqueue kernel, for testing kqueue.go on any OS.
// It applies changelists the way FreeBSD does (receipts, ENOENT for a
// missing knote, one-shot knotes deleted on delivery, close removing an
// fd's knotes), returns events the test posts, and blocks a waiting
// kevent until something is ready.

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-watch/vigil/internal/testwait"
)

// Fake descriptor numbers. Followed files get real fds (the backend wraps
// them in *os.File), which are small; fake ones are far above them.
const (
	kqFakeKQ       = 500
	kqFakePipeR    = 501
	kqFakePipeW    = 502
	kqFakeFirstFD  = 1000
	kqFakeNoFile   = 256
	kqFakeBlockMax = 20 * time.Second // a blocked kevent gives up after this
)

// kqFakeCall is one kevent call as the backend made it.
type kqFakeCall struct {
	changes  []kev
	nevents  int
	timeout  time.Duration
	blocking bool // timeout was nil
}

// kqFakeClock is the time the backend sees.
type kqFakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *kqFakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *kqFakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// kqFakeEvent is an event waiting to be collected. fired marks a timer
// expiry of the knote the kernel holds, which delivery deletes (one-shot);
// a posted event plays one collected earlier and touches no knote.
type kqFakeEvent struct {
	kev
	fired bool
}

type kqFakeKernel struct {
	t     testing.TB
	clock *kqFakeClock

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced whenever state changes
	fds       map[int]string
	real      map[int]bool // fds that are real (followed files)
	pipeBytes int
	pipeOpen  [2]bool
	kqOpen    bool
	knotes    map[kkey]kev
	ready     []kqFakeEvent
	calls     []kqFakeCall
	ops       []string // open/close/kevent in order
	blocked   int      // kevent calls blocked now
	raised    bool

	openErr    map[string]error
	kqueueErr  error // kqueue() fails so
	pipeErr    error // pipe() fails so
	dirs       map[string]bool
	failChange map[kkey]syscall.Errno    // the next change on this key fails so
	failFilter map[kfilter]syscall.Errno // the next change with this filter fails so
	failNext   []error                   // errors for the next kevent calls, after applying changes
	interrupt  bool                      // a blocked kevent returns EINTR
	withScan   bool                      // return ready events together with receipts (as a kernel may)
	onEINTR    func()                    // runs when a kevent returns EINTR
}

func newKqFakeKernel(t testing.TB) *kqFakeKernel {
	return &kqFakeKernel{
		t:          t,
		clock:      &kqFakeClock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)},
		changed:    make(chan struct{}),
		fds:        make(map[int]string),
		real:       make(map[int]bool),
		knotes:     make(map[kkey]kev),
		openErr:    make(map[string]error),
		dirs:       make(map[string]bool),
		failChange: make(map[kkey]syscall.Errno),
		failFilter: make(map[kfilter]syscall.Errno),
	}
}

// notify wakes blocked kevent calls. f.mu is held.
func (f *kqFakeKernel) notify() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *kqFakeKernel) kqueue() (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.kqueueErr != nil {
		return -1, f.kqueueErr
	}
	f.kqOpen = true
	f.ops = append(f.ops, "kqueue")
	return kqFakeKQ, nil
}

func (f *kqFakeKernel) pipe() ([2]int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pipeErr != nil {
		return [2]int{-1, -1}, f.pipeErr
	}
	f.pipeOpen = [2]bool{true, true}
	return [2]int{kqFakePipeR, kqFakePipeW}, nil
}

func (f *kqFakeKernel) isOpen(fd int) bool {
	switch fd {
	case kqFakeKQ:
		return f.kqOpen
	case kqFakePipeR:
		return f.pipeOpen[0]
	case kqFakePipeW:
		return f.pipeOpen[1]
	}
	_, ok := f.fds[fd]
	return ok
}

func (f *kqFakeKernel) open(path string, mode openMode) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.openErr[path]; err != nil {
		return -1, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	if mode == openFollow {
		fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			return -1, &fs.PathError{Op: "open", Path: path, Err: err}
		}
		f.fds[fd] = path
		f.real[fd] = true
		f.ops = append(f.ops, fmt.Sprintf("open follow %d %s", fd, path))
		return fd, nil
	}
	fd := kqFakeFirstFD // the lowest free number, as kernels hand out
	for f.isOpen(fd) {
		fd++
	}
	f.fds[fd] = path
	f.ops = append(f.ops, fmt.Sprintf("open vnode %d %s", fd, path))
	return fd, nil
}

func (f *kqFakeKernel) close(fd int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.real[fd] {
		f.t.Errorf("fake kernel: close(%d) of a followed file's fd: its *os.File must close it", fd)
	}
	if !f.isOpen(fd) {
		f.t.Errorf("fake kernel: close(%d): not open (double close?)", fd)
		return syscall.EBADF
	}
	switch fd {
	case kqFakeKQ:
		f.kqOpen = false
	case kqFakePipeR:
		f.pipeOpen[0] = false
	case kqFakePipeW:
		f.pipeOpen[1] = false
	default:
		delete(f.fds, fd)
	}
	f.ops = append(f.ops, fmt.Sprintf("close %d", fd))
	// Closing an fd removes its knotes and their pending activations.
	for k := range f.knotes {
		if k.ident == uint64(fd) && k.filter != filtTimer {
			delete(f.knotes, k)
		}
	}
	f.ready = slices.DeleteFunc(f.ready, func(e kqFakeEvent) bool { return e.ident == uint64(fd) && e.filter != filtTimer })
	f.notify()
	return nil
}

func (f *kqFakeKernel) fstat(fd int) (fileStat, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.real[fd] {
		var st syscall.Stat_t
		if err := syscall.Fstat(fd, &st); err != nil {
			return fileStat{}, err
		}
		return fileStat{dir: st.Mode&syscall.S_IFMT == syscall.S_IFDIR}, nil
	}
	path, ok := f.fds[fd]
	if !ok {
		return fileStat{}, syscall.EBADF
	}
	return fileStat{dir: f.dirs[path]}, nil
}

// stat says a path is a directory when the test listed it in dirs.
func (f *kqFakeKernel) stat(path string) (fileStat, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ops = append(f.ops, "stat "+path)
	return fileStat{dir: f.dirs[path]}, nil
}

// unread is not scripted: only kernels with readStopsAtEOF use it.
func (f *kqFakeKernel) unread(fd int) (int64, error) {
	return 0, fmt.Errorf("fake kernel: unread(%d) is not scripted", fd)
}

func (f *kqFakeKernel) read(fd int, p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fd != kqFakePipeR || !f.pipeOpen[0] {
		return 0, syscall.EBADF
	}
	if f.pipeBytes == 0 {
		return 0, syscall.EAGAIN
	}
	n := min(len(p), f.pipeBytes)
	f.pipeBytes -= n
	return n, nil
}

func (f *kqFakeKernel) write(fd int, p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fd != kqFakePipeW || !f.pipeOpen[1] {
		f.t.Errorf("fake kernel: write(%d): not the open wake pipe", fd)
		return 0, syscall.EBADF
	}
	f.pipeBytes += len(p)
	f.notify()
	return len(p), nil
}

func (f *kqFakeKernel) raiseNoFile() error {
	f.mu.Lock()
	f.raised = true
	f.mu.Unlock()
	return nil
}

func (f *kqFakeKernel) noFile() int64 { return kqFakeNoFile }

// apply applies one change and returns the errno it fails with, or 0.
// f.mu is held.
func (f *kqFakeKernel) apply(c kev) syscall.Errno {
	k := kkey{c.ident, c.filter}
	if e, ok := f.failChange[k]; ok {
		delete(f.failChange, k)
		return e
	}
	if e, ok := f.failFilter[c.filter]; ok {
		delete(f.failFilter, c.filter)
		return e
	}
	if c.filter != filtTimer && !f.isOpen(int(c.ident)) {
		return syscall.EBADF
	}
	switch {
	case c.flags&evDelete != 0:
		if _, ok := f.knotes[k]; !ok {
			return syscall.ENOENT
		}
		delete(f.knotes, k)
		f.ready = slices.DeleteFunc(f.ready, func(e kqFakeEvent) bool { return e.ident == k.ident && e.filter == k.filter })
	case c.flags&evAdd != 0:
		if c.filter == filtTimer {
			// A re-added timer restarts: a pending expiry is dropped.
			f.ready = slices.DeleteFunc(f.ready, func(e kqFakeEvent) bool { return e.ident == k.ident && e.filter == k.filter && e.fired })
		}
		f.knotes[k] = c
	}
	return 0
}

// collect moves ready events (and the wake pipe, level-triggered) into
// events. f.mu is held.
func (f *kqFakeKernel) collect(events []kev) int {
	n := 0
	if f.pipeBytes > 0 && n < len(events) {
		if _, ok := f.knotes[kkey{kqFakePipeR, filtRead}]; ok {
			events[n] = kev{ident: kqFakePipeR, filter: filtRead, data: int64(f.pipeBytes)}
			n++
		}
	}
	for len(f.ready) > 0 && n < len(events) {
		e := f.ready[0]
		f.ready = f.ready[1:]
		events[n] = e.kev
		n++
		k := kkey{e.ident, e.filter}
		if c, ok := f.knotes[k]; ok && e.fired && c.flags&evOneshot != 0 {
			delete(f.knotes, k)
		}
	}
	return n
}

func (f *kqFakeKernel) kevent(kq int, changes, events []kev, timeout *time.Duration) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if kq != kqFakeKQ || !f.kqOpen {
		f.t.Errorf("fake kernel: kevent on %d: not the open kqueue", kq)
		return 0, syscall.EBADF
	}
	call := kqFakeCall{changes: slices.Clone(changes), nevents: len(events), blocking: timeout == nil}
	if timeout != nil {
		call.timeout = *timeout
	}
	f.calls = append(f.calls, call)
	f.ops = append(f.ops, fmt.Sprintf("kevent %d changes", len(changes)))
	n := 0
	for _, c := range changes {
		errno := f.apply(c)
		if c.flags&evReceipt == 0 && errno == 0 {
			continue
		}
		if n == len(events) {
			return 0, errno // FreeBSD: no room, the call fails
		}
		r := c
		r.flags |= evError
		r.data = int64(errno)
		events[n] = r
		n++
	}
	if len(f.failNext) > 0 {
		err := f.failNext[0]
		f.failNext = f.failNext[1:]
		if errors.Is(err, syscall.EINTR) && f.onEINTR != nil {
			f.onEINTR()
		}
		return 0, err
	}
	if n > 0 {
		// FreeBSD returns the receipts without scanning; withScan
		// plays a kernel that scans as well.
		if f.withScan {
			n += f.collect(events[n:])
		}
		return n, nil
	}
	for {
		if n = f.collect(events); n > 0 || (timeout != nil) {
			return n, nil
		}
		if f.interrupt {
			f.interrupt = false
			if f.onEINTR != nil {
				f.onEINTR()
			}
			return 0, syscall.EINTR
		}
		ch := f.changed
		f.blocked++
		f.mu.Unlock()
		var err error
		select {
		case <-ch:
		case <-time.After(kqFakeBlockMax):
			err = errors.New("fake kernel: kevent blocked too long")
		}
		f.mu.Lock()
		f.blocked--
		if err != nil {
			f.t.Error(err)
			return 0, err
		}
	}
}

// post queues events for the next kevent that scans.
func (f *kqFakeKernel) post(evs ...kev) {
	f.mu.Lock()
	for _, e := range evs {
		f.ready = append(f.ready, kqFakeEvent{kev: e})
	}
	f.notify()
	f.mu.Unlock()
}

// postQuiet queues events without waking a blocked kevent, so that only
// a later call (a submission scanning with withScan) collects them.
func (f *kqFakeKernel) postQuiet(evs ...kev) {
	f.mu.Lock()
	for _, e := range evs {
		f.ready = append(f.ready, kqFakeEvent{kev: e})
	}
	f.mu.Unlock()
}

// fire expires timer id, if the kernel has it.
func (f *kqFakeKernel) fire(id ID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := kkey{timerIdent(id), filtTimer}
	if _, ok := f.knotes[k]; !ok {
		return false
	}
	f.ready = append(f.ready, kqFakeEvent{kev: kev{ident: k.ident, filter: filtTimer, data: 1}, fired: true})
	f.notify()
	return true
}

// signal interrupts a blocked kevent (or the next one that would block).
func (f *kqFakeKernel) signal() {
	f.mu.Lock()
	f.interrupt = true
	f.notify()
	f.mu.Unlock()
}

// waitBlocked waits until a kevent call is blocked.
func (f *kqFakeKernel) waitBlocked(t *testing.T) {
	t.Helper()
	testwait.Until(t, 10*time.Second, "a kevent call to block", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.blocked > 0
	})
}

// callCount is how many kevent calls were made.
func (f *kqFakeKernel) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// callsFrom returns the kevent calls from index i on.
func (f *kqFakeKernel) callsFrom(i int) []kqFakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls[i:])
}

// opsFrom returns the logged operations from index i on.
func (f *kqFakeKernel) opsFrom(i int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ops[i:])
}

func (f *kqFakeKernel) opCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.ops)
}

func (f *kqFakeKernel) isOpenFD(fd int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.isOpen(fd)
}

func (f *kqFakeKernel) hasKnote(ident uint64, filter kfilter) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.knotes[kkey{ident, filter}]
	return ok
}
