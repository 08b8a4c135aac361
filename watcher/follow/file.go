package follow

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/vigil-watch/vigil/vnode"
)

// ident names a file by device and inode. The follower holds a descriptor
// on every file it tracks, so the kernel cannot hand the inode number to a
// new file while the pair is in use here.
type ident struct{ dev, ino uint64 }

// fingerprintLen is how much of a file's head is remembered: to notice a
// truncation that was followed by enough writes to pass the old offset
// before the follower looked again (GNU tail misses this case), to
// recognise copies, and to confirm a file's identity after a restart. A
// shorter file's fingerprint is all of it, kept with its length, so that a
// small or empty file has one too and still matches once it has grown.
const fingerprintLen = 256

// lastLen is how many of the bytes just below the read offset are
// remembered: where a copy of the file must hold the same bytes.
const lastLen = 64

// readBufSize is the chunk read per system call.
const readBufSize = 256 << 10

// tfile is one open file the follower reads: the file a name currently
// means, or a rotated-away file drained during the grace period.
type tfile struct {
	name  string // absolute name lines are reported under
	shown string // name as the user wrote it (Line.Name)
	id    vnode.ID
	f     *os.File
	ino   ident

	off        int64  // read offset: bytes consumed so far
	partial    []byte // bytes of a line still waiting for its newline
	partialOff int64  // offset of partial's first byte
	fp         []byte // the file's first bytes, up to fingerprintLen, all below off
	last       []byte // the bytes just below off, up to lastLen

	draining   bool      // no longer what its name means; read until deadline
	queued     bool      // in the current batch's list of files to look at
	silent     bool      // a copy of a followed file: skip what it holds
	judging    bool      // appeared while following: not yet known to be no copy
	judgeUntil time.Time // when to stop waiting to tell
	deadline   time.Time // end of the grace period while draining

	savedOff  int64 // off and name as of the last save of the state
	savedName string
}

// emitter delivers lines; it is the follower's out with the error kept.
type emitter func(Line) error

// look reads whatever lies between the offset and EOF, after checking that
// the file was not truncated behind the offset. It returns the first error
// from emit unchanged so that the caller can stop at once.
func (t *tfile) look(fl *Follower) error {
	fl.cur = t
	fi, err := t.f.Stat()
	if err != nil {
		return fmt.Errorf("follow: stat %s: %w", t.name, err)
	}
	if t.silent {
		// Everything a copy holds is read from its original.
		if fi.Size() != t.off {
			if _, err := t.f.Seek(fi.Size(), io.SeekStart); err != nil {
				return fmt.Errorf("follow: skip the copy %s: %w", t.name, err)
			}
			t.off = fi.Size()
		}
		return nil
	}
	if t.judging {
		read, err := t.decide(fl, fi.Size())
		if err != nil || !read {
			return err
		}
	}
	truncated := fi.Size() < t.off
	if !truncated && len(t.fp) > 0 {
		head := fl.fpBuf[:len(t.fp)]
		n, err := t.f.ReadAt(head, 0)
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("follow: read the head of %s: %w", t.name, err)
		}
		truncated = !bytes.Equal(head[:n], t.fp)
	}
	if truncated {
		fl.logf("%s: file truncated", fl.display(t.name))
		if !t.draining {
			if err := t.recoverFromCopy(fl); err != nil {
				return err
			}
		}
		fl.rememberGeneration(t)
		// Whatever was waiting for a newline belongs to the old contents:
		// deliver it rather than glue it to the new first line.
		if err := t.flushPartial(fl.out); err != nil {
			return err
		}
		if _, err := t.f.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("follow: rewind truncated %s: %w", t.name, err)
		}
		t.off = 0
		t.fp = t.fp[:0]
		t.last = t.last[:0]
	}
	return t.readToEOF(fl)
}

