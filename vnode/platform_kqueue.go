//go:build darwin || freebsd || openbsd || netbsd || dragonfly

package vnode

// platformBackend is what Auto means here: kqueue.
const platformBackend = Kqueue
