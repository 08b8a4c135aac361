package runner

import (
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/vigil-watch/vigil/watcher"
)

func TestMatch(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name           string
		roots          []string
		match, exclude []string
		path           string
		want           bool
	}{
		{"empty match takes all", nil, nil, nil, "/p/x/y.txt", true},
		{"outside the root", nil, nil, nil, "/elsewhere/a.go", false},
		{"a file root matches itself", []string{"/w/main.go"}, []string{"*.go"}, nil, "/w/main.go", true},
		{"a file root, other glob", []string{"/w/main.go"}, []string{"*.md"}, nil, "/w/main.go", false},
		{"sibling with root as prefix", nil, nil, nil, "/pp/a.go", false},
		{"star stays in a segment", nil, []string{"*.go"}, nil, "/p/sub/a.go", false},
		{"star top level", nil, []string{"*.go"}, nil, "/p/a.go", true},
		{"globstar zero dirs", nil, []string{"**/*.go"}, nil, "/p/a.go", true},
		{"globstar deep", nil, []string{"**/*.go"}, nil, "/p/a/b/c.go", true},
		{"globstar in the middle", nil, []string{"src/**/*.go"}, nil, "/p/src/a.go", true},
		{"exclude file", nil, []string{"**/*.go"}, []string{"**/*_gen.go"}, "/p/x/y_gen.go", false},
		{"exclude a directory excludes beneath", nil, nil, []string{"node_modules"}, "/p/node_modules/x/y.js", false},
		{"exclude a nested directory", nil, nil, []string{"**/dist"}, "/p/web/dist/app.js", false},
		{"exclude does not catch a prefix of a name", nil, nil, []string{"dist"}, "/p/distant.txt", true},
		{"relative root under dir", []string{"web"}, []string{"*.css"}, nil, "/p/web/site.css", true},
		{"relative root, path outside it", []string{"web"}, nil, nil, "/p/api/x.go", false},
		{"second root", []string{"/a", "/b"}, []string{"x"}, nil, "/b/x", true},
		{"brace alternatives", nil, []string{"*.{go,mod}"}, nil, "/p/go.mod", true},
		{"name with spaces", nil, []string{"**/*.go"}, nil, "/p/my dir/a b.go", true},
		// The one dialect: these mean what they mean in -g and in follow.
		{"leading ./", nil, []string{"./src/**"}, nil, "/p/src/a/b.go", true},
		{"trailing slash", nil, []string{"src/"}, nil, "/p/src/a.go", true},
		{"globstar and trailing slash", nil, []string{"src/**/"}, nil, "/p/src/x/a.go", true},
		{"trailing slash, other dir", nil, []string{"src/"}, nil, "/p/lib/a.go", false},
		{"exclude with ./", nil, nil, []string{"./gen/"}, "/p/gen/x.go", false},
	}
	for _, tc := range cases {
		c, err := compileRule(Rule{Name: "r", Dir: "/p", Roots: tc.roots, Match: tc.match, Exclude: tc.exclude, Run: sh("true")})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := c.matches(tc.path); got != tc.want {
			t.Errorf("%s: matches(%q) = %v, want %v", tc.name, tc.path, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	ok := func(name string, after ...string) Rule { return Rule{Name: name, After: after, Run: sh("true")} }
	cases := []struct {
		name  string
		rules []Rule
		want  string // "" = valid
	}{
		{"fine", []Rule{ok("a"), ok("b", "a")}, ""},
		{"no name", []Rule{{Run: sh("x")}}, "a rule has no name"},
		{"duplicate", []Rule{ok("a"), ok("a")}, `rule 2: duplicate name "a"`},
		{"nothing to run", []Rule{{Name: "a"}}, `rule "a": nothing to run`},
		{"blank shell", []Rule{{Name: "a", Run: sh("  ")}}, `rule "a": command 1 is empty`},
		{"both forms", []Rule{{Name: "a", Run: []Command{{Shell: "x", Argv: []string{"y"}}}}}, "both a shell string and an argv"},
		{"bad policy", []Rule{{Name: "a", OnBusy: "later", Run: sh("x")}}, `unknown on_busy policy "later"`},
		{"bad glob", []Rule{{Name: "a", Match: []string{"[a"}, Run: sh("x")}}, `rule "a": match: invalid glob "[a"`},
		{"absolute match", []Rule{{Name: "a", Match: []string{"/src/*.go"}, Run: sh("x")}}, `rule "a": match: "/src/*.go" is absolute`},
		{"bad exclude", []Rule{{Name: "a", Exclude: []string{"{a"}, Run: sh("x")}}, `rule "a": exclude: invalid glob "{a"`},
		{"unknown after", []Rule{ok("a", "zzz")}, `rule "a": after names unknown rule "zzz"`},
		{"cycle", []Rule{ok("a", "c"), ok("b", "a"), ok("c", "b")}, "cycle: b after a after c after b"},
		{"self", []Rule{ok("a", "a")}, "cycle: a after a"},
	}
	for _, tc := range cases {
		err := Validate(tc.rules)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tc.name, err)
		case tc.want != "" && err == nil:
			t.Errorf("%s: no error, want one containing %q", tc.name, tc.want)
		case tc.want != "" && !strings.Contains(err.Error(), tc.want):
			t.Errorf("%s: error %q lacks %q", tc.name, err, tc.want)
		}
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := compileRule(Rule{Name: "a", Run: sh("x")})
	if err != nil {
		t.Fatal(err)
	}
	if c.OnBusy != Queue || c.StopSignal != DefaultStopSignal || c.StopTimeout != DefaultStopTimeout || c.BusySignal != DefaultBusySignal {
		t.Errorf("defaults not applied: %+v", c.Rule)
	}
	if c.busyPolicy(true) != Restart {
		t.Error("a daemon with the default policy must restart on change")
	}
}

func TestCopyLines(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	o := &output{out: &b, err: io.Discard}
	// One byte per read: lines are still whole and prefixed once.
	o.copyLines(&b, "[x] ", iotest.OneByteReader(strings.NewReader("one\ntwo\n\nlast without newline")))
	if got, want := b.String(), "[x] one\n[x] two\n[x] \n[x] last without newline\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	b.Reset()
	long := strings.Repeat("y", maxLine+10)
	o.copyLines(&b, "> ", strings.NewReader(long+"\nnext\n"))
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 3 || lines[2] != "> next" || len(lines[0])+len(lines[1]) != len(long)+4 {
		t.Errorf("an over-long line was not cut into bounded pieces: %d lines, ends %q", len(lines), lines[len(lines)-1])
	}
}

func TestDescribePaths(t *testing.T) {
	t.Parallel()
	got := describePaths("/p", []string{"/p/a.go", "/p/b/c.go", "/p/new\nline.go", "/p/d", "/p/e"})
	if want := `a.go, b/c.go, "new\nline.go" and 2 more`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// A rule matches any path a change names: moving a.go away, or renaming
// something to b.go, both run a rule for "**/*.go".
func TestMatchChangesRenames(t *testing.T) {
	t.Parallel()
	c, err := compileRule(Rule{Name: "go", Dir: "/p", Match: []string{"**/*.go"}, Run: sh("true")})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		ch   watcher.Change
		want []string
	}{
		{watcher.Change{Path: "/p/a.go.bak", Op: watcher.Rename, Old: "/p/a.go"}, []string{"/p/a.go"}},
		{watcher.Change{Path: "/p/b.go", Op: watcher.Rename, Old: "/p/b.txt"}, []string{"/p/b.go"}},
		{watcher.Change{Path: "/p/c.go", Op: watcher.Rename, Old: "/p/d.go"}, []string{"/p/c.go"}},
		{watcher.Change{Path: "/p/x.txt", Op: watcher.Rename, Old: "/p/y.txt"}, nil},
		{watcher.Change{Path: "/p/z.go", Op: watcher.Remove}, []string{"/p/z.go"}},
	}
	for _, tc := range cases {
		if got := c.matchChanges([]watcher.Change{tc.ch}); !slices.Equal(got, tc.want) {
			t.Errorf("%+v: matched %q, want %q", tc.ch, got, tc.want)
		}
	}
}

// With Ops, only changes with those ops count: a chmod does not run a
// rule for create and write, and an unknown op is refused.
func TestMatchChangesOps(t *testing.T) {
	t.Parallel()
	c, err := compileRule(Rule{Name: "in", Dir: "/p", Ops: []watcher.Op{watcher.Create, watcher.Write}, Run: sh("true")})
	if err != nil {
		t.Fatal(err)
	}
	got := c.matchChanges([]watcher.Change{
		{Path: "/p/a", Op: watcher.Create},
		{Path: "/p/b", Op: watcher.Chmod},
		{Path: "/p/c", Op: watcher.Write},
		{Path: "/p/d", Op: watcher.Remove},
		{Path: "/p/e", Op: watcher.Rename, Old: "/p/f"},
	})
	if want := []string{"/p/a", "/p/c"}; !slices.Equal(got, want) {
		t.Errorf("matched %q, want %q", got, want)
	}
	if _, err := compileRule(Rule{Name: "bad", Dir: "/p", Ops: []watcher.Op{42}, Run: sh("true")}); err == nil {
		t.Error("an invalid op was accepted")
	}
}
