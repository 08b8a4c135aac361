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
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-watch/vigil/debounce"
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
			if r.files == nil && (p == r.path || strings.HasPrefix(p, strings.TrimSuffix(r.path, "/")+"/")) {
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
func Scan(o Options) ([]string, error) {
	w, err := New(o)
	if err != nil {
		return nil, err
	}
	r := newRun(w, nil)
	var files []string
	r.collect = func(path string, k kind, _ uint64) {
		if k != kDir {
			files = append(files, path)
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
			r.deb.Add(now)
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

// The index ----------------------------------------------------------------

// entry is what the index knows about one name in a directory. It is kept
// small: the index of a 100k-file tree is mostly these.
type entry struct {
	ino  uint64
	dir  *dirNode // for directories
	wid  vnode.ID // the file's own watch (kqueue budget), 0 when none
	kind kind
}

// dirNode is an indexed, watched directory.
type dirNode struct {
	path   string // absolute, as the user sees it (through symlinks when followed)
	real   string // where to read and watch it when path is a followed symlink
	parent *dirNode
	name   string
	rt     *root
	ino    uint64
	id     vnode.ID
	dead   bool // next to id: the node is packed to a smaller size class
	ents   dirIndex
	ign    *ignoreList // this directory's .gitignore
}

func (n *dirNode) readPath() string {
	if n.real != "" {
		return n.real
	}
	return n.path
}

// root is a root's state during a run.
type root struct {
	rootSpec
	outer    []ignoreLayer // ignore files above the root
	top      *dirNode      // nil while the root is missing
	waitID   vnode.ID      // a watch on the nearest existing ancestor while missing
	waitPath string
	waiting  bool
	dev      uint64 // the device top lives on: with its inode, its identity
	// guardID watches the root's parent while the root is present: the
	// root's removal is seen there even when some process keeps the
	// directory alive (its working directory inside the root), which
	// stops the kernel from reporting the removal on the root itself.
	guardID vnode.ID
}

type fileRef struct {
	d    *dirNode
	name string
}

type moveSrc struct {
	d    *dirNode
	name string
}

// run is the state of one Run (or one Scan, with no queue).
type run struct {
	w    *Watcher
	f    *filters
	q    *vnode.Queue
	caps vnode.Caps
	logf func(string, ...any)

	roots []*root
	links []*linkRoot
	// linkIDs are the watches of link roots; several links may share one.
	linkIDs map[vnode.ID][]*linkRoot
	dirs    map[vnode.ID]*dirNode
	files   map[vnode.ID]fileRef
	waits   map[vnode.ID][]*root
	guards  map[vnode.ID]*root // see root.guardID
	moves   map[uint32]moveSrc
	// rescans are directories to rescan once the current events are
	// handled (kqueue-style directory notes).
	rescans []*dirNode

	nDirs, nFiles int
	buf           []byte
	// lists are listing buffers, one per depth of the scans in progress
	// (a scan recurses into the directories it finds): a crawl reuses
	// them instead of allocating one per directory.
	lists    [][]dirent
	depth    int
	vcsLocks []string                              // lock files of the repositories the roots are in
	vcsHold  time.Time                             // when a due batch began waiting for a lock; zero if not
	collect  func(path string, k kind, ino uint64) // Scan, snapshots: each node admitted

	deb       *debounce.State
	cur       *pending // the open batch; nil while crawling
	dirty     bool     // cur changed since the debouncer last heard
	lastDrain time.Time
	saidLimit bool
	gate      *finishGate // Options.Closed: changes of unfinished files
	held      *Batch      // closed but not handed to the sender when ctx ended (FlushOnStop)
	// prints and printsSince are the baseline writers' closes are judged
	// against (see closedAfterWrite); nil when the backend reports none.
	prints      map[string]fprint
	printsSince time.Time
	closed      bool

	// ignoreDirty are directories whose .gitignore changed: their rules are
	// reloaded and their subtree re-filtered once the events are handled.
	ignoreDirty []*dirNode
	// suppress > 0: index changes are not recorded (re-filtering after a
	// .gitignore change changes what is watched, not what happened).
	suppress int
	// ignoredPaths are where files of Options.IgnoreFiles were found (each
	// was noticed once).
	ignoredPaths map[string]bool
}

func newRun(w *Watcher, q *vnode.Queue) *run {
	r := &run{
		w:       w,
		f:       w.f,
		q:       q,
		logf:    w.o.Logf,
		dirs:    map[vnode.ID]*dirNode{},
		linkIDs: map[vnode.ID][]*linkRoot{},
		files:   map[vnode.ID]fileRef{},
		waits:   map[vnode.ID][]*root{},
		guards:  map[vnode.ID]*root{},
		moves:   map[uint32]moveSrc{},
		buf:     make([]byte, 64<<10),
		deb:     debounce.New(quietFor(w.o, q), w.o.MaxWait),
	}
	if r.logf == nil {
		r.logf = func(string, ...any) {}
	}
	if w.o.Closed {
		r.gate = &finishGate{settle: w.o.Settle, held: map[string]*heldFile{}}
		if r.gate.settle <= 0 {
			r.gate.settle = DefaultSettle
		}
	}
	if q != nil {
		r.caps = q.Caps()
		if w.caps != nil {
			r.caps = *w.caps
		}
	} else {
		r.caps = vnode.Caps{ChildNames: true, ChildWrites: true}
	}
	if r.gate != nil {
		r.gate.useCloses = r.caps.CloseWrites
	}
	for _, rs := range w.roots {
		if rs.link {
			r.links = append(r.links, &linkRoot{path: rs.path})
			continue
		}
		rt := &root{rootSpec: rs}
		if !w.f.noIgnore && rs.files == nil {
			rt.outer = outerIgnores(rs.path)
		}
		r.roots = append(r.roots, rt)
	}
	return r
}

// quietFor is the quiet period to use. A poll backend sees changes once per
// interval, so a burst that spans two scans would be split by any quiet
// period shorter than the gap between them: it is raised to two intervals.
func quietFor(o Options, q *vnode.Queue) time.Duration {
	quiet := o.Debounce
	if quiet < 0 {
		return quiet // none, as asked: debounce.New reads a negative so
	}
	if quiet == 0 {
		quiet = debounce.DefaultQuiet
	}
	if q != nil && q.Backend() == vnode.Poll {
		iv := o.PollInterval
		if iv <= 0 {
			iv = vnode.DefaultPollInterval
		}
		quiet = max(quiet, 2*iv)
	}
	return quiet
}

// crawl indexes every root without recording changes, then opens the first
// batch.
func (r *run) crawl() {
	start := time.Now()
	for _, rt := range r.roots {
		r.startRoot(rt, false)
	}
	for _, lr := range r.links {
		r.startLink(lr)
	}
	r.startPrints(start)
	r.cur = newPending()
	r.lastDrain = time.Now()
}

func join(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// rel is the path of name in d relative to d's root, for glob matching.
func (r *run) rel(d *dirNode, name string) string {
	if d.path == d.rt.path {
		return name
	}
	return below(d.rt.path, d.path) + "/" + name
}

// below returns full relative to base, an ancestor directory of full.
func below(base, full string) string {
	if base == "/" {
		return full[1:]
	}
	return full[len(base)+1:]
}

// admit reports whether the filters let name (of kind k) in d be indexed.
func (r *run) admit(d *dirNode, name string, k kind) bool {
	if d.rt.files != nil && d.parent == nil {
		// A file root admits its named files, whatever the filters say:
		// the user asked for them by name.
		return k != kDir && d.rt.files[name]
	}
	isDir := k == kDir
	if !r.f.noIgnore {
		if dec, ign := defaultIgnoreList.match(name, isDir); dec && ign {
			return false
		}
		if r.gitIgnored(d, name, isDir) {
			return false
		}
	}
	if !r.f.globs() {
		return true // no pattern to match: no relative path to build
	}
	rel := r.rel(d, name)
	if r.f.excluded(rel, k) {
		return false
	}
	return isDir || r.f.included(rel)
}

// gitIgnored applies the ignore files from d up to the repository top to
// name in d: the deepest file that has a matching rule decides, and
// .git/info/exclude comes last. The full path is built only when there is
// an ignore file to match it against (a crawl asks for every name).
func (r *run) gitIgnored(d *dirNode, name string, isDir bool) bool {
	full := ""
	for n := d; n != nil; n = n.parent {
		if n.ign != nil {
			if full == "" {
				full = join(d.path, name)
			}
			if dec, ign := n.ign.match(below(n.path, full), isDir); dec {
				return ign
			}
		}
	}
	outer := d.rt.outer
	if len(outer) > 0 && full == "" {
		full = join(d.path, name)
	}
	for i := len(outer) - 1; i >= 0; i-- {
		l := outer[i]
		if len(full) <= len(l.base)+1 {
			continue
		}
		if dec, ign := l.rules.match(below(l.base, full), isDir); dec {
			return ign
		}
	}
	return false
}

// classify turns what a listing or lstat said into the kind the index keeps:
// with FollowSymlinks, a symlink to a directory (that is not a loop) is a
// directory whose real path is returned.
func (r *run) classify(d *dirNode, name string, k kind, ino uint64) (kind, uint64, string) {
	if k != kSymlink || !r.w.o.FollowSymlinks {
		return k, ino, ""
	}
	path := join(d.path, name)
	fi, err := os.Stat(path)
	if err != nil || !fi.IsDir() {
		return k, ino, ""
	}
	tino := inoOf(fi)
	for a := d; a != nil; a = a.parent {
		if a.ino == tino && tino != 0 && sameNodeAt(a.readPath(), fi) {
			r.w.o.notice(&Notice{Kind: SymlinkLoop, Path: path, Target: a.path})
			return k, ino, ""
		}
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return k, ino, ""
	}
	return kDir, tino, real
}

// Watches ----------------------------------------------------------------

// watch places a watch on path and reports kernel limits once.
func (r *run) watch(path string) (vnode.ID, bool) { return r.watchIn(nil, path) }

// watchIn is watch for a path under rt (nil: none), polled when rt is.
func (r *run) watchIn(rt *root, path string) (vnode.ID, bool) {
	if r.q == nil || r.closed {
		return 0, false
	}
	watch := r.q.Watch
	if rt != nil && rt.polled {
		watch = r.q.WatchPolled
	}
	id, err := watch(path)
	if r.w.watchResult != nil {
		id, err = r.w.watchResult(path, id, err)
	}
	if err == nil {
		return id, true
	}
	var le *vnode.LimitError
	if errors.As(err, &le) {
		if !r.saidLimit {
			r.saidLimit = true
			r.w.o.notice(&Notice{Kind: Unwatchable, Path: path, Err: le})
		}
		return id, le.Polled
	}
	if errors.Is(err, vnode.ErrClosed) {
		r.closed = true
		return 0, false
	}
	if isGone(err) {
		return 0, false // gone already: its parent's events say so
	}
	r.w.o.notice(&Notice{Kind: Unwatchable, Path: path, Err: err})
	return 0, false
}

func (r *run) unwatch(id vnode.ID) {
	if id != 0 && r.q != nil && !r.closed {
		r.q.Remove(id) // an already-gone watch is no error worth reporting
	}
}

func (r *run) watchDir(n *dirNode) {
	if id, ok := r.watchIn(n.rt, n.readPath()); ok {
		n.id = id
		r.dirs[id] = n
	}
}

// needsFileWatch: on backends whose directory watches miss file writes
// (kqueue), each admitted regular file gets its own watch.
func (r *run) needsFileWatch(k kind) bool {
	return r.q != nil && !r.caps.ChildWrites && k == kFile
}

// Index updates -----------------------------------------------------------

// startRoot indexes a root (directory or file root) if it exists, or starts
// waiting for it.
func (r *run) startRoot(rt *root, record bool) {
	fi, err := os.Stat(rt.path)
	if err != nil || !fi.IsDir() {
		if record {
			return
		}
		r.waitRoot(rt)
		if rt.waiting {
			r.w.o.notice(&Notice{Kind: RootMissing, Path: rt.path})
		}
		return
	}
	n := &dirNode{path: rt.path, rt: rt, ino: inoOf(fi)}
	rt.dev = devOf(fi)
	if lfi, err := os.Lstat(rt.path); err == nil && lfi.Mode()&fs.ModeSymlink != 0 {
		if real, err := filepath.EvalSymlinks(rt.path); err == nil {
			n.real = real
		}
	}
	rt.top = n
	r.nDirs++
	if rt.files == nil {
		r.recSet(rt.path, false, kNone, 0, kDir, n.ino)
	}
	r.guardRoot(rt)
	r.watchDir(n)
	r.scanDir(n)
}

// scanDir reads a freshly watched directory and indexes what it holds.
func (r *run) scanDir(n *dirNode) {
	list, err := r.listDir(n.readPath())
	defer r.doneList(list)
	if err != nil {
		if !isGone(err) {
			r.w.o.notice(&Notice{Kind: Unreadable, Path: n.readPath(), Err: err})
		}
		return
	}
	r.loadIgnore(n, list)
	size := 0
	for _, de := range list {
		size += len(de.name)
	}
	// A fresh node: the listing's names are unique, so they are appended
	// and sorted once at the end.
	n.ents.load(len(list), size)
	for _, de := range list {
		k, ino, real := r.classify(n, de.name, de.kind, de.ino)
		if !r.admit(n, de.name, k) || r.ignoredFile(n, de.name, k, ino) {
			continue
		}
		r.add(n, de.name, k, ino, real, false, entry{})
	}
	n.ents.finish()
}

// listDir reads path into the buffer of the current scan depth; every call
// is paired with doneList.
func (r *run) listDir(path string) ([]dirent, error) {
	if r.depth == len(r.lists) {
		r.lists = append(r.lists, nil)
	}
	list, err := readDir(path, r.buf, r.lists[r.depth][:0])
	r.depth++
	return list, err
}

// doneList gives list's buffer back to its depth, without the names (which
// are garbage now) and unless it is huge.
func (r *run) doneList(list []dirent) {
	r.depth--
	clear(list)
	if cap(list) > 4096 {
		list = nil
	}
	r.lists[r.depth] = list[:0]
}

// loadIgnore (re)reads n's .gitignore if the listing has one.
func (r *run) loadIgnore(n *dirNode, list []dirent) {
	n.ign = nil
	if r.f.noIgnore || (n.rt.files != nil && n.parent == nil) {
		return
	}
	for _, de := range list {
		if de.name == ".gitignore" && de.kind != kDir {
			n.ign = loadIgnoreFile(join(n.readPath(), ".gitignore"))
			return
		}
	}
}

// put indexes name in d as a new node, replacing what the index had there,
// and for a directory watches it and then reads it.
func (r *run) put(d *dirNode, name string, k kind, ino uint64, real string) {
	old, had := d.ents.get(name)
	if had {
		r.drop(d, name)
	}
	r.add(d, name, k, ino, real, had, old)
}

// add indexes name in d, which does not have it (any old node, had, was
// dropped already).
func (r *run) add(d *dirNode, name string, k kind, ino uint64, real string, had bool, old entry) {
	r.ignoreTouched(d, name)
	var path string
	if r.cur != nil || r.collect != nil || k == kDir || r.needsFileWatch(k) {
		path = join(d.path, name) // while crawling most files need none
		r.recSet(path, had, old.kind, old.ino, k, ino)
	}
	e := entry{ino: ino, kind: k}
	if r.collect != nil {
		r.collect(path, k, ino)
	}
	if k == kDir {
		n := &dirNode{path: path, real: real, parent: d, rt: d.rt, ino: ino}
		e.dir = n
		d.ents.set(name, e)
		r.nDirs++
		r.watchDir(n)
		r.scanDir(n)
		return
	}
	r.nFiles++
	if r.needsFileWatch(k) {
		if id, ok := r.watchIn(d.rt, path); ok {
			e.wid = id
		}
	}
	name = d.ents.set(name, e)
	if e.wid != 0 {
		r.files[e.wid] = fileRef{d, name}
	}
}

// drop removes name from d, and for a directory everything below it,
// recording each removal.
func (r *run) drop(d *dirNode, name string) {
	e, ok := d.ents.get(name)
	if !ok {
		return
	}
	path := join(d.path, name)
	if e.dir != nil {
		r.dropTree(e.dir)
		r.nDirs--
	} else {
		r.nFiles--
	}
	if e.wid != 0 {
		delete(r.files, e.wid)
		r.unwatch(e.wid)
	}
	d.ents.del(name)
	r.ignoreTouched(d, name)
	r.recGone(path, e.kind, e.ino)
}

// ignoreTouched notes a change to d's .gitignore after the crawl.
func (r *run) ignoreTouched(d *dirNode, name string) {
	if name == ".gitignore" && r.cur != nil && r.suppress == 0 && !r.f.noIgnore {
		r.ignoreDirty = append(r.ignoreDirty, d)
	}
}

func (r *run) dropTree(n *dirNode) {
	for i := n.ents.len() - 1; i >= 0; i-- {
		r.drop(n, n.ents.nameAt(i)) // from the end: nothing moves
	}
	n.dead = true
	if n.id != 0 {
		delete(r.dirs, n.id)
		r.unwatch(n.id)
		n.id = 0
	}
}

// refresh reconciles name in d with what is on disk now. It returns true
// when the index already had that very node there, untouched.
func (r *run) refresh(d *dirNode, name string) (same bool) {
	if d.dead {
		return false
	}
	path := join(d.path, name)
	k, ino := lstatNode(path)
	old, had := d.ents.get(name)
	if k == kNone {
		if had {
			r.drop(d, name)
		}
		return false
	}
	k, ino, real := r.classify(d, name, k, ino)
	if !r.admit(d, name, k) || r.ignoredFile(d, name, k, ino) {
		if had {
			r.drop(d, name)
		}
		return false
	}
	if had && old.kind == k && (old.ino == ino || old.ino == 0 || ino == 0) {
		return true
	}
	r.put(d, name, k, ino, real)
	return false
}

// touched handles an event saying name in d was created or removed: the
// index follows what is on disk; if the very node the index knows is still
// there, the event means it went away and came back (an inode reused by
// `rm f; echo > f`), so a file counts as rewritten and a directory is
// re-read.
func (r *run) touched(d *dirNode, name string) {
	if !r.refresh(d, name) {
		return
	}
	e, _ := d.ents.get(name)
	if e.dir != nil {
		r.rescanDir(e.dir, false, time.Time{})
		return
	}
	r.recReplaced(join(d.path, name), e.kind, e.ino)
}

// move applies a rename paired by cookie: the node at sd/sname is now dd/dname. The
// subtree of a directory moves with it, and every path in it is recorded as
// renamed.
func (r *run) move(sd *dirNode, sname string, dd *dirNode, dname string) {
	old, had := sd.ents.get(sname)
	if sd.dead || !had {
		r.touched(dd, dname)
		return
	}
	newPath := join(dd.path, dname)
	// The cookie pairs the two halves for certain, so the index replays
	// the move even if the node has moved on since (its next move's events
	// follow); only the filters can refuse the new name.
	if dd.dead || !r.admit(dd, dname, old.kind) {
		r.refresh(sd, sname)
		return
	}
	if dd.ents.has(dname) {
		r.drop(dd, dname)
	}
	oldPath := join(sd.path, sname)
	sd.ents.del(sname)
	dname = dd.ents.set(dname, old) // a directory's node takes the name
	r.recMoved(oldPath, newPath, old.kind, old.ino)
	if old.wid != 0 {
		r.files[old.wid] = fileRef{dd, dname}
	}
	if n := old.dir; n != nil {
		n.parent, n.rt = dd, dd.rt
		r.repath(n, oldPath, newPath)
	}
}

// repath gives a moved directory and its subtree their new paths, recording
// each descendant as renamed. Watches stay: on inotify (the only backend
// with paired renames) a watch follows its inode.
func (r *run) repath(n *dirNode, oldPath, newPath string) {
	n.path = newPath
	n.ents.each(func(name string, e entry) {
		r.recMoved(join(oldPath, name), join(newPath, name), e.kind, e.ino)
		if e.wid != 0 {
			r.files[e.wid] = fileRef{n, name}
		}
		if e.dir != nil {
			e.dir.rt = n.rt
			r.repath(e.dir, join(oldPath, name), join(newPath, name))
		}
	})
}

// rescanDir reads n and makes the index agree with it, recording the
// differences. deep: also rescan subdirectories and report files whose
// mtime (write) or ctime (chmod) is not older than since, since their
// events may have been lost.
func (r *run) rescanDir(n *dirNode, deep bool, since time.Time) {
	if n.dead {
		return
	}
	list, err := r.listDir(n.readPath())
	defer r.doneList(list)
	if err != nil {
		// The directory itself went away or changed: its parent decides.
		if n.parent != nil {
			r.touched(n.parent, n.name)
		} else {
			r.rootCheck(n.rt)
		}
		return
	}
	if deep {
		r.loadIgnore(n, list)
	}
	seen := make(map[string]struct{}, len(list))
	for _, de := range list {
		k, ino, real := r.classify(n, de.name, de.kind, de.ino)
		old, had := n.ents.get(de.name)
		if !r.admit(n, de.name, k) || r.ignoredFile(n, de.name, k, ino) {
			if had {
				r.drop(n, de.name)
			}
			continue
		}
		seen[de.name] = struct{}{}
		switch {
		case !had, old.kind != k, old.ino != ino && old.ino != 0 && ino != 0:
			r.put(n, de.name, k, ino, real)
		case deep && old.dir != nil:
			r.rescanDir(old.dir, true, since)
		case deep && k == kFile:
			path := join(n.path, de.name)
			fi, err := os.Lstat(path)
			if err != nil {
				continue
			}
			switch {
			case !fi.ModTime().Before(since):
				r.recWrite(path, k, ino)
			case ctimeOf(fi) >= since.UnixNano():
				r.recAttrib(path, k, ino)
			}
		}
	}
	for i := n.ents.len() - 1; i >= 0; i-- {
		if name := n.ents.nameAt(i); !hasKey(seen, name) {
			r.drop(n, name) // from the end: the slots before i stay put
		}
	}
}

func hasKey(m map[string]struct{}, k string) bool {
	_, ok := m[k]
	return ok
}

// Roots -------------------------------------------------------------------

// waitRoot watches the nearest existing ancestor of a missing root, so that
// its return is noticed.
func (r *run) waitRoot(rt *root) {
	rt.waiting = true
	if r.q == nil {
		return
	}
	a := filepath.Dir(rt.path)
	for {
		if fi, err := os.Stat(a); err == nil && fi.IsDir() {
			break
		}
		p := filepath.Dir(a)
		if p == a {
			break
		}
		a = p
	}
	if rt.waitID != 0 && rt.waitPath == a {
		return
	}
	r.unwaitRoot(rt)
	rt.waiting = true
	if id, ok := r.watch(a); ok {
		rt.waitID, rt.waitPath = id, a
		r.waits[id] = append(r.waits[id], rt)
	}
}

func (r *run) unwaitRoot(rt *root) {
	rt.waiting = false
	if rt.waitID == 0 {
		return
	}
	id := rt.waitID
	r.waits[id] = slices.DeleteFunc(r.waits[id], func(x *root) bool { return x == rt })
	if len(r.waits[id]) == 0 {
		delete(r.waits, id)
		r.unwatch(id)
	}
	rt.waitID, rt.waitPath = 0, ""
}

// guardRoot watches a present root's parent (see root.guardID). Only
// inotify needs it: kqueue reports NOTE_DELETE when the directory is
// unlinked, whoever still holds it, and polling stats the path.
func (r *run) guardRoot(rt *root) {
	parent := filepath.Dir(rt.path)
	if rt.guardID != 0 || parent == rt.path || r.q == nil || r.q.Backend() != vnode.Inotify {
		return
	}
	if id, ok := r.watch(parent); ok {
		rt.guardID = id
		r.guards[id] = rt
	}
}

func (r *run) unguardRoot(rt *root) {
	if rt.guardID == 0 {
		return
	}
	delete(r.guards, rt.guardID)
	r.unwatch(rt.guardID)
	rt.guardID = 0
}

// rootCheck makes a root's state agree with the disk: a root that went away
// is reported removed and waited for; a root that came back is crawled and
// its contents reported created.
func (r *run) rootCheck(rt *root) {
	fi, err := os.Stat(rt.path)
	exists := err == nil && fi.IsDir()
	if rt.top != nil {
		if exists && inoOf(fi) == rt.top.ino && devOf(fi) == rt.dev {
			return
		}
		top := rt.top
		r.unguardRoot(rt)
		r.dropTree(top)
		r.nDirs--
		if rt.files == nil {
			r.recGone(rt.path, kDir, top.ino)
		}
		rt.top = nil
		r.w.o.notice(&Notice{Kind: RootRemoved, Path: rt.path})
		r.waitRoot(rt)
		fi, err = os.Stat(rt.path)
		exists = err == nil && fi.IsDir()
	}
	if !exists {
		r.waitRoot(rt) // the nearest existing ancestor may have changed
		return
	}
	r.unwaitRoot(rt)
	r.w.o.notice(&Notice{Kind: RootBack, Path: rt.path})
	r.startRoot(rt, true)
}

// Events ------------------------------------------------------------------

func (r *run) handle(ev vnode.Event) {
	switch ev.Kind {
	case vnode.KindOverflow:
		r.overflow(ev.ID)
	case vnode.KindNote:
		if rt := r.guards[ev.ID]; rt != nil {
			// The root's parent: only news of the root's own name matter
			// (or an unnamed note, where names are not reported).
			if ev.Name == "" || ev.Name == filepath.Base(rt.path) {
				r.rootCheck(rt)
			}
			return
		}
		if n := r.dirs[ev.ID]; n != nil {
			r.dirEvent(n, ev)
			return
		}
		if f, ok := r.files[ev.ID]; ok {
			r.fileEvent(f, ev)
			return
		}
		if lrs := r.linkIDs[ev.ID]; len(lrs) > 0 {
			for _, lr := range slices.Clone(lrs) {
				r.linkEvent(lr, ev)
			}
			return
		}
		if rts := r.waits[ev.ID]; len(rts) > 0 {
			for _, rt := range slices.Clone(rts) {
				r.rootCheck(rt)
			}
		}
	}
}

const goneNotes = vnode.NoteDelete | vnode.NoteRename | vnode.NoteRevoke

func (r *run) dirEvent(n *dirNode, ev vnode.Event) {
	if ev.Name == "" {
		if ev.Notes&goneNotes != 0 {
			r.verifyDir(n)
			return
		}
		if ev.Notes&vnode.NoteWrite != 0 && !r.caps.ChildNames {
			r.rescans = append(r.rescans, n)
		}
		return
	}
	if !r.caps.ChildNames {
		return // not trusted here: the unnamed note makes us rescan
	}
	name := ev.Name
	old, had := n.ents.get(name)
	if !had {
		hint := kFile
		if ev.IsDir {
			hint = kDir
		}
		if !r.admit(n, name, hint) && ev.Op != vnode.ChildMovedTo {
			return // an ignored name: not worth an lstat
		}
	}
	switch ev.Op {
	case vnode.ChildCreate, vnode.ChildRemove:
		r.touched(n, name)
	case vnode.ChildMovedFrom:
		if ev.Cookie != 0 && had {
			r.moves[ev.Cookie] = moveSrc{n, name}
			return
		}
		r.touched(n, name)
	case vnode.ChildMovedTo:
		if r.gate != nil {
			r.cur.noteClose(join(n.path, name)) // complete where it came from
		}
		if src, ok := r.moves[ev.Cookie]; ok && ev.Cookie != 0 {
			delete(r.moves, ev.Cookie)
			r.move(src.d, src.name, n, name)
			return
		}
		r.touched(n, name)
	default:
		if r.gate != nil && ev.Notes&vnode.NoteCloseWrite != 0 {
			path := join(n.path, name)
			r.cur.noteClose(path)
			if r.gate.held[path] != nil {
				r.dirty = true // the batch that releases it
			}
		}
		if !had {
			if r.ignoredPaths[join(n.path, name)] {
				// Written to, so still the ignored file: a file replacing
				// it comes with a create or rename event first.
				return
			}
			r.refresh(n, name) // a node we missed: index it
			return
		}
		path := join(n.path, name)
		if ev.Notes&goneNotes != 0 {
			r.touched(n, name)
			return
		}
		if ev.Notes&(vnode.NoteWrite|vnode.NoteExtend) != 0 && old.dir == nil {
			if r.gate != nil {
				r.cur.noteWrite(path)
			}
			r.recWrite(path, old.kind, old.ino)
			r.ignoreTouched(n, name)
		} else if ev.Notes&(vnode.NoteAttrib|vnode.NoteLink) != 0 {
			r.recAttrib(path, old.kind, old.ino)
		} else if ev.Notes&vnode.NoteCloseWrite != 0 && old.kind == kFile {
			if r.closedAfterWrite(path, old.kind, old.ino, os.Lstat) {
				r.ignoreTouched(n, name)
			}
		}
	}
}

// verifyDir handles a note saying a watched directory itself went away.
func (r *run) verifyDir(n *dirNode) {
	if n.dead {
		return
	}
	if n.parent == nil {
		r.rootCheck(n.rt)
		return
	}
	r.touched(n.parent, n.name)
}

func (r *run) fileEvent(f fileRef, ev vnode.Event) {
	e, ok := f.d.ents.get(f.name)
	if !ok || e.wid != ev.ID || f.d.dead {
		return
	}
	path := join(f.d.path, f.name)
	switch {
	case ev.Notes&goneNotes != 0:
		// Renamed or unlinked: what replaced it, if anything, is found by
		// reading the directory.
		r.rescans = append(r.rescans, f.d)
	case ev.Notes&(vnode.NoteWrite|vnode.NoteExtend) != 0:
		r.recWrite(path, e.kind, e.ino)
		r.ignoreTouched(f.d, f.name)
	case ev.Notes&(vnode.NoteAttrib|vnode.NoteLink) != 0:
		r.recAttrib(path, e.kind, e.ino)
	}
}

// overflow rescans what the lost events may have covered.
func (r *run) overflow(id vnode.ID) {
	since := r.lastDrain.Add(-time.Second)
	if r.cur != nil {
		r.cur.rescan = true
		r.dirty = true
	}
	if n := r.dirs[id]; id != 0 && n != nil {
		r.w.o.notice(&Notice{Kind: EventsLost, Path: n.path})
		r.rescanDir(n, true, since)
		return
	}
	r.w.o.notice(&Notice{Kind: EventsLost})
	for _, rt := range r.roots {
		if rt.top != nil {
			r.rescanDir(rt.top, true, since)
		} else {
			r.rootCheck(rt)
		}
	}
}

// endOfEvents finishes what a buffer of events left open: renames whose
// other half never came (moved out of the tree) and directories to rescan.
func (r *run) endOfEvents() {
	for c, src := range r.moves {
		delete(r.moves, c)
		if r.cur != nil {
			r.cur.unpaired = true
		}
		r.touched(src.d, src.name)
	}
	if len(r.rescans) > 0 {
		list := r.rescans
		r.rescans = nil
		done := map[*dirNode]bool{}
		for _, n := range list {
			if !done[n] {
				done[n] = true
				r.rescanDir(n, false, time.Time{})
			}
		}
	}
	if len(r.ignoreDirty) > 0 {
		list := r.ignoreDirty
		r.ignoreDirty = nil
		done := map[*dirNode]bool{}
		r.suppress++
		for _, n := range list {
			if !done[n] && !n.dead {
				done[n] = true
				// A deep rescan rereads the ignore files and drops or adds
				// what they now exclude or admit; no file counts as
				// written (since lies in the future).
				r.rescanDir(n, true, time.Now().Add(time.Hour))
			}
		}
		r.suppress--
	}
}
