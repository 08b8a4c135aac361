package follow

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// recoverFromCopy narrows logrotate's copytruncate window. When t's file
// was truncated, the bytes between our offset and the old end of file were
// usually copied to a sibling (app.log.1, app.log-20261126) just before.
// If a sibling starts with our head fingerprint and holds, just below our
// offset, the very bytes we read last, it is that copy: read the rest of
// the old contents from it, under the same name and offsets. Only what the
// writer appended between the copy and the truncation stays lost.
func (t *tfile) recoverFromCopy(fl *Follower) error {
	if len(t.fp) == 0 || len(t.last) == 0 || t.off < int64(len(t.last)) {
		return nil
	}
	dir, base := filepath.Split(t.name)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	head := make([]byte, len(t.fp))
	tail := make([]byte, len(t.last))
	for _, e := range ents {
		name := e.Name()
		if name == base || !strings.HasPrefix(name, base) || !e.Type().IsRegular() {
			continue
		}
		cand, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		fi, err := cand.Stat()
		if err != nil || fi.Size() <= t.off {
			cand.Close()
			continue
		}
		if id, ok := identOf(fi); ok && id == t.ino {
			cand.Close()
			continue
		}
		_, err1 := cand.ReadAt(head, 0)
		_, err2 := cand.ReadAt(tail, t.off-int64(len(tail)))
		if err1 != nil || err2 != nil || !bytes.Equal(head, t.fp) || !bytes.Equal(tail, t.last) {
			cand.Close()
			continue
		}
		err = t.readCopy(fl, cand, fi.Size())
		cand.Close()
		return err
	}
	return nil
}

