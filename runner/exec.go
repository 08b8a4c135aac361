package runner

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// procSpec is what startProc needs, on every platform.
type procSpec struct {
	argv           []string
	dir            string
	env            []string
	out            *output
	prefix         string
	groups         *groupSet
	files          []*os.File   // inherited as fds 3, 4, ...
	each           func([]byte) // sees every output line (no prefix)
	onStartRetried func()       // test hook: called before each ETXTBSY retry
}

// Environment variables a command receives.
const (
	EnvRule       = "VIGIL_RULE"
	EnvPaths      = "VIGIL_PATHS"
	EnvPath       = "VIGIL_PATH" // an Each rule's one path
	EnvEventsFile = "VIGIL_EVENTS_FILE"
	EnvFile       = "VIGIL_FILE"
	EnvLine       = "VIGIL_LINE"
	EnvOffset     = "VIGIL_OFFSET"
)

// maxPathsEnv caps VIGIL_PATHS below Linux's 128 KiB limit on one
// environment string (MAX_ARG_STRLEN), beyond which exec fails with E2BIG;
// the list is cut at a whole path.
const maxPathsEnv = 96 << 10

// timeoutStatus is the status of a timed-out run whose command nevertheless
// exited 0 on the stop signal: a timeout is a failure (GNU timeout uses 124).
const timeoutStatus = 124

// execRun runs ru's commands in order and reports to events. It is the
// only goroutine that touches ru's processes, apart from ru.signal.
func (r *Runner) execRun(ru *run, events chan<- runEvent) {
	c := ru.c
	if c.Each {
		r.execEach(ru, events)
		return
	}
	paths, evs, lines := mergeItems(ru.items)
	why := ru.why
	if why == "" {
		why = describeItems(c, ru.items)
	}
	if c.Clear {
		r.out.clear()
	}
	r.out.status(ru.prefix, "running (%s)", why)
	began := time.Now()
	end := runEvent{ru: ru}

	env, cleanup, err := environ(c, paths, evs, lines)
	if err == nil && len(ru.files) > 0 {
		env = append(env, EnvListenFDs+"="+strconv.Itoa(len(ru.files)), EnvListenFDNames+"="+ru.fdNames)
	}
	if err != nil {
		end.status = 126
		r.out.status(ru.prefix, "failed: could not prepare the run: %v", err)
		events <- end
		return
	}

	res := r.runCommands(ru, env, ru.daemon, events)
	end.status, end.reachedFinal = res.status, res.reachedFinal
	desc, stopped, timedOut := res.desc, res.stopped, res.timedOut
	cleanup()
	end.lived = time.Since(began)
	took := seconds(end.lived)
	switch {
	case stopped:
		r.out.status(ru.prefix, "stopped: %s (%s)", desc, took)
	case timedOut:
		if end.status == 0 {
			end.status = timeoutStatus
		}
		r.out.status(ru.prefix, "failed: timed out after %s: %s (%s)", c.Timeout, desc, took)
	case end.status != 0:
		r.out.status(ru.prefix, "failed: %s (%s)", desc, took)
	default:
		r.out.status(ru.prefix, "ok: %s (%s)", desc, took)
	}
	events <- end
}

// cmdResult is how a run's command list ended.
type cmdResult struct {
	status            int
	desc              string
	stopped, timedOut bool
	reachedFinal      bool
}

// runCommands runs c.Run in order with env, stopping at the first failure,
// at ru's stop request or at the rule's timeout. daemon reports the start
// of the last command to events; it also makes the running process the one
// ru.signal reaches (an Each run has several and signals none).
func (r *Runner) runCommands(ru *run, env []string, daemon bool, events chan<- runEvent) cmdResult {
	c := ru.c
	var end cmdResult
	var deadline <-chan time.Time
	if c.Timeout > 0 {
		t := time.NewTimer(c.Timeout)
		defer t.Stop()
		deadline = t.C
	}
	desc := "before its first command started"
	stopped, timedOut := false, false
	killed := r.groups.isKilled
commands:
	for i, cmd := range c.Run {
		select {
		case <-ru.stopReq:
			stopped = true
			break commands
		default:
		}
		final := i == len(c.Run)-1
		spec := procSpec{argv: cmd.argv(), dir: c.dir, env: env, out: r.out, prefix: ru.prefix, groups: &r.groups, onStartRetried: r.textBusyHook}
		if len(ru.files) > 0 {
			spec.argv, spec.files = activationArgv(cmd), ru.files
		}
		var tap *lineTap
		if daemon && final && c.probe != nil && c.probe.line != nil {
			tap = newLineTap()
		}
		spec.each = func(line []byte) {
			ru.capture.write(line)
			tap.line(string(line))
		}
		p, err := startProc(spec, ru.stopReq)
		if err != nil {
			select {
			case <-ru.stopReq: // asked to stop while retrying ETXTBSY
				stopped = true
			default:
			}
			end.status = startStatus(err)
			desc = fmt.Sprintf("could not start %s: %v", displayName(shorten(cmd.String(), 60)), err)
			break
		}
		if !c.Each {
			ru.setProc(p)
		}
		probeDone := func() {}
		if daemon && final {
			end.reachedFinal = true
			events <- runEvent{ru: ru, started: true}
			if c.probe != nil {
				probeDone = r.startProbe(ru, p, tap, events)
			}
		}
		var serr error
		select {
		case <-p.exited:
			// Members the leader left behind must not outlive the run.
			if p.groupAlive() {
				serr = p.stop(c.StopSignal, c.StopTimeout, killed)
			}
		case <-ru.stopReq:
			stopped = true
			serr = p.stop(c.StopSignal, c.StopTimeout, killed)
		case <-deadline:
			timedOut = true
			serr = p.stop(c.StopSignal, c.StopTimeout, killed)
		}
		tap.close()
		probeDone()
		if serr != nil {
			r.out.status(ru.prefix, "%v", serr)
		}
		if !c.Each {
			ru.setProc(nil)
		}
		p.finishOutput()
		r.groups.remove(p.pid)
		end.status, desc = p.exitStatus()
		if stopped || timedOut || end.status != 0 {
			break
		}
	}
	end.desc, end.stopped, end.timedOut = desc, stopped, timedOut
	if timedOut && end.status == 0 {
		end.status = timeoutStatus
	}
	return end
}

