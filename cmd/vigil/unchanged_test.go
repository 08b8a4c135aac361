//go:build unix

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-watch/vigil/internal/testwait"
)

// A save without an edit, a touch and a checkout-like rewrite of identical
// content run nothing; the real edit that follows runs once, for itself.
func TestSkipUnchangedSaves(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.Mkdir(src, 0o755)
	old := time.Now().Add(-time.Hour)
	for _, n := range []string{"a.go", "b.go", "c.go"} {
		p := filepath.Join(src, n)
		os.WriteFile(p, []byte("package "+n[:1]+"\n"), 0o644)
		os.Chtimes(p, old, old)
	}
	runs := filepath.Join(dir, "runs")
	logf, _ := os.Create(filepath.Join(dir, "vigil.log"))
	cmd := exec.Command("vigil", "-w", src, "--postpone", "--", "sh", "-c", `printf '%s\n' "$VIGIL_PATHS" >> `+runs)
	cmd.Dir, cmd.Stdout, cmd.Stderr = src, logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("vigil's output:\n%s", b)
		}
	}()
	testwait.Until(t, 20*time.Second, "the files to be hashed", func() bool {
		b, _ := os.ReadFile(logf.Name())
		return strings.Contains(string(b), "skip_unchanged: hashed 3 files")
	})
	os.WriteFile(filepath.Join(src, "a.go"), []byte("package a\n"), 0o644) // :w without an edit
	now := time.Now()
	os.Chtimes(filepath.Join(src, "b.go"), now, now) // touch
	tmp := filepath.Join(src, ".c.go.tmp")           // a checkout's write-and-rename
	os.WriteFile(tmp, []byte("package c\n"), 0o644)
	os.Rename(tmp, filepath.Join(src, "c.go"))
	os.WriteFile(filepath.Join(src, "b.go"), []byte("package b // edited\n"), 0o644)
	testwait.Until(t, 20*time.Second, "the edit to run", func() bool {
		b, _ := os.ReadFile(runs)
		return len(b) > 0
	})
	b, _ := os.ReadFile(runs)
	if got := strings.TrimSpace(string(b)); got != "b.go" {
		t.Errorf("runs got VIGIL_PATHS %q, want one run for b.go alone", got)
	}
}
