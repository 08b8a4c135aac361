//go:build unix

package config

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// maxSignal bounds the numbers signalNames tries; every Unix numbers its
// named signals below it.
const maxSignal = 64

func signalName(sig syscall.Signal) string { return unix.SignalName(sig) }

func signalNum(name string) syscall.Signal { return unix.SignalNum(name) }
