// Package follow follows growing log files by name, the way `tail -F`
// does, and does better where tail loses lines.
//
// A [Follower] watches the directories that may hold the files it was asked
// for (names or globs), follows every matching regular file through the
// vnode layer's read events, and re-checks every name once a second as a
// safety net (as FreeBSD's tail does). It handles:
//
//   - rotation by rename: the old file is drained to EOF before the new one
//     is read from its start, and is still read for a grace period, so lines
//     the writer appends after logrotate's rename are not lost;
//   - truncation (copytruncate), also when the file regrew past the old
//     offset between two looks: a fingerprint of the file's head is
//     compared, not only the size;
//   - files and directories that do not exist yet, deletion and
//     re-creation, atomic replacement;
//   - globs: each file is followed once by (device, inode), so a rotated
//     app.log.1 that also matches is not read twice; and a copy of lines
//     already delivered (copytruncate's app.log.1, recognised by the same
//     head and the same bytes where it ends) is started past them;
//   - copytruncate's window: lines written after the follower's last read
//     but before the copy are read from the copy, so only what the writer
//     appends between logrotate's copy and its truncation is lost.
//
// Lines are delivered whole: a partial last line waits for its newline, up
// to a bound.
package follow

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vigil-watch/vigil/vnode"
)

// Line is one line read from a followed file.
type Line struct {
	File   string // absolute name of the file the line was read from
	Text   string // the line without its newline
	Offset int64  // offset of the line's first byte in the file
	// Name is File as the user named it: relative to the working
	// directory when the pattern that matched it was relative, as tail
	// shows names in its headers.
	Name string
}

// Chunk is a run of whole lines read from one followed file, handed over
// as they lie in the file (see Options.Chunks): no per-line work at all.
type Chunk struct {
	File string // absolute name of the file, as Line.File
	Name string // File as the user named it, as Line.Name
	// Text is one or more lines, each ending with its newline, none longer
	// than Options.MaxLine. It aliases the follower's read buffer: it is
	// valid only during the call, and a consumer that keeps it must copy.
	Text   []byte
	Offset int64 // offset of Text's first byte in the file
}

// Defaults for Options fields left zero.
const (
	DefaultLast    = 10
	DefaultGrace   = time.Second
	DefaultMaxLine = 1 << 20
)

// recheckInterval is how often every name is re-checked and every file
// re-read whatever the kernel said, and how often --pid processes are
// checked: FreeBSD tail's 1 s.
const recheckInterval = time.Second

