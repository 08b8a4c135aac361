package watcher

import (
	"io/fs"
	"os"
	"time"
)

// A writer closing a file (inotify's IN_CLOSE_WRITE, vnode.NoteCloseWrite)
// is not a change by itself. Reported as a write, it turns `exec 3>>f; …;
// exec 3>&-` into a second write batch for a window in which nothing
// changed, and a close followed by a chmod into a write that hides the
// chmod. It still matters for one kind of writer: one that writes through
// mmap raises no write note, and its close (or the mtime its page faults
// and msync set) is all there is to see.
//
// So a close is judged against what the watcher last accounted for: the
// size and mtime of every file it
// reported, taken when the batch that reported it closed (prints). A close
// counts as a write when the size or the mtime differ, and as nothing
// otherwise: every write, mmap's included, moves the mtime, and a change of
// metadata alone (a chmod, which moves only the ctime) raises its own
// attribute note. A file not reported since the crawl has no print (the
// crawl reads directories, it does not stat files); it counts as written
// when its mtime is not older than the crawl, less a slack for the kernel's
// tick-grained file clock (and two seconds on file systems whose times have
// no sub-second part). The prints are bounded: past maxPrints they are
// dropped and the crawl's time is moved up to now, which is what a fresh
// crawl would give.

// fprint is what a file looked like when the watcher last accounted for it.
type fprint struct{ size, mtime int64 }

func fprintOf(fi fs.FileInfo) fprint {
	return fprint{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
}

const (
	// maxPrints bounds the prints kept (a few MB at most).
	maxPrints = 1 << 16
	// tickSlack allows for the kernel's file clock, which lags the clock
	// the watcher reads by up to a tick (10 ms at HZ=100).
	tickSlack = 20 * time.Millisecond
	// coarseSlack is for file systems whose times are whole seconds (two
	// on FAT).
	coarseSlack = 2 * time.Second
)

// newerThan reports whether a file time (ns) is not older than since,
// allowing for the file clock's coarseness.
func newerThan(t int64, since time.Time) bool {
	slack := tickSlack
	if t%int64(time.Second) == 0 {
		slack = coarseSlack
	}
	return t >= since.Add(-slack).UnixNano()
}

// startPrints begins keeping prints, when the backend reports closes.
func (r *run) startPrints(crawlStart time.Time) {
	if !r.caps.CloseWrites || r.q == nil {
		return
	}
	r.prints = map[string]fprint{}
	r.printsSince = crawlStart
}

// closedAfterWrite handles a writer's close of the file at path (kind k,
// inode ino in the index); stat is os.Lstat, or os.Stat for a file reached
// through a symlink root. It reports whether the close was recorded as a
// write.
func (r *run) closedAfterWrite(path string, k kind, ino uint64, stat func(string) (fs.FileInfo, error)) bool {
	if r.cur == nil || r.prints == nil {
		return false
	}
	if rc := r.cur.recs[path]; rc != nil && (rc.wrote || rc.replaced || rc.startKind == kNone || rc.startIno != rc.nowIno) {
		return false // already a write or a create in this batch
	}
	fi, err := stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return false // gone or replaced: the directory's events say so
	}
	cur := fprintOf(fi)
	was, known := r.prints[path]
	if known && cur.size == was.size && cur.mtime == was.mtime || !known && !newerThan(cur.mtime, r.printsSince) {
		return false
	}
	r.recWrite(path, k, ino)
	return true
}

// takePrints records how the files a batch reported look now, the baseline
// the next close of each is judged against.
func (r *run) takePrints(changes []Change, p *pending, now time.Time) {
	if r.prints == nil {
		return
	}
	if len(r.prints) >= maxPrints {
		clear(r.prints)
		r.printsSince = now
	}
	for _, c := range changes {
		switch c.Op {
		case Chmod:
			continue // size and mtime are as they were
		case Rename:
			delete(r.prints, c.Old)
		}
		rc := p.recs[c.Path]
		if c.Op == Remove || rc == nil {
			delete(r.prints, c.Path)
			continue
		}
		stat := os.Lstat
		if lr := r.linkRoot(c.Path); lr != nil {
			stat = os.Stat
		} else if rc.nowKind != kFile {
			delete(r.prints, c.Path)
			continue
		}
		if fi, err := stat(c.Path); err == nil && fi.Mode().IsRegular() {
			r.prints[c.Path] = fprintOf(fi)
		} else {
			delete(r.prints, c.Path)
		}
	}
}
