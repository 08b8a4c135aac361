package watcher

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// defaultIgnores are ignored (unless NoIgnore) wherever they appear: version
// control directories and the temporaries editors and tools write next to
// the files they save. They match the base name, like a .gitignore line
// without a slash.
var defaultIgnores = []string{
	// Version control.
	".git", ".hg", ".svn", ".bzr", "_darcs", "CVS", ".jj", ".pijul", ".fossil", "_FOSSIL_",
	// vim: swap files, the 4913 write probe, backups.
	"*.swp", "*.swo", "*.swx", "*.swn", "4913", "*~",
	// emacs: lock and auto-save files.
	".#*", "#*#",
	// Generic temporaries, JetBrains safe-write, macOS and Windows litter.
	"*.tmp", "*___jb_tmp___", "*___jb_old___", ".DS_Store", "Thumbs.db",
}

var defaultIgnoreList = func() *ignoreList {
	l := &ignoreList{}
	for _, p := range defaultIgnores {
		r, _ := parseIgnoreLine(p)
		l.rules = append(l.rules, r)
	}
	return l
}()

// filters is the compiled form of Options' filtering fields.
type filters struct {
	include  []*Glob
	exclude  []*Glob
	pruneDir []*Glob // from excludes ending in "/**": the directory itself
	noIgnore bool
}

func compileFilters(o *Options) (*filters, error) {
	f := &filters{noIgnore: o.NoIgnore}
	for _, p := range o.Include {
		g, err := CompileGlob(p)
		if err != nil {
			return nil, fmt.Errorf("watcher: include pattern: %w", err)
		}
		f.include = append(f.include, g)
	}
	for _, p := range o.Exclude {
		g, err := CompileGlob(p)
		if err != nil {
			return nil, fmt.Errorf("watcher: exclude pattern: %w", err)
		}
		f.exclude = append(f.exclude, g)
		// "dist/**" excludes everything below dist; the directory itself
		// is then not worth watching or descending.
		if d, ok := strings.CutSuffix(g.String(), "/**"); ok && d != "" {
			if g, err := CompileGlob(d); err == nil {
				f.pruneDir = append(f.pruneDir, g)
			}
		}
	}
	return f, nil
}

// globs reports whether there are include or exclude patterns at all.
func (f *filters) globs() bool {
	return len(f.include) > 0 || len(f.exclude) > 0
}

func matchAny(gs []*Glob, s string) bool {
	for _, g := range gs {
		if g.Match(s) {
			return true
		}
	}
	return false
}

// excluded reports whether rel (relative to the root) is excluded by the
// user's exclude patterns.
func (f *filters) excluded(rel string, k kind) bool {
	if matchAny(f.exclude, rel) {
		return true
	}
	return k == kDir && matchAny(f.pruneDir, rel)
}

// included reports whether a file at rel passes the include patterns (all
// files do when there are none). Directories are always traversed.
func (f *filters) included(rel string) bool {
	return len(f.include) == 0 || matchAny(f.include, rel)
}

// ignoreLayer is an ignore file above a root (between the repository's top
// and the root) or .git/info/exclude: its rules match paths relative to base.
type ignoreLayer struct {
	base  string
	rules *ignoreList
}

// outerIgnores finds the repository containing dir (the nearest ancestor,
// dir included, holding ".git") and returns, from lowest to highest
// precedence, .git/info/exclude and the .gitignore files of the directories
// from the top down to dir's parent. dir's own .gitignore is read with the
// tree.
func outerIgnores(dir string) []ignoreLayer {
	top := ""
	for d := dir; ; {
		if _, err := os.Lstat(filepath.Join(d, ".git")); err == nil {
			top = d
			break
		}
		parent := filepath.Dir(d)
		if parent == d {
			break
		}
		d = parent
	}
	if top == "" {
		return nil
	}
	var layers []ignoreLayer
	if l := loadIgnoreFile(filepath.Join(top, ".git", "info", "exclude")); l != nil {
		layers = append(layers, ignoreLayer{base: top, rules: l})
	}
	if top == dir {
		return layers
	}
	rel, err := filepath.Rel(top, dir)
	if err != nil {
		return layers
	}
	d := top
	parts := strings.Split(filepath.ToSlash(rel), "/")
	for _, p := range parts {
		if l := loadIgnoreFile(filepath.Join(d, ".gitignore")); l != nil {
			layers = append(layers, ignoreLayer{base: d, rules: l})
		}
		d = filepath.Join(d, p)
	}
	return layers
}
