//go:build linux

package vnode

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vigil-watch/vigil/internal/idtable"
)

// inotifyAddWatch is inotify_add_watch(2); tests swap it to simulate a
// kernel limit.
var inotifyAddWatch = unix.InotifyAddWatch

// epollCreate1 is epoll_create1(2); tests swap it to simulate running out
// of descriptors.
var epollCreate1 = unix.EpollCreate1

// The masks placed per kind of interest. Every add uses IN_MASK_ADD because
// one inode (a hard link, or a file both watched and followed) shares one
// kernel watch, and a plain add would replace the other owner's mask.
const (
	inDirMask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO |
		unix.IN_MODIFY | unix.IN_ATTRIB | unix.IN_CLOSE_WRITE |
		unix.IN_DELETE_SELF | unix.IN_MOVE_SELF |
		unix.IN_ONLYDIR | unix.IN_DONT_FOLLOW | unix.IN_EXCL_UNLINK | unix.IN_MASK_ADD
	// A directory watched for its entries' names only (Queue.WatchNames).
	inNamesMask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO |
		unix.IN_DELETE_SELF | unix.IN_MOVE_SELF |
		unix.IN_ONLYDIR | unix.IN_DONT_FOLLOW | unix.IN_EXCL_UNLINK | unix.IN_MASK_ADD
	inFileMask = unix.IN_MODIFY | unix.IN_ATTRIB | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF |
		unix.IN_DONT_FOLLOW | unix.IN_EXCL_UNLINK | unix.IN_MASK_ADD
	// A follow is added through /proc/self/fd/N, which must be followed.
	inFollowMask = unix.IN_MODIFY | unix.IN_ATTRIB | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF |
		unix.IN_MASK_ADD
)

// inReadBuf is the inotify read buffer size: room for thousands of events,
// and far above the one-event-with-NAME_MAX minimum read(2) demands.
const inReadBuf = 64 << 10

// inKind says what an owner of a watch descriptor is.
type inKind uint8

const (
	inDir inKind = iota
	inFile
	inFollow
)

// inOwner is one watch or followed file of the queue. A large tree is
// mostly directory watches, one inOwner each, so it keeps what only files
// need behind a pointer: 32 bytes for a directory instead of 112.
type inOwner struct {
	id    ID
	wd    int32 // -1 once the kernel watch is gone, or when polled
	evIdx int32 // per batch: index of the coalesced note event, -1 if none
	kind  inKind
	dirty bool // per batch: in b.dirty
	// Followed files: the deletion was reported (it is reported once).
	gone bool
	// Per batch: a followed file changed, fstat it at the end of the batch.
	needRead bool
	next     *inOwner     // the next owner of the same wd (b.wds), in order
	file     *inFileState // file watches and followed files; nil for directories
}

// inFileState is what a file watch or followed file keeps beyond a
// directory's.
type inFileState struct {
	path string   // file watches: what restat lstats
	f    *os.File // followed files: the file the caller reads
	fd   int      // f's descriptor, for fstat and lseek

	// File watches: what the last lstat saw, to synthesize extend and link.
	dev, ino uint64
	size     int64
	nlink    uint64
}

// inotifyBackend is inotify for vnodes, a timerfd per timer and an eventfd
// for wake-ups, all in one epoll set so that wait is one epoll_wait.
//
// The epoll descriptor is itself waited on through the Go runtime's poller
// (ep): a goroutine parked there costs nothing, while one blocked in
// epoll_wait holds its thread in a system call, and for the first
// milliseconds of every such wait the runtime's monitor thread polls every
// 20 µs: about sixty context switches for each change, which on a busy
// machine are what stands between a change and its command.
type inotifyBackend struct {
	ifd, epfd, evfd int
	ep              *os.File        // epfd, registered with the runtime's poller
	epc             syscall.RawConn // ep's, for epoll_wait
	interval        time.Duration

	woken atomic.Bool // Wake was called: the next wait reports KindWake

	mu       sync.Mutex
	closed   bool
	inWait   bool          // a wait is between epoll_wait and its return
	released chan struct{} // closed once every descriptor is released
	nextID   ID
	owners   idtable.Table[ID, inOwner]
	wds      idtable.Table[int32, inOwner] // the first owner of each wd; more through next
	retired  map[int32]int                 // wds we removed whose IN_IGNORED is still queued
	timers   map[ID]int                    // timer id → timerfd
	tfds     map[int32]ID                  // timerfd → timer id
	polled   map[ID]*os.File
	poller   *poller // created at the first limit hit
	closing  []*os.File

	// Used by the waiting goroutine only.
	rbuf   []byte
	evs    []unix.EpollEvent
	dirty  []*inOwner // owners touched by the batch being decoded
	tmpbuf [8]byte
}