// readToEOF reads from the current offset until a read returns nothing.
func (t *tfile) readToEOF(fl *Follower) error {
	for {
		n, err := t.f.Read(fl.readBuf)
		if n > 0 {
			t.remember(fl.readBuf[:n])
			if err := t.consumeChunks(fl.readBuf[:n], fl.maxLine, fl.out, fl.o.Chunks); err != nil {
				return err
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return fmt.Errorf("follow: read %s at offset %d: %w", t.name, t.off, err)
		}
		if n == 0 {
			break
		}
	}
	return nil
}

// growFingerprint extends the fingerprint with b, just read at t's offset,
// while it still covers every byte below the offset. It is built from what
// was read rather than by reading the head again afterwards: by then the
// file may have been truncated and rewritten, and a fingerprint of the new
// contents would hide the old ones from copy detection (see judge).
func (t *tfile) growFingerprint(b []byte) {
	if len(t.fp) >= fingerprintLen || int64(len(t.fp)) != t.off {
		return
	}
	if cap(t.fp) < fingerprintLen {
		t.fp = append(make([]byte, 0, fingerprintLen), t.fp...)
	}
	t.fp = append(t.fp, b[:min(len(b), fingerprintLen-len(t.fp))]...)
}

// startAt moves the read offset of a file just opened to start.
func (t *tfile) startAt(start int64) error {
	if _, err := t.f.Seek(start, io.SeekStart); err != nil {
		return fmt.Errorf("follow: seek %s to %d: %w", t.name, start, err)
	}
	t.off = start
	if start > 0 {
		// What lies just below the start identifies a copy of this file
		// should it be copied and truncated (see recoverFromCopy).
		last := make([]byte, min(start, lastLen))
		if _, err := t.f.ReadAt(last, start-int64(len(last))); err == nil {
			t.last = last
		}
	}
	return t.refreshFingerprint()
}

// remember records b, just read at t's offset, to recognise a copy of the
// file later: the last lastLen bytes read, and the fingerprint while it is
// short (see growFingerprint).
func (t *tfile) remember(b []byte) {
	t.growFingerprint(b)
	if len(b) >= lastLen {
		t.last = append(t.last[:0], b[len(b)-lastLen:]...)
		return
	}
	t.last = append(t.last, b...)
	if over := len(t.last) - lastLen; over > 0 {
		t.last = append(t.last[:0], t.last[over:]...)
	}
}

// refreshFingerprint re-reads the head, up to the offset.
func (t *tfile) refreshFingerprint() error {
	want := int64(fingerprintLen)
	if t.off < want {
		want = t.off
	}
	if cap(t.fp) < fingerprintLen {
		t.fp = make([]byte, 0, fingerprintLen)
	}
	buf := t.fp[:want]
	n, err := t.f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("follow: read the head of %s: %w", t.name, err)
	}
	t.fp = buf[:n]
	return nil
}

// consume splits freshly read bytes into lines, keeping an unfinished last
// line for later unless it has grown past maxLine.
func (t *tfile) consume(b []byte, maxLine int, emit emitter) error {
	return t.consumeChunks(b, maxLine, emit, nil)
}

// consumeChunks is consume that, when chunk is not nil, hands runs of whole
// lines to chunk as they lie in b, without splitting them: only a line that
// completes a waiting partial line, or one longer than maxLine, goes to
// emit. The order of the file is kept across both.
func (t *tfile) consumeChunks(b []byte, maxLine int, emit emitter, chunk func(Chunk) error) error {
	// end is where the whole lines of b end, and maxLine's rule needs a
	// line-by-line check only when that span is longer than one line may be.
	end := 0
	if chunk != nil {
		end = bytes.LastIndexByte(b, '\n') + 1
	}
	for len(b) > 0 {
		if chunk == nil && len(t.partial) == 0 {
			n, err := t.consumeBlock(b, maxLine, emit)
			if err != nil {
				return err
			}
			if n > 0 {
				b = b[n:]
				continue
			}
		}
		if end > 0 && len(t.partial) == 0 {
			n := end
			if n > maxLine+1 {
				n = wholeLines(b[:end], maxLine)
			}
			if n > 0 {
				if err := chunk(Chunk{File: t.name, Name: t.shown, Text: b[:n], Offset: t.off}); err != nil {
					return err
				}
				t.off += int64(n)
				b, end = b[n:], end-n
				continue
			}
		}
		rest, err := t.consumeLine(b, maxLine, emit)
		if err != nil {
			return err
		}
		end = max(end-(len(b)-len(rest)), 0)
		b = rest
	}
	return nil
}

// lineBlock bounds the whole lines copied into one string by consumeBlock:
// one allocation for many short lines, while a Line a consumer keeps keeps
// at most this much memory alive.
const lineBlock = 4 << 10

// consumeBlock delivers the whole lines at the head of b that fit in
// lineBlock bytes, their texts sharing one string, and returns how many
// bytes it took: none when the first line is longer (consumeLine takes it).
func (t *tfile) consumeBlock(b []byte, maxLine int, emit emitter) (int, error) {
	k := bytes.LastIndexByte(b[:min(len(b), lineBlock)], '\n')
	if k < 0 {
		return 0, nil
	}
	s := string(b[:k+1])
	n := 0
	for n < len(s) {
		i := strings.IndexByte(s[n:], '\n')
		l := Line{File: t.name, Name: t.shown, Text: s[n : n+i], Offset: t.off}
		t.off += int64(i) + 1
		n += i + 1
		if err := emitCut(l, maxLine, emit); err != nil {
			return n, err
		}
	}
	return n, nil
}

