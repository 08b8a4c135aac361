package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/vigil-watch/vigil/config"
	"github.com/vigil-watch/vigil/runner"
	"github.com/vigil-watch/vigil/vnode"
	"github.com/vigil-watch/vigil/watcher"
	"github.com/vigil-watch/vigil/watcher/follow"
)

// runnerRules converts a config's rules into the runner's terms.
func runnerRules(cfg *config.Config, rf ruleFlags) []runner.Rule {
	out := make([]runner.Rule, 0, len(cfg.Rules))
	for _, cr := range cfg.Rules {
		r := runner.Rule{
			Name:        cr.Name,
			Roots:       cfg.Watch,
			Match:       cr.Match,
			Exclude:     cr.Exclude,
			Ops:         cr.Ops,
			Each:        cr.Each,
			Jobs:        cr.Jobs,
			OnBusy:      runner.Policy(cr.OnBusy),
			BusySignal:  cr.BusySignal,
			RunAtStart:  cr.RunAtStart,
			Timeout:     cr.Timeout,
			Clear:       cr.Clear || rf.clear,
			Daemon:      cr.Daemon,
			StopSignal:  cr.StopSignal,
			StopTimeout: cr.StopTimeout,
			After:       cr.After,
			LineRule:    len(cr.Follow) > 0,
			Dir:         cr.Dir,

			Sockets:      cr.Sockets,
			Ready:        cr.Ready,
			ReadyTimeout: cr.ReadyTimeout,
			Reload:       cr.Reload,
		}
		if rf.policy != "" && !r.LineRule {
			r.OnBusy = rf.policy // --restart / --on-busy override the file
		}
		for _, c := range cr.Run {
			r.Run = append(r.Run, runner.Command{Shell: c})
		}
		out = append(out, r)
	}
	return out
}

// apply starts (first) or updates (a reload) the watcher, the followers and
// the runner's rules to match cfg. On a reload only what changed restarts.
func (s *session) apply(cfg *config.Config, first bool) error {
	old := s.cfg
	backend, interval := backendOf(s.rf.backend, s.rf.poll)
	var parts int
	newTree := !old.SameTree(cfg)
	newLines := !old.SameFollow(cfg)
	var w *watcher.Watcher
	if newTree && cfg.WatchesTree() {
		var err error
		closed, settle := cfg.Closed()
		w, err = watcher.New(watcher.Options{
			Closed:       closed,
			Settle:       settle,
			Roots:        cfg.Watch,
			Exclude:      cfg.Ignore,
			NoIgnore:     !cfg.Gitignore,
			Debounce:     cfg.Debounce,
			MaxWait:      cfg.MaxWait,
			Backend:      backend,
			PollInterval: interval,
			IgnoreFiles:  ownOutputs(),
			OnError:      printError(s.stderr),
			Logf:         logf(s.stderr),
			FlushOnStop:  true, // see startWatcher
		})
		if err != nil {
			return fmt.Errorf("%w: %s: %w", errSetup, cfg.Path, err)
		}
		parts++
	}
	var followers []runner.LineSource
	if newLines {
		for _, lr := range cfg.LineRules() {
			f, err := s.newLineSource(lr, cfg, backend, interval)
			if err != nil {
				return fmt.Errorf("%w: %s: rule %q: %w", errSetup, cfg.Path, lr.Name, err)
			}
			followers = append(followers, f)
		}
		parts += len(followers)
	}
	if first {
		parts++ // the config file's own watch
	}
	if !first {
		// The runner decides which rules restart; rules it rejects leave
		// everything as it was.
		rules := runnerRules(cfg, s.rf)
		if s.rf.once {
			rules = dropDaemons(rules, s.stderr)
		}
		if err := s.r.Reload(rules); err != nil {
			return fmt.Errorf("%w: %s: %w", errSetup, cfg.Path, err)
		}
	}
	s.expect(parts)
	if newTree {
		if s.stopTree != nil {
			s.stopTree()
			s.stopTree = nil
		}
		if w != nil {
			s.skipUnchanged = cfg.SkipUnchanged
			s.stopTree = s.startWatcher(w)
		}
	}
	if newLines {
		if s.stopLines != nil {
			s.stopLines()
			// The old followers save their state as they return: the
			// new ones must read it after that.
			waitGroupFor(&s.lines, followersStop)
		}
		ctx, cancel := context.WithCancel(s.sig.ctx)
		s.stopLines = cancel
		for _, f := range followers {
			s.lines.Add(1)
			go func() {
				defer s.lines.Done()
				s.followLines(ctx, f)
			}()
		}
	}
	s.cfg = cfg
	if first {
		return s.watchConfig(backend, interval)
	}
	return nil
}

// watchConfig reloads the config whenever its file changes: a valid edit is
// applied, an invalid one reported while the old config keeps running.
func (s *session) watchConfig(backend vnode.Backend, interval time.Duration) error {
	w, err := watcher.New(watcher.Options{
		Roots:        []string{s.cfgPath},
		NoIgnore:     true,
		Debounce:     100 * time.Millisecond,
		Backend:      backend,
		PollInterval: interval,
		OnError:      printError(s.stderr),
		Logf:         logf(s.stderr),
	})
	if err != nil {
		return fmt.Errorf("watch %s: %w", s.cfgPath, err)
	}
	out := make(chan watcher.Batch)
	ctx := s.sig.ctx
	go func() {
		if err := w.Run(ctx, func(watcher.Stats) { s.partReady() }, out); err != nil && ctx.Err() == nil {
			fmt.Fprintf(s.stderr, "vigil: not watching %s any more: %v\n", s.cfgPath, err)
		}
	}()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-out:
				cfg, err := config.Load(s.cfgPath)
				if err != nil {
					fmt.Fprintf(s.stderr, "vigil: %s changed but is not valid; still running the previous rules:\n%v\n", s.cfgPath, err)
					continue
				}
				if err := s.apply(cfg, false); err != nil {
					fmt.Fprintf(s.stderr, "vigil: %s changed but cannot be applied; still running the previous rules: %v\n", s.cfgPath, trimUsage(err))
					continue
				}
				fmt.Fprintf(s.stderr, "vigil: reloaded %s\n", filepath.Base(s.cfgPath))
			}
		}
	}()
	return nil
}

// newLineSource builds the follower of a line rule, for the runner.
func (s *session) newLineSource(r config.Rule, cfg *config.Config, backend vnode.Backend, interval time.Duration) (runner.LineSource, error) {
	f, err := follow.New(follow.Options{
		Patterns:     r.Follow, // absolute: config made them so
		Last:         -1,       // only lines written from now on, unless the state knows better
		State:        cfg.StateFor(r),
		Multiline:    r.Multiline,
		Backend:      backend,
		PollInterval: interval,
		Logf:         logf(s.stderr),
	})
	if err != nil {
		return runner.LineSource{}, err
	}
	return runner.LineSource{Rule: r.Name, Follower: f, Line: r.Line, Debounce: cfg.Debounce, MaxWait: cfg.MaxWait, Throttle: r.Throttle, Ready: s.partReady}, nil
}

// followersStop bounds the wait for line rules' followers to return (and
// save their state) when they are stopped.
const followersStop = 5 * time.Second

// waitGroupFor waits for wg, at most d.
func waitGroupFor(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// followLines runs a line rule's follower until ctx ends.
func (s *session) followLines(ctx context.Context, src runner.LineSource) {
	if err := s.r.FollowLines(ctx, src); err != nil && ctx.Err() == nil {
		fmt.Fprintf(s.stderr, "vigil: rule %q stopped following: %v\n", src.Rule, err)
	}
}