// Options configure a Follower.
type Options struct {
	// Patterns are file names or globs, relative to the working directory
	// or absolute, in the dialect of watcher.Glob (compiled by
	// watcher.CompilePathGlob once made absolute): a trailing "/" follows
	// every file below a directory.
	Patterns []string
	// Last is how many lines of each file that exists at start are shown
	// first, as `tail -n N`. 0 means DefaultLast (10, as tail); a negative
	// value means none (`-n 0`).
	Last int
	// FromLine, when positive, starts files that exist at start at that
	// line (1-based), as `tail -n +N`, instead of Last.
	FromLine int64
	// Grace is how long a file that was rotated away (renamed, replaced or
	// deleted) is still read; 0 means DefaultGrace.
	Grace time.Duration
	// MaxLine bounds a partial line that waits for its newline, and any
	// line; longer lines are delivered in pieces. 0 means DefaultMaxLine.
	MaxLine int
	// Pids, when set, make Run return once all these processes are gone
	// (checked at least once a second).
	Pids []int
	// Backend and PollInterval select the vnode mechanism.
	Backend      vnode.Backend
	PollInterval time.Duration
	// Logf receives notices meant for the user ("app.log: file truncated",
	// "app.log: replaced, following new file", ...), and, when OnError is
	// nil, the problems as text. nil discards them.
	Logf func(format string, args ...any)
	// OnError receives the problems that do not stop Run, as values: a
	// *[Problem] for a name that is missing or cannot be opened, listed or
	// watched (retried, and reported once until it changes), a
	// *vnode.LimitError when a kernel limit makes the follower poll. It is
	// called from Run's goroutine.
	OnError func(error)
	// Flush, when set, is called whenever the lines read so far have been
	// handed to out and the follower is about to sleep, and before Run
	// returns nil: a buffering out (a buffered Printer)
	// writes them then. Its error ends Run like out's does.
	Flush func() error
	// Chunks, when set, receives runs of whole lines in one call each,
	// straight from the read buffer, instead of a call of out per line:
	// what a consumer that copies bytes (a plain-text Printer) wants.
	// Lines that need assembling or cutting still go to out: the one
	// that completes a partial line, one longer than MaxLine, and a
	// partial line delivered without its newline. Both are called from
	// Run's goroutine, in the order of the file. Its error ends Run like
	// out's does.
	Chunks func(Chunk) error
	// State, when set, is a file where the follower saves how far it
	// delivered each file (see the package's state.go for the layout), and
	// from which a new follower resumes: a file the state knows starts
	// where the last one stopped (whatever Last and FromLine say), found
	// by identity and fingerprint also when it was renamed or copied
	// within its directory (rotated), and a new file under a name the
	// state knows starts at 0. A state file that cannot be used is
	// reported through OnError or Logf as a *[StateError] and left alone.
	State string
	// Multiline, when set, gathers lines into records: a line that
	// matches starts a record, the lines after it continue it, and out
	// receives each record as one Line whose Text holds its lines joined
	// by "\n" (Chunks is then not used). A record is delivered when the
	// next one starts, when no line came for RecordWait (0: 500 ms), when
	// it would grow past MaxRecord bytes (0: 1 MiB; the rest starts a new
	// record), and when Run returns.
	Multiline  *regexp.Regexp
	RecordWait time.Duration
	MaxRecord  int
	// StateInterval is the shortest time between two saves of the state;
	// 0 means DefaultStateInterval. The state is also saved when Run
	// returns nil.
	StateInterval time.Duration
}

// Follower follows the files named by its Options. Run it once.
type Follower struct {
	toLook []*tfile // apply's list of files to read, kept for reuse

	o    Options
	pats []*pattern
	cwd  string

	q   *vnode.Queue
	out emitter

	dirs    map[string]*dirWatch
	dirByID map[vnode.ID]*dirWatch
	byName  map[string]*tfile // what each followed name means now
	byIdent map[ident]*tfile  // every open file, draining ones too
	byID    map[vnode.ID]*tfile
	said    map[string]string // the last trouble told about each name

	started bool // the initial scan is done: new files are read from 0
	maxLine int
	readBuf []byte
	fpBuf   []byte
	graceAt time.Time    // when the grace timer is armed for; zero if not
	gens    []generation // contents truncated away, to recognise copies
	rejudge bool         // a generation was added: judge held files again
	ran     bool

	resume    map[ident]resumeAt // files the state knows, where they start
	known     map[string]bool    // names the state knows
	stateOn   bool               // the state is saved
	stateDue  bool               // lines were delivered since the last save
	savedAt   time.Time          // when the state was last saved
	stateArmd bool               // the state timer is armed
	savedN    int                // how many files the last save listed
	saveErr   string             // the last failure to save, told once
	saver     *saver             // writes the state in the background

	records     map[string]*record // records being gathered, by name
	recordArmed bool               // the record timer is armed
	cur         *tfile             // the file being read
	userOut     emitter            // Run's out, when records come between

	// Counters the tests read to tell an idle loop from a spinning one.
	wakes, ticks atomic.Int64
	// How many files and directory watches are held, to catch leaks.
	nfiles, ndirs atomic.Int64
}

// dirWatch is a vnode watch on a directory that may hold matches, or on the
// deepest existing ancestor of one that does not exist yet.
type dirWatch struct {
	path string
	id   vnode.ID
	ino  ident
	seen bool // wanted by the scan in progress
}

// Timer IDs on the follower's queue.
const (
	timerRecheck vnode.ID = 1
	timerGrace   vnode.ID = 2
	timerState   vnode.ID = 3
	timerRecord  vnode.ID = 4 // delivers records quiet for RecordWait
)

