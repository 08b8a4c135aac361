package follow

import (
	"context"
	"errors"
	"io"
	"os"
)

// StreamOptions say how [Stream] reads a pipe, FIFO or terminal.
type StreamOptions struct {
	// File and Name are what the lines carry as Line.File and Line.Name:
	// "-" and "standard input" for standard input, say.
	File, Name string
	// ToEOF reads to the end of the stream, then delivers the lines that
	// Last or FromLine select, and returns: what tail does with a pipe on
	// its standard input. Otherwise every line is delivered as it arrives
	// until ctx ends or the stream does.
	ToEOF bool
	// Last and FromLine select the lines at EOF as in Options (ToEOF only):
	// Last 0 means DefaultLast, a negative one none.
	Last     int
	FromLine int64
	// MaxLine bounds a line; longer ones are delivered in pieces. 0 means
	// DefaultMaxLine.
	MaxLine int
	// Flush, when set, is called after each burst of lines delivered.
	Flush func() error
}

// Stream reads r, a stream that cannot be followed by name (no offsets, no
// rotation), and hands its lines to out. Offsets count the bytes read from
// the stream. It returns nil at the stream's end or once ctx is done (a
// read blocked in r is not interrupted unless r is closed), or the first
// error of out or Flush.
func Stream(ctx context.Context, r io.Reader, o StreamOptions, out func(Line) error) error {
	if o.MaxLine <= 0 {
		o.MaxLine = DefaultMaxLine
	}
	if o.Last == 0 {
		o.Last = DefaultLast
	}
	flush := func() error {
		if o.Flush == nil {
			return nil
		}
		return o.Flush()
	}
	t := &tfile{name: o.File, shown: o.Name}
	var kept []Line // ToEOF: the lines that may be selected at the end
	var n int64     // ToEOF: lines seen
	emit := func(l Line) error {
		if !o.ToEOF {
			return out(l)
		}
		n++
		switch {
		case o.FromLine > 0:
			if n >= o.FromLine {
				kept = append(kept, l)
			}
		case o.Last > 0:
			if len(kept) == o.Last {
				kept = append(kept[:0], kept[1:]...)
			}
			kept = append(kept, l)
		}
		return nil
	}
	buf := make([]byte, 64<<10)
	for {
		if ctx.Err() != nil {
			return nil
		}
		m, err := r.Read(buf)
		if m > 0 {
			if cerr := t.consume(buf[:m], o.MaxLine, emit); cerr != nil {
				return cerr
			}
			if !o.ToEOF {
				if ferr := flush(); ferr != nil {
					return ferr
				}
			}
		}
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, os.ErrClosed) {
				return nil
			}
			if !errors.Is(err, io.EOF) {
				return err
			}
			// A last line without its newline is a line, as in tail.
			if ferr := t.flushPartial(emit); ferr != nil {
				return ferr
			}
			for _, l := range kept {
				if oerr := out(l); oerr != nil {
					return oerr
				}
			}
			return flush()
		}
	}
}

// IsStream reports whether name is "-" (standard input) or names a FIFO:
// something [Stream] reads, as tail does, rather than a file followed by
// name.
func IsStream(name string) bool {
	if name == "-" {
		return true
	}
	fi, err := os.Stat(name)
	return err == nil && fi.Mode()&os.ModeNamedPipe != 0
}

// OpenStream opens a stream IsStream accepts: standard input for "-"; a
// FIFO for reading and writing, so that the open does not wait for a
// writer and reads wait (without spinning) when every writer has gone
// instead of meeting EOF: a FIFO is followed for as long as vigil runs, as
// tail -f does. The second result says whether to read it to EOF only (a
// pipe, file or terminal on standard input).
func OpenStream(name string) (*os.File, bool, error) {
	if name == "-" {
		return os.Stdin, true, nil
	}
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, false, err
	}
	return f, false, nil
}
