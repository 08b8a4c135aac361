package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

func TestLoadMissingFileSaysHowToCreateOne(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vigil.yaml")
	cfg, err := Load(path)
	if cfg != nil || err == nil {
		t.Fatalf("Load of a missing file: got %v, %v", cfg, err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error does not match fs.ErrNotExist: %v", err)
	}
	if _, ok := errors.AsType[*Error](err); !ok {
		t.Errorf("error is %T, want *config.Error", err)
	}
	want := path + `: no such file; run "vigil init" to write a commented starter vigil.yaml`
	if err.Error() != want {
		t.Errorf("got  %q\nwant %q", err, want)
	}
}

func TestLoadEmptyFileSaysHowToStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vigil.yaml")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	want := path + `:1:1: the config is empty: add at least one rule under "rules:" (or delete the file and run "vigil init" to write a commented starter)`
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}

func TestLoadUnreadable(t *testing.T) {
	dir := t.TempDir()
	_, err := Load(dir)
	want := dir + ": cannot read the config: is a directory"
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	if !errors.Is(err, syscall.EISDIR) {
		t.Errorf("cause lost: %v", err)
	}
}

// Relative paths in a config are relative to the config file, not to the
// directory vigil runs in.
func TestLoadResolvesPathsAgainstTheConfigDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "project")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "vigil.yaml")
	text := "watch: [src, ../shared, /abs/root]\nrules:\n  - name: a\n    run: make\n  - name: tail\n    follow: logs/*.log\n    line: x\n    run: echo\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "src"), filepath.Join(filepath.Dir(dir), "shared"), "/abs/root"}
	if strings.Join(cfg.Watch, "|") != strings.Join(want, "|") {
		t.Errorf("Watch = %q, want %q", cfg.Watch, want)
	}
	if cfg.Path != path || cfg.Rules[0].Dir != dir {
		t.Errorf("Path = %q, Dir = %q; want %q and %q", cfg.Path, cfg.Rules[0].Dir, path, dir)
	}
	if got := cfg.Rules[1].Follow; len(got) != 1 || got[0] != filepath.Join(dir, "logs/*.log") {
		t.Errorf("Follow = %q", got)
	}
}

func TestInitWritesStarterAndNeverOverwrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vigil.yaml")
	if err := Init(path); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != Starter {
		t.Fatalf("file after Init differs from Starter (err %v)", err)
	}
	if _, err := Load(path); err != nil {
		t.Fatalf("the starter Init wrote does not load:\n%v", err)
	}

	const mine = "rules:\n  - name: mine\n    run: make\n"
	if err := os.WriteFile(path, []byte(mine), 0o644); err != nil {
		t.Fatal(err)
	}
	err = Init(path)
	if err == nil || !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), path+" already exists") {
		t.Fatalf("second Init: got %v, want an error saying %s already exists", err, path)
	}
	if got, _ := os.ReadFile(path); string(got) != mine {
		t.Fatalf("Init overwrote an existing file: now %q", got)
	}
}

func TestInitInMissingDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "vigil.yaml")
	if err := Init(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Init into a missing directory: got %v", err)
	}
}

// The starter's commented-out examples must be valid rules once
// uncommented: users start from them.
func TestStarterExamplesParseWhenUncommented(t *testing.T) {
	cfg, err := Parse("vigil.yaml", []byte(Starter))
	if err != nil {
		t.Fatalf("starter as written:\n%v", err)
	}
	if len(cfg.Rules) != 1 {
		t.Errorf("starter as written has %d active rules, want 1", len(cfg.Rules))
	}
	example := regexp.MustCompile(`(?m)^  # (- |  )`)
	uncommented := example.ReplaceAllString(Starter, "  $1")
	cfg, err = Parse("vigil.yaml", []byte(uncommented))
	if err != nil {
		t.Fatalf("starter with its examples uncommented:\n%v\n%s", err, uncommented)
	}
	var names []string
	for _, r := range cfg.Rules {
		names = append(names, r.Name)
	}
	if got, want := strings.Join(names, " "), "changes test server build app alert"; got != want {
		t.Errorf("rules = %s, want %s", got, want)
	}
}

func TestParseSignal(t *testing.T) {
	for _, in := range []string{"SIGHUP", "HUP", "hup", "SigHup", "1", " HUP "} {
		if sig, err := ParseSignal(in); err != nil || sig != syscall.SIGHUP {
			t.Errorf("ParseSignal(%q) = %v, %v; want SIGHUP", in, sig, err)
		}
	}
	for in, want := range map[string]syscall.Signal{"TERM": syscall.SIGTERM, "9": syscall.SIGKILL, "sigusr2": syscall.SIGUSR2, "INT": syscall.SIGINT} {
		if sig, err := ParseSignal(in); err != nil || sig != want {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v", in, sig, err, want)
		}
	}
	for in, want := range map[string]string{
		"":        "empty signal name",
		"SIGTREM": `unknown signal "SIGTREM" (did you mean "SIGTERM"?)`,
		"usr3":    `unknown signal "usr3" (did you mean "SIGUSR1"?)`,
		"SIGFOO":  `unknown signal "SIGFOO"`,
		"0":       "unknown signal number 0",
		"-1":      "unknown signal number -1",
		"999":     "unknown signal number 999",
	} {
		if _, err := ParseSignal(in); err == nil || err.Error() != want {
			t.Errorf("ParseSignal(%q) error = %v, want %q", in, err, want)
		}
	}
	if got := SignalName(syscall.SIGTERM); got != "SIGTERM" {
		t.Errorf("SignalName(SIGTERM) = %q", got)
	}
}