// New checks the options and compiles the patterns; nothing is opened
// before Run.
func New(o Options) (*Follower, error) {
	if len(o.Patterns) == 0 {
		return nil, errors.New("follow: no files to follow")
	}
	if o.Last == 0 {
		o.Last = DefaultLast
	}
	if o.FromLine < 0 {
		return nil, fmt.Errorf("follow: start line %d: must be positive", o.FromLine)
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.MaxLine <= 0 {
		o.MaxLine = DefaultMaxLine
	}
	if o.StateInterval <= 0 {
		o.StateInterval = DefaultStateInterval
	}
	if o.RecordWait <= 0 {
		o.RecordWait = DefaultRecordWait
	}
	if o.MaxRecord <= 0 {
		o.MaxRecord = DefaultMaxRecord
	}
	if o.Multiline != nil {
		o.Chunks = nil // records are made of lines
	}
	for _, pid := range o.Pids {
		if pid <= 0 {
			return nil, fmt.Errorf("follow: pid %d: must be positive", pid)
		}
	}
	cwd, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("follow: working directory: %w", err)
	}
	if o.State != "" && !filepath.IsAbs(o.State) {
		o.State = filepath.Join(cwd, o.State)
	}
	f := &Follower{o: o, cwd: cwd, maxLine: o.MaxLine}
	for _, raw := range o.Patterns {
		p, err := compilePattern(raw, cwd)
		if err != nil {
			return nil, err
		}
		f.pats = append(f.pats, p)
	}
	return f, nil
}

// Run follows the files until ctx is done (returning nil), until every
// process in Options.Pids is gone (nil, after a last read of every file),
// or until out returns an error, which Run returns at once, unchanged.
// ready, if not nil, is called once the watches are in place and the
// initial lines have been delivered. Run calls out from one goroutine.
func (f *Follower) Run(ctx context.Context, ready func(), out func(Line) error) error {
	if f.ran {
		return errors.New("follow: Run called twice")
	}
	f.ran = true
	if ctx.Err() != nil {
		return nil
	}
	q, err := vnode.Open(vnode.Options{Backend: f.o.Backend, PollInterval: f.o.PollInterval})
	if err != nil {
		return fmt.Errorf("follow: %w", err)
	}
	f.q = q
	defer q.Close()
	if err := q.Degraded(); err != nil {
		f.problem(err) // the kernel refused a new instance: polling instead
	}
	stop := context.AfterFunc(ctx, func() { q.Close() })
	defer stop()
	err = f.loop(ctx, ready, out)
	defer f.stopSaver()
	if err == nil && f.records != nil {
		err = f.allRecords()
	}
	if err == nil && f.stateOn {
		// Lines delivered are flushed by now (loop's last act): record
		// them, from memory, as the files may be closing already.
		if err = f.flush(); err == nil {
			if serr := f.saveState(); serr != nil {
				f.problem(serr)
			}
		}
	}
	return err
}

// loop runs the follower until ctx ends, an error, or (with Pids) the
// processes it waits for have all exited.
func (f *Follower) loop(ctx context.Context, ready func(), out func(Line) error) error {
	err := f.follow(ctx, ready, out)
	switch {
	case errors.Is(err, errPidsGone):
		return f.stopErr(ctx, f.finish(f.lookAll()))
	case errors.Is(err, errStopped):
		return f.flush()
	}
	return f.stopErr(ctx, err)
}

// Ends of follow that are not failures.
var (
	errPidsGone = errors.New("follow: every process named by Pids has exited")
	errStopped  = errors.New("follow: stopped")
)

// follow sets up, says ready, and then applies what each wait brings.
func (f *Follower) follow(ctx context.Context, ready func(), out func(Line) error) error {
	if err := f.start(out); err != nil {
		return err
	}
	if ready != nil {
		ready()
	}
	var buf []vnode.Event
	for {
		if err := f.flush(); err != nil {
			return err
		}
		f.maybeSave()
		var err error
		buf, err = f.q.Wait(buf[:0])
		if err != nil {
			if errors.Is(err, vnode.ErrClosed) && ctx.Err() != nil {
				return errStopped
			}
			return fmt.Errorf("follow: wait for changes: %w", err)
		}
		f.wakes.Add(1)
		if err := f.apply(buf); err != nil {
			return err
		}
	}
}

