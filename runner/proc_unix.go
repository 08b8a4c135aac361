//go:build unix

package runner

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// proc is one started command and its process group (Setpgid with Pgid 0,
// so the group ID is the leader's PID).
type proc struct {
	pid    int
	exited chan struct{} // closed once Wait has reaped the leader
	state  *os.ProcessState
	werr   error

	copiers sync.WaitGroup
	readers []*os.File
}

// ETXTBSY retries: a just-built binary can still be open for writing in the
// build tool, or inherited for a moment by another fork (golang/go#22315).
const (
	textBusyRetries = 6
	textBusyFirst   = 20 * time.Millisecond
)

// startProc starts spec in a new process group, retrying on ETXTBSY with a
// doubling delay. stop aborts the retries.
func startProc(spec procSpec, stop <-chan struct{}) (*proc, error) {
	delay := textBusyFirst
	for attempt := 0; ; attempt++ {
		p, err := startOnce(spec)
		if err == nil || !errors.Is(err, syscall.ETXTBSY) || attempt == textBusyRetries {
			return p, err
		}
		if spec.onStartRetried != nil {
			spec.onStartRetried()
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-stop:
			t.Stop()
			return nil, err
		}
		delay *= 2
	}
}

func startOnce(spec procSpec) (*proc, error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("output pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("output pipe: %w", err)
	}
	cmd := exec.Command(spec.argv[0], spec.argv[1:]...)
	cmd.Dir = spec.dir
	cmd.Env = spec.env
	// Files, not writers: exec then copies nothing itself, so Wait returns
	// when the leader exits even if a grandchild still holds the pipes.
	cmd.Stdout = outW
	cmd.Stderr = errW
	// Stdin stays nil: /dev/null. The child is not in the terminal's
	// foreground group, so reading the TTY would stop it with SIGTTIN.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Registered as owned, so that the orphan reaper never takes the
	// leader's exit status from the Wait below.
	pid, err := startOwned(func() (int, error) {
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		return cmd.Process.Pid, nil
	})
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, err
	}
	p := &proc{pid: pid, exited: make(chan struct{}), readers: []*os.File{outR, errR}}
	spec.groups.add(p.pid)
	p.copiers.Add(2)
	go func() { defer p.copiers.Done(); spec.out.copyLines(spec.out.out, spec.prefix, outR) }()
	go func() { defer p.copiers.Done(); spec.out.copyLines(spec.out.err, spec.prefix, errR) }()
	// The one and only Wait.
	go func() {
		awaitExit(pid)
		p.werr = cmd.Wait()
		p.state = cmd.ProcessState
		disown(pid)
		close(p.exited)
	}()
	return p, nil
}

// signal sends sig to the whole group; a group that is gone is no error.
func (p *proc) signal(sig syscall.Signal) error {
	err := syscall.Kill(-p.pid, sig)
	if err == nil || errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return fmt.Errorf("signal %s to process group %d: %w", unix.SignalName(sig), p.pid, err)
}

// groupAlive reports whether any process of the group still exists.
func (p *proc) groupAlive() bool {
	err := syscall.Kill(-p.pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// waitGone waits until the leader has been reaped and the group is empty, or
// until deadline; it reports whether everything is gone.
func (p *proc) waitGone(deadline time.Time) bool {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-p.exited:
	case <-t.C:
		return false
	}
	// Members other than the leader are not our children (unless orphaned
	// to us, and then reapOrphans takes them): nothing to wait on but the
	// group itself, so poll it, briefly at first.
	pause := time.Millisecond
	for reapOrphans(p.pid); p.groupAlive(); reapOrphans(p.pid) {
		if !time.Now().Before(deadline) {
			return false
		}
		pt := time.NewTimer(min(pause, time.Until(deadline)))
		<-pt.C
		pause = min(2*pause, 50*time.Millisecond)
	}
	return true
}

// killWait bounds the wait after SIGKILL: members that are still there then
// are unreaped zombies of a parent that is not us.
const killWait = 5 * time.Second

// stop ends the group: sig, up to grace for every member to go, then SIGKILL
// and wait. It reports an error only if the group could not be ended.
func (p *proc) stop(sig syscall.Signal, grace time.Duration, killed func() bool) error {
	if !killed() {
		if err := p.signal(sig); err != nil {
			return err
		}
		// A stopped member (^Z, SIGTTIN) would act on sig only once
		// continued; continue it so that it can exit cleanly.
		if sig != syscall.SIGCONT {
			p.signal(syscall.SIGCONT)
		}
		if p.waitGone(time.Now().Add(grace)) {
			return nil
		}
	}
	if err := p.signal(syscall.SIGKILL); err != nil {
		return err
	}
	if !p.waitGone(time.Now().Add(killWait)) {
		return fmt.Errorf("process group %d still has members %v after SIGKILL", p.pid, killWait)
	}
	return nil
}

// drainWait bounds how long output is read after the group is gone; only a
// process that left the group can still hold the pipes then.
const drainWait = time.Second

// finishOutput waits for the output copiers, closing the pipes if a process
// outside the group keeps them open.
func (p *proc) finishOutput() {
	done := make(chan struct{})
	go func() { p.copiers.Wait(); close(done) }()
	t := time.NewTimer(drainWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		for _, r := range p.readers {
			r.Close()
		}
		<-done
	}
	for _, r := range p.readers {
		r.Close()
	}
}

// exitStatus turns how the leader ended into a shell-style status (128+N
// for signal N) and a description.
func (p *proc) exitStatus() (int, string) {
	if p.state == nil {
		return 1, fmt.Sprintf("wait failed: %v", p.werr)
	}
	if ws, ok := p.state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), "killed by " + signalName(ws.Signal())
	}
	code := p.state.ExitCode()
	return code, fmt.Sprintf("exit status %d", code)
}

// signalName is "SIGTERM" rather than Go's "terminated".
func signalName(sig syscall.Signal) string {
	if n := unix.SignalName(sig); n != "" {
		return n
	}
	return fmt.Sprintf("signal %d", int(sig))
}

// groupSet tracks the live process groups so that Kill can reach them all.
type groupSet struct {
	mu     sync.Mutex
	pgids  map[int]bool
	killed bool
}

func (g *groupSet) add(pgid int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.pgids == nil {
		g.pgids = map[int]bool{}
	}
	g.pgids[pgid] = true
	if g.killed {
		syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

func (g *groupSet) remove(pgid int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.pgids, pgid)
}

// killAll sends SIGKILL to every live group, now and to any started later.
func (g *groupSet) killAll() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.killed = true
	for pgid := range g.pgids {
		syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

func (g *groupSet) isKilled() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.killed
}

// startStatus is the shell's status for a command that could not start:
// 127 when it does not exist, 126 otherwise.
func startStatus(err error) int {
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, syscall.ENOENT) {
		return 127
	}
	return 126
}
