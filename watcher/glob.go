package watcher

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/gobwas/glob"
)

// globMeta are the bytes that make text a glob rather than a literal path
// in the dialect: wildcards, classes, braces and escapes.
const globMeta = "*?[{\\"

// HasGlobMeta reports whether s (a pattern, or one segment of it) holds
// glob syntax, so that it may match other paths than itself.
func HasGlobMeta(s string) bool { return strings.ContainsAny(s, globMeta) }

// IsPattern reports whether a pattern as written can name more than one
// path: it holds glob syntax, or it ends in "/", which means everything
// below a directory.
func IsPattern(pattern string) bool {
	return HasGlobMeta(pattern) || strings.HasSuffix(pattern, "/")
}

// globCompiler is the one way a vigil glob is compiled.
var globCompiler = glob.Compiler{Separators: []rune{'/'}, Globstar: true}

// Glob is a compiled pattern of vigil's one glob dialect, the only one
// used by every package that matches paths:
// the CLI's -g and -x, vigil.yaml's ignore, match, exclude and follow, the
// runner's rules and the follower. Its rules:
//
//   - '/' separates segments; '*' and '?' never match it.
//   - "**/" matches zero or more whole directories, as in shells with
//     globstar and in .gitignore: "**/*.go" matches "main.go" too, and
//     "src/**" matches everything below src.
//   - Braces, classes and escapes are gobwas/glob's: "*.{go,mod}",
//     "[a-c]*", "[!a-c]*", "\*".
//
// A pattern relative to a root (see [CompileGlob]) is normalized first:
//
//   - a leading "./" is dropped, since paths are never matched with it;
//   - a trailing "/" means the directory's whole contents ("src/" is
//     "src/**", and so is "src/**/");
//   - "." (the root itself) means everything, "**";
//   - an absolute pattern, or one with a ".." segment, is an error: it could
//     never match a path below a root.
//
// A pattern for absolute paths (see [CompilePathGlob]) is cleaned as a
// path, and a trailing "/" means the directory's contents there too.
type Glob struct {
	src  string // as written
	norm string // as compiled
	p    *glob.Pattern
}

// Match reports whether the '/'-separated path matches: a path relative to
// a root for [CompileGlob]'s globs, an absolute one for [CompilePathGlob]'s.
func (g *Glob) Match(path string) bool { return g.p.Match(path) }

// String returns the pattern as it is matched, after normalization.
func (g *Glob) String() string { return g.norm }

// GlobError says why a pattern is not a valid glob.
type GlobError struct {
	Pattern string // as written
	// Syntax is set for a syntax error (Reason is the glob parser's); else
	// the pattern is well formed but can never match (empty, absolute,
	// leaving the root), and Reason says so, naming the pattern.
	Syntax bool
	// Offset is the byte offset in Pattern of a syntax error, or -1 when
	// unknown or not a syntax error.
	Offset int
	Reason string
}

// Error says what is wrong with which pattern: "invalid glob" and the
// parser's reason for a syntax error, else why it can never match.
func (e *GlobError) Error() string {
	if e.Syntax {
		return fmt.Sprintf("invalid glob %q: %s", e.Pattern, e.Reason)
	}
	return e.Reason
}

// NormalizeGlob returns a pattern relative to a watch root in the form it
// is matched in: a leading "./" dropped, a trailing "/" made "/**", "." made
// "**", repeated slashes made one. It returns a *GlobError for an empty or
// absolute pattern and for one with a ".." segment, which could never match
// a path below a root.
func NormalizeGlob(pattern string) (string, error) {
	norm, _, err := normalizeGlob(pattern, false)
	return norm, err
}

// normalizeGlob is the one normalizer. abs says the pattern is matched
// against absolute paths (the follower) rather than paths relative to a
// root. dropped is how many bytes of the pattern as written went before the
// first byte of norm, to map error offsets back.
func normalizeGlob(p string, abs bool) (norm string, dropped int, err error) {
	problem := func(why string) (string, int, error) {
		r := fmt.Sprintf("%q %s", p, why)
		if p == "" {
			r = "empty pattern"
		}
		return "", 0, &GlobError{Pattern: p, Offset: -1, Reason: r}
	}
	if strings.TrimSpace(p) == "" {
		return problem("is empty")
	}
	if abs {
		if !strings.HasPrefix(p, "/") {
			return problem("is not an absolute path")
		}
		s := collapseSlashes(p)
		dir := strings.HasSuffix(s, "/") && s != "/"
		// Clean never touches the meta characters; it only drops "." and
		// resolves ".." the way the kernel would.
		s = path.Clean(s)
		if dir {
			s = withContents(s)
		}
		return s, -1, nil
	}
	if strings.HasPrefix(p, "/") {
		return problem("is absolute; patterns are relative to the watched directories")
	}
	s := p
	for strings.HasPrefix(s, "./") {
		s = strings.TrimLeft(s[2:], "/")
	}
	dropped = len(p) - len(s)
	if s == "" || s == "." {
		return "**", -1, nil
	}
	for _, seg := range strings.Split(s, "/") {
		if seg == ".." {
			return problem("leaves the watched directories; watch their parent instead")
		}
	}
	if c := collapseSlashes(s); c != s {
		s, dropped = c, -1 // offsets no longer map one to one
	}
	if strings.HasSuffix(s, "/") {
		s = withContents(strings.TrimSuffix(s, "/"))
	}
	return s, dropped, nil
}

// withContents turns a directory pattern into one for everything below it;
// "src/**" stays as it is.
func withContents(dir string) string {
	if dir == "**" || strings.HasSuffix(dir, "/**") {
		return dir
	}
	if dir == "/" {
		return "/**"
	}
	return dir + "/**"
}

func collapseSlashes(s string) string {
	for strings.Contains(s, "//") {
		s = strings.ReplaceAll(s, "//", "/")
	}
	return s
}

// CompileGlob normalizes (see [NormalizeGlob]) and compiles a pattern that
// is matched against '/'-separated paths relative to a watch root. Errors
// are *GlobError.
func CompileGlob(pattern string) (*Glob, error) {
	norm, dropped, err := normalizeGlob(pattern, false)
	if err != nil {
		return nil, err
	}
	return compileNorm(pattern, norm, dropped)
}

// CompilePathGlob compiles a pattern that is matched against absolute,
// clean paths, such as the files to follow: the pattern must be absolute;
// it is cleaned, and a trailing "/" means everything below the directory.
// Errors are *GlobError.
func CompilePathGlob(pattern string) (*Glob, error) {
	norm, dropped, err := normalizeGlob(pattern, true)
	if err != nil {
		return nil, err
	}
	return compileNorm(pattern, norm, dropped)
}

// compileNorm is the one compile step behind both entry points.
func compileNorm(src, norm string, dropped int) (*Glob, error) {
	p, err := globCompiler.Compile(norm)
	if err != nil {
		ge := &GlobError{Pattern: src, Syntax: true, Offset: -1, Reason: err.Error()}
		var se *glob.SyntaxError
		if errors.As(err, &se) {
			ge.Reason = se.Reason
			// Map the offset back to the pattern as written when the
			// normalization left the text up to it alone.
			if dropped >= 0 && se.Offset <= len(norm) && strings.HasPrefix(src[dropped:], norm[:se.Offset]) {
				ge.Offset = se.Offset + dropped
			}
		}
		return nil, ge
	}
	return &Glob{src: src, norm: norm, p: p}, nil
}
