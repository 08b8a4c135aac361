// Command stamp is the command every watcher under benchmark runs: it appends
// one line, "<unix nanoseconds> <state>", to the file named by its first
// argument. The state is the last line of the file named by the second
// argument (or "-" when there is none), so the harness can tell which change
// a run saw. Further arguments, such as paths a tool appends, are ignored.
package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
)

func main() {
	// Take the time first: this is the moment the command started.
	now := time.Now().UnixNano()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: stamp OUTFILE [STATEFILE]")
		os.Exit(2)
	}
	state := "-"
	if len(os.Args) > 2 {
		state = lastLine(os.Args[2])
	}
	line := strconv.AppendInt(nil, now, 10)
	line = append(line, ' ')
	line = append(line, state...)
	line = append(line, '\n')
	f, err := os.OpenFile(os.Args[1], os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		fmt.Fprintf(os.Stderr, "stamp: %v\n", err)
		os.Exit(1)
	}
	// One write to an O_APPEND file, so concurrent runs never interleave.
	if _, err := f.Write(line); err != nil {
		fmt.Fprintf(os.Stderr, "stamp: append to %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	if err := f.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "stamp: close %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// lastLine returns the last non-empty line among the final 256 bytes of the
// file, or "-" if it cannot be read or holds none.
func lastLine(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "-"
	}
	defer f.Close()
	const tailSize = 256
	var buf []byte
	if st, err := f.Stat(); err == nil && st.Size() > tailSize {
		buf = make([]byte, tailSize)
		n, _ := f.ReadAt(buf, st.Size()-tailSize)
		buf = buf[:n]
	} else {
		buf, _ = io.ReadAll(io.LimitReader(f, tailSize))
	}
	buf = bytes.TrimRight(buf, "\n")
	if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
		buf = buf[i+1:]
	}
	buf = bytes.TrimSpace(buf)
	if len(buf) == 0 {
		return "-"
	}
	return string(buf)
}
