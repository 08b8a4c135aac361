//go:build linux || darwin || freebsd || openbsd || netbsd || dragonfly

package vnode

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// lowLimitEnv makes TestKqueueLowLimit's subprocess do the work.
const lowLimitEnv = "VIGIL_TEST_KQUEUE_LOW_LIMIT"

// lowLimit is the RLIMIT_NOFILE (soft and hard) of the subprocess: a budget
// of 32 descriptors for watches (24 for files) and a reserve of 64.
const lowLimit = 96

// TestKqueueLowLimit runs the real kqueue backend (a BSD kernel, or
// libkqueue on Linux) in a subprocess whose RLIMIT_NOFILE is lowered to
// 96: files past the budget are polled and their saves still arrive, files
// within it are watched by the kernel, the limit is said once, and the
// reserve stays usable (opening 40 more descriptors succeeds).
func TestKqueueLowLimit(t *testing.T) {
	if os.Getenv(lowLimitEnv) == "1" {
		lowLimitChild(t)
		return
	}
	if !slices.Contains(localBackends(), Kqueue) {
		t.Skip("no kqueue here (build with -tags libkqueue on Linux)")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestKqueueLowLimit$", "-test.v")
	cmd.Env = append(os.Environ(), lowLimitEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestKqueueLowLimit") {
		t.Fatalf("subprocess with RLIMIT_NOFILE %d: %v\n%s", lowLimit, err, out)
	}
}

func lowLimitChild(t *testing.T) {
	rl := syscall.Rlimit{Cur: lowLimit, Max: lowLimit}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatalf("setrlimit: %v", err)
	}
	// Descriptors per watch: 1 in a kernel, 2 over libkqueue (its inotify
	// instance); the budget counts both.
	perWatch := 1
	if runtime.GOOS == "linux" {
		perWatch = 2
	}
	share := 24 / perWatch // the files' share of the 32
	dir := tempDir(t)
	const nfiles = 30
	paths := make([]string, nfiles)
	for i := range paths {
		paths[i] = filepath.Join(dir, fmt.Sprintf("f%02d", i))
		writeFile(t, paths[i], "x")
	}
	q, err := Open(Options{Backend: Kqueue, PollInterval: testPollInterval})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	mustWatch(t, q, dir)
	ids := make([]ID, nfiles)
	said := 0
	for i, p := range paths {
		id, err := q.Watch(p)
		var le *LimitError
		switch {
		case err == nil:
			if i >= share-1 { // the directory took one
				t.Errorf("file %d got a descriptor past the files' share", i)
			}
		case errors.As(err, &le) && le.Polled:
			if i < share-1 {
				t.Errorf("file %d polled within the budget: %v", i, err)
			}
			said++
			if said == 1 {
				t.Logf("message: %v", err)
				if le.Value != lowLimit || !strings.Contains(err.Error(), "kern.maxfilesperproc") {
					t.Errorf("message %q does not name the limit's value %d and how to raise it", err, lowLimit)
				}
			}
		default:
			t.Fatalf("Watch(%s): %v", p, err)
		}
		ids[i] = id
	}
	if said != nfiles-share+1 {
		t.Errorf("%d files polled, want %d", said, nfiles-share+1)
	}
	// The reserve is there for the commands vigil runs.
	var extra []*os.File
	for range 40 {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatalf("opening a descriptor from the reserve: %v", err)
		}
		extra = append(extra, f)
	}
	for _, f := range extra {
		f.Close()
	}
	r := record(t, q)
	for _, i := range []int{0, nfiles - 1} {
		appendFile(t, paths[i], "saved")
		r.expect(fmt.Sprintf("write of file %d", i), note(ids[i], NoteWrite))
	}
}
