package watcher

import (
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/vigil-watch/vigil/debounce"
	"github.com/vigil-watch/vigil/internal/idtable"
	"github.com/vigil-watch/vigil/vnode"
)

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
	// nm is the node's name in its parent, a view into the parent's
	// arena; a top node's is its absolute path, as the user gave it. The
	// other nodes' paths are built from the chain (see path): a walk per
	// use, instead of a string per directory held for ever.
	nm     string
	parent *dirNode
	id     vnode.ID
	dead   bool
	ents   dirIndex // with, behind one pointer, the rare parts (real, ign; a top's root and inode)
}

// top is the top node of n's tree.
func (n *dirNode) top() *dirNode {
	for n.parent != nil {
		n = n.parent
	}
	return n
}

// root is the root n is in (kept by its top node: a walk up, instead of a
// pointer in each of 100,000 nodes).
func (n *dirNode) root() *root { return n.top().ents.x.rt }

// inode is n's inode number: its entry's in its parent (a top's is kept
// with its root).
func (n *dirNode) inode() uint64 {
	if n.parent == nil {
		return n.ents.x.ino
	}
	return n.parent.ents.inodeOf(n.nm)
}

// name is the node's name in its parent (a root's: its last element).
func (n *dirNode) name() string {
	if n.parent == nil {
		return n.nm[strings.LastIndexByte(n.nm, '/')+1:]
	}
	return n.nm
}

// path is the node's absolute path, as the user sees it (through symlinks
// when followed).
func (n *dirNode) path() string {
	if n.parent == nil {
		return n.nm
	}
	return n.parent.child(n.nm)
}

// child is the path of name in n: join(n.path(), name), in one allocation.
func (n *dirNode) child(name string) string { return n.subpath(nil, name) }

// subpath is the path of name in n relative to n's ancestor a (or n
// itself), or with a nil, absolute; built in one allocation.
func (n *dirNode) subpath(a *dirNode, name string) string {
	size := len(name)
	m := n
	for ; m != a && m.parent != nil; m = m.parent {
		size += len(m.nm) + 1
	}
	top := ""
	if m != a {
		// Absolute: the top's path and a separator, which "/" is.
		top = strings.TrimSuffix(m.nm, "/")
		size += len(top) + 1
	}
	if size == 0 {
		return ""
	}
	b := make([]byte, size)
	i := size - copy(b[size-len(name):], name)
	for m := n; m != a && m.parent != nil; m = m.parent {
		i--
		b[i] = '/'
		i -= copy(b[i-len(m.nm):], m.nm)
	}
	if i > 0 {
		i--
		b[i] = '/'
		copy(b, top)
	}
	return unsafe.String(&b[0], len(b))
}

// readPath is where to read and watch the node: its real path when path is
// a followed symlink.
func (n *dirNode) readPath() string {
	if x := n.ents.x; x != nil && x.real != "" {
		return x.real
	}
	return n.path()
}

// setReal records where a followed symlink's directory really is.
func (n *dirNode) setReal(real string) {
	if real != "" {
		n.ents.extra().real = real
	}
}

// ignore is the node's .gitignore rules, or nil.
func (n *dirNode) ignore() *ignoreList {
	if n.ents.x == nil {
		return nil
	}
	return n.ents.x.ign
}

// setIgnore sets the node's .gitignore rules (nil: none).
func (n *dirNode) setIgnore(l *ignoreList) {
	if l != nil || n.ents.x != nil {
		n.ents.extra().ign = l
	}
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
	dirs    idtable.Table[vnode.ID, dirNode] // by watch ID
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
	stop     bool                                  // a collecting crawl has what it wants: list no more
	// keepDirFDs (snapshots): listDir keeps each listed directory open
	// as curDir until doneList, for collect to hand on; outerDirs holds
	// the enclosing listings' while a deeper one is read; dirFDs counts
	// those still open.
	keepDirFDs bool
	curDir     *dirFD
	outerDirs  []*dirFD
	dirFDs     atomic.Int32

	deb       *debounce.State
	cur       *pending // the open batch; nil while crawling
	dirty     bool     // cur changed since the debouncer last heard
	lastDrain time.Time
	saidLimit bool
	// polledIDs: watches the poller serves, which report no closes.
	polledIDs map[vnode.ID]bool
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
		r.gate.watchedCloses = r.caps.CloseWrites && !r.caps.ChildWrites
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

// dirAt is the indexed directory at path, or nil.
func (r *run) dirAt(path string) *dirNode {
	for _, rt := range r.roots {
		n := rt.top
		if n == nil || !within(n.nm, path) {
			continue
		}
		if path == n.nm {
			return n
		}
		for rest := below(n.nm, path); n != nil && rest != ""; {
			var name string
			name, rest, _ = strings.Cut(rest, "/")
			e, _ := n.ents.get(name)
			n = e.dir
		}
		if n != nil {
			return n
		}
	}
	return nil
}

// rel is the path of name in d relative to d's root, for glob matching.
func (r *run) rel(d *dirNode, name string) string {
	if d.parent == nil {
		return name
	}
	return d.subpath(d.top(), name)
}

// within says whether path is base or below it.
func within(base, path string) bool {
	return path == base || strings.HasPrefix(path, strings.TrimSuffix(base, "/")+"/")
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
	if d.parent == nil && d.root().files != nil {
		// A file root admits its named files, whatever the filters say:
		// the user asked for them by name.
		return k != kDir && d.root().files[name]
	}
	isDir := k == kDir
	rel := "" // name's path below d's root, built once when first needed
	if !r.f.noIgnore {
		if dec, ign := defaultIgnoreList.match(name, isDir); dec && ign {
			return false
		}
		if r.gitIgnored(d, name, isDir, &rel) {
			return false
		}
	}
	if !r.f.globs() {
		return true // no pattern to match: no relative path to build
	}
	if rel == "" {
		rel = r.rel(d, name)
	}
	if r.f.excluded(rel, k) {
		return false
	}
	return isDir || r.f.included(rel)
}

// gitIgnored applies the ignore files from d up to the repository top to
// name in d: the deepest file that has a matching rule decides, and
// .git/info/exclude comes last. The path below the root (*rel, which the
// caller reuses) is built only when there is an ignore file to match it
// against (a crawl asks for every name); each file's view of it is a
// suffix.
func (r *run) gitIgnored(d *dirNode, name string, isDir bool, rel *string) bool {
	up := 0 // bytes of the path between n and d, with their separators
	for n := d; n != nil; n = n.parent {
		if l := n.ignore(); l != nil {
			if *rel == "" {
				*rel = r.rel(d, name)
			}
			if dec, ign := l.match((*rel)[len(*rel)-len(name)-up:], isDir); dec {
				return ign
			}
		}
		if n.parent != nil {
			up += len(n.nm) + 1
		}
	}
	outer := d.root().outer
	full := ""
	if len(outer) > 0 {
		full = d.child(name)
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
	path := d.child(name)
	fi, err := os.Stat(path)
	if err != nil || !fi.IsDir() {
		return k, ino, ""
	}
	tino := inoOf(fi)
	for a := d; a != nil; a = a.parent {
		if tino != 0 && a.inode() == tino && sameNodeAt(a.readPath(), fi) {
			r.w.o.notice(&Notice{Kind: SymlinkLoop, Path: path, Target: a.path()})
			return k, ino, ""
		}
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return k, ino, ""
	}
	return kDir, tino, real
}