// readCopy delivers the copy's bytes from t's offset to size.
func (t *tfile) readCopy(fl *Follower, cand *os.File, size int64) error {
	from := t.off
	for t.off < size {
		b := fl.readBuf
		if rest := size - t.off; rest < int64(len(b)) {
			b = b[:rest]
		}
		n, err := cand.ReadAt(b, t.off)
		if n > 0 {
			t.remember(b[:n])
			if err := t.consumeChunks(b[:n], fl.maxLine, fl.out, fl.o.Chunks); err != nil {
				return err
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return fmt.Errorf("follow: read the copy %s of %s: %w", cand.Name(), t.name, err)
		}
	}
	fl.logf("%s: read %d bytes written before the truncation from its copy %s", fl.display(t.name), t.off-from, fl.display(cand.Name()))
	return nil
}

// generation is what was read of a file's contents before they were
// truncated away: enough to recognise a copy of them that shows up later.
type generation struct {
	fp   []byte    // the first bytes, up to fingerprintLen (all of them below off when shorter)
	last []byte    // the bytes just below off
	off  int64     // how far they were read
	at   time.Time // when the truncation was seen
}

// maxGenerations bounds the remembered generations.
const maxGenerations = 64

// fpWhole reports whether t's fingerprint covers what a copy of the bytes
// read so far must start with: fingerprintLen bytes, or all of them.
func (t *tfile) fpWhole() bool {
	return t.off > 0 && int64(len(t.fp)) == min(t.off, fingerprintLen)
}

// remember records t's contents as of now, before a truncation drops them.
func (fl *Follower) rememberGeneration(t *tfile) {
	if !t.fpWhole() || len(t.last) == 0 {
		return
	}
	g := generation{fp: bytes.Clone(t.fp), last: bytes.Clone(t.last), off: t.off, at: time.Now()}
	if len(fl.gens) == maxGenerations {
		fl.gens = append(fl.gens[:0], fl.gens[1:]...)
	}
	fl.gens = append(fl.gens, g)
	// A file held back as a possible copy may be a copy of exactly this.
	fl.rejudge = true
}

// copyHold is how long a file that appeared with contents that may be the
// start of a copy of what was read elsewhere is held back, waiting for the
// copier to write enough to tell. A file that turns out otherwise is read
// from its start, so holding it delays its lines but loses none.
const copyHold = 5 * time.Second

// shortGenLife is how long a generation shorter than fingerprintLen may
// claim a file that appears: its few bytes (one CSV header line, say) are
// no proof on their own, but a copy appears around its truncation.
const shortGenLife = 2 * copyHold

// verdict is what judge decides about a file that appeared.
type verdict int

const (
	fresh      verdict = iota // a new file: read it from its start
	hold                      // may be a copy in the making: look again later
	copyAt                    // a copy: start at the offset judge returns
	silentCopy                // a copy of a followed file: skip all it holds
)

// judge tells whether t, a file that appeared while following, holds a copy
// of lines already delivered from another file: copytruncate's app.log.1,
// or logrotate's copy mode. A copy has the same first bytes as the original
// and, where the two overlap, the same bytes at the same offsets (checked
// on the last lastLen bytes of the copy, or of what was read of a truncated
// original). The follower then starts it past what was delivered, so that
// a glob that matches the copies does not repeat lines.
//
// A copy of a file still followed whose first fingerprintLen bytes match is
// skipped entirely: whatever it holds is read, or will be read, from the
// original. When less than that was read (a small file), equal bytes are
// no proof: a new file with the same header line looks the same. Such a
// file is held until the original's truncation shows it to be a copy, and
// read from its start when none comes within copyHold.
func (fl *Follower) judge(t *tfile, size int64) (verdict, int64) {
	n := min(size, fingerprintLen)
	head := make([]byte, n)
	if _, err := t.f.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
		return fresh, 0
	}
	maybe := false
	win := make([]byte, lastLen)
	orig := make([]byte, lastLen)
	for _, o := range fl.byIdent {
		if o == t || o.silent || o.judging || !o.fpWhole() {
			continue
		}
		// An empty file may be a copy not yet written: held too.
		m := min(n, int64(len(o.fp)))
		if !bytes.Equal(head[:m], o.fp[:m]) {
			continue
		}
		if len(o.fp) < fingerprintLen || size < fingerprintLen {
			maybe = true
			continue
		}
		if _, err := t.f.ReadAt(win, size-lastLen); err != nil {
			continue
		}
		if _, err := o.f.ReadAt(orig, size-lastLen); err == nil && bytes.Equal(win, orig) {
			if size >= o.off {
				return silentCopy, size
			}
			maybe = true
			continue
		}
		// No match, unless the original was truncated since it was last
		// read: then the truncation is yet to be handled, and with it
		// the remembered generation that may match.
		o1 := orig[:min(len(orig), len(o.fp))]
		if _, err := o.f.ReadAt(o1, 0); err != nil || !bytes.Equal(o1, o.fp[:len(o1)]) {
			maybe = true
		}
	}
	now := time.Now()
	for i := len(fl.gens) - 1; i >= 0; i-- {
		g := fl.gens[i]
		if len(g.fp) < fingerprintLen && now.Sub(g.at) > shortGenLife {
			continue
		}
		m := min(n, int64(len(g.fp)))
		if !bytes.Equal(head[:m], g.fp[:m]) {
			continue
		}
		if size < g.off {
			maybe = true
			continue
		}
		b := win[:len(g.last)]
		if _, err := t.f.ReadAt(b, g.off-int64(len(b))); err == nil && bytes.Equal(b, g.last) {
			return copyAt, g.off
		}
	}
	if maybe && now.Before(t.judgeUntil) {
		return hold, 0
	}
	return fresh, 0
}

// decide applies judge's verdict to t, which just appeared, and says
// whether to read it now.
func (t *tfile) decide(fl *Follower, size int64) (bool, error) {
	v, off := fl.judge(t, size)
	switch v {
	case hold:
		return false, nil
	case fresh:
		t.judging = false
		fl.logf("%s: appeared, following", fl.display(t.name))
		return true, nil
	}
	t.judging = false
	t.silent = v == silentCopy
	if t.silent {
		fl.logf("%s: appeared; a copy of a file already followed, not shown again", fl.display(t.name))
	} else {
		fl.logf("%s: appeared; a copy of lines already shown, following it from offset %d", fl.display(t.name), off)
	}
	if err := t.startAt(off); err != nil {
		return false, err
	}
	return !t.silent, nil
}