// mergeItems joins the items of one run: paths without duplicates in first
// seen order, the batches' event objects, every line.
func mergeItems(items []*item) (paths []string, evs [][]byte, lines []Line) {
	seen := map[string]bool{}
	for _, it := range items {
		for _, p := range it.paths {
			if !seen[p] {
				seen[p] = true
				paths = append(paths, p)
			}
		}
		if len(it.events) > 0 {
			evs = append(evs, it.events)
		}
		lines = append(lines, it.lines...)
	}
	return paths, evs, lines
}

// environ builds a command's environment and writes its events file; the
// returned cleanup removes that file.
func environ(c *compiled, paths []string, evs [][]byte, lines []Line) ([]string, func(), error) {
	f, err := os.CreateTemp("", "vigil-events-*.json")
	if err != nil {
		return nil, nil, fmt.Errorf("events file: %w", err)
	}
	name := f.Name()
	cleanup := func() { os.Remove(name) }
	for _, e := range evs {
		if _, err = f.Write(e); err == nil && e[len(e)-1] != '\n' {
			_, err = f.Write([]byte{'\n'})
		}
		if err != nil {
			break
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("events file %s: %w", name, err)
	}
	var joined strings.Builder
	for _, p := range paths {
		r := relTo(c.dir, p)
		if joined.Len()+1+len(r) > maxPathsEnv {
			break // the events file has them all
		}
		if joined.Len() > 0 {
			joined.WriteByte('\n')
		}
		joined.WriteString(r)
	}
	env := make([]string, 0, 64)
	for _, kv := range os.Environ() {
		// A vigil running under vigil must not pass its own values on.
		if !isOurVar(kv) {
			env = append(env, kv)
		}
	}
	env = append(env,
		EnvRule+"="+c.Name,
		EnvPaths+"="+joined.String(),
		EnvEventsFile+"="+name,
	)
	if len(lines) > 0 {
		// The environment cannot carry NUL bytes; a binary log line loses them.
		env = append(env,
			EnvFile+"="+lines[0].File,
			EnvLine+"="+strings.ReplaceAll(lines[0].Text, "\x00", ""),
			EnvOffset+"="+strconv.FormatInt(lines[0].Offset, 10),
		)
	}
	return env, cleanup, nil
}

// isOurVar reports whether kv sets one of the variables the runner provides.
func isOurVar(kv string) bool {
	name, _, _ := strings.Cut(kv, "=")
	switch name {
	case EnvRule, EnvPaths, EnvPath, EnvEventsFile, EnvFile, EnvLine, EnvOffset,
		EnvListenFDs, EnvListenPID, EnvListenFDNames, "LISTEN_FDNAMES_SEP":
		return true
	}
	return false
}

// startProbe runs the rule's readiness probe for the daemon p in the
// background and reports the outcome as a started event with ready or
// notReady set. The returned func stops the probe and waits for it, so that
// no report follows the run's end.
func (r *Runner) startProbe(ru *run, p *proc, tap *lineTap, events chan<- runEvent) func() {
	c := ru.c
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	began := time.Now()
	var lines <-chan string
	if tap != nil {
		lines = tap.ch
	}
	go func() {
		defer close(done)
		go func() {
			select {
			case <-p.exited:
				cancel()
			case <-ctx.Done():
			}
		}()
		err := c.probe.wait(ctx, c.ReadyTimeout, lines)
		select {
		case <-p.exited:
			return // the run's end reports it
		case <-ru.stopReq:
			return
		default:
		}
		ev := runEvent{ru: ru, started: true, ready: err == nil, took: time.Since(began)}
		if err != nil {
			ev.notReady = fmt.Errorf("not ready after %s: %s: %w", seconds(c.ReadyTimeout), c.probe.text, err)
		}
		events <- ev
	}()
	return func() { cancel(); <-done }
}
