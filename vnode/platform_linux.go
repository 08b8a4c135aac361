//go:build linux

package vnode

// platformBackend is what Auto means here: inotify + epoll + timerfd.
const platformBackend = Inotify
