package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigil-watch/vigil/internal/testwait"
)

// openPTY opens a pseudo-terminal pair through /dev/ptmx.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// With a terminal on stdin: r runs every rule, p holds runs until pressed
// again, q quits with Ctrl-C's status. Without one, stdin is never read.
func TestKeysThroughTerminal(t *testing.T) {
	master, slave := openPTY(t)
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	logf, _ := os.Create(filepath.Join(dir, "vigil.log"))
	defer logf.Close()
	cmd := exec.Command("vigil", "-w", dir, "-g", "*.go", "--", "sh", "-c", "echo run >> "+runs)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, logf, logf
	// Its own session with the terminal as controlling terminal: vigil is
	// then in the terminal's foreground, as in an interactive shell.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("vigil's output:\n%s", b)
		}
	}()
	count := func() int { b, _ := os.ReadFile(runs); return strings.Count(string(b), "run\n") }
	log := func() string { b, _ := os.ReadFile(logf.Name()); return string(b) }
	testwait.Until(t, 20*time.Second, "the run at start and the keys help", func() bool {
		return count() == 1 && strings.Contains(log(), keyHelp) && strings.Contains(log(), "\nready\n")
	})
	master.Write([]byte("r"))
	testwait.Until(t, 20*time.Second, "r to run the rule", func() bool { return count() == 2 })
	master.Write([]byte("p"))
	testwait.Until(t, 20*time.Second, "the pause notice", func() bool { return strings.Contains(log(), "vigil: paused") })
	os.WriteFile(filepath.Join(dir, "a.go"), []byte("package a\n"), 0o644)
	master.Write([]byte("r"))
	// Both the change and r are held: nothing runs until p again.
	testwait.Until(t, 20*time.Second, "both to be held", func() bool {
		return strings.Contains(log(), "paused: holding a batch") && strings.Contains(log(), "paused: holding the run of every rule")
	})
	if n := count(); n != 2 {
		t.Fatalf("%d runs while paused, want 2", n)
	}
	master.Write([]byte("p"))
	testwait.Until(t, 20*time.Second, "the held run after resuming", func() bool { return count() == 3 })
	master.Write([]byte("q"))
	select {
	case <-done:
		if code := cmd.ProcessState.ExitCode(); code != exitInterrupt {
			t.Errorf("q: exit %d, want %d as for Ctrl-C", code, exitInterrupt)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("q did not quit")
	}
	// The terminal is given back as it was: canonical mode with echo.
	tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil || tio.Lflag&unix.ICANON == 0 || tio.Lflag&unix.ECHO == 0 {
		t.Errorf("terminal left without ICANON|ECHO after exit: %v", err)
	}
}

// Without a terminal, stdin is never read: input meant for something else
// stays there.
func TestKeysNotReadWithoutTerminal(t *testing.T) {
	dir := t.TempDir()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w.Write([]byte("q"))
	w.Close()
	var errb strings.Builder
	cmd := exec.Command("vigil", "--once", "-w", dir, "--", "true")
	cmd.Stdin, cmd.Stderr = r, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("vigil --once: %v\n%s", err, errb.String())
	}
	if strings.Contains(errb.String(), keyHelp) {
		t.Errorf("keys turned on without a terminal")
	}
	b := make([]byte, 1)
	if n, _ := r.Read(b); n != 1 || b[0] != 'q' {
		t.Errorf("vigil read its stdin although it is not a terminal")
	}
}