func newInotify(o Options) (backend, error) {
	ifd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		if errors.Is(err, unix.EMFILE) {
			v := readProcInt("/proc/sys/fs/inotify/max_user_instances")
			return nil, fmt.Errorf("vnode: inotify_init1: %w", &LimitError{
				Path:  "(a new inotify instance)",
				Limit: "fs.inotify.max_user_instances",
				Value: v,
				Raise: fmt.Sprintf("sudo sysctl fs.inotify.max_user_instances=%d (or raise the open-files limit, ulimit -n, which gives the same error)", raiseTo(v, 1024)),
				Err:   err,
			})
		}
		return nil, fmt.Errorf("vnode: inotify_init1: %w", err)
	}
	b := &inotifyBackend{
		ifd: ifd, epfd: -1, evfd: -1,
		interval: o.PollInterval,
		released: make(chan struct{}),
		retired:  make(map[int32]int),
		timers:   make(map[ID]int),
		tfds:     make(map[int32]ID),
		polled:   make(map[ID]*os.File),
		rbuf:     make([]byte, inReadBuf),
		evs:      make([]unix.EpollEvent, 64),
	}
	fail := func(what string, err error) (backend, error) {
		b.releaseFds()
		if errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) {
			// inotify_init1 got the last descriptor: name the limit,
			// so that the user can raise it and Open(auto) can poll.
			err = &LimitError{
				Path:  "(a new inotify instance)",
				Limit: "RLIMIT_NOFILE (open files)",
				Value: noFileLimit(),
				Raise: "ulimit -n N in the shell that starts vigil (up to the hard limit, ulimit -Hn)",
				Err:   err,
			}
		}
		return nil, fmt.Errorf("vnode: inotify backend: %s: %w", what, err)
	}
	if b.epfd, err = epollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return fail("epoll_create1", err)
	}
	if b.evfd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return fail("eventfd", err)
	}
	for _, fd := range []int{b.ifd, b.evfd} {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
		if err := unix.EpollCtl(b.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			return fail("epoll_ctl", err)
		}
	}
	// Non-blocking, so that os.NewFile hands it to the runtime's poller.
	if err := unix.SetNonblock(b.epfd, true); err != nil {
		return fail("fcntl", err)
	}
	b.ep = os.NewFile(uintptr(b.epfd), "epoll")
	if b.epc, err = b.ep.SyscallConn(); err != nil {
		return fail("epoll", err)
	}
	return b, nil
}

// epollWait returns how many of b.evs are ready, parking the goroutine in
// the runtime's poller until some are.
func (b *inotifyBackend) epollWait() (int, error) {
	var n int
	var werr error
	err := b.epc.Read(func(fd uintptr) bool {
		for {
			n, werr = unix.EpollWait(int(fd), b.evs, 0)
			if werr != unix.EINTR {
				return n > 0 || werr != nil
			}
		}
	})
	if err != nil {
		return 0, err
	}
	return n, werr
}

// noFileLimit is the soft RLIMIT_NOFILE, -1 when unknown.
func noFileLimit() int64 {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return -1
	}
	return int64(min(rl.Cur, 1<<63-1))
}

// readProcInt reads an integer sysctl from /proc, -1 when it cannot.
func readProcInt(path string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		return -1
	}
	return v
}

// raiseTo suggests a new limit: at least floor, otherwise double the old.
func raiseTo(cur, floor int64) int64 {
	if cur*2 > floor {
		return cur * 2
	}
	return floor
}

func (b *inotifyBackend) name() Backend { return Inotify }

func (b *inotifyBackend) caps() Caps {
	return Caps{ChildNames: true, ChildWrites: true, RenameCookies: true, CloseWrites: true}
}

