package watcher

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Op is what happened to a path over a batch's window.
type Op uint8

// The operations. Their names (see String) are what `vigil events` prints
// and what its --json objects and the runner's events file carry in "op",
// so they are part of the output format and never change.
const (
	Create Op = iota + 1 // the path did not exist when the batch began and exists now
	Write                // the contents changed, or the file was replaced (atomic save, git checkout)
	Remove               // the path existed when the batch began and does not now
	Rename               // the path now holds what was at Change.Old when the batch began
	Chmod                // only metadata (mode, owner, times) changed
)

// String returns the op's name as it appears in `vigil events` output:
// "create", "write", "remove", "rename" or "chmod".
func (o Op) String() string {
	switch o {
	case Create:
		return "create"
	case Write:
		return "write"
	case Remove:
		return "remove"
	case Rename:
		return "rename"
	case Chmod:
		return "chmod"
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// MarshalText encodes the op as its name, so JSON shows "write", not 2.
func (o Op) MarshalText() ([]byte, error) {
	if o < Create || o > Chmod {
		return nil, fmt.Errorf("watcher: invalid op %d", uint8(o))
	}
	return []byte(o.String()), nil
}

// UnmarshalText decodes an op name.
func (o *Op) UnmarshalText(b []byte) error {
	for c := Create; c <= Chmod; c++ {
		if string(b) == c.String() {
			*o = c
			return nil
		}
	}
	return fmt.Errorf("watcher: unknown op %q (want create, write, remove, rename or chmod)", b)
}

// ParseOps reads a comma-separated list of op names ("create,write"), the
// form of vigil's --ops flag. Blanks around names are ignored; an empty
// list or an unknown name is an error.
func ParseOps(list string) ([]Op, error) {
	var ops []Op
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		var o Op
		if err := o.UnmarshalText([]byte(name)); err != nil {
			return nil, err
		}
		if !slices.Contains(ops, o) {
			ops = append(ops, o)
		}
	}
	if len(ops) == 0 {
		return nil, fmt.Errorf("watcher: no op in %q (want create, write, remove, rename or chmod)", list)
	}
	return ops, nil
}

// FilterOps returns the changes of b whose op is one of ops (all of them
// when ops is empty), in b's order; b itself is not modified.
func FilterOps(b Batch, ops []Op) Batch {
	if len(ops) == 0 {
		return b
	}
	out := b
	out.Changes = nil
	for _, c := range b.Changes {
		if slices.Contains(ops, c.Op) {
			out.Changes = append(out.Changes, c)
		}
	}
	return out
}

// Change is the net effect of one batch on one path.
type Change struct {
	Path string // absolute and clean
	Op   Op     // what happened to Path, net over the batch
	Old  string // for Rename: the absolute path the node had when the batch began
}

// Batch is what changed during one debounce window. A path appears at most
// once; Changes are sorted by Path.
type Batch struct {
	Time time.Time // when the batch was closed
	// Rescan: some events were lost (kernel queue overflow) and part of the
	// tree was rescanned; the changes found by comparing it with the index
	// are included, but their ops may be coarser than usual.
	Rescan bool
	// Changes holds the net effect per path, sorted by Path.
	Changes []Change
}

type jsonChange struct {
	Path string `json:"path"`
	Op   Op     `json:"op"`
	Old  string `json:"old,omitempty"`
}

type jsonBatch struct {
	Time    time.Time    `json:"time"`
	Rescan  bool         `json:"rescan"`
	Changes []jsonChange `json:"changes"`
}

// MarshalJSON encodes the batch as the `vigil events --json` object:
// {"time":"<RFC 3339, ns>","rescan":false,"changes":[{"path":...,"op":...}]}
// with "old" only on renames.
func (b Batch) MarshalJSON() ([]byte, error) {
	jb := jsonBatch{Time: b.Time, Rescan: b.Rescan, Changes: make([]jsonChange, len(b.Changes))}
	for i, c := range b.Changes {
		jc := jsonChange{Path: c.Path, Op: c.Op}
		if c.Op == Rename {
			jc.Old = c.Old
		}
		jb.Changes[i] = jc
	}
	return json.Marshal(jb)
}

// UnmarshalJSON decodes the `vigil events --json` object.
func (b *Batch) UnmarshalJSON(data []byte) error {
	var jb jsonBatch
	if err := json.Unmarshal(data, &jb); err != nil {
		return err
	}
	b.Time, b.Rescan = jb.Time, jb.Rescan
	b.Changes = make([]Change, len(jb.Changes))
	for i, c := range jb.Changes {
		b.Changes[i] = Change{Path: c.Path, Op: c.Op, Old: c.Old}
	}
	return nil
}
