//go:build !(darwin || freebsd || openbsd || netbsd || dragonfly) && !(linux && libkqueue && cgo)

package vnode

import "errors"

// newKqueue refuses: there is no kqueue here. The backend's logic still
// compiles (kqueue.go) so that it can be tested against a fake kernel.
func newKqueue(o Options) (backend, error) {
	return nil, errors.New("vnode: kqueue is only available on darwin and the BSDs")
}
