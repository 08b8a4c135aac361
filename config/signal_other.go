//go:build !unix

package config

import "syscall"

// maxSignal bounds the numbers signalNames tries.
const maxSignal = 15

// Without x/sys/unix's tables, only the signals the syscall package defines
// everywhere are known; vigil runs commands on Unix only.
var otherSignals = map[syscall.Signal]string{
	syscall.SIGHUP:  "SIGHUP",
	syscall.SIGINT:  "SIGINT",
	syscall.SIGQUIT: "SIGQUIT",
	syscall.SIGKILL: "SIGKILL",
	syscall.SIGTERM: "SIGTERM",
}

func signalName(sig syscall.Signal) string { return otherSignals[sig] }

func signalNum(name string) syscall.Signal {
	for sig, n := range otherSignals {
		if n == name {
			return sig
		}
	}
	return 0
}
