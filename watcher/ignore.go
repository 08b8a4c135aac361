package watcher

import (
	"bufio"
	"bytes"
	"os"
	"strings"
)

// This file implements git's ignore rules: the syntax of .gitignore and
// .git/info/exclude lines (gitignore(5)) and git's wildmatch with
// WM_PATHNAME, so that vigil ignores exactly what `git status` would.

// ignoreRule is one parsed line of an ignore file.
type ignoreRule struct {
	pattern string // the glob, without "!", leading "/" or trailing "/"
	negate  bool   // "!pattern": re-include
	dirOnly bool   // "pattern/": matches directories only
	// anchored: the pattern contains a "/" before its end, so it matches
	// the path relative to the ignore file's directory; otherwise it matches
	// the base name at any depth.
	anchored bool
}

// ignoreList is the rules of one ignore file, in file order.
type ignoreList struct {
	rules []ignoreRule
}

// parseIgnore parses the contents of an ignore file. Lines that cannot match
// anything (blank, comments, a lone "!") are dropped.
func parseIgnore(data []byte) *ignoreList {
	l := &ignoreList{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		if r, ok := parseIgnoreLine(sc.Text()); ok {
			l.rules = append(l.rules, r)
		}
	}
	return l
}

// parseIgnoreLine parses one line following gitignore(5).
func parseIgnoreLine(line string) (ignoreRule, bool) {
	line = strings.TrimSuffix(line, "\r")
	if line == "" || line[0] == '#' {
		return ignoreRule{}, false
	}
	line = trimTrailingSpaces(line)
	var r ignoreRule
	if line != "" && line[0] == '!' {
		r.negate = true
		line = line[1:]
	}
	if line == "" {
		return ignoreRule{}, false
	}
	if strings.HasSuffix(line, "/") {
		// Only one: git keeps "a//" as the never-matching "a/".
		r.dirOnly = true
		line = line[:len(line)-1]
		if line == "" {
			return ignoreRule{}, false
		}
	}
	if strings.Contains(line, "/") {
		r.anchored = true
		line = strings.TrimPrefix(line, "/")
		if line == "" {
			return ignoreRule{}, false
		}
	}
	r.pattern = line
	return r, true
}

// trimTrailingSpaces drops trailing spaces unless escaped with a backslash,
// as git does (tabs are kept).
func trimTrailingSpaces(s string) string {
	end := len(s)
	for end > 0 && s[end-1] == ' ' {
		// Count the backslashes before this space: an odd number escapes it.
		n := 0
		for i := end - 2; i >= 0 && s[i] == '\\'; i-- {
			n++
		}
		if n%2 == 1 {
			break
		}
		end--
	}
	return s[:end]
}

// match reports whether a rule of the list decides rel (a slash-separated
// path relative to the list's directory), and if so whether it is ignored.
// The last matching rule wins, as in git.
func (l *ignoreList) match(rel string, isDir bool) (decided, ignored bool) {
	base := rel
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		base = rel[i+1:]
	}
	for i := len(l.rules) - 1; i >= 0; i-- {
		r := &l.rules[i]
		if r.dirOnly && !isDir {
			continue
		}
		if r.anchored {
			if matchAnchored(r.pattern, rel) {
				return true, !r.negate
			}
			continue
		}
		if wildmatch(r.pattern, base) {
			return true, !r.negate
		}
	}
	return false, false
}

// matchAnchored matches a pattern containing a slash against a relative
// path as git's match_pathname does: the literal prefix (up to the first of
// "*?[\\") is compared first and cut off both sides before the glob runs.
// That matters: "a**/*" then reaches wildmatch as "**/*", whose leading "**"
// counts as a whole segment, so git matches it against "a1" too.
func matchAnchored(pattern, rel string) bool {
	n := strings.IndexAny(pattern, "*?[\\")
	if n < 0 {
		return pattern == rel
	}
	if n > len(rel) || pattern[:n] != rel[:n] {
		return false
	}
	return wildmatch(pattern[n:], rel[n:])
}

// loadIgnoreFile reads and parses an ignore file; a missing or unreadable
// file is no rules (git silently skips those too).
func loadIgnoreFile(path string) *ignoreList {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	l := parseIgnore(data)
	if len(l.rules) == 0 {
		return nil
	}
	return l
}

// wildmatch matches text against a git glob with WM_PATHNAME semantics: "*"
// and "?" and bracket expressions never match "/", and "**" as a whole path
// segment matches any number of segments, including none.
func wildmatch(pattern, text string) bool {
	return doWild(pattern, 0, text, 0) == wmMatch
}

type wmResult int

const (
	wmMatch wmResult = iota
	wmNoMatch
	// wmAbortAll: the text ran out; no later starting point can match.
	wmAbortAll
	// wmAbortToStarStar: a single "*" hit a "/"; only an enclosing "**" may
	// still try further.
	wmAbortToStarStar
)

