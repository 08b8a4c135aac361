package watcher

import (
	"bytes"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func TestWildmatch(t *testing.T) {
	tests := []struct {
		pattern, text string
		want          bool
	}{
		{"foo", "foo", true},
		{"foo", "bar", false},
		{"*", "foo", true},
		{"*", "foo/bar", false},
		{"f*", "foo", true},
		{"*.go", "a.go", true},
		{"*.go", "dir/a.go", false},
		{"?", "a", true},
		{"?", "/", false},
		{"a?c", "abc", true},
		{"**", "a/b/c", true},
		{"**/c", "c", true},
		{"**/c", "a/b/c", true},
		{"a/**", "a/b/c", true},
		{"a/**", "a", false},
		{"a/**/b", "a/b", true},
		{"a/**/b", "a/x/y/b", true},
		{"a/**/b", "a/x/y/c", false},
		{"a**b", "axxb", true},
		{"a**b", "ax/xb", false},
		{"*/b", "a/b", true},
		{"*/b", "a/c/b", false},
		{"[abc]", "b", true},
		{"[abc]", "d", false},
		{"[!abc]", "d", true},
		{"[^abc]", "a", false},
		{"[a-c]x", "bx", true},
		{"[a-c]x", "dx", false},
		{"[]]", "]", true},
		{"[!]]", "a", true},
		{"[a-]", "-", true},
		{"[[:digit:]]", "5", true},
		{"[[:digit:]]", "x", false},
		{"[[:alpha:]][[:digit:]]", "a1", true},
		{"[[:nope:]]", "a", false},
		{"[a", "a", false},
		{"\\*", "*", true},
		{"\\*", "a", false},
		{"a\\", "a", false},
		{"[/]", "/", false},
		{"foo*bar", "foobar", true},
		{"foo*bar", "fooxxbar", true},
		{"*a*b*", "xaxbx", true},
	}
	for _, tt := range tests {
		if got := wildmatch(tt.pattern, tt.text); got != tt.want {
			t.Errorf("wildmatch(%q, %q) = %v, want %v", tt.pattern, tt.text, got, tt.want)
		}
	}
}

func TestMatchAnchored(t *testing.T) {
	tests := []struct {
		pattern, rel string
		want         bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/bc", false},
		{"a/*.go", "a/x.go", true},
		{"a/*.go", "b/x.go", false},
		{"a/**", "a/x/y", true},
		// git's literal-prefix cut: "a**/*" globs as "**/*" after "a".
		{"a**/*", "a1", true},
		{"a**/*", "ab/c", true},
		{"doc/*.md", "doc/sub/b.md", false},
	}
	for _, tt := range tests {
		if got := matchAnchored(tt.pattern, tt.rel); got != tt.want {
			t.Errorf("matchAnchored(%q, %q) = %v, want %v", tt.pattern, tt.rel, got, tt.want)
		}
	}
}

func TestParseIgnoreLine(t *testing.T) {
	tests := []struct {
		line string
		ok   bool
		want ignoreRule
	}{
		{"", false, ignoreRule{}},
		{"# comment", false, ignoreRule{}},
		{"\\#hash", true, ignoreRule{pattern: "\\#hash"}},
		{"!keep", true, ignoreRule{pattern: "keep", negate: true}},
		{"\\!bang", true, ignoreRule{pattern: "\\!bang"}},
		{"build/", true, ignoreRule{pattern: "build", dirOnly: true}},
		{"/root.txt", true, ignoreRule{pattern: "root.txt", anchored: true}},
		{"a/b", true, ignoreRule{pattern: "a/b", anchored: true}},
		{"trail   ", true, ignoreRule{pattern: "trail"}},
		{"esc\\ ", true, ignoreRule{pattern: "esc\\ "}},
		{"/", false, ignoreRule{}},
		{"!", false, ignoreRule{}},
		{"a//", true, ignoreRule{pattern: "a/", dirOnly: true, anchored: true}},
	}
	for _, tt := range tests {
		got, ok := parseIgnoreLine(tt.line)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("parseIgnoreLine(%q) = %+v, %v; want %+v, %v", tt.line, got, ok, tt.want, tt.ok)
		}
	}
}

// gitCase is a repository to compare against git: ignore files (by path,
// ".git/info/exclude" included) and the paths to create ("/" at the end
// for a directory; parents are created as needed).
type gitCase struct {
	name    string
	ignores map[string]string
	paths   []string
	root    string // the watched root inside the repository ("" = top)
}