// wake makes epoll_wait return. The poller calls it from its goroutine;
// the poller is stopped before the eventfd is closed.
func (b *inotifyBackend) wake() {
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	// EAGAIN would mean the counter is saturated: a wake is pending anyway.
	unix.Write(b.evfd, one[:])
}

// wakeUp is Queue.Wake. b.mu keeps the eventfd from being closed (and its
// number reused) under the write.
func (b *inotifyBackend) wakeUp() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	b.woken.Store(true)
	b.wake()
	return nil
}

func (b *inotifyBackend) watch(path string) (ID, error) { return b.watchMask(path, inDirMask) }

func (b *inotifyBackend) watchNames(path string) (ID, error) { return b.watchMask(path, inNamesMask) }

// watchMask places a watch with dirMask on a directory, or the file mask
// on anything else.
func (b *inotifyBackend) watchMask(path string, dirMask uint32) (ID, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, ErrClosed
	}
	kind := inDir
	wd, err := inotifyAddWatch(b.ifd, path, dirMask)
	if errors.Is(err, unix.ENOTDIR) {
		kind = inFile
		wd, err = inotifyAddWatch(b.ifd, path, inFileMask)
	}
	if err != nil {
		if errors.Is(err, unix.ENOSPC) {
			return b.watchPolled(path, nil, err)
		}
		return 0, fmt.Errorf("vnode: watch: %w", &os.PathError{Op: "inotify_add_watch", Path: path, Err: err})
	}
	o := &inOwner{id: b.newID(), kind: kind, wd: int32(wd), evIdx: -1}
	if kind == inFile {
		o.file = &inFileState{path: path, fd: -1}
		o.restat()
	}
	b.addOwner(o)
	return o.id, nil
}

func (b *inotifyBackend) follow(path string) (ID, *os.File, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, nil, ErrClosed
	}
	f, err := os.Open(path) // O_RDONLY|O_CLOEXEC, following symlinks as tail does
	if err != nil {
		return 0, nil, fmt.Errorf("vnode: follow: %w", err)
	}
	fd := int(f.Fd())
	// Through /proc the watch lands on the inode we opened, even if path
	// was renamed or replaced since.
	wd, err := inotifyAddWatch(b.ifd, "/proc/self/fd/"+strconv.Itoa(fd), inFollowMask)
	if errors.Is(err, unix.ENOENT) {
		// No /proc (a bare container): the name is all we have; a rename
		// in the last microseconds would put the watch on another file.
		wd, err = inotifyAddWatch(b.ifd, path, inFollowMask)
	}
	if err != nil {
		if errors.Is(err, unix.ENOSPC) {
			id, lerr := b.watchPolled(path, f, err)
			if id == 0 {
				f.Close()
				return 0, nil, lerr
			}
			return id, f, lerr
		}
		f.Close()
		return 0, nil, fmt.Errorf("vnode: follow: %w", &os.PathError{Op: "inotify_add_watch", Path: path, Err: err})
	}
	o := &inOwner{id: b.newID(), kind: inFollow, wd: int32(wd), evIdx: -1, file: &inFileState{path: path, f: f, fd: fd}}
	b.addOwner(o)
	return o.id, f, nil
}

// watchPoll places path under the embedded poller by request (see
// Queue.WatchPolled).
func (b *inotifyBackend) watchPoll(path string) (ID, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, ErrClosed
	}
	if b.poller == nil {
		b.poller = newPoller(b.interval, b.wake)
	}
	id := b.newID()
	if err := b.poller.watch(id, path); err != nil {
		return 0, fmt.Errorf("vnode: poll %s: %w", path, err)
	}
	b.polled[id] = nil
	return id, nil
}

// watchPolled places path (or the followed file f) under the embedded
// poller after inotify_add_watch hit the watch limit; b.mu is held.
func (b *inotifyBackend) watchPolled(path string, f *os.File, errno error) (ID, error) {
	v := readProcInt("/proc/sys/fs/inotify/max_user_watches")
	lerr := &LimitError{
		Path:  path,
		Limit: "fs.inotify.max_user_watches",
		Value: v,
		Raise: fmt.Sprintf("sudo sysctl fs.inotify.max_user_watches=%d", raiseTo(v, 524288)),
		Err:   errno,
	}
	if b.poller == nil {
		b.poller = newPoller(b.interval, b.wake)
	}
	id := b.newID()
	var err error
	if f != nil {
		err = b.poller.follow(id, f)
	} else {
		err = b.poller.watch(id, path)
	}
	if err != nil {
		// Not even polling works (the path is gone, say): report both.
		return 0, fmt.Errorf("vnode: %w (and polling failed too: %w)", lerr, err)
	}
	lerr.Polled = true
	b.polled[id] = f
	return id, lerr
}

