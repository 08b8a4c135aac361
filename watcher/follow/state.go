package follow

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// The state file (Options.State) lets a restarted follower go on where the
// last one stopped. It is JSON:
//
//	{"format": "vigil-follow-state", "version": 1, "saved": "2026-12-04T17:00:00Z",
//	 "files": [{"name": "/var/log/app.log", "dev": 2049, "ino": 131, "offset": 4096,
//	            "head": "<base64>", "last": "<base64>"}]}
//
// One entry per open file, rotated-away files still drained included:
// name is the name its lines are reported under, dev and ino its identity,
// offset how far its lines were delivered (and flushed), head its first
// bytes (up to 256; all of them for a shorter file) and last the bytes just
// below offset (up to 64). A file is known again by identity, confirmed by
// head and last; a copy (copytruncate) by head and last alone.
//
// It is written to a temporary file in the same directory, synced and
// renamed over the old one, so a crash leaves the old state or the new,
// never half of one. It is saved once the lines read have been flushed,
// at most once per Options.StateInterval, and when Run returns.

// stateFormat marks a state file as ours; anything else is not overwritten.
const stateFormat = "vigil-follow-state"

// stateVersion is the version of the layout above.
const stateVersion = 1

// DefaultStateInterval is the shortest time between two saves of the state
// when Options.StateInterval is zero: after a SIGKILL, at most the lines
// shown in the last interval are shown again.
const DefaultStateInterval = 200 * time.Millisecond

type stateDoc struct {
	Format  string       `json:"format"`
	Version int          `json:"version"`
	Saved   time.Time    `json:"saved"`
	Files   []stateEntry `json:"files"`
}

type stateEntry struct {
	Name   string `json:"name"`
	Dev    uint64 `json:"dev"`
	Ino    uint64 `json:"ino"`
	Offset int64  `json:"offset"`
	Head   []byte `json:"head"`
	Last   []byte `json:"last"`
}

// StateError is a state file that cannot be used: unreadable, not JSON, or
// written by something else. The follower starts as if there were none and
// does not write it.
type StateError struct {
	Path string
	Err  error
}

// Error says which state file cannot be used, why, and what happens instead.
func (e *StateError) Error() string {
	return fmt.Sprintf("state %s: %v; starting without it, and not overwriting it", e.Path, e.Err)
}

// Unwrap returns the cause, for errors.Is (fs.ErrPermission, say).
func (e *StateError) Unwrap() error { return e.Err }

// resumeAt is where a file found again from the state starts.
type resumeAt struct {
	off     int64
	rotated bool   // found under another name or as a copy: read first
	under   string // the name its lines are reported under when no pattern matches it
}

// readState reads the state file. A missing or empty one is no state and
// no error.
func readState(path string) (*stateDoc, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, &StateError{Path: path, Err: err}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	var doc stateDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, &StateError{Path: path, Err: fmt.Errorf("not a vigil state file: %w", err)}
	}
	if doc.Format != stateFormat {
		return nil, &StateError{Path: path, Err: errors.New("not a vigil state file")}
	}
	if doc.Version != stateVersion {
		return nil, &StateError{Path: path, Err: fmt.Errorf("state version %d, this vigil reads %d", doc.Version, stateVersion)}
	}
	for _, e := range doc.Files {
		if !filepath.IsAbs(e.Name) || e.Offset < 0 || len(e.Head) > fingerprintLen || len(e.Last) > lastLen {
			return nil, &StateError{Path: path, Err: errors.New("malformed entry")}
		}
	}
	return &doc, nil
}

// planResume finds the files the state names: under their name, renamed
// within their directory, or copied there (copytruncate). It fills
// f.resume and f.known, and returns rotated files that no pattern matches:
// they are drained first, under the name they had.
func (f *Follower) planResume(doc *stateDoc) []drainPlan {
	f.resume = make(map[ident]resumeAt)
	f.known = make(map[string]bool)
	var drains []drainPlan
	for _, e := range doc.Files {
		f.known[e.Name] = true
		id := ident{dev: e.Dev, ino: e.Ino}
		if path, found, ok := f.findState(e, id); ok {
			f.claim(e, path, found, &drains)
		}
	}
	return drains
}

// drainPlan is a rotated file to read before the scan.
type drainPlan struct {
	path  string
	under string
	off   int64
}

// findState looks for the file of entry e: the same identity with the same
// head and the same bytes below the offset, under its name or another in
// its directory; failing that, a copy of it there. It returns the path
// and the identity of what it found.
func (f *Follower) findState(e stateEntry, id ident) (string, ident, bool) {
	if fileIs(e.Name, e, &id, false) {
		return e.Name, id, true
	}
	dir := filepath.Dir(e.Name)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", id, false
	}
	for _, de := range ents {
		if de.Type().IsRegular() && fileIs(filepath.Join(dir, de.Name()), e, &id, false) {
			return filepath.Join(dir, de.Name()), id, true
		}
	}
	if e.Offset == 0 {
		return "", id, false // nothing was read: the name's file is read from 0
	}
	for _, de := range ents {
		p := filepath.Join(dir, de.Name())
		cid := id
		if de.Type().IsRegular() && p != e.Name && fileIs(p, e, &cid, true) {
			return p, cid, true
		}
	}
	return "", id, false
}

