package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/vigil-watch/vigil/debounce"
	"github.com/vigil-watch/vigil/internal/order"
	"github.com/vigil-watch/vigil/watcher"
	"go.yaml.in/yaml/v3"
)

// Parse parses and validates a config. name is used in error messages (as
// given) and, made absolute, as Config.Path; relative paths in the config are
// resolved against its directory. Parse reads no files. Every problem found
// is reported in one [*Error].
func Parse(name string, data []byte) (*Config, error) {
	abs, aerr := filepath.Abs(name)
	if aerr != nil {
		abs = filepath.Clean(name)
	}
	p := &parser{name: name, dir: filepath.Dir(abs)}
	cfg := p.parse(data)
	cfg.Path = abs
	if len(p.issues) > 0 {
		return nil, p.err()
	}
	return cfg, nil
}

// parser collects issues while walking one file.
type parser struct {
	name   string
	dir    string
	issues []Issue
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	p.issues = append(p.issues, Issue{Pos: nodePos(n), Msg: fmt.Sprintf(format, args...)})
}

func nodePos(n *yaml.Node) Pos {
	if n == nil || n.Line <= 0 {
		return Pos{1, 1}
	}
	col := n.Column
	if col <= 0 {
		col = 1
	}
	return Pos{n.Line, col}
}

// err sorts the issues by position (keeping discovery order among equals)
// and drops exact repeats, which aliases can cause.
func (p *parser) err() *Error {
	is := slices.Clone(p.issues)
	slices.SortStableFunc(is, func(a, b Issue) int {
		switch {
		case a.Pos.before(b.Pos):
			return -1
		case b.Pos.before(a.Pos):
			return 1
		}
		return 0
	})
	is = slices.Compact(is)
	return &Error{File: p.name, Issues: is}
}

func (p *parser) parse(data []byte) *Config {
	cfg := &Config{
		Watch:     []string{p.dir},
		Gitignore: true,
		Debounce:  debounce.DefaultQuiet,
		MaxWait:   debounce.DefaultMaxWait,

		SkipUnchanged: true,
	}
	root, ok := p.decode(data)
	if !ok {
		return cfg
	}
	if root == nil || isNull(root) {
		p.issues = append(p.issues, Issue{Pos{1, 1}, `the config is empty: add at least one rule under "rules:" (or delete the file and run "vigil init" to write a commented starter)`})
		return cfg
	}
	if root.Kind != yaml.MappingNode {
		p.errorf(root, "expected a mapping of settings (watch, rules, ...), found %s", describe(root))
		return cfg
	}

	var rulesNode, debounceNode, maxWaitNode *yaml.Node
	for _, kv := range p.pairs(root, "") {
		k, v := kv.key, kv.val
		switch k.Value {
		case "watch":
			if items, ok := p.list(v, "watch", "a path or a list of paths"); ok {
				cfg.Watch = p.watchRoots(v, items)
			}
		case "ignore":
			if items, ok := p.list(v, "ignore", "a glob or a list of globs"); ok {
				cfg.Ignore = p.relGlobs("ignore", items, "")
				for _, it := range items {
					if norm, _ := watcher.NormalizeGlob(it.s); norm == "**" {
						p.errorf(it.n, "ignore: %s ignores every file; leave it out, or list what to ignore", quote(it.s))
					}
				}
			}
		case "gitignore":
			p.boolean(v, "gitignore", "", &cfg.Gitignore)
		case "debounce":
			if d, ok := p.duration(v, "debounce", ""); ok {
				if d == 0 {
					p.errorf(v, "debounce: must be more than 0")
				} else {
					cfg.Debounce, debounceNode = d, v
				}
			}
		case "max_wait":
			if d, ok := p.duration(v, "max_wait", ""); ok {
				if d == 0 {
					p.errorf(v, "max_wait: must be more than 0")
				} else {
					cfg.MaxWait, maxWaitNode = d, v
				}
			}
		case "state":
			if st, ok := p.scalar(v, "state", "", "a file name"); ok {
				if strings.TrimSpace(st) == "" {
					p.errorf(v, "state: empty file name")
				} else {
					if !filepath.IsAbs(st) {
						st = filepath.Join(p.dir, st)
					}
					cfg.State = filepath.Clean(st)
				}
			}
		case "rules":
			rulesNode = v
		case "livereload":
			cfg.LiveReload = p.liveReload(v)
		case "skip_unchanged":
			p.boolean(v, "skip_unchanged", "", &cfg.SkipUnchanged)
		default:
			if strings.HasPrefix(k.Value, "x-") {
				continue // an extension key, e.g. a home for YAML anchors
			}
			p.unknownKey(k, "", topKeys, ruleKeys, topAliases)
		}
	}
	if cfg.MaxWait < cfg.Debounce {
		at := debounceNode
		if at == nil {
			at = maxWaitNode
		}
		p.errorf(at, "debounce (%v) is longer than max_wait (%v), so batches would always wait max_wait; shorten debounce or raise max_wait", cfg.Debounce, cfg.MaxWait)
	}
	cfg.Rules = p.rules(root, rulesNode)
	return cfg
}