// Equal decides whether a reload restarts a rule: a change to what it does
// counts, moving it in the file does not.
func TestRuleEqual(t *testing.T) {
	parse := func(text string) []Rule {
		t.Helper()
		cfg, err := Parse("vigil.yaml", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Rules
	}
	base := parse("rules:\n  - name: a\n    match: '**/*.go'\n    run: make\n  - name: l\n    follow: x.log\n    line: ERR\n    run: echo\n")
	moved := parse("# a comment moves everything down\nrules:\n  - name: l\n    follow: [x.log]\n    line: ERR\n    run: [echo]\n  - name: a\n    match: ['**/*.go']\n    run: make\n")
	if !base[0].Equal(moved[1]) || !base[1].Equal(moved[0]) {
		t.Errorf("moving rules made them differ")
	}
	changed := parse("rules:\n  - name: a\n    match: '**/*.go'\n    run: make all\n  - name: l\n    follow: x.log\n    line: ERROR\n    run: echo\n")
	if base[0].Equal(changed[0]) || base[1].Equal(changed[1]) {
		t.Errorf("changed run or line not detected")
	}
	if base[0].Equal(base[1]) {
		t.Errorf("different rules compare equal")
	}
}

// A reload keeps the tree watcher and the followers when what they depend
// on is unchanged, and only then.
func TestSameTreeSameFollow(t *testing.T) {
	parse := func(text string) *Config {
		t.Helper()
		cfg, err := Parse("/w/vigil.yaml", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	const lines = "  - name: alert\n    follow: /var/log/*.log\n    line: ERROR\n    run: echo\n"
	base := parse("ignore: [dist/]\nrules:\n  - name: a\n    run: make\n" + lines)
	cases := []struct {
		name           string
		text           string
		sameTree, same bool
	}{
		{"another command", "ignore: [dist/]\nrules:\n  - name: a\n    run: make all\n" + lines, true, true},
		{"same ignore, written differently", "ignore: [./dist/**]\nrules:\n  - name: a\n    run: make\n" + lines, true, true},
		{"another ignore", "ignore: [build/]\nrules:\n  - name: a\n    run: make\n" + lines, false, true},
		{"another debounce", "debounce: 1s\nignore: [dist/]\nrules:\n  - name: a\n    run: make\n" + lines, false, false},
		{"another line", "ignore: [dist/]\nrules:\n  - name: a\n    run: make\n" + strings.Replace(lines, "ERROR", "WARN", 1), true, false},
		{"no file rule left", "ignore: [dist/]\nrules:\n" + lines, false, true},
	}
	for _, c := range cases {
		o := parse(c.text)
		if got := base.SameTree(o); got != c.sameTree {
			t.Errorf("%s: SameTree = %v, want %v", c.name, got, c.sameTree)
		}
		if got := base.SameFollow(o); got != c.same {
			t.Errorf("%s: SameFollow = %v, want %v", c.name, got, c.same)
		}
	}
	var none *Config
	if none.SameTree(base) || none.SameFollow(base) {
		t.Errorf("a nil config (the first apply) must differ from any other")
	}
}

func TestSuggest(t *testing.T) {
	cases := map[string]string{
		"wach": "watch", "maxWait": "max_wait", "MAX_WAIT": "max_wait", "rulez": "rules",
		"comand": "run", "cmd": "run", "on_bsuy": "on_busy", "zzz": "", "": "",
	}
	for in, want := range cases {
		if got := suggest(in, append(append([]string{}, topKeys...), ruleKeys...), ruleAliases); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTildeIsTheHomeDirectory(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	cfg, err := Parse("vigil.yaml", []byte("watch: [~/src, \"~\"]\nrules:\n  - name: logs\n    follow: ~/logs/*.log\n    line: ERROR\n    run: echo\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(cfg.Watch, " "), filepath.Join(home, "src")+" "+home; got != want {
		t.Errorf("Watch = %q, want %q", got, want)
	}
	if got, want := cfg.Rules[0].Follow[0], filepath.Join(home, "logs/*.log"); got != want {
		t.Errorf("Follow = %q, want %q", got, want)
	}
	_, err = Parse("vigil.yaml", []byte("watch: [~]\nrules:\n  - name: a\n    run: make\n"))
	want := `vigil.yaml:1:9: watch: expected a path or a list of paths, found ~ (YAML reads it as "nothing"; quote it for a literal ~) in the list`
	if err == nil || err.Error() != want {
		t.Errorf("unquoted ~: got %v\nwant %s", err, want)
	}
}

func BenchmarkParse(b *testing.B) {
	uncommented := regexp.MustCompile(`(?m)^  # (- |  )`).ReplaceAllString(Starter, "  $1")
	data := []byte(uncommented)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse("vigil.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseSyntaxError(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("rules:\n")
	for i := range 500 {
		sb.WriteString("  - name: r" + strings.Repeat("x", i%7) + "\n    run: make\n")
	}
	sb.WriteString("   bad: [\n")
	data := []byte(sb.String())
	for b.Loop() {
		if _, err := Parse("vigil.yaml", data); err == nil {
			b.Fatal("no error")
		}
	}
}