// start makes the follower's state, finds the files and reads what they
// hold up to where following begins.
func (f *Follower) start(out func(Line) error) error {
	f.out = out
	if f.o.Multiline != nil {
		f.userOut, f.out = out, f.recordLine
		f.records = make(map[string]*record)
	}
	f.dirs = make(map[string]*dirWatch)
	f.dirByID = make(map[vnode.ID]*dirWatch)
	f.byName = make(map[string]*tfile)
	f.byIdent = make(map[ident]*tfile)
	f.byID = make(map[vnode.ID]*tfile)
	f.said = make(map[string]string)
	f.readBuf = make([]byte, readBufSize)
	f.fpBuf = make([]byte, fingerprintLen)

	// Timers first: on Linux each is a descriptor, made when first armed,
	// and a glob of more files than the open-files limit allows must not
	// take the last one (the files that do not fit are retried; a missing
	// timer would end Run). Arming and stopping the grace timer makes it.
	if err := f.q.SetTimer(timerRecheck, recheckInterval); err != nil {
		return fmt.Errorf("follow: arm the recheck timer: %w", err)
	}
	if err := f.q.SetTimer(timerGrace, time.Hour); err != nil {
		return fmt.Errorf("follow: make the grace timer: %w", err)
	}
	f.q.StopTimer(timerGrace)
	if err := f.loadState(); err != nil {
		return err
	}
	if err := f.scan(); err != nil {
		return err
	}
	f.started = true
	if len(f.o.Pids) > 0 && !f.anyAlive() {
		return errPidsGone
	}
	return f.flush()
}

