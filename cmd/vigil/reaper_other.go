//go:build !linux

package main

// becomeSubreaper has no portable equivalent (FreeBSD's procctl
// PROC_REAP_ACQUIRE is not in x/sys); orphans go to init as usual.
func becomeSubreaper() {}
