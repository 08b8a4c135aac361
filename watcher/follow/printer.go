package follow

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"
	"unicode/utf8"
)

// Printer writes lines the way `vigil tail` prints them: the plain text,
// preceded by a `==> NAME <==` header whenever the source file changes
// (when headers are on, as GNU tail does for several files; NAME is
// Line.Name, or File without one), or one JSON object per line,
// {"file":...,"line":...,"offset":...} with the absolute file name.
//
// An unbuffered Printer writes each line with one Write, so lines reach a
// pipe as soon as they are read. A buffered one gathers them and writes when
// Flush is called (pass it as Options.Flush) or when bufferedMax bytes wait:
// far fewer system calls when lines come fast.
//
// Print takes a Line (pass it as Run's out); PrintChunk takes a run of
// whole lines (pass it as Options.Chunks), and in plain text copies it
// without looking at its lines. Both keep the headers and the order.
type Printer struct {
	w        io.Writer
	json     bool
	headers  bool
	buffered bool
	last     string // file of the previous line, for headers
	any      bool   // a line was printed: later headers get a blank line first
	buf      []byte
}

// bufferedMax is how much a buffered Printer gathers before it writes
// without waiting for Flush.
const bufferedMax = 64 << 10

// PrintOptions say how a [Printer] prints. The zero value prints plain
// text, without headers, each line as it comes.
type PrintOptions struct {
	// JSON prints one object per line instead of the text.
	JSON bool
	// Headers prints a `==> NAME <==` line whenever the file changes, as
	// tail does when it follows several files (plain text only).
	Headers bool
	// Buffered gathers lines and writes them on Flush (and whenever 64 KiB
	// wait). Flush must then be called when a burst of lines ends; pass it
	// as Options.Flush, which does that.
	Buffered bool
}

// NewPrinter returns a Printer writing to w as o says.
func NewPrinter(w io.Writer, o PrintOptions) *Printer {
	return &Printer{w: w, json: o.JSON, headers: o.Headers, buffered: o.Buffered}
}

// Print writes one line (or gathers it, when buffered) and returns the
// writer's error, so that a caller following files stops when the reader
// of its output has gone.
func (p *Printer) Print(l Line) error {
	b := p.buf
	if !p.buffered {
		b = b[:0]
	}
	if p.json {
		b = appendJSONLine(b, l.File, l.Text, l.Offset)
	} else {
		b = p.appendHeader(b, l.File, l.Name)
		b = append(b, l.Text...)
		b = append(b, '\n')
	}
	p.last = l.File
	p.any = true
	p.buf = b
	if p.buffered && len(b) < bufferedMax {
		return nil
	}
	return p.Flush()
}

// PrintChunk writes a run of whole lines (pass it as Options.Chunks). In
// plain text, it writes the lines as they are, after a header when the
// file changed; a run too big to gather is written straight from c.Text,
// after what waits. In JSON, it prints each line as Print does.
func (p *Printer) PrintChunk(c Chunk) error {
	if !p.buffered {
		p.buf = p.buf[:0]
	}
	if p.json {
		text, off := c.Text, c.Offset
		for len(text) > 0 {
			i := bytes.IndexByte(text, '\n')
			if i < 0 {
				i = len(text) // not a whole line after all: print it as one
			}
			p.buf = appendJSONLine(p.buf, c.File, text[:i], off)
			text = text[min(i+1, len(text)):]
			off += int64(i) + 1
		}
		p.last, p.any = c.File, true
		if p.buffered && len(p.buf) < bufferedMax {
			return nil
		}
		return p.Flush()
	}
	if len(c.Text) == 0 {
		return nil
	}
	p.buf = p.appendHeader(p.buf, c.File, c.Name)
	p.last, p.any = c.File, true
	if len(p.buf)+len(c.Text) <= bufferedMax {
		p.buf = append(p.buf, c.Text...)
		if p.buffered && len(p.buf) < bufferedMax {
			return nil
		}
		return p.Flush()
	}
	if err := p.Flush(); err != nil {
		return err
	}
	_, err := p.w.Write(c.Text)
	return err
}

// appendHeader appends the `==> NAME <==` header when headers are on and
// the next text comes from another file than the last (or is the first).
func (p *Printer) appendHeader(b []byte, file, name string) []byte {
	if !p.headers || (p.any && file == p.last) {
		return b
	}
	if p.any {
		b = append(b, '\n')
	}
	b = append(b, "==> "...)
	if name != "" {
		b = append(b, name...)
	} else {
		b = append(b, file...)
	}
	return append(b, " <==\n"...)
}

// appendJSONLine appends one line as the JSON object --json prints.
func appendJSONLine[S string | []byte](b []byte, file string, text S, off int64) []byte {
	b = append(b, `{"file":`...)
	b = appendJSONString(b, file)
	b = append(b, `,"line":`...)
	b = appendJSONString(b, text)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, off, 10)
	return append(b, "}\n"...)
}

// Flush writes what a buffered Printer gathered; it does nothing for an
// unbuffered one, which has nothing waiting.
func (p *Printer) Flush() error {
	if len(p.buf) == 0 {
		return nil
	}
	_, err := p.w.Write(p.buf)
	p.buf = p.buf[:0]
	return err
}

// appendJSONString appends s as a JSON string. Plain printable ASCII is
// copied as is (the common case for logs); anything else goes through
// encoding/json, which also replaces invalid UTF-8 with U+FFFD.
func appendJSONString[S string | []byte](b []byte, s S) []byte {
	simple := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf || c == '<' || c == '>' || c == '&' {
			simple = false
			break
		}
	}
	if simple {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	enc, err := json.Marshal(string(s))
	if err != nil {
		// Marshal of a string cannot fail; keep the output valid anyway.
		return append(b, `""`...)
	}
	return append(b, enc...)
}
