package watcher

import (
	"errors"
	"testing"
)

// The glob semantics every package relies on (and README documents).
func TestGlobSemantics(t *testing.T) {
	cases := []struct {
		pattern, path string
		want          bool
	}{
		{"**/*.go", "main.go", true},
		{"**/*.go", "cmd/vigil/main.go", true},
		{"**/*.go", "main.c", false},
		{"*.go", "main.go", true},
		{"*.go", "cmd/main.go", false},
		{"src/**/*.go", "src/a.go", true},
		{"src/**/*.go", "src/x/y/a.go", true},
		{"src/**/*.go", "lib/a.go", false},
		{"docs/**", "docs/a/b.md", true},
		{"*.{go,mod}", "go.mod", true},
		{"?.txt", "a.txt", true},
		{"?.txt", "ab.txt", false},
		{"[a-c]*", "b.txt", true},
		{"[!a-c]*", "b.txt", false},
		// Normalization: these all mean "everything below src".
		{"./src/**", "src/a/b.go", true},
		{"src/", "src/a/b.go", true},
		{"src/**/", "src/a/b.go", true},
		{".//src//", "src/a.go", true},
		{"./src/**", "lib/a.go", false},
		{".", "any/thing", true},
		{"./", "x", true},
	}
	for _, c := range cases {
		g, err := CompileGlob(c.pattern)
		if err != nil {
			t.Fatalf("CompileGlob(%q): %v", c.pattern, err)
		}
		if got := g.Match(c.path); got != c.want {
			t.Errorf("%q (normalized %q) matches %q = %v, want %v", c.pattern, g, c.path, got, c.want)
		}
	}
}

func TestNormalizeGlob(t *testing.T) {
	same := map[string]string{
		"./src/**": "src/**", "src/": "src/**", "src/**/": "src/**", "././a/*.go": "a/*.go",
		"a//b": "a/b", ".": "**", "**/*.go": "**/*.go",
	}
	for in, want := range same {
		got, err := NormalizeGlob(in)
		if err != nil || got != want {
			t.Errorf("NormalizeGlob(%q) = %q, %v; want %q", in, got, err, want)
		}
		// Normal forms are fixed points: config stores them and the
		// runner and watcher normalize again.
		if again, _ := NormalizeGlob(got); again != got {
			t.Errorf("NormalizeGlob(%q) = %q, not a fixed point", got, again)
		}
	}
	bad := map[string]string{
		"":            "empty pattern",
		"/src/**":     `"/src/**" is absolute; patterns are relative to the watched directories`,
		"../x/*.go":   `"../x/*.go" leaves the watched directories; watch their parent instead`,
		"src/../../x": `"src/../../x" leaves the watched directories; watch their parent instead`,
	}
	for in, want := range bad {
		_, err := CompileGlob(in)
		var ge *GlobError
		if !errors.As(err, &ge) || ge.Syntax || err.Error() != want {
			t.Errorf("CompileGlob(%q) error = %v, want %q", in, err, want)
		}
	}
}

func TestGlobSyntaxErrorOffset(t *testing.T) {
	cases := []struct {
		pattern string
		off     int
	}{
		{"{a,b", 4},
		{"./x/{y", 6}, // offset in the pattern as written, past the dropped "./"
		{"a//{b", -1}, // collapsed slashes: the offset no longer maps
	}
	for _, c := range cases {
		_, err := CompileGlob(c.pattern)
		var ge *GlobError
		if !errors.As(err, &ge) || !ge.Syntax {
			t.Fatalf("CompileGlob(%q) error = %v, want a syntax error", c.pattern, err)
		}
		if ge.Offset != c.off {
			t.Errorf("CompileGlob(%q) offset = %d, want %d (%v)", c.pattern, ge.Offset, c.off, err)
		}
	}
}

// A follow pattern is absolute, and reads the same as a root-relative one
// whose root is its directory.
func TestPathGlobSameDialect(t *testing.T) {
	cases := []struct{ rel, abs string }{
		{"src/**", "/w/src/**"},
		{"src/", "/w/src/"},
		{"src/**/", "/w/./src/**/"},
		{"**/*.log", "/w/**/*.log"},
		{"*.{log,txt}", "/w/*.{log,txt}"},
	}
	paths := []string{"a.log", "src/a.go", "src/x/y.txt", "b.txt", "lib/c.log", "src"}
	for _, c := range cases {
		rg, err := CompileGlob(c.rel)
		if err != nil {
			t.Fatal(err)
		}
		ag, err := CompilePathGlob(c.abs)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range paths {
			if r, a := rg.Match(p), ag.Match("/w/"+p); r != a {
				t.Errorf("%q on %q = %v but %q on %q = %v", c.rel, p, r, c.abs, "/w/"+p, a)
			}
		}
	}
	if _, err := CompilePathGlob("logs/*.log"); err == nil {
		t.Errorf("CompilePathGlob accepted a relative pattern")
	}
}

func TestIsPattern(t *testing.T) {
	for p, want := range map[string]bool{
		"app.log": false, "/var/log/app.log": false, "*.log": true, "logs/": true,
		"a?.log": true, "[ab].log": true, "{a,b}.log": true, `a\*b`: true,
	} {
		if got := IsPattern(p); got != want {
			t.Errorf("IsPattern(%q) = %v, want %v", p, got, want)
		}
	}
}
