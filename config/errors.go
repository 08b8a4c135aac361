package config

import (
	"fmt"
	"strings"
)

// Pos is a position in a config file: 1-based line and column. The zero Pos
// means the problem concerns the file as a whole (it could not be read).
type Pos struct {
	Line, Col int // 1-based; 0 when unknown
}

// IsValid reports whether p points into the file.
func (p Pos) IsValid() bool { return p.Line > 0 }

func (p Pos) before(q Pos) bool {
	if p.Line != q.Line {
		return p.Line < q.Line
	}
	return p.Col < q.Col
}

// Issue is one problem found in a config file.
type Issue struct {
	Pos Pos    // where the problem is; the zero Pos for the whole file
	Msg string // what is wrong, without the position
}

// Error is what Load and Parse return when a config cannot be used: every
// problem found, sorted by position, each rendered as "FILE:LINE:COL: message"
// on its own line. The CLI recognises it with errors.As and exits with code 2.
type Error struct {
	// File is the config's name as given to Load or Parse.
	File string
	// Issues holds the problems in file order; never empty.
	Issues []Issue
	// Err is the underlying cause when the file could not be read at all
	// (for example an error matching fs.ErrNotExist); nil otherwise.
	Err error
}

// Error renders one issue per line. Issues without a position (the file could
// not be read) are rendered "FILE: message".
func (e *Error) Error() string {
	var b strings.Builder
	for i, is := range e.Issues {
		if i > 0 {
			b.WriteByte('\n')
		}
		if is.Pos.IsValid() {
			fmt.Fprintf(&b, "%s:%d:%d: %s", e.File, is.Pos.Line, is.Pos.Col, is.Msg)
		} else {
			fmt.Fprintf(&b, "%s: %s", e.File, is.Msg)
		}
	}
	return b.String()
}

// Unwrap returns the cause of a read failure, so that
// errors.Is(err, fs.ErrNotExist) works on Load's errors.
func (e *Error) Unwrap() error { return e.Err }