// decode parses the YAML text into its one document's root node. It reports
// syntax errors and extra documents; ok is false when nothing can be walked.
func (p *parser) decode(data []byte) (root *yaml.Node, ok bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := safeDecode(dec, &doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, true // nothing but comments and blank lines
		}
		p.syntaxError(data, err)
		return nil, false
	}
	var next yaml.Node
	switch err := safeDecode(dec, &next); {
	case err == nil && len(next.Content) > 0 && !isNull(next.Content[0]):
		// (An empty document after a stray trailing "---" is harmless.)
		p.errorf(&next, "a second YAML document; vigil.yaml holds exactly one (remove the \"---\" line)")
	case err != nil && !errors.Is(err, io.EOF):
		p.syntaxError(data, err)
	}
	if len(doc.Content) == 0 {
		return nil, true
	}
	return resolve(doc.Content[0]), true
}

// syntaxError reports a YAML syntax error. The decoder gives only a line, and
// often that of the enclosing block rather than of the mistake, so the line
// is found again as the first line at which the file, cut after it, fails
// with the same message; the column is that line's first non-blank character.
func (p *parser) syntaxError(data []byte, err error) {
	msg := err.Error()
	line := 0
	msg = strings.TrimPrefix(msg, "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, tail, ok := strings.Cut(rest, ": "); ok {
			if n, perr := fmt.Sscanf(num, "%d", &line); perr != nil || n != 1 {
				line = 0
			} else {
				msg = tail
			}
		}
	}
	lines := strings.SplitAfter(string(data), "\n")
	if l := firstFailingLine(lines, msg); l > 0 {
		line = l
	}
	if line <= 0 || line > len(lines) {
		line = 1
	}
	text := ""
	if line <= len(lines) {
		text = strings.TrimRight(lines[line-1], "\r\n")
	}
	col := 1
	for col <= len(text) && (text[col-1] == ' ') {
		col++
	}
	if col > len(text) {
		col = 1
	}
	// Two mistakes whose exact column can be read off the line.
	switch msg {
	case "found character that cannot start any token":
		if i := strings.IndexAny(text, "`@"); i >= 0 {
			col = i + 1
		}
	case "mapping values are not allowed in this context":
		if first := strings.Index(text, ": "); first >= 0 {
			if i := strings.Index(text[first+2:], ":"); i >= 0 {
				col = first + 2 + i + 1
			}
		}
	}
	if h, ok := syntaxHints[msg]; ok {
		msg += " (" + h + ")"
	}
	p.issues = append(p.issues, Issue{Pos{line, col}, "invalid YAML: " + msg})
}

// syntaxHints explain the decoder's commonest messages in terms of what to
// change in the file.
var syntaxHints = map[string]string{
	"mapping values are not allowed in this context":  `quote a value that contains ": "`,
	"found character that cannot start any token":     "quote a value that starts with @, ` or %",
	"did not find expected key":                       "check the indentation",
	"did not find expected '-' indicator":             "check the indentation",
	"found unexpected end of stream":                  "a quote or bracket is not closed",
	"did not find expected ',' or ']'":                "a [ list ] is not closed",
	"did not find expected ',' or '}'":                "a { mapping } is not closed",
	"could not find expected ':'":                     `a key needs ": " after it`,
	"found a tab character that violates indentation": "indent with spaces, not tabs",
}

// firstFailingLine returns the smallest n such that lines[:n] fails to
// decode with message msg (without its "yaml: line N: " prefix), or 0 when
// the whole text does not. The decoder stops at the first error it meets
// reading forwards, so once a prefix reaches the mistake every longer prefix
// fails the same way: a binary search finds the line in a few decodes.
func firstFailingLine(lines []string, msg string) int {
	fails := func(n int) bool {
		err := decodeAll(strings.Join(lines[:n], ""))
		if err == nil {
			return false
		}
		m := strings.TrimPrefix(err.Error(), "yaml: ")
		if rest, ok := strings.CutPrefix(m, "line "); ok {
			if _, tail, ok := strings.Cut(rest, ": "); ok {
				m = tail
			}
		}
		return m == msg
	}
	if len(lines) == 0 || !fails(len(lines)) {
		return 0
	}
	lo, hi := 1, len(lines) // fails(hi) holds
	for lo < hi {
		mid := lo + (hi-lo)/2
		if fails(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// safeDecode decodes the next document. The decoder is third-party code fed
// arbitrary bytes; should it panic, that becomes a syntax error like any
// other rather than a crash.
func safeDecode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("yaml: cannot parse: %v", v)
		}
	}()
	return dec.Decode(n)
}

