// Package watcher is vigil's tree layer: it watches roots recursively through
// the vnode kernel layer, filters paths (include and exclude globs,
// .gitignore files, default ignores), keeps an index of what exists, and
// turns kernel notes into batches of net changes per path.
//
// # Net effect
//
// A batch reports, for each path, what happened to it between the moment the
// batch opened and the moment it closed, judged against what existed when it
// opened: a file created and removed inside the window is not reported; a
// file removed and created again (git checkout) or replaced by a rename
// (vim, sed -i, atomic saves) is a Write; a rename reports the new path with
// the old one. Batches are closed by the debounce policy (quiet period and
// max wait, see package debounce).
//
// # Never losing a change
//
// A new directory is watched before it is read, so whatever appears in it
// meanwhile is found by the read. When the kernel drops events (queue
// overflow), the affected tree is rescanned and compared with the index, and
// the differences are reported in a batch marked Rescan. When a root is
// removed its contents are reported removed, and the watcher waits for it to
// come back.
//
// # Backends
//
// On inotify and poll, directory watches name the child that changed. On
// kqueue they do not: a directory's note causes a rescan of that directory,
// renames are paired by inode, and files get their own watch, because a
// directory watch there does not see writes to its files.
package watcher

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-watch/vigil/vnode"
)

// Options configure a Watcher.
type Options struct {
	// Roots are directories, watched recursively, or files, watched through
	// their parent directory so that atomic saves never kill the watch.
	// Relative paths are made absolute. A root that does not exist is
	// waited for. Default: the current directory.
	Roots []string
	// Include and Exclude are globs relative to the root, in the dialect of
	// [Glob] (compiled by [CompileGlob]). With Include set, only files matching
	// one of them are reported; directories are always traversed. Exclude
	// wins over Include; an excluded directory (or "dir/**") is neither
	// descended into nor watched.
	Include, Exclude []string
	// NoIgnore turns off .gitignore files, .git/info/exclude and the
	// default ignores (VCS directories, editor temporaries).
	NoIgnore bool
	// FollowSymlinks descends into symlinked directories (loops are
	// detected and skipped). Without it a symlink is reported as itself.
	FollowSymlinks bool
	// Debounce is the quiet period that closes a batch, and MaxWait the
	// longest a batch stays open after its first change. Zero means the
	// defaults, 50 ms and 1 s (debounce.DefaultQuiet and DefaultMaxWait); a
	// negative Debounce, such as NoDebounce, means no quiet period: a batch
	// is delivered as soon as the events the kernel had queued are read. On
	// the poll backend a quiet period (not none) is at least two poll
	// intervals, since changes are only seen once per interval.
	Debounce, MaxWait time.Duration
	// Backend and PollInterval choose the kernel mechanism (see vnode).
	Backend      vnode.Backend
	PollInterval time.Duration
	// IgnoreFiles are files, by identity, whose changes are never
	// reported, each with the reason the notice gives when it is found in
	// a root: vigil's own stdout redirected into the watched tree would
	// otherwise trigger the next run with every run's output. A different
	// file that takes its name is watched as usual.
	IgnoreFiles map[FileID]string
	// OnError receives the problems that do not stop Run, and changes of
	// state the user should hear about, each as a *[Notice]: a kernel limit
	// reached, a root missing, removed or back, a directory that cannot be
	// read, events lost. It is called from Run's goroutine, so it must not
	// block for long.
	OnError func(error)
	// Logf, when OnError is nil, receives the same notices as text. Nil
	// (with OnError nil) discards them. It is called from Run's goroutine.
	Logf func(format string, args ...any)
	// FlushOnStop: when Run's context is done, the events the kernel has
	// queued are read and the open batch is closed at once, without
	// waiting out its quiet period, and sent on out (after any batch not
	// yet taken) before Run returns. The caller must keep receiving from
	// out until Run returns. Without it, Run returns at once and drops
	// what it has not sent.
	FlushOnStop bool
	// Closed reports a created or written file only once it is finished:
	// once its writer has closed it where the backend reports closes
	// (inotify), else once its size and mtime have not changed for Settle
	// (0 = DefaultSettle). A file written under a temporary name and
	// renamed is reported once, under its final name. See finished.go.
	Closed bool
	Settle time.Duration
}