// newID hands out the next watch ID; b.mu is held.
func (b *inotifyBackend) newID() ID {
	b.nextID++
	return b.nextID
}

// addOwner records o under its wd; b.mu is held.
func (b *inotifyBackend) addOwner(o *inOwner) {
	b.owners.Set(o.id, o)
	p := b.wds.Get(o.wd)
	if p == nil {
		b.wds.Set(o.wd, o)
		return
	}
	for p.next != nil {
		p = p.next
	}
	p.next = o
}

// restat refreshes a file watch's remembered size and link count when the
// path still names the watched inode, and says what changed.
func (o *inOwner) restat() (grew, linked bool) {
	var st unix.Stat_t
	if err := unix.Lstat(o.file.path, &st); err != nil {
		return false, false
	}
	x := o.file
	if x.ino != 0 && (uint64(st.Dev) != x.dev || st.Ino != x.ino) {
		return false, false // the name means another node now
	}
	grew = x.ino != 0 && st.Size > x.size
	linked = x.ino != 0 && uint64(st.Nlink) != x.nlink
	x.dev, x.ino, x.size, x.nlink = uint64(st.Dev), st.Ino, st.Size, uint64(st.Nlink)
	return grew, linked
}

func (b *inotifyBackend) remove(id ID) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if f, ok := b.polled[id]; ok {
		delete(b.polled, id)
		b.poller.remove(id)
		if f != nil {
			b.closing = append(b.closing, f)
		}
		return nil
	}
	o := b.owners.Get(id)
	if o == nil {
		return fmt.Errorf("vnode: remove %d: no such watch or followed file", id)
	}
	b.owners.Delete(id)
	if o.file != nil && o.file.f != nil {
		// The caller may still be handling a batch that names it.
		b.closing = append(b.closing, o.file.f)
	}
	if o.wd < 0 {
		return nil
	}
	head := b.wds.Get(o.wd)
	if head == o {
		head = o.next
	} else {
		for p := head; p != nil; p = p.next {
			if p.next == o {
				p.next = o.next
				break
			}
		}
	}
	o.next = nil
	if head != nil {
		b.wds.Set(o.wd, head)
		return nil
	}
	// The last owner is gone: drop the kernel watch. Events still queued
	// for this wd, up to its IN_IGNORED, are stale and must not reach a
	// later owner of the same number.
	b.wds.Delete(o.wd)
	b.retired[o.wd]++
	if _, err := unix.InotifyRmWatch(b.ifd, uint32(o.wd)); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("vnode: remove watch %d: inotify_rm_watch: %w", id, err)
	}
	// EINVAL: the kernel dropped the watch itself (deleted, unmounted) and
	// its IN_IGNORED is queued; the tombstone above swallows it.
	return nil
}

func (b *inotifyBackend) setTimer(id ID, d time.Duration) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	tfd, ok := b.timers[id]
	if !ok {
		var err error
		tfd, err = unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
		if err != nil {
			return fmt.Errorf("vnode: timer %d: timerfd_create: %w", id, err)
		}
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(tfd)}
		if err := unix.EpollCtl(b.epfd, unix.EPOLL_CTL_ADD, tfd, &ev); err != nil {
			unix.Close(tfd)
			return fmt.Errorf("vnode: timer %d: epoll_ctl: %w", id, err)
		}
		b.timers[id] = tfd
		b.tfds[int32(tfd)] = id
	}
	// Zero would disarm the timer; the earliest expiry is 1 ns.
	ns := max(d.Nanoseconds(), 1)
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(ns)}
	// Re-arming resets the expiration count: an expiry not yet read is gone.
	if err := unix.TimerfdSettime(tfd, 0, &spec, nil); err != nil {
		return fmt.Errorf("vnode: timer %d: timerfd_settime: %w", id, err)
	}
	return nil
}