func decodeAll(s string) error {
	dec := yaml.NewDecoder(strings.NewReader(s))
	for {
		var n yaml.Node
		if err := safeDecode(dec, &n); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.AliasNode {
		return nil
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// describe names what a node is, for "expected X, found Y" messages.
func describe(n *yaml.Node) string {
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.DocumentNode:
		return "a document"
	case yaml.ScalarNode:
		if isNull(n) {
			if n.Value == "~" {
				return `~ (YAML reads it as "nothing"; quote it for a literal ~)`
			}
			return "nothing"
		}
		v := n.Value
		if len(v) > 40 {
			v = v[:37] + "..."
		}
		return quote(v)
	}
	return "an alias"
}

// quote puts a value the user wrote in double quotes, escaping only what
// would make it ambiguous; unlike %q it leaves backslashes alone, so globs
// and regular expressions read as written.
func quote(s string) string {
	for _, r := range s {
		if r == '"' || r < ' ' || r == 0x7f || r == utf8.RuneError {
			return strconv.Quote(s)
		}
	}
	return `"` + s + `"`
}

// pair is one key and its (alias-resolved) value in a mapping.
type pair struct{ key, val *yaml.Node }

// pairs lists a mapping's entries, with merge keys ("<<") expanded and
// explicit keys winning over merged ones. It reports keys that are not
// plain scalars and keys given twice. ctx prefixes messages ("rule "x": ").
func (p *parser) pairs(m *yaml.Node, ctx string) []pair {
	var out []pair
	seen := map[string]*yaml.Node{}
	var merged []pair
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := resolve(m.Content[i]), resolve(m.Content[i+1])
		if k == nil || v == nil {
			p.errorf(m.Content[i], "%san alias that refers to itself", ctx)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, "%sa key must be a word, found %s", ctx, describe(k))
			continue
		}
		if k.Tag == "!!merge" {
			merged = append(merged, p.mergeSource(v, ctx, 0)...)
			continue
		}
		if first, dup := seen[k.Value]; dup {
			p.errorf(k, "%sduplicate key %q (first at line %d)", ctx, k.Value, first.Line)
			continue
		}
		seen[k.Value] = k
		out = append(out, pair{k, v})
	}
	for _, kv := range merged {
		if _, ok := seen[kv.key.Value]; !ok {
			seen[kv.key.Value] = kv.key
			out = append(out, kv)
		}
	}
	return out
}

// mergeSource returns the entries a merge key brings in: a mapping, or a list
// of mappings where earlier ones win.
func (p *parser) mergeSource(v *yaml.Node, ctx string, depth int) []pair {
	if depth > 10 {
		p.errorf(v, "%smerge keys nested too deeply", ctx)
		return nil
	}
	switch v.Kind {
	case yaml.MappingNode:
		return p.pairs(v, ctx)
	case yaml.SequenceNode:
		var out []pair
		have := map[string]bool{}
		for _, item := range v.Content {
			item = resolve(item)
			if item == nil || item.Kind != yaml.MappingNode {
				p.errorf(v, "%s\"<<\" merges mappings, found %s", ctx, describe(item))
				continue
			}
			for _, kv := range p.mergeSource(item, ctx, depth+1) {
				if !have[kv.key.Value] {
					have[kv.key.Value] = true
					out = append(out, kv)
				}
			}
		}
		return out
	}
	p.errorf(v, "%s\"<<\" merges mappings, found %s", ctx, describe(v))
	return nil
}

// The keys each level accepts, and the words people bring from other tools
// for them (the alias maps), used to suggest a key for an unknown one.
var (
	topKeys  = []string{"watch", "ignore", "gitignore", "debounce", "max_wait", "state", "rules", "livereload", "skip_unchanged"}
	ruleKeys = []string{"name", "match", "exclude", "run", "on_busy", "busy_signal",
		"run_at_start", "timeout", "clear", "daemon", "stop_signal", "stop_timeout",
		"after", "follow", "line", "multiline", "throttle", "sockets", "ready", "ready_timeout", "reload",
		"ops", "each", "jobs", "closed", "settle"}
	topAliases = map[string]string{
		"roots": "watch", "paths": "watch", "dirs": "watch", "directories": "watch", "watch_paths": "watch",
		"exclude": "ignore", "excludes": "ignore", "ignores": "ignore", "skip": "ignore",
		"no_ignore": "gitignore: false", "use_gitignore": "gitignore", "vcs_ignore": "gitignore",
		"delay": "debounce", "quiet": "debounce", "throttle": "debounce", "wait": "debounce",
		"maxwait": "max_wait", "max_delay": "max_wait",
		"checkpoint": "state", "state_file": "state", "positions": "state",
		"rule": "rules", "tasks": "rules", "commands": "rules", "jobs": "rules", "hooks": "rules",
	}
	ruleAliases = map[string]string{
		"command": "run", "commands": "run", "cmd": "run", "exec": "run", "script": "run", "shell": "run", "do": "run",
		"patterns": "match", "pattern": "match", "glob": "match", "globs": "match", "include": "match", "files": "match", "paths": "match", "matches": "match",
		"ignore": "exclude", "excludes": "exclude", "skip": "exclude",
		"restart": "on_busy: restart", "onbusy": "on_busy", "busy": "on_busy", "policy": "on_busy",
		"signal": "busy_signal", "reload_signal": "busy_signal",
		"postpone": "run_at_start: false", "initial": "run_at_start", "start": "run_at_start", "run_on_start": "run_at_start",
		"clear_screen": "clear", "cls": "clear",
		"server": "daemon", "background": "daemon", "long_running": "daemon", "service": "daemon",
		"kill_signal": "stop_signal", "term_signal": "stop_signal",
		"kill_timeout": "stop_timeout", "grace": "stop_timeout", "grace_period": "stop_timeout",
		"depends_on": "after", "depends": "after", "needs": "after", "requires": "after", "deps": "after",
		"tail": "follow", "logs": "follow", "log": "follow", "files_to_follow": "follow",
		"regex": "line", "regexp": "line", "grep": "line", "lines": "line",
		"multi_line": "multiline", "record": "multiline", "records": "multiline", "rate_limit": "throttle", "cooldown": "throttle",
		"title": "name", "id": "name",
		"duration": "timeout", "time_limit": "timeout",
	}
)

