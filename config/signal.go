package config

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
)

// ParseSignal turns a signal as users write it into a syscall.Signal. It
// accepts the full name ("SIGHUP"), the name without its SIG prefix ("HUP"),
// either in any case, and the number ("1"). It is shared with the CLI's
// signal flags so that both spell signals the same way.
func ParseSignal(s string) (syscall.Signal, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("empty signal name")
	}
	if n, err := strconv.Atoi(t); err == nil {
		if n > 0 && signalName(syscall.Signal(n)) != "" {
			return syscall.Signal(n), nil
		}
		return 0, fmt.Errorf("unknown signal number %d", n)
	}
	name := strings.ToUpper(t)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := signalNum(name); sig != 0 {
		return sig, nil
	}
	// Compare without the common SIG prefix, which would make every
	// name look close to every other.
	var short []string
	for _, n := range signalNames() {
		short = append(short, strings.TrimPrefix(n, "SIG"))
	}
	if alt := suggest(strings.TrimPrefix(name, "SIG"), short, nil); alt != "" {
		return 0, fmt.Errorf("unknown signal %q (did you mean \"SIG%s\"?)", s, alt)
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

// SignalName returns the conventional name of sig ("SIGTERM"), or its number
// when the platform has no name for it.
func SignalName(sig syscall.Signal) string {
	if n := signalName(sig); n != "" {
		return n
	}
	return strconv.Itoa(int(sig))
}

// signalNames lists every signal name the platform knows, in number order.
func signalNames() []string {
	var names []string
	for n := 1; n <= maxSignal; n++ {
		if name := signalName(syscall.Signal(n)); name != "" {
			names = append(names, name)
		}
	}
	return names
}