// chooseBackend applies automatic polling: with Backend auto, roots on
// network or user-space file systems (see [RemoteFS]) are polled. When
// every root is on one, the poll backend serves them all; next to local
// roots, which stay on the kernel backend, their watches are polled one
// by one (vnode.Queue.WatchPolled). It returns the backend to open and
// the notices to give.
func (w *Watcher) chooseBackend() (vnode.Backend, []*Notice) {
	if w.o.Backend != vnode.Auto && w.o.Backend != "" {
		return w.o.Backend, nil
	}
	var remote []*Notice
	local := false
	for i := range w.roots {
		rs := &w.roots[i]
		rs.polled = false
		p := rs.path
		for {
			if _, err := os.Stat(p); err == nil || filepath.Dir(p) == p {
				break
			}
			p = filepath.Dir(p) // a missing root: where it would be
		}
		fsType := fsTypeName
		if w.fsType != nil {
			fsType = w.fsType
		}
		if name := fsType(p); isRemote(name) {
			rs.polled = true
			remote = append(remote, &Notice{Kind: RemoteRoot, Path: rs.path, FS: name})
		} else {
			local = true
		}
	}
	if len(remote) == 0 || local {
		// Local roots keep the kernel backend; the remote ones are
		// polled watch by watch on it (rootSpec.polled).
		return w.o.Backend, remote
	}
	for i := range w.roots {
		w.roots[i].polled = false // the whole queue polls
	}
	return vnode.Poll, remote
}

// Stats describe the tree when the watcher became ready.
type Stats struct {
	Dirs, Files int           // directories and non-directories indexed
	Crawl       time.Duration // time from Run's start to ready
	Backend     vnode.Backend // the mechanism in use
}

// rootSpec is a validated root: a directory, or the directory of one or more
// file roots together with their names.
type rootSpec struct {
	path  string
	files map[string]bool // nil for a directory root
	link  bool            // path is a symlink to a file, followed (see linkRoot)
	// polled: on a network file system, next to local roots: its watches
	// are polled while the others use the kernel backend.
	polled bool
}

// Watcher watches a set of roots. Create it with New; Run does the work.
type Watcher struct {
	o     Options
	f     *filters
	roots []rootSpec

	running atomic.Bool

	// Test hooks. caps, when set, replaces the backend's capabilities (to
	// run the kqueue code paths on the poll backend); beforeWait is called
	// before each wait for kernel events (a test blocks in it to let the
	// kernel queue overflow).
	caps       *vnode.Caps
	fsType     func(path string) string // replaces fsTypeName (tests: no NFS here)
	beforeWait func()
	handoffs   atomic.Int64 // batches handed to the sender, for tests
	// watchResult, when set, may rewrite what Queue.Watch returned (to
	// simulate kernel limits).
	watchResult func(path string, id vnode.ID, err error) (vnode.ID, error)
	// afterEvents, when set, is told how many paths the open batch holds
	// each time the loop has handled a read of events.
	afterEvents func(paths int)
	// beforeArmWait, when set, is called with the ancestor a missing root
	// is about to be waited for on, before its watch is armed (a test
	// creates the path there, racing the watch).
	beforeArmWait func(ancestor string)
}

// New validates o (globs compile, roots are made absolute) and returns a
// Watcher. A bad glob is an error naming the pattern.
func New(o Options) (*Watcher, error) {
	f, err := compileFilters(&o)
	if err != nil {
		return nil, err
	}
	roots, err := resolveRoots(o.Roots)
	if err != nil {
		return nil, err
	}
	return &Watcher{o: o, f: f, roots: roots}, nil
}

// resolveRoots makes roots absolute, turns file roots into their directory
// plus a name, merges file roots of one directory and drops roots that lie
// inside another directory root (it already covers them).
func resolveRoots(in []string) ([]rootSpec, error) {
	if len(in) == 0 {
		in = []string{"."}
	}
	var dirs []string
	var links []rootSpec
	files := map[string]map[string]bool{}
	for _, p := range in {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("watcher: root %q: %w", p, err)
		}
		abs = filepath.Clean(abs)
		if isFileLink(abs) {
			// Never dropped as covered by a directory root: that one
			// reports the link itself, not the file it names.
			if !slices.ContainsFunc(links, func(l rootSpec) bool { return l.path == abs }) {
				links = append(links, rootSpec{path: abs, link: true})
			}
			continue
		}
		fi, err := os.Stat(abs)
		if err == nil && !fi.IsDir() {
			dir, name := filepath.Split(abs)
			dir = filepath.Clean(dir)
			if files[dir] == nil {
				files[dir] = map[string]bool{}
			}
			files[dir][name] = true
			continue
		}
		dirs = append(dirs, abs)
	}
	sort.Strings(dirs)
	var out []rootSpec
	covered := func(p string) bool {
		for _, r := range out {
			if r.files == nil && within(r.path, p) {
				return true
			}
		}
		return false
	}
	for _, d := range dirs {
		if !covered(d) {
			out = append(out, rootSpec{path: d})
		}
	}
	fdirs := make([]string, 0, len(files))
	for d := range files {
		fdirs = append(fdirs, d)
	}
	sort.Strings(fdirs)
	for _, d := range fdirs {
		if !covered(d) {
			out = append(out, rootSpec{path: d, files: files[d]})
		}
	}
	return append(out, links...), nil
}