// unknownKey reports a key the level does not accept, suggesting the key
// meant, or saying where a key of the other level belongs.
func (p *parser) unknownKey(k *yaml.Node, ctx string, keys, otherKeys []string, aliases map[string]string) {
	if slices.Contains(otherKeys, k.Value) {
		if ctx == "" {
			p.errorf(k, "unknown key %q: it is a rule setting; put it in a rule under \"rules:\"", k.Value)
		} else {
			p.errorf(k, "%sunknown key %q: it is a top-level setting, not a rule setting", ctx, k.Value)
		}
		return
	}
	if s := suggest(k.Value, keys, aliases); s != "" {
		p.errorf(k, "%sunknown key %q (did you mean %q?)", ctx, k.Value, s)
		return
	}
	p.errorf(k, "%sunknown key %q (known keys: %s)", ctx, k.Value, strings.Join(keys, ", "))
}

// item is one string from a string-or-list value, with its node.
type item struct {
	s string
	n *yaml.Node
}

// strings reads a value that is a string or a list of strings. A null value
// gives no items. ok is false when the value has the wrong shape (already
// reported).
func (p *parser) list(v *yaml.Node, key, want string) (items []item, ok bool) {
	switch {
	case isNull(v):
		return nil, true
	case v.Kind == yaml.ScalarNode:
		return []item{{v.Value, v}}, true
	case v.Kind == yaml.SequenceNode:
		ok = true
		for _, e := range v.Content {
			r := resolve(e)
			if r == nil || r.Kind != yaml.ScalarNode || isNull(r) {
				p.errorf(e, "%s: expected %s, found %s in the list", key, want, describe(r))
				ok = false
				continue
			}
			items = append(items, item{r.Value, r})
		}
		return items, ok
	}
	p.errorf(v, "%s: expected %s, found %s", key, want, describe(v))
	return nil, false
}

// scalar reads a single string value.
func (p *parser) scalar(v *yaml.Node, key, ctx, want string) (string, bool) {
	if v.Kind != yaml.ScalarNode || isNull(v) {
		p.errorf(v, "%s%s: expected %s, found %s", ctx, key, want, describe(v))
		return "", false
	}
	return v.Value, true
}

func (p *parser) boolean(v *yaml.Node, key, ctx string, dst *bool) bool {
	if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
		p.errorf(v, "%s%s: expected true or false, found %s", ctx, key, describe(v))
		return false
	}
	var b bool
	if err := v.Decode(&b); err != nil {
		p.errorf(v, "%s%s: expected true or false, found %s", ctx, key, describe(v))
		return false
	}
	*dst = b
	return true
}

// duration reads a Go duration ("50ms", "1m30s"); "0" is allowed, negative
// values are not.
func (p *parser) duration(v *yaml.Node, key, ctx string) (time.Duration, bool) {
	s, ok := p.scalar(v, key, ctx, "a duration like 50ms or 1s")
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		if v.Tag == "!!int" || v.Tag == "!!float" {
			p.errorf(v, "%s%s: %q has no unit; write %sms or %ss", ctx, key, s, s, s)
		} else {
			p.errorf(v, "%s%s: invalid duration %q; use a number and a unit, like 50ms, 1s or 2m", ctx, key, s)
		}
		return 0, false
	}
	if d < 0 {
		p.errorf(v, "%s%s: %v is negative", ctx, key, d)
		return 0, false
	}
	return d, true
}

func (p *parser) signal(v *yaml.Node, key, ctx string) (syscall.Signal, bool) {
	s, ok := p.scalar(v, key, ctx, "a signal name like SIGTERM")
	if !ok {
		return 0, false
	}
	sig, err := ParseSignal(s)
	if err != nil {
		p.errorf(v, "%s%s: %v", ctx, key, err)
		return 0, false
	}
	return sig, true
}

// watchRoots makes the roots absolute, relative to the config's directory.
func (p *parser) watchRoots(v *yaml.Node, items []item) []string {
	if len(items) == 0 {
		p.errorf(v, "watch: empty; leave it out to watch the config file's directory")
		return []string{p.dir}
	}
	var roots []string
	seen := map[string]bool{}
	for _, it := range items {
		if strings.TrimSpace(it.s) == "" {
			p.errorf(it.n, "watch: empty path")
			continue
		}
		r, ok := p.absPath(it.n, "watch", "", it.s)
		if !ok {
			continue
		}
		if seen[r] {
			p.errorf(it.n, "watch: %q is listed twice", it.s)
			continue
		}
		seen[r] = true
		roots = append(roots, r)
	}
	return roots
}

// absPath makes a path from the config absolute: "~/" is the user's home
// directory (as in a shell, because users write it), anything else relative
// is relative to the config's directory.
func (p *parser) absPath(n *yaml.Node, key, ctx, s string) (string, bool) {
	if s == "~" || strings.HasPrefix(s, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			p.errorf(n, "%s%s: cannot expand %s: %v", ctx, key, quote(s), err)
			return "", false
		}
		return filepath.Join(home, s[1:]), true
	}
	if filepath.IsAbs(s) {
		return filepath.Clean(s), true
	}
	return filepath.Join(p.dir, s), true
}

