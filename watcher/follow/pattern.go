package follow

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/vigil-watch/vigil/watcher"
)

// pattern is one file name or glob the user asked to follow, split so that
// the scan knows which directories can hold matches: the static directory
// prefix (base) is watched, then the dynamic components below it are walked.
type pattern struct {
	raw     string // as the user gave it, for messages
	abs     string // absolute and clean
	literal bool   // no glob syntax: abs names exactly one file
	full    *watcher.Glob

	base string // deepest directory without glob syntax
	// levels matches directory names below base, one entry per dynamic
	// component except the last (which names files). A nil entry means the
	// component may span any number of directories (`**`, or braces that
	// may contain a separator): from there on everything is walked.
	levels []*watcher.Glob
}

func compilePattern(raw, cwd string) (*pattern, error) {
	if raw == "" {
		return nil, fmt.Errorf("follow: empty file pattern")
	}
	abs := raw
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(cwd, abs)
	}
	p := &pattern{raw: raw}
	// The same dialect as every other glob of vigil's: cleaned, and a
	// trailing "/" means every file below the directory.
	g, err := watcher.CompilePathGlob(abs)
	if err != nil {
		return nil, fmt.Errorf("follow: pattern %q: %w", raw, err)
	}
	p.abs = g.String()
	if !watcher.HasGlobMeta(p.abs) {
		p.literal = true
		p.base = filepath.Dir(p.abs)
		return p, nil
	}
	p.full = g

	comps := strings.Split(strings.TrimPrefix(p.abs, "/"), "/")
	i := 0
	for i < len(comps) && !watcher.HasGlobMeta(comps[i]) {
		i++
	}
	if i == len(comps) {
		// Cannot happen: abs holds a meta byte, so some component does.
		return nil, fmt.Errorf("follow: pattern %q: no glob component", raw)
	}
	p.base = "/" + strings.Join(comps[:i], "/")
	dyn := comps[i:]
	// A brace may hold a separator ("{a/b,c}"), which breaks the split by
	// component; treat everything from the first brace on as recursive.
	for j := 0; j < len(dyn)-1; j++ {
		c := dyn[j]
		if strings.Contains(c, "**") || strings.ContainsAny(c, "{}") {
			p.levels = append(p.levels, nil)
			break
		}
		cg, err := watcher.CompileGlob(c) // one segment: no '/', no "**"
		if err != nil {
			return nil, fmt.Errorf("follow: pattern %q: component %q: %w", raw, c, err)
		}
		p.levels = append(p.levels, cg)
	}
	if last := dyn[len(dyn)-1]; strings.Contains(last, "**") || strings.ContainsAny(last, "{}") {
		// "logs/**" or "logs/{a/*,b}": files may sit at any depth.
		if len(p.levels) == 0 || p.levels[len(p.levels)-1] != nil {
			p.levels = append(p.levels, nil)
		}
	}
	return p, nil
}

// match reports whether the absolute, clean path is one the pattern names.
func (p *pattern) match(path string) bool {
	if p.literal {
		return path == p.abs
	}
	return p.full.Match(path)
}

// descend reports whether a directory found depth levels below base (depth
// 0 is a child of base) may hold matches, and whether it is inside a
// recursive part, where every subdirectory may.
func (p *pattern) descend(depth int, name string) bool {
	if p.literal {
		return false
	}
	for i := 0; i <= depth; i++ {
		if i >= len(p.levels) {
			return false
		}
		if p.levels[i] == nil {
			return true
		}
	}
	return p.levels[depth].Match(name)
}
