//go:build linux

package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// changedResult compares `vigil changed` with nothing changed against the
// time vigil needs to become ready on the same large tree, measured in
// turns so that both see the same machine load (issue 12's target: at most
// 1.5 times the ready time).
type changedResult struct {
	Files         int       `json:"files"`
	ReadyMS       []float64 `json:"ready_ms"`        // vigil events start → "ready" on stderr
	ChangedMS     []float64 `json:"changed_ms"`      // vigil changed, no change: start → exit 1
	ReadyP50MS    float64   `json:"ready_p50_ms"`    // median of ReadyMS
	ChangedP50MS  float64   `json:"changed_p50_ms"`  // median of ChangedMS
	Ratio         float64   `json:"ratio"`           // ChangedP50MS / ReadyP50MS
	FirstMS       float64   `json:"first_ms"`        // the first run: no snapshot, everything hashed and written
	WriteMS       float64   `json:"write_ms"`        // a run after a touch of every file in one directory (snapshot rewritten)
	SnapshotBytes int64     `json:"snapshot_bytes"`  // size of the snapshot of the tree
	Error         string    `json:"error,omitempty"` // why the measurement stopped
}

// runChanged measures `vigil changed` on the large tree against vigil's
// ready time.
func (b *bench) runChanged(samples int) *changedResult {
	res := &changedResult{Files: b.files}
	dir := filepath.Join(b.work, "changed")
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		res.Error = err.Error()
		return res
	}
	snap := filepath.Join(dir, "tree.snap")
	// A tree made moments ago is newer than vigil's racy window (3 s): its
	// files would be hashed again on every run until it is older. The tree
	// is kept between runs, so this waits only after making it.
	if fi, err := os.Stat(b.treeRoot + ".complete"); err == nil {
		if d := time.Until(fi.ModTime().Add(4 * time.Second)); d > 0 {
			time.Sleep(d)
		}
	}
	changed := func(wantCode int) (float64, error) {
		start := time.Now()
		cmd := exec.Command(b.vigil, "changed", "--since", snap, "-w", b.treeRoot)
		cmd.Stdout = io.Discard
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		ms := float64(time.Since(start)) / 1e6
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			return 0, fmt.Errorf("vigil changed: %w", err)
		}
		if code != wantCode {
			return 0, fmt.Errorf("vigil changed exited %d, want %d: %s", code, wantCode, strings.TrimSpace(stderr.String()))
		}
		return ms, nil
	}
	var err error
	if res.FirstMS, err = changed(0); err != nil {
		res.Error = err.Error()
		return res
	}
	if fi, err := os.Stat(snap); err == nil {
		res.SnapshotBytes = fi.Size()
	}
	// The tree was just read, but its files may be younger than the racy
	// window: a second run re-hashes those and settles the snapshot.
	if _, err := changed(1); err != nil {
		res.Error = err.Error()
		return res
	}
	for i := 0; i < samples; i++ {
		r, err := b.vigilReady()
		if err != nil {
			res.Error = err.Error()
			return res
		}
		c, err := changed(1)
		if err != nil {
			res.Error = err.Error()
			return res
		}
		res.ReadyMS = append(res.ReadyMS, r)
		res.ChangedMS = append(res.ChangedMS, c)
	}
	res.ReadyP50MS, res.ChangedP50MS = median(res.ReadyMS), median(res.ChangedMS)
	if res.ReadyP50MS > 0 {
		res.Ratio = res.ChangedP50MS / res.ReadyP50MS
	}
	// A touch of every file in one directory: new times, same contents, so
	// still "nothing changed", but the snapshot is hashed and written again.
	now := time.Now()
	leaf := filepath.Dir(b.treeTouch)
	ents, _ := os.ReadDir(leaf)
	for _, e := range ents {
		os.Chtimes(filepath.Join(leaf, e.Name()), now, now)
	}
	if res.WriteMS, err = changed(1); err != nil {
		res.Error = err.Error()
	}
	return res
}

// vigilReady starts `vigil events` on the large tree and returns the time
// from its start to its "ready" line.
func (b *bench) vigilReady() (float64, error) {
	cmd := exec.Command(b.vigil, "events", "-w", b.treeRoot)
	cmd.Stdout = io.Discard
	pr, err := cmd.StderrPipe()
	if err != nil {
		return 0, err
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start vigil events: %w", err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGINT)
		go io.Copy(io.Discard, pr)
		cmd.Wait()
	}()
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if sc.Text() == "ready" {
			return float64(time.Since(start)) / 1e6, nil
		}
	}
	return 0, fmt.Errorf("vigil events ended before it was ready")
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return percentile(s, 0.5)
}

// printChanged adds the `vigil changed` table to the report.
func printChanged(w io.Writer, c *changedResult) {
	fmt.Fprintf(w, "\nvigil changed with nothing changed, against vigil's ready time, on %d files (medians of %d turns):\n\n", c.Files, len(c.ReadyMS))
	if c.Error != "" {
		fmt.Fprintf(w, "  failed: %s\n", c.Error)
	}
	if len(c.ReadyMS) == 0 {
		return
	}
	fmt.Fprintf(w, "  ready %.0f ms, changed %.0f ms (%.2f×); first run %.0f ms, after touching one directory %.0f ms; snapshot %.1f MB (%.0f bytes per file)\n",
		c.ReadyP50MS, c.ChangedP50MS, c.Ratio, c.FirstMS, c.WriteMS, float64(c.SnapshotBytes)/(1<<20), float64(c.SnapshotBytes)/float64(max(c.Files, 1)))
}
