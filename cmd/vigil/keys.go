package main

import (
	"fmt"
	"io"
	"os"
)

// keyHelp is printed when keys are on.
const keyHelp = "vigil: keys: r runs every rule, p pauses/resumes, q quits"

// keys reads single keys from in until it fails: r runs every rule, p
// pauses and resumes, q quits as Ctrl-C does.
func (s *session) keys(in io.Reader) {
	paused := false
	buf := make([]byte, 64)
	for {
		n, err := in.Read(buf)
		for _, c := range buf[:n] {
			switch c {
			case 'r', 'R':
				s.r.RunAll()
			case 'p', 'P':
				if paused {
					s.r.Resume()
				} else {
					s.r.Pause()
				}
				paused = !paused
			case 'q', 'Q':
				s.sig.interrupt()
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// startKeys turns keys on when stdin is a terminal and vigil is in its
// foreground: the terminal is put in character mode without echo (signals
// such as Ctrl-C still work) until the returned func restores it. Otherwise
// stdin is never read.
func (s *session) startKeys() (restore func()) {
	restore, ok := charMode(os.Stdin)
	if !ok {
		return func() {}
	}
	fmt.Fprintln(s.stderr, keyHelp)
	go s.keys(os.Stdin)
	return restore
}