// Scan returns the absolute paths of the files (non-directories) that o's
// roots and filters admit now, sorted. It places no watches.
func Scan(o Options) ([]string, error) { return scan(o, 0) }

// scan is Scan that, with max > 0, stops crawling at the max-th file.
func scan(o Options, max int) ([]string, error) {
	w, err := New(o)
	if err != nil {
		return nil, err
	}
	r := newRun(w, nil)
	var files []string
	r.collect = func(path string, k kind, _ uint64) {
		if k != kDir && !r.stop {
			files = append(files, path)
			r.stop = len(files) == max
		}
	}
	r.crawl()
	sort.Strings(files)
	return files, nil
}

// The queue's timers.
const (
	timerBatch vnode.ID = 1 // the debounce deadline
	timerStop  vnode.ID = 3 // Run's context is done (FlushOnStop)
)

// Run crawls the roots, placing watches before reading each directory, calls
// ready (if not nil) once they are in place, and then sends a Batch on out
// each time the debounce policy closes one. It returns nil when ctx is done,
// or an error if the kernel layer fails. Run never closes out, and never
// blocks the kernel reader on a slow consumer: while the previous batch has
// not been taken, changes keep accumulating into the next one. A Watcher
// runs at most one Run at a time.
func (w *Watcher) Run(ctx context.Context, ready func(Stats), out chan<- Batch) error {
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("watcher: Run called while already running")
	}
	defer w.running.Store(false)
	start := time.Now()
	backend, remote := w.chooseBackend()
	q, err := vnode.Open(vnode.Options{Backend: backend, PollInterval: w.o.PollInterval})
	if err != nil {
		return fmt.Errorf("watcher: %w", err)
	}
	defer q.Close()
	stop := context.AfterFunc(ctx, func() {
		if !w.o.FlushOnStop || q.SetTimer(timerStop, time.Nanosecond) != nil {
			q.Close()
		}
	})
	defer stop()
	for _, n := range remote {
		w.o.notice(n)
	}
	if err := q.Degraded(); err != nil {
		// The kernel refused a new instance: polling instead.
		w.o.notice(&Notice{Kind: Degraded, Err: err})
	}

	r := newRun(w, q)
	r.vcsLocks = vcsLocks(w.roots)
	r.crawl()
	if ctx.Err() != nil {
		return nil
	}
	if ready != nil {
		ready(Stats{Dirs: r.nDirs, Files: r.nFiles, Crawl: time.Since(start), Backend: q.Backend()})
	}
	return r.loop(ctx, out)
}

// loop is the watcher's one goroutine blocked in the kernel wait: it reads
// the kernel's events into the index, and hands each batch that falls due
// to the sender.
func (r *run) loop(ctx context.Context, out chan<- Batch) error {
	snd := r.startSender(ctx, out)
	defer snd.stop()
	buf := make([]vnode.Event, 0, 512)
	var armed time.Time // when the batch timer is set to fire; zero when not set
	for {
		if r.w.beforeWait != nil {
			r.w.beforeWait()
		}
		evs, err := r.q.Wait(buf[:0])
		now := time.Now()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("watcher: waiting for events: %w", err)
		}
		if ctx.Err() != nil && r.w.o.FlushOnStop {
			// Also what happened just before the stop and is not read
			// yet (a poll scan is due, the kernel queued more).
			more, _ := r.q.Drain(nil)
			r.apply(append(evs, more...))
			snd.stop()
			return r.finalFlush(out, snd.unsent)
		}
		if r.apply(evs) {
			armed = time.Time{}
		}
		r.lastDrain = now
		buf = evs
		if r.w.afterEvents != nil {
			r.w.afterEvents(len(r.cur.recs))
		}
		if r.dirty {
			r.dirty = false
			// The quiet period starts when these events have been taken
			// in, not when the wait returned: what arrived while they
			// were applied is still unread, so a batch is due only after
			// a wait has seen nothing for the whole period.
			r.deb.Add(time.Now())
		}
		if !r.deb.Pending() {
			continue
		}
		if !r.deliver(ctx, snd, &armed) {
			return nil
		}
	}
}

