package config

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vigil-watch/vigil/watcher"
)

// FuzzParse checks that Parse never panics and always returns either a valid
// config or a *Error whose every line is positioned. Seeded with every
// config under testdata/config and the starter; runs its seeds as a normal
// test.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(testdataDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds in %s: %v", testdataDir, err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(Starter))

	const name = "vigil.yaml"
	positioned := regexp.MustCompile(`^vigil\.yaml:\d+:\d+: `)
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(name, data)
		if (cfg == nil) == (err == nil) {
			t.Fatalf("Parse returned config %v and error %v; want exactly one", cfg != nil, err)
		}
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || len(ce.Issues) == 0 {
				t.Fatalf("error is %T with no issues: %v", err, err)
			}
			for _, l := range strings.Split(err.Error(), "\n") {
				if !positioned.MatchString(l) {
					t.Fatalf("unpositioned error line %q in:\n%s", l, err)
				}
			}
			_, err2 := Parse(name, data)
			if err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("Parse is not deterministic:\n%v\nthen\n%v", err, err2)
			}
			return
		}
		checkInvariants(t, cfg)
	})
}

// checkInvariants asserts what Config's documentation promises users of a
// successfully parsed config.
func checkInvariants(t *testing.T, cfg *Config) {
	t.Helper()
	if len(cfg.Rules) == 0 || len(cfg.Watch) == 0 || cfg.Debounce <= 0 || cfg.MaxWait < cfg.Debounce {
		t.Fatalf("bad top level: %+v", cfg)
	}
	for _, w := range cfg.Watch {
		if !filepath.IsAbs(w) {
			t.Fatalf("watch root %q is not absolute", w)
		}
	}
	names := map[string]bool{}
	for _, r := range cfg.Rules {
		if !validName.MatchString(r.Name) || names[r.Name] {
			t.Fatalf("bad or repeated rule name %q", r.Name)
		}
		names[r.Name] = true
		if len(r.Run) == 0 || !r.Pos.IsValid() {
			t.Fatalf("rule %q: no run or no position: %+v", r.Name, r)
		}
		for _, c := range r.Run {
			if strings.TrimSpace(c) == "" {
				t.Fatalf("rule %q: blank command", r.Name)
			}
		}
		if r.IsLineRule() != (r.Line != nil) || r.IsLineRule() && len(r.Match)+len(r.Exclude) > 0 {
			t.Fatalf("rule %q: line rule invariants broken: %+v", r.Name, r)
		}
		if r.BusySignal != 0 && r.OnBusy != onBusySignal {
			t.Fatalf("rule %q: on_busy %s with busy signal %d", r.Name, r.OnBusy, r.BusySignal)
		}
		for _, g := range append(append([]string{}, r.Match...), r.Exclude...) {
			if n, err := watcher.NormalizeGlob(g); err != nil || n != g {
				t.Fatalf("rule %q: glob %q kept but not in normal form (%q, %v)", r.Name, g, n, err)
			}
			if _, err := watcher.CompileGlob(g); err != nil {
				t.Fatalf("rule %q: glob %q kept but does not compile: %v", r.Name, g, err)
			}
		}
	}
	for _, r := range cfg.Rules {
		for _, a := range r.After {
			if !names[a] {
				t.Fatalf("rule %q: after names unknown rule %q", r.Name, a)
			}
		}
	}
}