func TestGitignoreAgainstGit(t *testing.T) {
	requireGit(t)
	cases := []gitCase{
		{
			name:    "basics",
			ignores: map[string]string{".gitignore": "*.log\n!keep.log\nbuild/\n/top.txt\ndoc/*.md\n"},
			paths: []string{"a.log", "keep.log", "x/b.log", "x/keep.log", "build/o", "x/build/o",
				"build.txt", "top.txt", "x/top.txt", "doc/a.md", "doc/sub/b.md", "x/doc/a.md", "src/main.go"},
		},
		{
			name: "nested files override their parents",
			ignores: map[string]string{
				".gitignore":     "*.gen\n",
				"sub/.gitignore": "!*.gen\nlocal\n",
			},
			paths: []string{"a.gen", "sub/b.gen", "sub/deep/c.gen", "local", "sub/local", "sub/x/local"},
		},
		{
			name: "info/exclude has the lowest precedence",
			ignores: map[string]string{
				".git/info/exclude": "*.secret\nvendored/\n",
				".gitignore":        "!shared.secret\n",
			},
			paths: []string{"a.secret", "shared.secret", "x/b.secret", "vendored/v.go", "x/vendored/", "ok.go"},
		},
		{
			name:    "double stars",
			ignores: map[string]string{".gitignore": "**/logs\n**/cache/**\na/**/z\nfoo/**\n"},
			paths: []string{"logs/1", "x/logs/2", "cache/c", "x/cache/y/c", "a/z", "a/b/c/z", "b/a/z",
				"foo/bar", "foo/", "foox/bar"},
		},
		{
			name:    "a directory excluded cannot have files re-included",
			ignores: map[string]string{".gitignore": "out/\n!out/keep\nlib/*\n!lib/keep/\n"},
			paths:   []string{"out/keep", "out/x", "lib/keep/f", "lib/other/f", "lib/file"},
		},
		{
			name:    "brackets, escapes and trailing spaces",
			ignores: map[string]string{".gitignore": "[ab].txt\n[!x]y.go\n\\#notes\nspace   \n"},
			paths:   []string{"a.txt", "c.txt", "zy.go", "xy.go", "#notes", "space"},
		},
		{
			name: "a root below the repository top obeys the ignore files above it",
			ignores: map[string]string{
				".gitignore":         "*.o\n/pkg/gen/\n",
				"pkg/.gitignore":     "tmp/\n",
				".git/info/exclude":  "*.bak\n",
				"pkg/lib/.gitignore": "!keep.o\n",
			},
			paths: []string{"pkg/lib/a.o", "pkg/lib/keep.o", "pkg/lib/tmp/x", "pkg/gen/g.go", "pkg/lib/f.bak", "pkg/lib/f.go"},
			root:  "pkg/lib",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { compareWithGit(t, c) })
	}
}

func requireGit(t testing.TB) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
}

