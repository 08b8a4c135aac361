//go:build linux

package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
)

// rec is one run of stamp: when it started and the state it saw.
type rec struct {
	ts    int64
	state string
}

// outFile reads the lines stamp appends, incrementally.
type outFile struct {
	path    string
	off     int64
	partial []byte
	recs    []rec
}

func newOutFile(path string) (*outFile, error) {
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		return nil, fmt.Errorf("reset stamp output %s: %w", path, err)
	}
	return &outFile{path: path}, nil
}

// poll reads whatever stamp appended since the last call.
func (o *outFile) poll() {
	f, err := os.Open(o.path)
	if err != nil {
		return
	}
	defer f.Close()
	if _, err := f.Seek(o.off, io.SeekStart); err != nil {
		return
	}
	b, _ := io.ReadAll(f)
	o.off += int64(len(b))
	b = append(o.partial, b...)
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			break
		}
		line := b[:i]
		b = b[i+1:]
		sp := bytes.IndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		ts, err := strconv.ParseInt(string(line[:sp]), 10, 64)
		if err != nil {
			continue
		}
		o.recs = append(o.recs, rec{ts: ts, state: string(line[sp+1:])})
	}
	o.partial = append([]byte(nil), b...)
}

const pollEvery = 2 * time.Millisecond

// waitFor polls until a record from index from on satisfies ok, or the
// deadline passes, or alive reports the tool gone.
func (o *outFile) waitFor(from int, deadline time.Time, alive func() bool, ok func(rec) bool) (rec, bool) {
	for {
		o.poll()
		for i := from; i < len(o.recs); i++ {
			if ok(o.recs[i]) {
				return o.recs[i], true
			}
		}
		from = len(o.recs)
		if time.Now().After(deadline) || (alive != nil && !alive()) {
			return rec{}, false
		}
		time.Sleep(pollEvery)
	}
}

// waitQuiet polls until no record has arrived for quiet, or max has passed.
// It reports whether the output went quiet.
func (o *outFile) waitQuiet(quiet, max time.Duration) bool {
	end := time.Now().Add(max)
	n := -1
	last := time.Now()
	for {
		o.poll()
		if len(o.recs) != n {
			n = len(o.recs)
			last = time.Now()
		}
		if time.Since(last) >= quiet {
			return true
		}
		if time.Now().After(end) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// appendLine appends s and a newline to path and returns the time taken just
// before the write: the moment the change happened.
func appendLine(path, s string) (int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return 0, fmt.Errorf("append to %s: %w", path, err)
	}
	t := time.Now().UnixNano()
	_, err = f.WriteString(s + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("append to %s: %w", path, err)
	}
	return t, nil
}
