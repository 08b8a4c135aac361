package config

import (
	"fmt"
	"strings"

	"github.com/gobwas/glob"
)

// globCompiler is how every vigil glob is compiled: '*' and '?' stop at '/',
// and "**/" matches zero or more whole directories, as in shells with
// globstar and in .gitignore ("**/*.go" matches "main.go" too).
var globCompiler = glob.Compiler{Separators: []rune{'/'}, Globstar: true}

// CompileGlob compiles a pattern the way vigil.yaml's globs are compiled
// (match, exclude, ignore, follow), so that other packages and the CLI's -g
// and -x flags give patterns the same meaning. Patterns are matched against
// slash-separated paths relative to a watch root.
func CompileGlob(pattern string) (*glob.Pattern, error) {
	g, err := globCompiler.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("invalid glob %q: %w", pattern, err)
	}
	return g, nil
}

// normalizeRelGlob turns a pattern as written into the form it is matched
// in, relative to a watch root: a leading "./" is dropped (paths are never
// matched with it) and a trailing "/" means the directory's whole contents.
// It returns the normalized pattern, how many bytes were dropped from the
// front (to map glob error offsets back to the text as written), and a
// complaint when the pattern can never match a path under a root.
func normalizeRelGlob(p string) (norm string, dropped int, problem string) {
	if p == "" {
		return "", 0, "empty pattern"
	}
	if strings.HasPrefix(p, "/") {
		return "", 0, fmt.Sprintf("%q is absolute; patterns are relative to the watched directories", p)
	}
	orig := p
	for strings.HasPrefix(p, "./") {
		p = strings.TrimLeft(p[2:], "/")
	}
	dropped = len(orig) - len(p)
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return "", 0, fmt.Sprintf("%q leaves the watched directories; watch their parent instead", orig)
		}
	}
	if p == "" || p == "." {
		return "**", 0, ""
	}
	if strings.HasSuffix(p, "/") {
		p += "**"
	}
	return p, dropped, ""
}