// fileIs reports whether the file at path is e's file (identity *id), or,
// with copy, a copy of it (any identity, returned in *id): its head starts
// with e.Head and the bytes below e.Offset are e.Last.
func fileIs(path string, e stateEntry, id *ident, copy bool) bool {
	file, err := os.Open(path)
	if err != nil {
		return false
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return false
	}
	got, ok := identOf(fi)
	if !ok || (got == *id) == copy || fi.Size() < e.Offset {
		return false
	}
	if copy && len(e.Head) == 0 {
		return false
	}
	buf := make([]byte, len(e.Head))
	if _, err := file.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) || !bytes.Equal(buf, e.Head) {
		return false
	}
	if len(e.Last) > 0 {
		buf = make([]byte, len(e.Last))
		if _, err := file.ReadAt(buf, e.Offset-int64(len(buf))); err != nil && !errors.Is(err, io.EOF) || !bytes.Equal(buf, e.Last) {
			return false
		}
	}
	*id = got
	return true
}

// claim records where the file found at path for entry e starts.
func (f *Follower) claim(e stateEntry, path string, id ident, drains *[]drainPlan) {
	if _, ok := f.resume[id]; ok {
		return // claimed by an earlier entry
	}
	rotated := path != e.Name
	f.resume[id] = resumeAt{off: e.Offset, rotated: rotated, under: e.Name}
	if rotated && !f.matchesAny(path) {
		*drains = append(*drains, drainPlan{path: path, under: e.Name, off: e.Offset})
	}
}

// matchesAny reports whether some pattern matches the absolute path.
func (f *Follower) matchesAny(path string) bool {
	return slices.ContainsFunc(f.pats, func(p *pattern) bool { return p.match(path) })
}

// drainFirst opens a rotated file from the state that no pattern matches,
// reads it from where the last run stopped, and keeps draining it for the
// grace period under the name it had.
func (f *Follower) drainFirst(d drainPlan) error {
	wid, file, err := f.q.Follow(d.path)
	if err != nil {
		return nil // gone meanwhile: nothing to do
	}
	fi, err := file.Stat()
	if err != nil {
		f.q.Remove(wid)
		return nil
	}
	id, _ := identOf(fi)
	if f.byIdent[id] != nil {
		f.q.Remove(wid)
		return nil
	}
	t := &tfile{name: d.under, shown: f.display(d.under), id: wid, f: file, ino: id}
	if err := t.startAt(d.off); err != nil {
		f.q.Remove(wid)
		return err
	}
	f.logf("%s: rotated to %s while stopped; reading the rest of it first", t.shown, d.path)
	f.byIdent[id] = t
	f.nfiles.Add(1)
	f.byID[wid] = t
	return f.retire(t)
}

// startFromState returns where a file found at the start, named name with
// identity id, starts according to the state, and whether the state says
// anything about it: a file it knows starts where the last run stopped, a
// new file under a name it knows starts at 0 (it was written while the
// follower was stopped).
func (f *Follower) startFromState(name string, id ident) (int64, bool) {
	if r, ok := f.resume[id]; ok {
		return r.off, true
	}
	if f.known[name] {
		return 0, true
	}
	return 0, false
}

// resumeFirst orders the names of the initial scan so that files found
// rotated are read before what now holds their old names.
func (f *Follower) resumeFirst(matched map[string]ident, order []string) {
	if len(f.resume) == 0 {
		return
	}
	slices.SortStableFunc(order, func(a, b string) int {
		ra, rb := f.resume[matched[a]].rotated, f.resume[matched[b]].rotated
		switch {
		case ra && !rb:
			return -1
		case rb && !ra:
			return 1
		}
		return 0
	})
}

// saveState writes the state of every open file, atomically, once the
// background saves are done (so that it is the last word).
func (f *Follower) saveState() error {
	f.stopSaver()
	data, err := f.encodeState()
	if err != nil {
		return err
	}
	return writeAtomic(f.o.State, data)
}

// encodeState returns the state of every open file.
func (f *Follower) encodeState() ([]byte, error) {
	doc := stateDoc{Format: stateFormat, Version: stateVersion, Saved: time.Now().UTC(), Files: []stateEntry{}}
	for _, t := range f.byIdent {
		if t.judging {
			continue // not known yet to be more than a copy: the next run judges it
		}
		off := t.off
		if len(t.partial) > 0 {
			off = t.partialOff // the waiting line was not shown: read it again
		}
		if at, ok := f.recordStart(t.ino); ok && at < off {
			off = at // a record being gathered was not shown either
		}
		e := stateEntry{Name: t.name, Dev: t.ino.dev, Ino: t.ino.ino, Offset: off}
		t.stateBytes(&e)
		doc.Files = append(doc.Files, e)
	}
	slices.SortFunc(doc.Files, func(a, b stateEntry) int {
		if a.Name != b.Name {
			if a.Name < b.Name {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Ino, b.Ino)
	})
	data, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("follow: encode the state: %w", err)
	}
	return data, nil
}