// relGlobs normalizes and compiles globs that are relative to a root; the
// normalized forms are kept, so every later user reads them the same way.
func (p *parser) relGlobs(key string, items []item, ctx string) []string {
	var out []string
	for _, it := range items {
		g, err := watcher.CompileGlob(it.s)
		if err != nil {
			p.globError(it, err, key, ctx)
			continue
		}
		out = append(out, g.String())
	}
	return out
}

// globError reports a glob that does not compile, at the offending
// character when the pattern is written plainly on one line, else at the
// pattern.
func (p *parser) globError(it item, err error, key, ctx string) {
	var ge *watcher.GlobError
	if !errors.As(err, &ge) || !ge.Syntax {
		p.errorf(it.n, "%s%s: %v", ctx, key, err)
		return
	}
	at := *it.n
	switch off := ge.Offset; {
	case off < 0 || off > len(it.s):
	case it.n.Style == 0 && !strings.ContainsAny(it.s, "\n"):
		at.Column += off
	case (it.n.Style == yaml.SingleQuotedStyle || it.n.Style == yaml.DoubleQuotedStyle) &&
		!strings.ContainsAny(it.s, "\n'\"\\"):
		at.Column += off + 1
	}
	p.errorf(&at, "%s%s: invalid glob %s: %s", ctx, key, quote(it.s), ge.Reason)
}

// ruleInfo keeps what the cross-rule checks need to point at.
type ruleInfo struct {
	rule     *Rule
	node     *yaml.Node
	nameNode *yaml.Node
	ctx      string
	after    []item

	readyNode *yaml.Node
	// closedNode is the closed: or settle: key, when given.
	closedNode *yaml.Node
}

var validName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

func (p *parser) rules(root, v *yaml.Node) []Rule {
	if v == nil || isNull(v) || (v.Kind == yaml.SequenceNode && len(v.Content) == 0) {
		at := v
		if at == nil {
			at = root
		}
		p.errorf(at, "no rules: add at least one under \"rules:\", with a name and a run command")
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		p.errorf(v, "rules: expected a list of rules (each starting with \"- name:\"), found %s", describe(v))
		return nil
	}
	var infos []*ruleInfo
	byName := map[string]*ruleInfo{}
	for i, e := range v.Content {
		n := resolve(e)
		if n == nil || n.Kind != yaml.MappingNode {
			p.errorf(e, "rules: rule #%d: expected a mapping (name:, run:, ...), found %s", i+1, describe(n))
			continue
		}
		info := p.rule(n, i+1)
		if info.nameNode != nil {
			if prev, dup := byName[info.rule.Name]; dup {
				p.errorf(info.nameNode, "%sthe name is already used by the rule at line %d", info.ctx, prev.node.Line)
			} else {
				byName[info.rule.Name] = info
			}
		}
		infos = append(infos, info)
	}
	p.checkAfter(infos, byName)
	p.checkClosed(infos)
	rules := make([]Rule, 0, len(infos))
	for _, info := range infos {
		rules = append(rules, *info.rule)
	}
	return rules
}

// ruleSeen is what reading a rule's keys leaves for the checks that look
// at several keys together.
type ruleSeen struct {
	keyNode, val                     map[string]*yaml.Node // by key, as written
	runSet, onBusySet, runAtStartSet bool
	busySignalNode                   *yaml.Node
	busySignal                       syscall.Signal
}

// rule reads one rule. Its name is read first, so that every message about
// the rule can say which one it is.
func (p *parser) rule(n *yaml.Node, index int) *ruleInfo {
	r := &Rule{
		OnBusy:     onBusyQueue,
		RunAtStart: true,
		Dir:        p.dir,
		Pos:        nodePos(n),
	}
	info := &ruleInfo{rule: r, node: n, ctx: fmt.Sprintf("rule #%d: ", index)}
	// Name the rule in messages about its keys, even the ones pairs reports.
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k != nil && v != nil && k.Value == "name" && v.Kind == yaml.ScalarNode && validName.MatchString(v.Value) {
			info.ctx = fmt.Sprintf("rule %q: ", v.Value)
			break
		}
	}
	kvs := p.pairs(n, info.ctx)
	keys := &ruleSeen{keyNode: map[string]*yaml.Node{}, val: map[string]*yaml.Node{}}
	for _, kv := range kvs {
		keys.keyNode[kv.key.Value] = kv.key
		keys.val[kv.key.Value] = kv.val
	}
	p.ruleName(n, info, keys.val["name"])
	for _, kv := range kvs {
		p.ruleKey(info, keys, kv.key, kv.val)
	}
	if !keys.runSet {
		p.errorf(n, "%smissing run: the command to run", info.ctx)
	}
	p.checkLineRule(info, keys)
	p.checkBusy(info, keys)
	p.checkLive(info, keys)
	p.checkEach(info, keys)
	return info
}

// checkClosed checks that the file rules agree on closed: and settle:.
// The tree is watched once for all of them, and a file held back until it
// is finished is held back for every rule.
func (p *parser) checkClosed(infos []*ruleInfo) {
	var first *ruleInfo
	for _, info := range infos {
		r := info.rule
		if r.Settle > 0 && !r.Closed {
			p.errorf(info.closedNode, "%ssettle needs closed: true (it is how long a finished file stays unchanged)", info.ctx)
			continue
		}
		if r.IsLineRule() {
			if r.Closed {
				p.errorf(info.closedNode, "%sclosed cannot be used with follow: a line rule reads files as they grow", info.ctx)
			}
			continue
		}
		if first == nil {
			first = info
			continue
		}
		f := first.rule
		if r.Closed != f.Closed || r.Settle != f.Settle {
			at := info.closedNode
			if at == nil {
				at = info.node
			}
			p.errorf(at, "%sclosed/settle differ from rule %q's: the tree is watched once, so every file rule must agree (or use a second vigil.yaml)", info.ctx, f.Name)
		}
	}
}

