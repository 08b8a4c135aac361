//go:build !linux

package vnode

import "errors"

// newInotify refuses: inotify is a Linux interface.
func newInotify(o Options) (backend, error) {
	return nil, errors.New("vnode: the inotify backend is only available on Linux")
}