func (b *inotifyBackend) stopTimer(id ID) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	tfd, ok := b.timers[id]
	if !ok {
		return nil
	}
	var zero unix.ItimerSpec
	if err := unix.TimerfdSettime(tfd, 0, &zero, nil); err != nil {
		return fmt.Errorf("vnode: timer %d: timerfd_settime: %w", id, err)
	}
	return nil
}

func (b *inotifyBackend) wait(buf []Event) ([]Event, error) {
	buf = buf[:0]
	for {
		b.mu.Lock()
		if b.closed {
			b.releaseLocked()
			b.mu.Unlock()
			return buf, ErrClosed
		}
		for i, f := range b.closing {
			f.Close()
			b.closing[i] = nil
		}
		b.closing = b.closing[:0]
		b.inWait = true
		b.mu.Unlock()

		n, err := b.epollWait()

		b.mu.Lock()
		b.inWait = false
		if b.closed {
			b.releaseLocked()
			b.mu.Unlock()
			return buf[:0], ErrClosed
		}
		if err != nil {
			b.mu.Unlock()
			if errors.Is(err, unix.EINTR) {
				continue // a signal, e.g. Go's preemption: not an event
			}
			return buf, fmt.Errorf("vnode: epoll_wait: %w", err)
		}
		for _, ev := range b.evs[:n] {
			switch fd := int(ev.Fd); {
			case fd == b.ifd:
				if buf, err = b.readInotify(buf); err != nil {
					b.mu.Unlock()
					return buf, err
				}
			case fd == b.evfd:
				unix.Read(b.evfd, b.tmpbuf[:]) // reset the counter
			default:
				id, ok := b.tfds[int32(fd)]
				if !ok {
					continue
				}
				// EAGAIN: re-armed or stopped after epoll saw it expire.
				if k, err := unix.Read(fd, b.tmpbuf[:]); err == nil && k == 8 {
					buf = append(buf, Event{Kind: KindTimer, ID: id, Data: int64(binary.NativeEndian.Uint64(b.tmpbuf[:]))})
				}
			}
		}
		if b.poller != nil {
			buf = b.poller.drain(buf)
		}
		if b.woken.Swap(false) {
			buf = append(buf, Event{Kind: KindWake})
		}
		b.mu.Unlock()
		if len(buf) > 0 {
			return buf, nil
		}
	}
}

// drainNow reads what the kernel has queued, without blocking, and scans
// the watches placed under polling now.
func (b *inotifyBackend) drainNow(buf []Event) ([]Event, error) {
	b.mu.Lock()
	closed, p := b.closed, b.poller
	b.mu.Unlock()
	if closed {
		return buf, ErrClosed
	}
	if p != nil {
		p.scanNow()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return buf, ErrClosed
	}
	buf, err := b.readInotify(buf)
	if p != nil {
		buf = p.drain(buf)
	}
	return buf, err
}

// readInotify reads the inotify descriptor until it is empty and appends
// the decoded events; b.mu is held.
func (b *inotifyBackend) readInotify(buf []Event) ([]Event, error) {
	for {
		n, err := unix.Read(b.ifd, b.rbuf)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) {
				break
			}
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return buf, fmt.Errorf("vnode: reading inotify events: %w", err)
		}
		if n <= 0 {
			break
		}
		buf = b.decode(b.rbuf[:n], buf)
	}
	buf = b.finishBatch(buf)
	return buf, nil
}

// decode turns raw inotify events into Events, appending to out; b.mu is
// held. It allocates nothing but child names.
func (b *inotifyBackend) decode(raw []byte, out []Event) []Event {
	for off := 0; off+unix.SizeofInotifyEvent <= len(raw); {
		h := (*unix.InotifyEvent)(unsafe.Pointer(&raw[off]))
		var nameb []byte
		if h.Len > 0 {
			end := off + unix.SizeofInotifyEvent + int(h.Len)
			if end > len(raw) {
				break // cannot happen: the kernel writes whole events
			}
			nameb = raw[off+unix.SizeofInotifyEvent : end]
			if i := bytes.IndexByte(nameb, 0); i >= 0 {
				nameb = nameb[:i]
			}
		}
		off += unix.SizeofInotifyEvent + int(h.Len)
		out = b.decodeOne(h.Wd, h.Mask, h.Cookie, nameb, out)
	}
	return out
}

