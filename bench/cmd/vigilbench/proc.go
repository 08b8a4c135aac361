//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is one tool under test: a bash script started in its own process
// group, so the harness can measure and stop exactly what it started.
type proc struct {
	name   string
	cmd    *exec.Cmd
	pgid   int
	done   chan struct{}
	logf   *os.File
	start  time.Time
	seen   map[int]uint64 // pid → start time of every process found in the tree
	exited error
}

// startProc runs script with bash -c in dir, in a new process group, with
// stderr (and stdout, unless stdout is given) going to logPath.
func startProc(name, script, dir, logPath string, env []string, stdout *os.File) (*proc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("start %s: create log: %w", name, err)
	}
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir = dir
	cmd.Stdin = nil
	cmd.Stdout = logf
	if stdout != nil {
		cmd.Stdout = stdout
	}
	cmd.Stderr = logf
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), logf: logf, seen: map[int]uint64{}}
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p.pgid = cmd.Process.Pid
	go func() {
		p.exited = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// alive reports whether the top process has not exited yet.
func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// procInfo is what the harness reads about one process from /proc.
type procInfo struct {
	pid, ppid, pgid int
	comm            string
	starttime       uint64 // clock ticks since boot: tells a reused pid apart
}

func readProcs() map[int]procInfo {
	out := map[int]procInfo{}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// comm is in parentheses and may hold spaces; fields follow the last ')'.
		i := bytes.IndexByte(b, '(')
		j := bytes.LastIndexByte(b, ')')
		if i < 0 || j < i {
			continue
		}
		f := strings.Fields(string(b[j+1:]))
		if len(f) < 4 {
			continue
		}
		if len(f) < 20 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		pgid, _ := strconv.Atoi(f[2])
		st, _ := strconv.ParseUint(f[19], 10, 64)
		out[pid] = procInfo{pid: pid, ppid: ppid, pgid: pgid, comm: string(b[i+1 : j]), starttime: st}
	}
	return out
}

// tree returns the processes that descend from the started process or share
// its process group (a pty child of reflex has its own group, a daemonised
// watchman its own parent; either link is enough).
func (p *proc) tree() []procInfo {
	all := readProcs()
	kids := map[int][]int{}
	for _, pi := range all {
		kids[pi.ppid] = append(kids[pi.ppid], pi.pid)
	}
	in := map[int]bool{}
	var walk func(int)
	walk = func(pid int) {
		if in[pid] {
			return
		}
		if _, ok := all[pid]; !ok {
			return
		}
		in[pid] = true
		for _, k := range kids[pid] {
			walk(k)
		}
	}
	walk(p.pgid)
	for _, pi := range all {
		if pi.pgid == p.pgid {
			walk(pi.pid)
		}
	}
	var out []procInfo
	for pid := range in {
		out = append(out, all[pid])
		p.seen[pid] = all[pid].starttime
	}
	return out
}

// rssKB is the summed VmRSS of the tree, and that of the largest process
// named comm in it (the watcher itself, without shells or helpers).
func (p *proc) rssKB(comm string) (total, main int64) {
	for _, pi := range p.tree() {
		kb := statusKB(pi.pid, "VmRSS:")
		total += kb
		if pi.comm == comm && kb > main {
			main = kb
		}
	}
	return total, main
}

func statusKB(pid int, key string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, key) {
			f := strings.Fields(line[len(key):])
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// cpuNS is the CPU time, in nanoseconds, that the tree's live threads have
// run, from /proc/PID/task/TID/schedstat (nanosecond resolution, unlike the
// clock ticks in /proc/PID/stat).
func (p *proc) cpuNS() int64 {
	var sum int64
	for _, pi := range p.tree() {
		sum += procCPUNS(pi.pid)
	}
	return sum
}

func procCPUNS(pid int) int64 {
	var sum int64
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0
	}
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) > 0 {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			sum += n
		}
	}
	return sum
}

// stop ends everything the harness started for this tool: SIGTERM to the
// process group and to every process of its tree, a grace period, then
// SIGKILL. A pid is signalled only while it is still the same process that
// was seen in the tree (same start time), never a reused one.
func (p *proc) stop(grace time.Duration) {
	p.tree()
	sig := func(s syscall.Signal) {
		if p.alive() {
			_ = syscall.Kill(-p.pgid, s)
		}
		for _, pid := range p.liveSeen() {
			_ = syscall.Kill(pid, s)
		}
	}
	sig(syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !p.alive() && len(p.liveSeen()) == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if p.alive() || len(p.liveSeen()) > 0 {
		sig(syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
		}
	}
	p.logf.Close()
}

// liveSeen returns the pids seen in the tree that still run as the same
// process (their start time has not changed).
func (p *proc) liveSeen() []int {
	all := readProcs()
	var live []int
	for pid, st := range p.seen {
		if pi, ok := all[pid]; ok && pi.starttime == st {
			live = append(live, pid)
		} else {
			delete(p.seen, pid)
		}
	}
	return live
}