// checkEach checks each: and jobs: against the rule's other keys: a
// per-file run must end and must not be dropped or cut short.
func (p *parser) checkEach(info *ruleInfo, keys *ruleSeen) {
	r, ctx := info.rule, info.ctx
	if kn, ok := keys.keyNode["jobs"]; ok && !r.Each {
		p.errorf(kn, "%sjobs needs each: true (it limits the per-file runs)", ctx)
	}
	if !r.Each {
		return
	}
	kn := keys.keyNode["each"]
	switch {
	case r.Daemon:
		p.errorf(kn, "%seach cannot be used with daemon: a per-file run must end", ctx)
	case r.IsLineRule():
		p.errorf(kn, "%seach cannot be used with follow: a line rule runs for lines, not files", ctx)
	case r.OnBusy != onBusyQueue:
		p.errorf(kn, "%seach needs on_busy: queue; %s would drop or cut short some files' runs", ctx, r.OnBusy)
	}
	if r.Jobs == 0 {
		r.Jobs = 1
	}
}

// ruleName reads the rule's name (v; nil when missing) and from then on
// names the rule in messages.
func (p *parser) ruleName(n *yaml.Node, info *ruleInfo, v *yaml.Node) {
	if v == nil {
		p.errorf(n, "%smissing name (every rule needs a unique name)", info.ctx)
		return
	}
	name, ok := p.scalar(v, "name", info.ctx, "a name")
	if !ok {
		return
	}
	switch {
	case name == "":
		p.errorf(v, "%sname is empty", info.ctx)
	case !validName.MatchString(name):
		p.errorf(v, "%sname %q: use only letters, digits, \"-\", \"_\" and \".\"", info.ctx, name)
	default:
		info.rule.Name = name
		info.nameNode = v
		info.ctx = fmt.Sprintf("rule %q: ", name)
	}
}

// ruleKey reads one key of a rule (other than name) into info.rule, and
// notes in keys what the cross-key checks need.
func (p *parser) ruleKey(info *ruleInfo, keys *ruleSeen, k, v *yaml.Node) {
	r, ctx := info.rule, info.ctx
	switch k.Value {
	case "name":
	case "match":
		if items, ok := p.list(v, ctx+"match", "a glob or a list of globs"); ok {
			if len(items) == 0 {
				p.errorf(v, "%smatch: empty; leave it out to match every change", ctx)
			}
			r.Match = p.relGlobs("match", items, ctx)
		}
	case "exclude":
		if items, ok := p.list(v, ctx+"exclude", "a glob or a list of globs"); ok {
			r.Exclude = p.relGlobs("exclude", items, ctx)
		}
	case "run":
		keys.runSet = true
		r.Run = p.commands(v, ctx)
	case "on_busy":
		if s, ok := p.onBusy(v, ctx); ok {
			r.OnBusy, keys.onBusySet = s, true
		}
	case "busy_signal":
		keys.busySignalNode = k
		if sig, ok := p.signal(v, "busy_signal", ctx); ok {
			keys.busySignal = sig
		}
	case "run_at_start":
		if p.boolean(v, "run_at_start", ctx, &r.RunAtStart) {
			keys.runAtStartSet = true
		}
	case "timeout":
		if d, ok := p.duration(v, "timeout", ctx); ok {
			r.Timeout = d
		}
	case "clear":
		p.boolean(v, "clear", ctx, &r.Clear)
	case "daemon":
		p.boolean(v, "daemon", ctx, &r.Daemon)
	case "stop_signal":
		if sig, ok := p.signal(v, "stop_signal", ctx); ok {
			r.StopSignal = sig
		}
	case "stop_timeout":
		if d, ok := p.duration(v, "stop_timeout", ctx); ok {
			r.StopTimeout = d
		}
	case "after":
		if items, ok := p.list(v, ctx+"after", "a rule name or a list of rule names"); ok {
			info.after = items
		}
	case "ops":
		r.Ops = p.ops(v, ctx)
	case "each":
		p.boolean(v, "each", ctx, &r.Each)
	case "closed":
		if p.boolean(v, "closed", ctx, &r.Closed) && info.closedNode == nil {
			info.closedNode = k
		}
	case "settle":
		if d, ok := p.duration(v, "settle", ctx); ok {
			if d <= 0 {
				p.errorf(v, "%ssettle: must be positive", ctx)
			}
			r.Settle = d
		}
		info.closedNode = k
	case "jobs":
		if v.Kind != yaml.ScalarNode || v.Tag != "!!int" {
			p.errorf(v, "%sjobs: expected a whole number of runs at a time, found %s", ctx, describe(v))
		} else if err := v.Decode(&r.Jobs); err != nil || r.Jobs < 1 {
			p.errorf(v, "%sjobs: %s: want at least 1", ctx, v.Value)
			r.Jobs = 0
		}
	case "follow":
		r.Follow = p.follows(v, ctx)
	case "line":
		r.Line = p.lineRegexp(v, ctx)
	case "multiline":
		if str, ok := p.scalar(v, "multiline", ctx, "a regular expression"); ok {
			re, err := regexp.Compile(str)
			switch {
			case err != nil:
				p.errorf(v, "%smultiline: invalid regular expression %s: %s", ctx, quote(str), regexpReason(err, str))
			case str == "":
				p.errorf(v, "%smultiline: empty regular expression; every line would start a record", ctx)
			default:
				r.Multiline = re
			}
		}
	case "throttle":
		if d, ok := p.duration(v, "throttle", ctx); ok {
			if d == 0 {
				p.errorf(v, "%sthrottle: must be more than 0 (leave it out for no throttle)", ctx)
			} else {
				r.Throttle = d
			}
		}
	default:
		if p.liveRuleKey(info, k, v) {
			return
		}
		p.unknownKey(k, ctx, ruleKeys, topKeys, ruleAliases)
	}
}