// wholeLines returns the length of the longest prefix of b made of whole
// lines no longer than maxLine.
func wholeLines(b []byte, maxLine int) int {
	n := 0
	for {
		i := bytes.IndexByte(b[n:], '\n')
		if i < 0 || i > maxLine {
			return n
		}
		n += i + 1
	}
}

// consumeLine takes one line from the head of b, or b's unfinished end,
// and returns what is left of b.
func (t *tfile) consumeLine(b []byte, maxLine int, emit emitter) ([]byte, error) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		if len(t.partial) == 0 {
			t.partialOff = t.off
		}
		take := len(b)
		if room := maxLine - len(t.partial); take > room {
			take = room
		}
		t.partial = append(t.partial, b[:take]...)
		t.off += int64(take)
		b = b[take:]
		if len(t.partial) >= maxLine {
			if err := t.flushPartial(emit); err != nil {
				return nil, err
			}
		}
		return b, nil
	}
	if len(t.partial) > 0 && len(t.partial)+i > maxLine {
		// The newline comes too late for the bound: deliver what
		// waits, then the rest as its own line below.
		if err := t.flushPartial(emit); err != nil {
			return nil, err
		}
	}
	var l Line
	if len(t.partial) > 0 {
		t.partial = append(t.partial, b[:i]...)
		l = Line{File: t.name, Name: t.shown, Text: string(t.partial), Offset: t.partialOff}
		t.partial = t.partial[:0]
	} else {
		l = Line{File: t.name, Name: t.shown, Text: string(b[:i]), Offset: t.off}
	}
	t.off += int64(i) + 1
	b = b[i+1:]
	if err := emitCut(l, maxLine, emit); err != nil {
		return nil, err
	}
	return b, nil
}

// emitCut delivers l, cut into pieces of maxLine bytes when it is longer:
// a line longer than the bound that arrived in one read is cut the same way
// a waiting partial line is.
func emitCut(l Line, maxLine int, emit emitter) error {
	for len(l.Text) > maxLine {
		head := Line{File: l.File, Name: l.Name, Text: l.Text[:maxLine], Offset: l.Offset}
		if err := emit(head); err != nil {
			return err
		}
		l.Text = l.Text[maxLine:]
		l.Offset += int64(maxLine)
	}
	return emit(l)
}

// flushPartial delivers a waiting partial line as it is.
func (t *tfile) flushPartial(emit emitter) error {
	if len(t.partial) == 0 {
		return nil
	}
	l := Line{File: t.name, Name: t.shown, Text: string(t.partial), Offset: t.partialOff}
	t.partial = t.partial[:0]
	return emit(l)
}

// startOfLastLines returns the offset of the first of the last n lines of
// f, whose size is size. A final line without a newline counts as a line,
// as in tail. It scans back at most n*maxLine bytes (so that a huge file
// without newlines, or a sparse hole, is not read whole) and starts there
// when it finds too few newlines in that span.
func startOfLastLines(f *os.File, size int64, n int, maxLine int) (int64, error) {
	if n <= 0 || size == 0 {
		return size, nil
	}
	limit := int64(n) * int64(maxLine)
	floor := size - limit
	if floor < 0 {
		floor = 0
	}
	buf := make([]byte, 64<<10)
	pos := size
	// The newline ending the last line does not start a line.
	need := n
	first := true
	for pos > floor {
		chunk := int64(len(buf))
		if pos-floor < chunk {
			chunk = pos - floor
		}
		pos -= chunk
		b := buf[:chunk]
		if _, err := f.ReadAt(b, pos); err != nil && !errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("follow: read %s at offset %d: %w", f.Name(), pos, err)
		}
		if first {
			first = false
			if b[len(b)-1] == '\n' {
				b = b[:len(b)-1]
			}
		}
		for {
			i := bytes.LastIndexByte(b, '\n')
			if i < 0 {
				break
			}
			need--
			if need == 0 {
				return pos + int64(i) + 1, nil
			}
			b = b[:i]
		}
	}
	return floor, nil
}

// startOfLine returns the offset of line n (1-based) of f, or the offset
// after the last newline when the file has fewer lines.
func startOfLine(f *os.File, n int64) (int64, error) {
	if n <= 1 {
		return 0, nil
	}
	buf := make([]byte, 64<<10)
	var pos int64
	skip := n - 1
	for {
		m, err := f.ReadAt(buf, pos)
		b := buf[:m]
		for len(b) > 0 {
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				break
			}
			skip--
			if skip == 0 {
				return pos + int64(m-len(b)) + int64(i) + 1, nil
			}
			b = b[i+1:]
		}
		pos += int64(m)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return pos, nil
			}
			return 0, fmt.Errorf("follow: read %s at offset %d: %w", f.Name(), pos, err)
		}
	}
}