// apply acts on one wait's events: files to read, names that may mean
// other files now, timers and overflows.
func (f *Follower) apply(buf []vnode.Event) error {
	f.toLook = f.filesToLook(buf, f.toLook[:0])
	if f.namesMayHaveChanged(buf) {
		// Names first: lines written to a file after it was renamed
		// onto another followed name (while we were stopped, say) are
		// then read under the name it has now. A file rotated away is
		// drained by the scan itself, under its old name.
		if err := f.scan(); err != nil {
			return err
		}
	}
	for _, t := range f.toLook {
		t.queued = false
		if err := t.look(f); err != nil {
			return err
		}
	}
	rescan, err := f.timersAndOverflows(buf)
	if err != nil {
		return err
	}
	if rescan {
		if err := f.scan(); err != nil {
			return err
		}
	}
	if f.rejudge {
		f.rejudge = false
		for _, t := range f.byIdent {
			if t.judging {
				if err := t.look(f); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// filesToLook appends the files that buf's events ask to read, once each,
// in the order the events came.
func (f *Follower) filesToLook(buf []vnode.Event, toLook []*tfile) []*tfile {
	for _, ev := range buf {
		if ev.Kind != vnode.KindRead && ev.Kind != vnode.KindNote {
			continue
		}
		t := f.byID[ev.ID]
		if d := f.dirByID[ev.ID]; d != nil && ev.Name != "" && ev.Op == vnode.ChildNone {
			// A write seen through the directory: a second opinion on
			// the file's own read events, which a stat-based backend can
			// miss when two appends have the same size.
			t = f.byName[filepath.Join(d.path, ev.Name)]
		}
		if t != nil && !t.queued {
			t.queued = true
			toLook = append(toLook, t)
		}
	}
	return toLook
}

// namesMayHaveChanged reports whether buf holds a note after which a
// followed name may lead to another file.
func (f *Follower) namesMayHaveChanged(buf []vnode.Event) bool {
	for _, ev := range buf {
		if ev.Kind != vnode.KindNote {
			continue
		}
		if d := f.dirByID[ev.ID]; d != nil {
			// A child written in place is the followed file's own
			// business (its read events); anything else may change what
			// the names mean.
			if ev.Name == "" || ev.Op != vnode.ChildNone {
				return true
			}
			continue
		}
		if t := f.byID[ev.ID]; t != nil &&
			ev.Notes&(vnode.NoteDelete|vnode.NoteRename|vnode.NoteRevoke|vnode.NoteLink|vnode.NoteAttrib) != 0 {
			return true
		}
	}
	return false
}

// timersAndOverflows handles buf's timer expiries and queue overflows; it
// reports whether the names need a rescan.
func (f *Follower) timersAndOverflows(buf []vnode.Event) (rescan bool, err error) {
	for _, ev := range buf {
		switch ev.Kind {
		case vnode.KindOverflow:
			rescan = true
			if err := f.lookAll(); err != nil {
				return false, err
			}
		case vnode.KindTimer:
			switch ev.ID {
			case timerRecheck:
				f.ticks.Add(1)
				rescan = true
				if err := f.lookAll(); err != nil {
					return false, err
				}
				if len(f.o.Pids) > 0 && !f.anyAlive() {
					return false, errPidsGone
				}
				if err := f.q.SetTimer(timerRecheck, recheckInterval); err != nil {
					return false, fmt.Errorf("follow: arm the recheck timer: %w", err)
				}
			case timerState:
				f.stateArmd = false
			case timerRecord:
				if err := f.quietRecords(time.Now()); err != nil {
					return false, err
				}
			case timerGrace:
				f.graceAt = time.Time{}
				if err := f.expire(time.Now()); err != nil {
					return false, err
				}
			}
		}
	}
	return rescan, nil
}

// flush calls Options.Flush.
func (f *Follower) flush() error {
	if f.o.Flush == nil {
		return nil
	}
	return f.o.Flush()
}

// finish flushes after a last read that ended with err.
func (f *Follower) finish(err error) error {
	if err != nil {
		return err
	}
	return f.flush()
}

// stopErr turns a failure caused by the queue closing under us once ctx is
// done (closed files, ErrClosed) into the clean nil return.
func (f *Follower) stopErr(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return nil
	}
	return err
}

func (f *Follower) anyAlive() bool {
	return slices.ContainsFunc(f.o.Pids, alive)
}

func (f *Follower) logf(format string, args ...any) {
	if f.o.Logf != nil {
		f.o.Logf(format, args...)
	}
}

// say tells the user about trouble with name once, until it changes or
// the name is followed again, so that a retry every second does not
// repeat it.
func (f *Follower) say(name, what string, err error, then string) {
	msg := what
	if err != nil {
		msg += ": " + err.Error()
	}
	if f.said[name] == msg {
		return
	}
	f.said[name] = msg
	if f.o.OnError != nil {
		f.o.OnError(&Problem{Path: name, What: what, Err: err})
		return
	}
	f.logf("%s: %s; %s", f.display(name), msg, then)
}

// problem reports an error that concerns the whole follower.
func (f *Follower) problem(err error) {
	if f.o.OnError != nil {
		f.o.OnError(err)
		return
	}
	f.logf("%v", err)
}

// display returns an absolute name the way the user wrote it: relative to
// the working directory when a relative pattern matches it.
func (f *Follower) display(name string) string {
	for _, p := range f.pats {
		if !p.match(name) {
			continue
		}
		if filepath.IsAbs(p.raw) {
			return name
		}
		if rel, err := filepath.Rel(f.cwd, name); err == nil {
			return rel
		}
		return name
	}
	return name
}

// lookAll reads every open file.
func (f *Follower) lookAll() error {
	for _, t := range f.byIdent {
		if err := t.look(f); err != nil {
			return err
		}
	}
	return nil
}

// scan brings the directory watches and the followed files in line with
// what the file system holds now. It places each watch before listing the
// directory, so that a file created in between is seen one way or the
// other.
func (f *Follower) scan() error {
	for _, d := range f.dirs {
		d.seen = false
	}
	matched := make(map[string]ident)
	var order []string
	for _, p := range f.pats {
		if !f.watchChain(p.base) {
			if p.literal && !f.started {
				f.say(p.abs, "not found", nil, "waiting for it to appear")
			}
			continue
		}
		if p.literal {
			f.consider(p.abs, matched, &order, p.literal)
			continue
		}
		f.walk(p, p.base, 0, matched, &order)
	}
	if !f.started {
		f.resumeFirst(matched, order)
	}
	for path, d := range f.dirs {
		if !d.seen {
			f.q.Remove(d.id)
			delete(f.dirs, path)
			f.ndirs.Add(-1)
			delete(f.dirByID, d.id)
		}
	}
	return f.reconcile(matched, order)
}

// watchChain watches dir if it exists and reports true; otherwise it
// watches the deepest ancestor that exists, to learn when the next
// component appears, and reports false.
func (f *Follower) watchChain(dir string) bool {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err == nil && fi.IsDir() {
			ok := f.watchDir(d, fi)
			return ok && d == dir
		}
		if d == "/" || d == "." {
			return false
		}
	}
}

// watchDir makes sure directory path is watched, replacing a watch that is
// on a directory the path no longer names. It reports whether the watch is
// in place.
func (f *Follower) watchDir(path string, fi os.FileInfo) bool {
	id, _ := identOf(fi)
	if d := f.dirs[path]; d != nil {
		if d.ino == id {
			d.seen = true
			return true
		}
		f.q.Remove(d.id)
		delete(f.dirs, path)
		f.ndirs.Add(-1)
		delete(f.dirByID, d.id)
	}
	wid, err := f.q.Watch(path)
	if err != nil {
		var le *vnode.LimitError
		if !errors.As(err, &le) || !le.Polled {
			f.say(path, "cannot watch this directory", err, "will retry")
			return false
		}
		f.problem(err)
	}
	// Stat again after the watch is placed: a directory replaced in
	// between gets the new identity, and the next scan replaces the watch.
	if fi2, err := os.Stat(path); err == nil {
		id, _ = identOf(fi2)
	}
	delete(f.said, path)
	d := &dirWatch{path: path, id: wid, ino: id, seen: true}
	f.dirs[path] = d
	f.ndirs.Add(1)
	f.dirByID[wid] = d
	return true
}

// walk lists dir (depth levels below the pattern's base) for matches and
// subdirectories that may hold matches.
func (f *Follower) walk(p *pattern, dir string, depth int, matched map[string]ident, order *[]string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			// Unreadable for now (out of descriptors, permissions): what
			// we follow below dir is not known to be gone, so it stays.
			f.say(dir, "cannot list this directory", err, "will retry")
			f.keepBelow(dir, matched, order)
		}
		return
	}
	for _, e := range ents {
		full := filepath.Join(dir, e.Name())
		if e.IsDir() {
			if p.descend(depth, e.Name()) {
				if fi, err := os.Stat(full); err == nil && fi.IsDir() && f.watchDir(full, fi) {
					f.walk(p, full, depth+1, matched, order)
				}
			}
			continue
		}
		if p.match(full) {
			f.consider(full, matched, order, false)
		}
	}
}