// doWild matches p[pi:] against t[ti:]; it follows the structure of git's
// wildmatch.c (dowild) so that edge cases agree with `git check-ignore`.
func doWild(p string, pi int, t string, ti int) wmResult {
	for ; pi < len(p); pi, ti = pi+1, ti+1 {
		pc := p[pi]
		if ti >= len(t) && pc != '*' {
			return wmAbortAll
		}
		var tc byte
		if ti < len(t) {
			tc = t[ti]
		}
		switch pc {
		case '\\':
			// An escaped character matches itself; a trailing backslash
			// matches nothing.
			pi++
			if pi >= len(p) || tc != p[pi] {
				return wmNoMatch
			}
		case '?':
			if tc == '/' {
				return wmNoMatch
			}
		case '*':
			matchSlash := false
			pi++
			if pi < len(p) && p[pi] == '*' {
				starStart := pi - 1
				for pi < len(p) && p[pi] == '*' {
					pi++
				}
				// "**" counts only as a whole segment: preceded by the
				// start or "/", and followed by the end or "/".
				if (starStart == 0 || p[starStart-1] == '/') &&
					(pi == len(p) || p[pi] == '/' || (p[pi] == '\\' && pi+1 < len(p) && p[pi+1] == '/')) {
					if pi < len(p) && p[pi] == '/' && doWild(p, pi+1, t, ti) == wmMatch {
						return wmMatch
					}
					matchSlash = true
				}
			}
			if pi == len(p) {
				// A trailing "**" matches everything; a trailing "*"
				// only what has no more slashes.
				if !matchSlash && strings.IndexByte(t[ti:], '/') >= 0 {
					return wmNoMatch
				}
				return wmMatch
			}
			if !matchSlash && p[pi] == '/' {
				// "*/": the star eats the rest of this segment.
				slash := strings.IndexByte(t[ti:], '/')
				if slash < 0 {
					return wmNoMatch
				}
				ti += slash
				// The "/" itself is matched by the loop's next round.
				if t[ti] != '/' {
					return wmNoMatch
				}
				continue
			}
			for {
				if ti >= len(t) {
					break
				}
				r := doWild(p, pi, t, ti)
				if r != wmNoMatch {
					if !matchSlash || r != wmAbortToStarStar {
						return r
					}
				} else if !matchSlash && t[ti] == '/' {
					return wmAbortToStarStar
				}
				ti++
			}
			return wmAbortAll
		case '[':
			npi, ok, res := matchBracket(p, pi, tc)
			if res != wmMatch {
				return res
			}
			if !ok || tc == '/' {
				return wmNoMatch
			}
			pi = npi
		default:
			if tc != pc {
				return wmNoMatch
			}
		}
	}
	if ti < len(t) {
		return wmNoMatch
	}
	return wmMatch
}

// matchBracket matches tc against the bracket expression starting at p[pi]
// ("["). It returns the index of the closing "]", whether tc is in the set,
// and wmAbortAll for a malformed expression (which git treats as matching
// nothing from here on).
func matchBracket(p string, pi int, tc byte) (end int, in bool, res wmResult) {
	pi++
	if pi >= len(p) {
		return 0, false, wmAbortAll
	}
	negated := false
	if p[pi] == '!' || p[pi] == '^' {
		negated = true
		pi++
	}
	matched := false
	var prev byte
	first := true
	for {
		if pi >= len(p) {
			return 0, false, wmAbortAll
		}
		c := p[pi]
		if c == ']' && !first {
			break
		}
		first = false
		switch {
		case c == '\\':
			pi++
			if pi >= len(p) {
				return 0, false, wmAbortAll
			}
			c = p[pi]
			if tc == c {
				matched = true
			}
		case c == '-' && prev != 0 && pi+1 < len(p) && p[pi+1] != ']':
			pi++
			hi := p[pi]
			if hi == '\\' {
				pi++
				if pi >= len(p) {
					return 0, false, wmAbortAll
				}
				hi = p[pi]
			}
			if tc >= prev && tc <= hi {
				matched = true
			}
			c = 0 // a range cannot start another range
		case c == '[' && pi+1 < len(p) && p[pi+1] == ':':
			// git takes the class name up to the first "]" and requires
			// it to end in ":"; otherwise the "[" is an ordinary member.
			close := strings.IndexByte(p[pi+2:], ']')
			if close < 0 {
				return 0, false, wmAbortAll
			}
			if close < 1 || p[pi+2+close-1] != ':' {
				if tc == '[' {
					matched = true
				}
				break
			}
			ok, known := inClass(p[pi+2:pi+2+close-1], tc)
			if !known {
				return 0, false, wmAbortAll
			}
			if ok {
				matched = true
			}
			pi += 2 + close // onto the "]" closing the class
			c = 0
		default:
			if tc == c {
				matched = true
			}
		}
		prev = c
		pi++
	}
	return pi, matched != negated, wmMatch
}

// inClass reports whether c belongs to the POSIX character class name, and
// whether the name is known.
func inClass(name string, c byte) (in, known bool) {
	isUpper := c >= 'A' && c <= 'Z'
	isLower := c >= 'a' && c <= 'z'
	isDigit := c >= '0' && c <= '9'
	isAlpha := isUpper || isLower
	isPrint := c >= 0x20 && c < 0x7f
	isSpace := c == ' ' || (c >= '\t' && c <= '\r')
	switch name {
	case "alnum":
		return isAlpha || isDigit, true
	case "alpha":
		return isAlpha, true
	case "blank":
		return c == ' ' || c == '\t', true
	case "cntrl":
		return c < 0x20 || c == 0x7f, true
	case "digit":
		return isDigit, true
	case "graph":
		return isPrint && c != ' ', true
	case "lower":
		return isLower, true
	case "print":
		return isPrint, true
	case "punct":
		return isPrint && c != ' ' && !isAlpha && !isDigit, true
	case "space":
		return isSpace, true
	case "upper":
		return isUpper, true
	case "xdigit":
		return isDigit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'), true
	}
	return false, false
}
