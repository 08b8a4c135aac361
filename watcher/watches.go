package watcher

import (
	"errors"

	"github.com/vigil-watch/vigil/vnode"
)

// watch places a watch on path and reports kernel limits once.
func (r *run) watch(path string) (vnode.ID, bool) { return r.watchIn(nil, path) }

// watchNames is watch for a directory outside the roots of which only the
// names matter (a root's parent).
func (r *run) watchNames(path string) (vnode.ID, bool) {
	if r.q == nil {
		return 0, false
	}
	return r.watchWith(r.q.WatchNames, nil, path)
}

// watchIn is watch for a path under rt (nil: none), polled when rt is.
func (r *run) watchIn(rt *root, path string) (vnode.ID, bool) {
	if r.q == nil {
		return 0, false
	}
	watch := r.q.Watch
	if rt != nil && rt.polled {
		watch = r.q.WatchPolled
	}
	return r.watchWith(watch, rt, path)
}

// watchWith places a watch on path with watch, for rt (nil: none).
func (r *run) watchWith(watch func(string) (vnode.ID, error), rt *root, path string) (vnode.ID, bool) {
	if r.closed {
		return 0, false
	}
	id, err := watch(path)
	if r.w.watchResult != nil {
		id, err = r.w.watchResult(path, id, err)
	}
	if err == nil {
		if rt != nil && rt.polled {
			r.markPolled(id)
		}
		return id, true
	}
	var le *vnode.LimitError
	if errors.As(err, &le) {
		if !r.saidLimit {
			r.saidLimit = true
			r.w.o.notice(&Notice{Kind: Unwatchable, Path: path, Err: le})
		}
		if le.Polled {
			r.markPolled(id)
		}
		return id, le.Polled
	}
	if errors.Is(err, vnode.ErrClosed) {
		r.closed = true
		return 0, false
	}
	if isGone(err) {
		return 0, false // gone already: its parent's events say so
	}
	r.w.o.notice(&Notice{Kind: Unwatchable, Path: path, Err: err})
	return 0, false
}

// markPolled remembers that watch id is served by the poller: its file
// reports no closes, so Options.Closed settles it.
func (r *run) markPolled(id vnode.ID) {
	if r.polledIDs == nil {
		r.polledIDs = map[vnode.ID]bool{}
	}
	r.polledIDs[id] = true
}

func (r *run) unwatch(id vnode.ID) {
	delete(r.polledIDs, id)
	if id != 0 && r.q != nil && !r.closed {
		r.q.Remove(id) // an already-gone watch is no error worth reporting
	}
}

func (r *run) watchDir(n *dirNode) {
	if id, ok := r.watchIn(n.root(), n.readPath()); ok {
		n.id = id
		r.dirs.Set(id, n)
	}
}

// needsFileWatch: on backends whose directory watches miss file writes
// (kqueue), each admitted regular file gets its own watch.
func (r *run) needsFileWatch(k kind) bool {
	return r.q != nil && !r.caps.ChildWrites && k == kFile
}