// commands reads run: one command or a list of them, none blank.
func (p *parser) commands(v *yaml.Node, ctx string) []string {
	items, ok := p.list(v, ctx+"run", "a command or a list of commands")
	if !ok {
		return nil
	}
	if len(items) == 0 {
		p.errorf(v, "%srun: empty; give the command to run", ctx)
	}
	var run []string
	for i, it := range items {
		if strings.ContainsRune(it.s, 0) {
			p.errorf(it.n, "%srun: a command cannot contain a NUL character", ctx)
			continue
		}
		if strings.TrimSpace(it.s) == "" {
			if len(items) == 1 {
				p.errorf(it.n, "%srun: empty command", ctx)
			} else {
				p.errorf(it.n, "%srun: command %d is empty", ctx, i+1)
			}
			continue
		}
		run = append(run, it.s)
	}
	return run
}

// onBusy reads on_busy, suggesting the policy meant for a misspelt one.
func (p *parser) onBusy(v *yaml.Node, ctx string) (string, bool) {
	s, ok := p.scalar(v, "on_busy", ctx, "queue, restart, signal or ignore")
	if !ok {
		return "", false
	}
	words := []string{onBusyQueue, onBusyRestart, onBusySignal, onBusyIgnore}
	if slices.Contains(words, s) {
		return s, true
	}
	hint := ""
	if alt := suggest(s, words, nil); alt != "" {
		hint = fmt.Sprintf(" (did you mean %q?)", alt)
	}
	p.errorf(v, "%son_busy: invalid value %q: use queue, restart, signal or ignore%s", ctx, s, hint)
	return "", false
}

// ops reads ops: the op names (create, write, remove, rename, chmod) of the
// changes that count, as a list or one comma-separated string.
func (p *parser) ops(v *yaml.Node, ctx string) []watcher.Op {
	items, ok := p.list(v, ctx+"ops", "an op or a list of ops")
	if !ok {
		return nil
	}
	var out []watcher.Op
	for _, it := range items {
		for _, name := range strings.Split(it.s, ",") {
			name = strings.TrimSpace(name)
			var o watcher.Op
			if err := o.UnmarshalText([]byte(name)); err != nil {
				p.errorf(it.n, "%sops: unknown op %q: use create, write, remove, rename or chmod", ctx, name)
				continue
			}
			if !slices.Contains(out, o) {
				out = append(out, o)
			}
		}
	}
	if len(out) == 0 && len(items) == 0 {
		p.errorf(v, "%sops: empty; leave it out to count every op", ctx)
	}
	return out
}

// follows reads follow: files or globs of files, made absolute and kept in
// the glob dialect's normal form.
func (p *parser) follows(v *yaml.Node, ctx string) []string {
	items, ok := p.list(v, ctx+"follow", "a file, a glob or a list of them")
	if !ok {
		return nil
	}
	if len(items) == 0 {
		p.errorf(v, "%sfollow: empty; give the files to follow", ctx)
	}
	var out []string
	for _, it := range items {
		if strings.TrimSpace(it.s) == "" {
			p.errorf(it.n, "%sfollow: empty path", ctx)
			continue
		}
		abs, ok := p.absPath(it.n, "follow", ctx, it.s)
		if !ok {
			continue
		}
		g, err := watcher.CompilePathGlob(abs)
		if err != nil {
			reason := err.Error()
			var ge *watcher.GlobError
			if errors.As(err, &ge) {
				reason = ge.Reason
			}
			p.errorf(it.n, "%sfollow: invalid glob %s: %s", ctx, quote(it.s), reason)
			continue
		}
		out = append(out, g.String())
	}
	return out
}

// lineRegexp reads line: a regular expression that cannot match every line.
func (p *parser) lineRegexp(v *yaml.Node, ctx string) *regexp.Regexp {
	s, ok := p.scalar(v, "line", ctx, "a regular expression")
	if !ok {
		return nil
	}
	re, err := regexp.Compile(s)
	switch {
	case err != nil:
		p.errorf(v, "%sline: invalid regular expression %s: %s", ctx, quote(s), regexpReason(err, s))
	case s == "":
		p.errorf(v, "%sline: empty regular expression; it would match every line", ctx)
	default:
		return re
	}
	return nil
}

