package runner

import (
	"time"
)

// execEach is execRun for an Each rule: the command list runs once per
// path, at most c.Jobs at a time, each with VIGIL_PATH set. Paths fed to
// the run while it goes (see run.feed) join it; it ends when no path is
// waiting and none is running. Its status is the highest any path's
// commands ended with, so one failure fails the run (and `vigil --once`)
// without stopping the other paths.
func (r *Runner) execEach(ru *run, events chan<- runEvent) {
	c := ru.c
	began := time.Now()
	end := runEvent{ru: ru}
	done := make(chan int)
	active, ran, failed := 0, 0, 0
	stopping := false
	for {
		ru.mu.Lock()
		for !stopping && active < c.Jobs && len(ru.todo) > 0 {
			ep := ru.todo[0]
			ru.todo = ru.todo[1:]
			delete(ru.todoSet, ep.path)
			active++
			go func() { done <- r.runOne(ru, ep) }()
		}
		if active == 0 {
			ru.noMore = true // feed now leaves new paths for the next run
			ru.mu.Unlock()
			break
		}
		ru.mu.Unlock()
		select {
		case st := <-done:
			active--
			ran++
			if st != 0 {
				failed++
			}
			end.status = max(end.status, st)
		case <-ru.moreWake:
		case <-ru.stopReq:
			stopping = true // each process sees stopReq too
			ru.mu.Lock()
			ru.noMore = true
			ru.mu.Unlock()
		}
	}
	end.lived = time.Since(began)
	if ran > 1 || failed > 0 {
		r.out.status(ru.prefix, "ran for %d file(s), %d failed (%s)", ran, failed, seconds(end.lived))
	}
	events <- end
}

// runOne runs the command list for one path of an Each run and returns its
// status.
func (r *Runner) runOne(ru *run, ep eachPath) int {
	c := ru.c
	var evs [][]byte
	if len(ep.events) > 0 {
		evs = [][]byte{ep.events}
	}
	rel := relTo(c.dir, ep.path)
	r.out.status(ru.prefix, "running for %s", displayName(rel))
	began := time.Now()
	env, cleanup, err := environ(c, []string{ep.path}, evs, nil)
	if err != nil {
		r.out.status(ru.prefix, "failed: %s: could not prepare the run: %v", displayName(rel), err)
		return 126
	}
	defer cleanup()
	env = append(env, EnvPath+"="+rel)
	res := r.runCommands(ru, env, false, nil)
	took := seconds(time.Since(began))
	switch {
	case res.stopped:
		r.out.status(ru.prefix, "stopped: %s: %s (%s)", displayName(rel), res.desc, took)
	case res.timedOut:
		r.out.status(ru.prefix, "failed: %s: timed out after %s: %s (%s)", displayName(rel), c.Timeout, res.desc, took)
	case res.status != 0:
		r.out.status(ru.prefix, "failed: %s: %s (%s)", displayName(rel), res.desc, took)
	default:
		r.out.status(ru.prefix, "ok: %s: %s (%s)", displayName(rel), res.desc, took)
	}
	return res.status
}
