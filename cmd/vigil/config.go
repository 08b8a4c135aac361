package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"time"

	"github.com/vigil-watch/vigil/config"
	"github.com/vigil-watch/vigil/debounce"
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

// treeSettings is what decides whether the tree watcher must restart on a
// config reload.
type treeSettings struct {
	Watch, Ignore     []string
	Gitignore         bool
	Debounce, MaxWait time.Duration
	Any               bool // some rule watches the tree
}

func treeOf(cfg *config.Config) treeSettings {
	t := treeSettings{Watch: cfg.Watch, Ignore: cfg.Ignore, Gitignore: cfg.Gitignore, Debounce: cfg.Debounce, MaxWait: cfg.MaxWait}
	for _, r := range cfg.Rules {
		if len(r.Follow) == 0 {
			t.Any = true
		}
	}
	return t
}

// lineRules is the part of a config the followers depend on.
func lineRules(cfg *config.Config) []config.Rule {
	var out []config.Rule
	for _, r := range cfg.Rules {
		if len(r.Follow) > 0 {
			out = append(out, r)
		}
	}
	return out
}

// apply starts (first) or updates (a reload) the watcher, the followers and
// the runner's rules to match cfg. On a reload only what changed restarts.
func (s *session) apply(cfg *config.Config, first bool) error {
	old := s.cfg
	backend, interval := backendOf(s.rf.backend, s.rf.poll)
	var parts int
	newTree := first || !reflect.DeepEqual(treeOf(old), treeOf(cfg))
	newLines := first || !sameLineRules(lineRules(old), lineRules(cfg))
	var w *watcher.Watcher
	if newTree && treeOf(cfg).Any {
		var err error
		w, err = watcher.New(watcher.Options{
			Roots:        cfg.Watch,
			Exclude:      cfg.Ignore,
			NoIgnore:     !cfg.Gitignore,
			Debounce:     cfg.Debounce,
			MaxWait:      cfg.MaxWait,
			Backend:      backend,
			PollInterval: interval,
			Logf:         logf(s.stderr),
			FlushOnStop:  true, // see startWatcher
		})
		if err != nil {
			return fmt.Errorf("%w: %s: %w", errSetup, cfg.Path, err)
		}
		parts++
	}
	var followers []*lineFollower
	if newLines {
		for _, lr := range lineRules(cfg) {
			f, err := newLineFollower(lr, cfg, backend, interval, s)
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
	s.expect(parts)
	if !first {
		rules := runnerRules(cfg, s.rf)
		if s.rf.once {
			rules = dropDaemons(rules, s.stderr)
		}
		s.r.Reload(rules)
	}
	if newTree {
		if s.stopTree != nil {
			s.stopTree()
			s.stopTree = nil
		}
		if w != nil {
			s.stopTree = s.startWatcher(w)
		}
	}
	if newLines {
		if s.stopLines != nil {
			s.stopLines()
		}
		ctx, cancel := context.WithCancel(s.sig.ctx)
		s.stopLines = cancel
		for _, f := range followers {
			go f.run(ctx)
		}
	}
	s.cfg = cfg
	if first {
		return s.watchConfig(backend, interval)
	}
	return nil
}

// sameLineRules compares line rules by what the followers use.
func sameLineRules(a, b []config.Rule) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || !reflect.DeepEqual(a[i].Follow, b[i].Follow) ||
			a[i].Line.String() != b[i].Line.String() {
			return false
		}
	}
	return true
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

// lineFollower follows a line rule's files, and hands the lines that match
// to the runner in batches, debounced like file changes.
type lineFollower struct {
	rule           config.Rule
	f              *follow.Follower
	s              *session
	quiet, maxWait time.Duration
}

func newLineFollower(r config.Rule, cfg *config.Config, backend vnode.Backend, interval time.Duration, s *session) (*lineFollower, error) {
	patterns := make([]string, len(r.Follow))
	for i, p := range r.Follow {
		if !filepath.IsAbs(p) {
			p = filepath.Join(r.Dir, p)
		}
		patterns[i] = p
	}
	f, err := follow.New(follow.Options{
		Patterns:     patterns,
		Last:         -1, // only lines written from now on
		Backend:      backend,
		PollInterval: interval,
		Logf:         logf(s.stderr),
	})
	if err != nil {
		return nil, err
	}
	return &lineFollower{rule: r, f: f, s: s, quiet: cfg.Debounce, maxWait: cfg.MaxWait}, nil
}

// run follows until ctx ends. Matching lines collect into a batch that is
// sent once no line has matched for the quiet period, or max wait after the
// batch's first line.
func (lf *lineFollower) run(ctx context.Context) {
	lines := make(chan follow.Line, 256)
	go func() {
		err := lf.f.Run(ctx, lf.s.partReady, func(l follow.Line) error {
			if !lf.rule.Line.MatchString(l.Text) {
				return nil
			}
			select {
			case lines <- l:
			case <-ctx.Done():
				return ctx.Err()
			}
			return nil
		})
		if err != nil && ctx.Err() == nil {
			fmt.Fprintf(lf.s.stderr, "vigil: rule %q stopped following: %v\n", lf.rule.Name, err)
		}
	}()
	var pending []runner.Line
	deb := debounce.New(lf.quiet, lf.maxWait)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case l := <-lines:
			pending = append(pending, runner.Line{File: l.File, Text: l.Text, Offset: l.Offset})
			now := time.Now()
			timer.Reset(max(deb.Add(now).Sub(now), 0))
		case <-timer.C:
			now := time.Now()
			if !deb.Due(now) {
				timer.Reset(max(deb.FireAt().Sub(now), 0))
				continue
			}
			deb.Reset()
			lf.s.send(ctx, lineBatch(lf.rule.Name, pending))
			pending = nil
		}
	}
}

// lineBatch builds the runner batch of a line rule; its events file lists
// every matching line.
func lineBatch(rule string, lines []runner.Line) runner.Batch {
	type jline struct {
		File   string `json:"file"`
		Line   string `json:"line"`
		Offset int64  `json:"offset"`
	}
	ev := struct {
		Time  time.Time `json:"time"`
		Rule  string    `json:"rule"`
		Lines []jline   `json:"lines"`
	}{Time: time.Now().UTC(), Rule: rule}
	seen := map[string]bool{}
	var paths []string
	for _, l := range lines {
		ev.Lines = append(ev.Lines, jline{l.File, l.Text, l.Offset})
		if !seen[l.File] {
			seen[l.File] = true
			paths = append(paths, l.File)
		}
	}
	data, _ := json.Marshal(ev)
	return runner.Batch{Rule: rule, Paths: paths, Events: data, Lines: lines}
}
