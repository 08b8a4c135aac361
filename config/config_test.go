package config

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden .err and .json files under testdata/config")

const testdataDir = "../testdata/config"

// TestGolden parses every testdata/config/*.yaml. A file with a .err file
// beside it must fail with exactly that text; one with a .json file must
// give exactly that config (paths under the config's directory shown as
// $DIR).
func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testdataDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test configs in %s: %v", testdataDir, err)
	}
	for _, file := range files {
		base := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(base, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			cfg, perr := Parse(filepath.Base(file), data)
			errFile := strings.TrimSuffix(file, ".yaml") + ".err"
			jsonFile := strings.TrimSuffix(file, ".yaml") + ".json"
			var got, goldFile string
			if perr != nil {
				got, goldFile = perr.Error()+"\n", errFile
				checkPositioned(t, filepath.Base(file), perr)
			} else {
				got, goldFile = dump(t, cfg), jsonFile
			}
			if *update {
				os.Remove(errFile)
				os.Remove(jsonFile)
				if err := os.WriteFile(goldFile, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(goldFile)
			if err != nil {
				if perr != nil {
					t.Fatalf("Parse failed but there is no %s:\n%s", filepath.Base(goldFile), got)
				}
				t.Fatalf("Parse succeeded but there is no %s:\n%s", filepath.Base(goldFile), got)
			}
			if got != string(want) {
				t.Errorf("%s: got\n%s\nwant\n%s", filepath.Base(goldFile), got, want)
			}
		})
	}
}

// checkPositioned asserts the contract the CLI relies on: a *Error whose
// every line is "NAME:LINE:COL: message", in position order.
func checkPositioned(t *testing.T, name string, err error) {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error is %T, not *config.Error: %v", err, err)
	}
	if len(ce.Issues) == 0 {
		t.Fatalf("*Error with no issues")
	}
	line := regexp.MustCompile(`^` + regexp.QuoteMeta(name) + `:\d+:\d+: \S`)
	for _, l := range strings.Split(err.Error(), "\n") {
		if !line.MatchString(l) {
			t.Errorf("error line not positioned: %q", l)
		}
	}
	for i := 1; i < len(ce.Issues); i++ {
		if ce.Issues[i].Pos.before(ce.Issues[i-1].Pos) {
			t.Errorf("issues out of order: %v before %v", ce.Issues[i-1].Pos, ce.Issues[i].Pos)
		}
	}
}

// dump renders a Config as indented JSON with readable durations, signal
// names and the test's directory replaced by $DIR, so goldens are portable.
func dump(t *testing.T, cfg *Config) string {
	t.Helper()
	dir := filepath.Dir(cfg.Path)
	rel := func(s string) string {
		if s == dir {
			return "$DIR"
		}
		if r, ok := strings.CutPrefix(s, dir+string(filepath.Separator)); ok {
			return "$DIR/" + r
		}
		return s
	}
	type rule struct {
		Name                string
		Match, Exclude, Run []string
		OnBusy, BusySignal  string `json:",omitempty"`
		RunAtStart          bool
		Timeout             string
		Clear, Daemon       bool
		StopSignal          string
		StopTimeout         string
		After, Follow       []string
		Line                string   `json:",omitempty"`
		Multiline           string   `json:",omitempty"`
		Throttle            string   `json:",omitempty"`
		Ops                 []string `json:",omitempty"`
		Each                bool     `json:",omitempty"`
		Jobs                int      `json:",omitempty"`
		Closed              bool     `json:",omitempty"`
		Settle              string   `json:",omitempty"`
		Dir                 string
		Pos                 string
		Sockets             []string `json:",omitempty"`
		Ready, ReadyTimeout string   `json:",omitempty"`
		Reload              bool     `json:",omitempty"`
	}
	type config struct {
		Path              string
		Watch, Ignore     []string
		Gitignore         bool
		Debounce, MaxWait string
		State             string `json:",omitempty"`
		Rules             []rule
		LiveReload        *LiveReload `json:",omitempty"`
	}
	out := config{
		Path:       rel(cfg.Path),
		Ignore:     cfg.Ignore,
		Gitignore:  cfg.Gitignore,
		Debounce:   cfg.Debounce.String(),
		MaxWait:    cfg.MaxWait.String(),
		LiveReload: cfg.LiveReload,
	}
	if cfg.State != "" {
		out.State = rel(cfg.State)
	}
	for _, w := range cfg.Watch {
		out.Watch = append(out.Watch, rel(w))
	}
	for _, r := range cfg.Rules {
		o := rule{
			Name: r.Name, Match: r.Match, Exclude: r.Exclude, Run: r.Run,
			OnBusy: r.OnBusy, RunAtStart: r.RunAtStart, Timeout: r.Timeout.String(),
			Clear: r.Clear, Daemon: r.Daemon, StopSignal: SignalName(r.StopSignal),
			StopTimeout: r.StopTimeout.String(), After: r.After, Dir: rel(r.Dir),
			Pos: fmt.Sprintf("%d:%d", r.Pos.Line, r.Pos.Col),
		}
		if r.BusySignal != 0 {
			o.BusySignal = SignalName(r.BusySignal)
		}
		o.Each, o.Jobs, o.Closed = r.Each, r.Jobs, r.Closed
		if r.Settle > 0 {
			o.Settle = r.Settle.String()
		}
		for _, op := range r.Ops {
			o.Ops = append(o.Ops, op.String())
		}
		for _, f := range r.Follow {
			o.Follow = append(o.Follow, rel(f))
		}
		if r.Multiline != nil {
			o.Multiline = r.Multiline.String()
		}
		if r.Throttle != 0 {
			o.Throttle = r.Throttle.String()
		}
		if r.Line != nil {
			o.Line = r.Line.String()
		}
		o.Sockets, o.Ready, o.Reload = r.Sockets, r.Ready, r.Reload
		if r.Ready != "" {
			o.ReadyTimeout = r.ReadyTimeout.String()
		}
		out.Rules = append(out.Rules, o)
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}