// keepBelow counts the files followed below dir as still matched, for a
// scan that could not list dir.
func (f *Follower) keepBelow(dir string, matched map[string]ident, order *[]string) {
	prefix := strings.TrimSuffix(dir, "/") + "/"
	for name, t := range f.byName {
		if _, ok := matched[name]; !ok && strings.HasPrefix(name, prefix) {
			matched[name] = t.ino
			*order = append(*order, name)
		}
	}
}

// consider adds name to the matches when it is a regular file (following
// symlinks, as tail does).
func (f *Follower) consider(name string, matched map[string]ident, order *[]string, literal bool) {
	if _, ok := matched[name]; ok {
		return
	}
	fi, err := os.Stat(name)
	if err != nil {
		if literal && !f.started {
			f.say(name, "not found", nil, "waiting for it to appear")
		}
		return
	}
	if !fi.Mode().IsRegular() {
		if literal {
			f.say(name, "not a regular file", nil, "waiting for one to take its name")
		}
		return
	}
	id, ok := identOf(fi)
	if !ok {
		return
	}
	matched[name] = id
	*order = append(*order, name)
}

// reconcile makes byName match the names found: it keeps files whose name
// still means them, moves a known file to the name it now has (no re-read),
// opens new files, and retires files whose name went away or now means
// another file.
func (f *Follower) reconcile(matched map[string]ident, order []string) error {
	// Retire first, draining each old file to EOF, so that its last lines
	// come before the first lines of what replaced it.
	for name, t := range f.byName {
		id, ok := matched[name]
		if ok && id == t.ino {
			continue
		}
		delete(f.byName, name)
		switch {
		case ok:
			f.logf("%s: replaced, following new file", f.display(name))
		default:
			renamed := ""
			for mname, mid := range matched {
				if mid == t.ino {
					renamed = mname
				}
			}
			if renamed != "" {
				// Followed on under its new name (below); lines read
				// from now on carry that name.
				f.logf("%s: renamed to %s", f.display(name), f.display(renamed))
				t.name, t.shown = renamed, f.display(renamed)
				continue
			}
			f.logf("%s: removed", f.display(name))
		}
		if err := f.retire(t); err != nil {
			return err
		}
	}
	for _, name := range order {
		id := matched[name]
		if t := f.byName[name]; t != nil {
			continue
		}
		if t := f.byIdent[id]; t != nil {
			// Known under another name (renamed into a matching name, or
			// a rotated file that also matches): keep reading where we
			// are, under the name it has now.
			if f.byName[t.name] == t {
				delete(f.byName, t.name)
			}
			t.name, t.shown = name, f.display(name)
			t.draining = false
			f.byName[name] = t
			continue
		}
		if err := f.open(name); err != nil {
			return err
		}
	}
	f.armGrace()
	return nil
}

