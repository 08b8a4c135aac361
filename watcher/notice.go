package watcher

import (
	"errors"
	"fmt"
	"time"

	"github.com/vigil-watch/vigil/vnode"
)

// NoDebounce, as [Options].Debounce, asks for no quiet period at all.
const NoDebounce time.Duration = -1

// NoticeKind says what a [Notice] is about.
type NoticeKind uint8

// The notices. None stops the watcher: it reports the problem and goes on
// with what it can still watch.
const (
	// RootMissing: a root does not exist (yet); the watcher waits for it.
	RootMissing NoticeKind = iota + 1
	// RootRemoved: a root was removed; its contents are reported removed
	// and the watcher waits for it to come back.
	RootRemoved
	// RootBack: a removed or missing root exists again and is watched; its
	// contents are reported created.
	RootBack
	// Unwatchable: a path could not be watched. Err says why; a
	// *vnode.LimitError means a kernel limit, reported once per Run.
	Unwatchable
	// Unreadable: a directory could not be read (Err says why, typically
	// permission denied); what it holds is not indexed.
	Unreadable
	// SymlinkLoop: a symlinked directory leads back to one of its own
	// ancestors and is not followed. Target is that ancestor.
	SymlinkLoop
	// EventsLost: the kernel dropped events; Path (or every root, when
	// Path is "") is rescanned and the differences reported with Rescan.
	EventsLost
	// Degraded: the kernel refused a new watch instance and every path is
	// polled instead (Err says why).
	Degraded
	// IgnoredFile: a file of Options.IgnoreFiles was found at Path; its
	// changes are not reported. Err is the reason given for it. Said once
	// per path.
	IgnoredFile
	// RemoteRoot: a root lives on a network or user-space file system (FS
	// names it), whose changes made elsewhere kernel notification misses.
	// Err is nil when the root is polled for that reason, else it says why
	// it is not (other roots are local: one backend serves them all).
	RemoteRoot
)

// Notice is a non-fatal problem, or a change of state the user should
// hear about, reported through [Options].OnError while Run goes on.
// Use errors.As to get it from the error OnError receives.
type Notice struct {
	Kind   NoticeKind
	Path   string // the path concerned, absolute; "" for the whole watcher
	Target string // for SymlinkLoop: the ancestor the link leads back to
	FS     string // for RemoteRoot: the file system's name
	Err    error  // the underlying error, if any
}

// Error describes the notice in one line, as the CLI prints it.
func (n *Notice) Error() string {
	switch n.Kind {
	case RootMissing:
		return fmt.Sprintf("watcher: %s does not exist; waiting for it", n.Path)
	case RootRemoved:
		return fmt.Sprintf("watcher: %s was removed; waiting for it to come back", n.Path)
	case RemoteRoot:
		if n.Err != nil {
			return fmt.Sprintf("watcher: %s is on %s: %v", n.Path, n.FS, n.Err)
		}
		return fmt.Sprintf("watcher: %s is on %s, where changes made by other machines raise no kernel event: polling it", n.Path, n.FS)
	case RootBack:
		return fmt.Sprintf("watcher: %s is back; watching it again", n.Path)
	case Unwatchable:
		if errors.As(n.Err, new(*vnode.LimitError)) {
			return n.Err.Error() // a limit error says what to do about it
		}
		return fmt.Sprintf("watcher: cannot watch %s: %v", n.Path, n.Err)
	case Unreadable:
		return fmt.Sprintf("watcher: %v", n.Err)
	case SymlinkLoop:
		return fmt.Sprintf("watcher: not following symlink %s: it loops back to %s", n.Path, n.Target)
	case EventsLost:
		if n.Path == "" {
			return "watcher: the kernel event queue overflowed; rescanning every root"
		}
		return fmt.Sprintf("watcher: events under %s were lost; rescanning it", n.Path)
	case Degraded:
		return n.Err.Error()
	case IgnoredFile:
		return fmt.Sprintf("watcher: ignoring changes to %s: %v", n.Path, n.Err)
	}
	return fmt.Sprintf("watcher: notice %d on %s: %v", n.Kind, n.Path, n.Err)
}

// Unwrap returns the underlying error.
func (n *Notice) Unwrap() error { return n.Err }

// notice hands n to OnError, or else its text to Logf.
func (o *Options) notice(n *Notice) {
	switch {
	case o.OnError != nil:
		o.OnError(n)
	case o.Logf != nil:
		o.Logf("%v", n)
	}
}