func (b *inotifyBackend) decodeOne(wd int32, mask, cookie uint32, nameb []byte, out []Event) []Event {
	if mask&unix.IN_Q_OVERFLOW != 0 {
		return append(out, Event{Kind: KindOverflow})
	}
	if n := b.retired[wd]; n > 0 {
		// Stale: queued before we removed this wd.
		if mask&unix.IN_IGNORED != 0 {
			if n == 1 {
				delete(b.retired, wd)
			} else {
				b.retired[wd] = n - 1
			}
		}
		return out
	}
	owners := b.wds.Get(wd)
	if owners == nil {
		return out
	}
	if mask&unix.IN_IGNORED != 0 {
		// The kernel dropped the watch (deleted or unmounted; the event
		// saying so came first). The IDs stay until the caller removes them.
		for o := owners; o != nil; {
			next := o.next
			o.wd, o.next = -1, nil
			o = next
		}
		b.wds.Delete(wd)
		return out
	}
	if len(nameb) > 0 {
		return b.childEvent(owners, mask, cookie, nameb, out)
	}
	for o := owners; o != nil; o = o.next {
		var notes Note
		switch o.kind {
		case inFollow:
			if mask&unix.IN_MODIFY != 0 {
				b.markDirty(o)
			}
			if mask&unix.IN_ATTRIB != 0 {
				notes |= NoteAttrib
				b.markDirty(o) // a link count of 0 means deleted
			}
		default:
			if mask&unix.IN_MODIFY != 0 {
				notes |= NoteWrite
				if o.kind == inFile {
					b.markDirty(o)
				}
			}
			if mask&unix.IN_ATTRIB != 0 {
				notes |= NoteAttrib
				if o.kind == inFile {
					b.markDirty(o)
				}
			}
		}
		if mask&unix.IN_DELETE_SELF != 0 {
			notes |= NoteDelete
		}
		if mask&unix.IN_MOVE_SELF != 0 {
			notes |= NoteRename
		}
		if mask&unix.IN_UNMOUNT != 0 {
			notes |= NoteRevoke
		}
		if notes == 0 {
			continue
		}
		// Coalesce this batch's notes for the node into one event.
		if o.evIdx >= 0 {
			out[o.evIdx].Notes |= notes
			continue
		}
		o.evIdx = int32(len(out))
		if !o.dirty {
			b.dirty = append(b.dirty, o) // so that finishBatch resets evIdx
			o.dirty = true
		}
		out = append(out, Event{Kind: KindNote, ID: o.id, Notes: notes})
	}
	return out
}

// childEvent maps an event naming a child of a watched directory.
func (b *inotifyBackend) childEvent(owners *inOwner, mask, cookie uint32, nameb []byte, out []Event) []Event {
	ev := Event{Kind: KindNote, IsDir: mask&unix.IN_ISDIR != 0}
	switch {
	case mask&unix.IN_CREATE != 0:
		ev.Op, ev.Notes = ChildCreate, NoteWrite
	case mask&unix.IN_DELETE != 0:
		ev.Op, ev.Notes = ChildRemove, NoteWrite
	case mask&unix.IN_MOVED_FROM != 0:
		ev.Op, ev.Notes, ev.Cookie = ChildMovedFrom, NoteWrite, cookie
	case mask&unix.IN_MOVED_TO != 0:
		ev.Op, ev.Notes, ev.Cookie = ChildMovedTo, NoteWrite, cookie
	case mask&unix.IN_MODIFY != 0:
		ev.Op, ev.Notes = ChildNone, NoteWrite
	case mask&unix.IN_CLOSE_WRITE != 0:
		// Not a write by itself: see NoteCloseWrite.
		ev.Op, ev.Notes = ChildNone, NoteCloseWrite
	case mask&unix.IN_ATTRIB != 0:
		ev.Op, ev.Notes = ChildNone, NoteAttrib
	default:
		return out
	}
	if ev.IsDir && ev.Op != ChildNone {
		// A subdirectory coming or going changes the parent's link count.
		ev.Notes |= NoteLink
	}
	name := ""
	for o := owners; o != nil; o = o.next {
		if o.kind != inDir {
			continue
		}
		if name == "" {
			name = string(nameb)
		}
		ev.ID, ev.Name = o.id, name
		out = append(out, ev)
	}
	return out
}

