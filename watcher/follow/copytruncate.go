package follow

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
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
			if err := t.consume(b[:n], fl.maxLine, fl.out); err != nil {
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
