//go:build !linux && !darwin && !freebsd && !openbsd && !netbsd && !dragonfly

package vnode

// platformBackend is what Auto means here: no kernel mechanism we speak, so
// stat polling.
const platformBackend = Poll