// finalFlush delivers, once the sender has stopped, the batches closed
// but not delivered (in the order they were closed) and then the open
// batch, closed now. The caller of Run keeps receiving until Run returns
// (FlushOnStop).
func (r *run) finalFlush(out chan<- Batch, unsent *Batch) error {
	for _, b := range []*Batch{unsent, r.held} {
		if b != nil {
			out <- *b
		}
	}
	r.held = nil
	if b := r.flush(time.Now()); len(b.Changes) > 0 {
		out <- b
	}
	return nil
}

// apply feeds one wait's events to the index and reports whether the batch
// timer was among them.
func (r *run) apply(evs []vnode.Event) (batchTimer bool) {
	for _, ev := range evs {
		if ev.Kind == vnode.KindTimer {
			batchTimer = batchTimer || ev.ID == timerBatch
			if ev.ID == timerSettle && r.gate != nil {
				r.settleTick(time.Now())
			}
			continue
		}
		r.handle(ev)
	}
	r.endOfEvents()
	return batchTimer
}

// deliver hands the open batch on if it is due and the sender is free (to
// the consumer directly when it is waiting, else to the sender), or arms
// the batch timer for when it will be due. It reports false
// when ctx ended during the handoff.
func (r *run) deliver(ctx context.Context, snd *sender, armed *time.Time) bool {
	now := time.Now()
	if !r.deb.Due(now) {
		if fireAt := r.deb.FireAt(); !fireAt.Equal(*armed) {
			*armed = fireAt
			r.q.SetTimer(timerBatch, max(fireAt.Sub(now), time.Microsecond))
		}
		return true
	}
	if !snd.idle.Load() {
		return true // held: the sender's wake brings us back
	}
	if vcsBusy(r.vcsLocks, &r.vcsHold, now) {
		// git or hg is rewriting the tree: look again after a quiet
		// period (its lock's removal raises no event); with no quiet
		// period, after a short pause rather than at once.
		again := max(r.deb.Quiet(), vcsRecheck)
		*armed = now.Add(again)
		r.q.SetTimer(timerBatch, again)
		return true
	}
	r.vcsHold = time.Time{}
	b := r.flush(now)
	r.deb.Reset()
	if len(b.Changes) == 0 {
		return true
	}
	select {
	case snd.out <- b:
		// The consumer was waiting: handed over directly, without
		// waking the sender on the way (each goroutine hop is a
		// scheduler wake-up between a change and its command).
		return true
	default:
	}
	snd.idle.Store(false)
	select {
	case snd.handoff <- b:
		r.w.handoffs.Add(1)
		return true
	case <-ctx.Done():
		if !r.w.o.FlushOnStop {
			return false
		}
		r.held = &b // the stop timer brings the loop to the final flush
		return true
	}
}

// vcsRecheck is how soon a batch held for a VCS lock is looked at again
// when there is no quiet period to wait instead.
const vcsRecheck = 10 * time.Millisecond

// sender owns the blocking send on Run's out channel, so that a slow
// consumer never holds up the kernel reader. When it is free again it wakes
// the loop through the queue (Queue.Wake).
type sender struct {
	out     chan<- Batch
	handoff chan Batch
	idle    atomic.Bool // no batch in hand: the loop may hand over the next
	done    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
	// unsent is a batch it held when ctx ended, for FlushOnStop; read
	// once stop has returned.
	unsent *Batch
}

func (r *run) startSender(ctx context.Context, out chan<- Batch) *sender {
	s := &sender{out: out, handoff: make(chan Batch), done: make(chan struct{})}
	s.idle.Store(true)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.run(ctx, r.q)
	}()
	return s
}

func (s *sender) run(ctx context.Context, q *vnode.Queue) {
	for {
		select {
		case b := <-s.handoff:
			select {
			case s.out <- b:
			case <-ctx.Done():
				s.unsent = &b
				return
			case <-s.done:
				return
			}
			s.idle.Store(true)
			q.Wake()
		case <-ctx.Done():
			return
		case <-s.done:
			return
		}
	}
}

// stop ends the sender, dropping a batch it still holds, and waits for it.
// It may be called more than once.
func (s *sender) stop() {
	s.once.Do(func() { close(s.done) })
	s.wg.Wait()
}
