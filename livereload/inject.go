package livereload

import (
	"bytes"
	"compress/gzip"
	"io"
)

// Tag is the element injected into HTML responses.
const Tag = `<script src="/.vigil/livereload.js"></script>`

// maxHold bounds how much of a body is held back after its last "</body"
// seen so far, waiting to learn whether another follows. Past it the
// candidate is let go, and if no later one comes the script goes at the end.
const maxHold = 1 << 20

var closeBody = []byte("</body")

// injector streams an HTML body, inserting Tag before the last "</body"
// (any case), or at the end when there is none. It holds back only from the
// last candidate on (and a few bytes that could start one), so a large body
// streams through without being buffered whole.
type injector struct {
	src  io.ReadCloser
	buf  []byte // read but not yet released
	out  []byte // released, not yet returned by Read
	skip int    // buf[:skip] holds no usable candidate (let go past maxHold)
	eof  bool
	rerr error
}

func newInjector(src io.ReadCloser) *injector { return &injector{src: src} }

func (in *injector) Read(p []byte) (int, error) {
	for len(in.out) == 0 {
		if in.eof {
			return 0, in.rerr
		}
		in.fill()
	}
	n := copy(p, in.out)
	in.out = in.out[n:]
	return n, nil
}

func (in *injector) Close() error { return in.src.Close() }

// fill reads once from src and releases what can be released.
func (in *injector) fill() {
	chunk := make([]byte, 32<<10)
	n, err := in.src.Read(chunk)
	in.buf = append(in.buf, chunk[:n]...)
	if err != nil {
		in.eof = true
		if err != io.EOF {
			in.rerr = err
			in.out = append(in.out, in.buf...) // pass on what came, then the error
			in.buf = nil
			return
		}
		in.rerr = io.EOF
		i := lastIndexFold(in.buf[in.skip:], closeBody)
		if i < 0 {
			in.out = append(append(in.out, in.buf...), Tag...)
		} else {
			i += in.skip
			in.out = append(append(append(in.out, in.buf[:i]...), Tag...), in.buf[i:]...)
		}
		in.buf = nil
		return
	}
	i := lastIndexFold(in.buf[in.skip:], closeBody)
	var keep int // index from which buf is held back
	switch {
	case i >= 0 && len(in.buf)-(i+in.skip) <= maxHold:
		keep = i + in.skip
	default:
		// No candidate (or one let go): hold only what could begin one.
		keep = max(len(in.buf)-(len(closeBody)-1), 0)
		in.skip = 0
	}
	in.out = append(in.out, in.buf[:keep]...)
	in.buf = append(in.buf[:0:0], in.buf[keep:]...)
}

// lastIndexFold is bytes.LastIndex, ASCII case-insensitive.
func lastIndexFold(s, sep []byte) int {
	for i := len(s) - len(sep); i >= 0; i-- {
		if bytes.EqualFold(s[i:i+len(sep)], sep) {
			return i
		}
	}
	return -1
}

// gzipInjector decompresses a gzip body, injects, and compresses again,
// flushing after every piece so that a streamed page keeps streaming.
func gzipInjector(src io.ReadCloser) (io.ReadCloser, error) {
	zr, err := gzip.NewReader(src)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() {
		in := newInjector(io.NopCloser(zr))
		zw := gzip.NewWriter(pw)
		buf := make([]byte, 32<<10)
		var werr error
		for werr == nil {
			n, rerr := in.Read(buf)
			if n > 0 {
				if _, werr = zw.Write(buf[:n]); werr == nil {
					werr = zw.Flush()
				}
			}
			if rerr != nil {
				if werr == nil {
					werr = zw.Close()
				}
				if rerr != io.EOF && werr == nil {
					werr = rerr
				}
				break
			}
		}
		src.Close()
		pw.CloseWithError(werr)
	}()
	return &pipeBody{pr: pr, src: src}, nil
}

// pipeBody closes the upstream body too, so that a client that goes away
// unblocks the goroutine reading it.
type pipeBody struct {
	pr  *io.PipeReader
	src io.Closer
}

func (b *pipeBody) Read(p []byte) (int, error) { return b.pr.Read(p) }

func (b *pipeBody) Close() error {
	b.src.Close()
	return b.pr.Close()
}