// checkLineRule checks a line rule's keys together: follow and line come
// as a pair, and the keys of tree rules do not apply.
func (p *parser) checkLineRule(info *ruleInfo, keys *ruleSeen) {
	r, ctx := info.rule, info.ctx
	_, hasFollow := keys.keyNode["follow"]
	_, hasLine := keys.keyNode["line"]
	if hasFollow && !hasLine {
		p.errorf(keys.keyNode["follow"], "%sfollow needs line: the regular expression that selects the lines to act on", ctx)
	}
	if hasLine && !hasFollow {
		p.errorf(keys.keyNode["line"], "%sline needs follow: the files whose lines to match", ctx)
	}
	for _, key := range []string{"multiline", "throttle"} {
		if kn, ok := keys.keyNode[key]; ok && !hasFollow {
			p.errorf(kn, "%s%s is for line rules: add follow and line", ctx, key)
		}
	}
	if !hasFollow {
		return
	}
	for _, key := range []string{"match", "exclude", "ops"} {
		if kn, ok := keys.keyNode[key]; ok {
			p.errorf(kn, "%s%s cannot be used with follow: a line rule follows files instead of watching the tree", ctx, key)
			r.Match, r.Exclude, r.Ops = nil, nil, nil
		}
	}
	if kn, ok := keys.keyNode["daemon"]; ok && r.Daemon {
		p.errorf(kn, "%sdaemon cannot be used with follow: a line rule runs for matching lines", ctx)
	}
	if kn, ok := keys.keyNode["after"]; ok {
		p.errorf(kn, "%safter cannot be used with follow: a line rule runs for its own lines, not with other rules", ctx)
		info.after = nil
	}
	if !keys.runAtStartSet {
		r.RunAtStart = false
	}
}

// checkBusy settles on_busy and busy_signal together, with daemon.
func (p *parser) checkBusy(info *ruleInfo, keys *ruleSeen) {
	r, ctx := info.rule, info.ctx
	if r.Daemon {
		if !keys.onBusySet {
			r.OnBusy = onBusyRestart
		} else if r.OnBusy == onBusyQueue {
			p.errorf(keys.val["on_busy"], "%son_busy: queue never runs again for a daemon, which does not exit by itself; use restart (the default for daemons) or signal", ctx)
		}
		if kn, ok := keys.keyNode["timeout"]; ok && r.Timeout > 0 {
			p.errorf(kn, "%stimeout cannot be used with daemon: a daemon runs until it is restarted or stopped", ctx)
		}
	}
	switch {
	case r.OnBusy == onBusySignal:
		r.BusySignal = keys.busySignal // 0: the runner's default
	case keys.busySignalNode != nil && keys.onBusySet:
		p.errorf(keys.busySignalNode, "%sbusy_signal needs on_busy: signal (on_busy is %s)", ctx, r.OnBusy)
	case keys.busySignalNode != nil && keys.val["on_busy"] == nil:
		p.errorf(keys.busySignalNode, "%sbusy_signal needs on_busy: signal (on_busy is %s by default)", ctx, r.OnBusy)
	}
}

// regexpReason extracts the problem from a regexp error without repeating
// the expression, which the message already quotes.
func regexpReason(err error, expr string) string {
	var se *syntax.Error
	if errors.As(err, &se) {
		if se.Expr != "" && se.Expr != expr {
			return fmt.Sprintf("%s at `%s`", se.Code, se.Expr)
		}
		return string(se.Code)
	}
	return err.Error()
}

// checkAfter resolves after references and reports unknown names, entries
// naming line rules, repeats and cycles (each cycle once, at the entry that
// closes it).
func (p *parser) checkAfter(infos []*ruleInfo, byName map[string]*ruleInfo) {
	var names []string
	for _, info := range infos {
		if info.nameNode != nil {
			names = append(names, info.rule.Name)
		}
	}
	edges := map[*ruleInfo][]item{}
	for _, info := range infos {
		seen := map[string]bool{}
		for _, it := range info.after {
			dep, ok := byName[it.s]
			switch {
			case !ok:
				hint := ""
				if s := suggest(it.s, names, nil); s != "" {
					hint = fmt.Sprintf(" (did you mean %q?)", s)
				}
				p.errorf(it.n, "%safter: no rule named %q%s", info.ctx, it.s, hint)
			case seen[it.s]:
				p.errorf(it.n, "%safter: %q is listed twice", info.ctx, it.s)
			case dep.rule.IsLineRule():
				p.errorf(it.n, "%safter: %q is a line rule, which runs for its own lines, never for the same batch", info.ctx, it.s)
			default:
				seen[it.s] = true
				info.rule.After = append(info.rule.After, it.s)
				edges[info] = append(edges[info], it)
			}
		}
	}

	var ruleNames []string
	for _, info := range infos {
		ruleNames = append(ruleNames, info.rule.Name)
	}
	after := func(name string) []string {
		var out []string
		for _, it := range edges[byName[name]] {
			out = append(out, it.s)
		}
		return out
	}
	for _, cyc := range order.Cycles(ruleNames, after) {
		// Report it at u's entry naming the next rule, which closes it.
		u := byName[cyc[0]]
		for _, it := range edges[u] {
			if it.s == cyc[1] {
				p.errorf(it.n, "%safter: cycle: %s", u.ctx, strings.Join(cyc, " after "))
			}
		}
	}
}
