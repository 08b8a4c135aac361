package runner

import (
	"bufio"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
)

// output serialises everything the runner and its children print, so that
// lines from concurrent rules never interleave mid-line, even when Out and
// Err are the same writer.
type output struct {
	mu       sync.Mutex
	out, err io.Writer
	color    bool
}

// palette colours rule prefixes, one per rule in definition order; red is
// left out so that it never looks like an error.
var palette = []string{"36", "35", "33", "32", "34", "96", "95", "93", "92", "94"}

// clearScreen moves the cursor home and erases the screen and scrollback.
const clearScreen = "\x1b[H\x1b[2J\x1b[3J"

func (o *output) prefix(name string, idx int) string {
	if !o.color {
		return "[" + name + "] "
	}
	return "\x1b[" + palette[idx%len(palette)] + "m[" + name + "]\x1b[0m "
}

// status prints one status line about a rule on Err.
func (o *output) status(prefix, format string, a ...any) {
	line := prefix + fmt.Sprintf(format, a...) + "\n"
	o.mu.Lock()
	defer o.mu.Unlock()
	io.WriteString(o.err, line)
}

// clear clears the terminal on Out.
func (o *output) clear() {
	o.mu.Lock()
	defer o.mu.Unlock()
	io.WriteString(o.out, clearScreen)
}

// maxLine bounds how much of a line without a newline is buffered before it
// is printed anyway, so a child printing megabytes without '\n' cannot make
// us hold them all.
const maxLine = 64 << 10

// copyLines copies r to w line by line, each line prefixed, until EOF or a
// read error; a last line without a newline gets one.
func (o *output) copyLines(w io.Writer, prefix string, r io.Reader) {
	o.copyLinesTo(w, prefix, r, nil)
}

// copyLinesTo is copyLines that also hands each line, without its prefix,
// to each (if not nil).
func (o *output) copyLinesTo(w io.Writer, prefix string, r io.Reader, each func([]byte)) {
	br := bufio.NewReaderSize(r, maxLine)
	var buf []byte
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			if each != nil {
				each(line)
			}
			buf = append(buf[:0], prefix...)
			buf = append(buf, line...)
			if buf[len(buf)-1] != '\n' && err != bufio.ErrBufferFull {
				buf = append(buf, '\n')
			}
			o.mu.Lock()
			w.Write(buf)
			o.mu.Unlock()
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
		if err == bufio.ErrBufferFull {
			// Cut the over-long line here; the rest follows as a line of
			// its own, prefixed like any other.
			o.mu.Lock()
			w.Write([]byte{'\n'})
			o.mu.Unlock()
		}
	}
}

// describePaths lists the first few paths (relative to dir) and how many
// more there are, quoting names that would garble a terminal line.
func describePaths(dir string, paths []string) string {
	const show = 3
	var parts []string
	for i, p := range paths {
		if i == show {
			break
		}
		parts = append(parts, displayName(relTo(dir, p)))
	}
	s := strings.Join(parts, ", ")
	if n := len(paths) - show; n > 0 {
		s += fmt.Sprintf(" and %d more", n)
	}
	return s
}

// displayName quotes a name holding control or non-printing characters.
func displayName(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// relTo returns p relative to dir when that is possible, p otherwise.
func relTo(dir, p string) string {
	if !filepath.IsAbs(p) {
		return p
	}
	rel, err := filepath.Rel(dir, p)
	if err != nil {
		return p
	}
	return rel
}

// seconds formats a duration for status lines: hundredths below 10 s,
// tenths above.
func seconds(d time.Duration) string {
	if d < 10*time.Second {
		return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + "s"
	}
	return d.Round(100 * time.Millisecond).String()
}
