package follow

import (
	"encoding/json"
	"io"
	"strconv"
	"unicode/utf8"
)

// Printer writes lines the way `vigil tail` prints them: the plain text,
// preceded by a `==> NAME <==` header whenever the source file changes
// (when headers are on, as GNU tail does for several files; NAME is
// Line.Name, or File without one), or one JSON object per line,
// {"file":...,"line":...,"offset":...} with the absolute file name. Each Print is one
// Write, so lines reach a pipe as soon as they are read.
type Printer struct {
	w       io.Writer
	json    bool
	headers bool
	last    string // file of the previous line, for headers
	any     bool   // a line was printed: later headers get a blank line first
	buf     []byte
}

// NewPrinter returns a Printer writing to w.
func NewPrinter(w io.Writer, json bool, headers bool) *Printer {
	return &Printer{w: w, json: json, headers: headers}
}

// Print writes one line and returns the writer's error, so that a caller
// following files stops when the reader of its output has gone.
func (p *Printer) Print(l Line) error {
	b := p.buf[:0]
	if p.json {
		b = append(b, `{"file":`...)
		b = appendJSONString(b, l.File)
		b = append(b, `,"line":`...)
		b = appendJSONString(b, l.Text)
		b = append(b, `,"offset":`...)
		b = strconv.AppendInt(b, l.Offset, 10)
		b = append(b, "}\n"...)
	} else {
		if p.headers && (!p.any || l.File != p.last) {
			if p.any {
				b = append(b, '\n')
			}
			b = append(b, "==> "...)
			if l.Name != "" {
				b = append(b, l.Name...)
			} else {
				b = append(b, l.File...)
			}
			b = append(b, " <==\n"...)
		}
		b = append(b, l.Text...)
		b = append(b, '\n')
	}
	p.last = l.File
	p.any = true
	p.buf = b
	_, err := p.w.Write(b)
	return err
}

// appendJSONString appends s as a JSON string. Plain printable ASCII is
// copied as is (the common case for logs); anything else goes through
// encoding/json, which also replaces invalid UTF-8 with U+FFFD.
func appendJSONString(b []byte, s string) []byte {
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
	enc, err := json.Marshal(s)
	if err != nil {
		// Marshal of a string cannot fail; keep the output valid anyway.
		return append(b, `""`...)
	}
	return append(b, enc...)
}