// open starts following name, read from its start, or, during the initial
// scan, from where Last or FromLine say.
func (f *Follower) open(name string) error {
	wid, file, err := f.q.Follow(name)
	if err != nil {
		var le *vnode.LimitError
		if !errors.As(err, &le) || !le.Polled {
			if !errors.Is(err, os.ErrNotExist) {
				f.say(name, "cannot open", err, "will retry")
			}
			return nil
		}
		f.problem(err)
	}
	fi, err := file.Stat()
	if err != nil {
		f.q.Remove(wid)
		return nil
	}
	id, _ := identOf(fi)
	if t := f.byIdent[id]; t != nil {
		// The name changed between the scan and the open, to a file we
		// already follow: keep the one we have.
		f.q.Remove(wid)
		return nil
	}
	t := &tfile{name: name, shown: f.display(name), id: wid, f: file, ino: id}
	delete(f.said, name)
	if f.started {
		// Judged at its first look: it may be a copy of lines already
		// delivered (see judge).
		t.judging = true
		t.judgeUntil = time.Now().Add(copyHold)
	} else {
		start, fromState := f.startFromState(name, id)
		switch {
		case fromState:
			if r, ok := f.resume[id]; ok && r.rotated && r.under != name {
				f.logf("%s: was %s, going on where the last run stopped", t.shown, f.display(r.under))
			}
		case f.o.FromLine > 0:
			start, err = startOfLine(file, f.o.FromLine)
		case f.o.Last < 0:
			start = fi.Size()
		default:
			start, err = startOfLastLines(file, fi.Size(), f.o.Last, f.maxLine)
		}
		if err != nil {
			f.q.Remove(wid)
			return err
		}
		if err := t.startAt(start); err != nil {
			f.q.Remove(wid)
			return err
		}
	}
	f.byName[name] = t
	f.byIdent[id] = t
	f.nfiles.Add(1)
	f.byID[wid] = t
	return t.look(f)
}

// retire drains t to EOF and keeps it open for the grace period, for lines
// its writer appends before it notices the rotation.
func (f *Follower) retire(t *tfile) error {
	if err := t.look(f); err != nil {
		return err
	}
	t.draining = true
	t.deadline = time.Now().Add(f.o.Grace)
	return nil
}

// expire closes the draining files whose grace period is over, after a last
// read, and re-arms the grace timer for the others.
func (f *Follower) expire(now time.Time) error {
	for id, t := range f.byIdent {
		if !t.draining || t.deadline.After(now) {
			continue
		}
		if err := t.look(f); err != nil {
			return err
		}
		if err := t.flushPartial(f.out); err != nil {
			return err
		}
		f.q.Remove(t.id)
		delete(f.byIdent, id)
		f.nfiles.Add(-1)
		delete(f.byID, t.id)
	}
	f.armGrace()
	return nil
}

// armGrace sets the grace timer for the earliest draining deadline.
func (f *Follower) armGrace() {
	var next time.Time
	for _, t := range f.byIdent {
		if t.draining && (next.IsZero() || t.deadline.Before(next)) {
			next = t.deadline
		}
	}
	if next.IsZero() || next.Equal(f.graceAt) {
		return
	}
	d := time.Until(next)
	if d < time.Millisecond {
		d = time.Millisecond
	}
	if err := f.q.SetTimer(timerGrace, d); err == nil {
		f.graceAt = next
	}
}