// compareWithGit builds c in a fresh repository and checks that every path
// the watcher indexes is one git does not ignore and vice versa.
func compareWithGit(t testing.TB, c gitCase) {
	repo := t.TempDir()
	git := func(stdin string, args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		cmd.Stdin = strings.NewReader(stdin)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+repo, "XDG_CONFIG_HOME="+repo)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			// check-ignore exits 1 when nothing is ignored.
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
				t.Fatalf("git %v: %v\n%s", args, err, errb.String())
			}
		}
		return out.String()
	}
	git("", "init", "-q")
	var all []string
	for _, p := range c.paths {
		full := filepath.Join(repo, p)
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
		} else {
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(full, []byte("x\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for p, content := range c.ignores {
		full := filepath.Join(repo, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Every path in the tree but .git, directories included.
	rootDir := filepath.Join(repo, c.root)
	filepath.WalkDir(rootDir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Name() == ".git" {
			return filepath.SkipDir
		}
		if p != rootDir {
			r, _ := filepath.Rel(repo, p)
			all = append(all, filepath.ToSlash(r))
		}
		return nil
	})
	sort.Strings(all)
	gitIgnored := map[string]bool{}
	for _, l := range strings.Split(git(strings.Join(all, "\n")+"\n", "check-ignore", "--no-index", "--stdin"), "\n") {
		if l != "" {
			gitIgnored[strings.TrimSuffix(l, "/")] = true
		}
	}

	w, err := New(Options{Roots: []string{rootDir}})
	if err != nil {
		t.Fatal(err)
	}
	r := newRun(w, nil)
	r.crawl()
	indexed := map[string]bool{}
	var walk func(n *dirNode)
	walk = func(n *dirNode) {
		n.ents.each(func(name string, e entry) {
			p, _ := filepath.Rel(repo, n.child(name))
			indexed[filepath.ToSlash(p)] = true
			if e.dir != nil {
				walk(e.dir)
			}
		})
	}
	if top := r.roots[0].top; top != nil {
		walk(top)
	}
	var diffs []string
	for _, p := range all {
		if ign := !indexed[p]; ign != gitIgnored[p] {
			diffs = append(diffs, "  "+p+": watcher ignores it: "+yesNo(ign)+", git: "+yesNo(gitIgnored[p]))
		}
	}
	if len(diffs) > 0 {
		var files []string
		for p, content := range c.ignores {
			files = append(files, "--- "+p+"\n"+content)
		}
		sort.Strings(files)
		t.Errorf("disagreements with git check-ignore:\n%s\nignore files:\n%s", strings.Join(diffs, "\n"), strings.Join(files, ""))
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// FuzzIgnore generates ignore files and trees from its input and compares
// the watcher's decisions with git check-ignore. The seeds run as a normal
// test; `go test -fuzz FuzzIgnore` explores further.
func FuzzIgnore(f *testing.F) {
	requireGit(f)
	for _, s := range []string{
		"seed-1", "seed-2", "stars", "brackets", "negations", "anchors", "nested",
		"dir-only", "deep", "escapes", "mixed-1", "mixed-2", "mixed-3", "mixed-4",
		"exclude-file", "x", "yy", "zzz", "0123456789", "the quick brown fox",
		// Found by fuzzing: git cuts a pattern's literal prefix before
		// globbing, so "!a**/*" re-includes "a[1]".
		"sA,d-1\xdf00 #",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		compareWithGit(t, genCase(data))
	})
}

var (
	fuzzNames    = []string{"a", "b", "c", "ab", "a.go", "b.log", "x.txt", "abc", "d1", "build", "Z", "a[1]", "b*c", "]x"}
	fuzzSegments = []string{"a", "b", "c", "*", "**", "?", "a*", "*.go", "*.log", "[ab]", "[!a]*",
		"[a-c]*", "build", "ab", "?b*", "x.*", "[[:digit:]]", "d?", "\\a", "Z", "**a", "a**",
		"[]x]*", "[!]]*", "a\\[1]", "b\\*c", "[a-]*", "[[:alpha:]]?", "*[0-9]]"}
)

// genCase derives a repository deterministically from data.
func genCase(data []byte) gitCase {
	h := fnv.New64a()
	h.Write(data)
	rng := rand.New(rand.NewPCG(h.Sum64(), uint64(len(data))))
	pick := func(list []string) string { return list[rng.IntN(len(list))] }
	pattern := func() string {
		n := 1 + rng.IntN(3)
		segs := make([]string, n)
		for i := range segs {
			segs[i] = pick(fuzzSegments)
		}
		p := strings.Join(segs, "/")
		if rng.IntN(4) == 0 {
			p = "/" + p
		}
		if rng.IntN(4) == 0 {
			p += "/"
		}
		if rng.IntN(4) == 0 {
			p = "!" + p
		}
		return p
	}
	lines := func(n int) string {
		var sb strings.Builder
		for i := 0; i < n; i++ {
			sb.WriteString(pattern() + "\n")
		}
		return sb.String()
	}
	set := map[string]bool{}
	for i := 0; i < 25; i++ {
		depth := 1 + rng.IntN(3)
		segs := make([]string, depth)
		for j := range segs {
			segs[j] = pick(fuzzNames)
		}
		set[strings.Join(segs, "/")] = true
	}
	// A path that is a prefix of another is a directory.
	var paths []string
	for p := range set {
		isDir := false
		for q := range set {
			if strings.HasPrefix(q, p+"/") {
				isDir = true
				break
			}
		}
		if isDir {
			paths = append(paths, p+"/")
		} else {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	c := gitCase{ignores: map[string]string{".gitignore": lines(2 + rng.IntN(6))}, paths: paths}
	if rng.IntN(2) == 0 {
		c.ignores[".git/info/exclude"] = lines(1 + rng.IntN(3))
	}
	// A nested ignore file in one of the directories.
	var dirs []string
	for _, p := range paths {
		if strings.HasSuffix(p, "/") {
			dirs = append(dirs, p)
		}
	}
	if len(dirs) > 0 && rng.IntN(2) == 0 {
		d := pick(dirs)
		c.ignores[d+".gitignore"] = lines(1 + rng.IntN(3))
	}
	return c
}