// saver writes states in the background, so that the follower does not
// wait for the disk (fsync takes milliseconds): one write at a time, in
// order, and a state that comes while one is written replaces any older
// one still waiting.
type saver struct {
	ch   chan []byte
	done chan struct{}
	mu   sync.Mutex
	err  error // the last write's failure, nil once one succeeds
}

// saveAsync hands data to the saver, starting it if needed.
func (f *Follower) saveAsync(data []byte) {
	if f.saver == nil {
		s := &saver{ch: make(chan []byte, 1), done: make(chan struct{})}
		path := f.o.State
		go func() {
			defer close(s.done)
			for data := range s.ch {
				err := writeAtomic(path, data)
				s.mu.Lock()
				s.err = err
				s.mu.Unlock()
			}
		}()
		f.saver = s
	}
	select {
	case f.saver.ch <- data:
	default:
		select {
		case <-f.saver.ch: // an older state not written yet: drop it
		default:
		}
		f.saver.ch <- data // only this goroutine sends: there is room now
	}
}

// saverErr returns the last background write's failure.
func (f *Follower) saverErr() error {
	if f.saver == nil {
		return nil
	}
	f.saver.mu.Lock()
	defer f.saver.mu.Unlock()
	return f.saver.err
}

// stopSaver waits for the background writes to end.
func (f *Follower) stopSaver() {
	if f.saver == nil {
		return
	}
	close(f.saver.ch)
	<-f.saver.done
	f.saver = nil
}

// stateBytes fills e's head and last from what t read below e.Offset,
// from memory: the queue may be closing the files already.
func (t *tfile) stateBytes(e *stateEntry) {
	e.Head = t.fp[:min(int64(len(t.fp)), e.Offset)]
	cut := t.off - e.Offset // bytes of a waiting partial line at the end of last
	if cut < int64(len(t.last)) {
		e.Last = t.last[:int64(len(t.last))-cut]
	}
}

// writeAtomic replaces path with data: a temporary file in the same
// directory, synced, renamed over it, and the directory synced.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if errors.Is(err, os.ErrNotExist) {
		if os.MkdirAll(dir, 0o755) == nil {
			tmp, err = os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
		}
	}
	if err != nil {
		return fmt.Errorf("follow: save the state: %w", err)
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("follow: save the state to %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // best effort: the rename is durable once the directory is
		d.Close()
	}
	return nil
}

// loadState reads Options.State, if set, plans the resume, and drains the
// rotated files no pattern matches. An unusable state file is reported and
// left alone: the follower starts as if there were none and saves nothing.
func (f *Follower) loadState() error {
	if f.o.State == "" {
		return nil
	}
	doc, err := readState(f.o.State)
	if err != nil {
		f.problem(err)
		return nil
	}
	f.stateOn = true
	if doc == nil {
		return nil
	}
	for _, d := range f.planResume(doc) {
		if err := f.drainFirst(d); err != nil {
			return err
		}
	}
	return nil
}

// maybeSave saves the state when lines were delivered since the last
// save, at most once per StateInterval; a save that is not due yet is left
// to the state timer. Called once the lines read are flushed.
func (f *Follower) maybeSave() {
	if !f.stateOn {
		return
	}
	if !f.stateDue {
		f.stateDue = f.delivered()
		if !f.stateDue {
			return
		}
	}
	if wait := f.o.StateInterval - time.Since(f.savedAt); wait > 0 {
		if !f.stateArmd && f.q.SetTimer(timerState, wait) == nil {
			f.stateArmd = true
		}
		return
	}
	f.stateDue = false
	f.savedAt = time.Now()
	if err := f.saverErr(); err != nil {
		if msg := err.Error(); msg != f.saveErr {
			f.saveErr = msg // told once, until it changes
			f.problem(err)
		}
	} else {
		f.saveErr = ""
	}
	data, err := f.encodeState()
	if err != nil {
		f.problem(err)
		return
	}
	f.saveAsync(data)
	f.savedN = len(f.byIdent)
	for _, t := range f.byIdent {
		t.savedOff, t.savedName = t.off, t.name
	}
}

// delivered reports whether any file moved since the last save.
func (f *Follower) delivered() bool {
	if len(f.byIdent) != f.savedN {
		return true
	}
	for _, t := range f.byIdent {
		if t.off != t.savedOff || t.name != t.savedName {
			return true
		}
	}
	return false
}