// markDirty queues o for the stat finishBatch does once per batch.
func (b *inotifyBackend) markDirty(o *inOwner) {
	if !o.dirty {
		o.dirty = true
		b.dirty = append(b.dirty, o)
	}
	if o.kind == inFollow {
		o.needRead = true
	}
}

// finishBatch does the stats the decoded events asked for, once per node:
// extend and link for file watches, the byte count for followed files.
func (b *inotifyBackend) finishBatch(out []Event) []Event {
	for i, o := range b.dirty {
		switch o.kind {
		case inFile:
			grew, linked := o.restat()
			if o.evIdx >= 0 {
				if grew && out[o.evIdx].Notes&NoteWrite != 0 {
					out[o.evIdx].Notes |= NoteExtend
				}
				if linked && out[o.evIdx].Notes&NoteAttrib != 0 {
					out[o.evIdx].Notes |= NoteLink
				}
			}
		case inFollow:
			if o.needRead && b.owners.Get(o.id) == o {
				out = b.followRead(o, out)
			}
			o.needRead = false
		}
		o.evIdx, o.dirty = -1, false
		b.dirty[i] = nil
	}
	b.dirty = b.dirty[:0]
	return out
}

// followRead appends a KindRead event when data lies between the follower's
// offset and EOF, and NoteDelete when the file lost its last link.
func (b *inotifyBackend) followRead(o *inOwner, out []Event) []Event {
	var st unix.Stat_t
	if err := unix.Fstat(o.file.fd, &st); err != nil {
		return out
	}
	off, err := unix.Seek(o.file.fd, 0, 1 /* SEEK_CUR */)
	if err != nil {
		return out
	}
	if d := st.Size - off; d != 0 {
		out = append(out, Event{Kind: KindRead, ID: o.id, Data: d})
	}
	if st.Nlink == 0 && !o.gone {
		// Unlinked while we hold it open: IN_DELETE_SELF comes only when
		// the last descriptor closes, so say it now, once.
		o.gone = true
		if o.evIdx >= 0 {
			out[o.evIdx].Notes |= NoteDelete
		} else {
			out = append(out, Event{Kind: KindNote, ID: o.id, Notes: NoteDelete})
		}
	}
	return out
}

func (b *inotifyBackend) close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		<-b.released
		return nil
	}
	b.closed = true
	if !b.inWait {
		b.releaseLocked()
		b.mu.Unlock()
		return nil
	}
	// A wait is blocked in epoll_wait: wake it (while holding b.mu, so the
	// eventfd is still open); it releases everything on its way out, so
	// that no descriptor is closed under its feet.
	b.wake()
	b.mu.Unlock()
	<-b.released
	return nil
}

// releaseLocked closes everything once; b.mu is held.
func (b *inotifyBackend) releaseLocked() {
	select {
	case <-b.released:
		return
	default:
	}
	// Stop the poller before closing the eventfd its wake writes to.
	if b.poller != nil {
		b.poller.close()
	}
	for _, f := range b.closing {
		f.Close()
	}
	for _, o := range b.owners.All() {
		if o.file != nil && o.file.f != nil {
			o.file.f.Close()
		}
	}
	for _, f := range b.polled {
		if f != nil {
			f.Close()
		}
	}
	for _, tfd := range b.timers {
		unix.Close(tfd)
	}
	b.closing, b.polled, b.timers, b.tfds = nil, nil, nil, nil
	b.wds = idtable.Table[int32, inOwner]{}
	b.owners = idtable.Table[ID, inOwner]{}
	b.releaseFds()
	close(b.released)
}

// releaseFds closes the inotify, epoll and eventfd descriptors.
func (b *inotifyBackend) releaseFds() {
	if b.ep != nil {
		b.ep.Close() // and with it epfd
		b.ep, b.epfd = nil, -1
	}
	for _, fd := range []int{b.ifd, b.epfd, b.evfd} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	b.ifd, b.epfd, b.evfd = -1, -1, -1
}
