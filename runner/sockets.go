package runner

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/vigil-watch/vigil/internal/liveaddr"
)

// Socket-activation variables (the systemd protocol): the inherited
// listeners are fds 3 to 3+LISTEN_FDS-1, LISTEN_PID is the PID of the
// process meant to use them, LISTEN_FDNAMES names them, ':'-separated.
const (
	EnvListenFDs     = "LISTEN_FDS"
	EnvListenPID     = "LISTEN_PID"
	EnvListenFDNames = "LISTEN_FDNAMES"
)

// SocketAddr is a parsed listen address: tcp://HOST:PORT (IPv4, or IPv6 in
// brackets) or unix:///ABSOLUTE/PATH.
type SocketAddr = liveaddr.Socket

// ParseSocketAddr parses a listen address: tcp://HOST:PORT with a literal
// IP address or "localhost" (IPv6 in brackets) and a port from 1 to 65535,
// or unix:///PATH with an absolute path.
func ParseSocketAddr(s string) (SocketAddr, error) { return liveaddr.ParseSocket(s) }

// SocketError says that a rule's listen address could not be opened.
type SocketError struct {
	Rule  string
	Index int // which of the rule's Sockets, from 0
	Addr  string
	Err   error
}

func (e *SocketError) Error() string {
	return fmt.Sprintf("rule %q: sockets: %s: %v", e.Rule, e.Addr, e.Err)
}

func (e *SocketError) Unwrap() error { return e.Err }

// listener is one open listen socket: its duplicate fd (what children
// inherit) and the net.Listener that owns the address (closing it removes a
// unix socket's file). Nobody accepts on it here: connections wait in the
// backlog until a run of the daemon accepts them.
type listener struct {
	addr SocketAddr
	ln   net.Listener
	file *os.File
}

// listenBacklog is not configurable in Go; the kernel's somaxconn applies,
// which holds every connection made while a daemon restarts.

// openListener opens addr, replacing a stale unix socket file (one that
// nothing accepts on).
func openListener(a SocketAddr) (*listener, error) {
	if a.Network == "unix" {
		if err := removeStale(a.Addr); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen(a.Network, a.Addr)
	if err != nil {
		return nil, explainListen(a, err)
	}
	var f *os.File
	switch l := ln.(type) {
	case *net.TCPListener:
		f, err = l.File()
	case *net.UnixListener:
		f, err = l.File()
	}
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("duplicating the listener: %w", err)
	}
	return &listener{addr: a, ln: ln, file: f}, nil
}

func (l *listener) close() {
	l.file.Close()
	l.ln.Close() // a unix listener removes its file
}

// explainListen says why a listen failed in the user's terms.
func explainListen(a SocketAddr, err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return errors.New("address already in use")
	case errors.Is(err, syscall.EACCES) && a.Network == "tcp":
		return errors.New("permission denied (ports below 1024 need privilege)")
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return errors.New("address not available on this machine")
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}

// removeStale removes a socket file at path that nothing accepts on. A
// socket that answers is in use; a file that is not a socket is left alone.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket", path)
	}
	c, err := net.Dial("unix", path)
	if err == nil {
		c.Close()
		return errors.New("address already in use (something accepts on that socket)")
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing the stale socket: %w", err)
	}
	return nil
}

// socketSet holds the open listeners by address, shared by rules and kept
// across reloads for addresses that stay.
type socketSet struct {
	byAddr map[SocketAddr]*listener
}

// open opens what the rules need and is not open yet; on error nothing new
// stays open. It returns the listeners no rule uses any more, for closing.
func (s *socketSet) open(rules []*compiled) (unused []*listener, err error) {
	if s.byAddr == nil {
		s.byAddr = map[SocketAddr]*listener{}
	}
	want := map[SocketAddr]bool{}
	var opened []*listener
	for _, c := range rules {
		for i, a := range c.sockets {
			want[a] = true
			if s.byAddr[a] != nil {
				continue
			}
			l, err := openListener(a)
			if err != nil {
				for _, o := range opened {
					delete(s.byAddr, o.addr)
					o.close()
				}
				return nil, &SocketError{Rule: c.Name, Index: i, Addr: c.Sockets[i], Err: err}
			}
			opened = append(opened, l)
			s.byAddr[a] = l
		}
	}
	for a, l := range s.byAddr {
		if !want[a] {
			unused = append(unused, l)
			delete(s.byAddr, a)
		}
	}
	return unused, nil
}

// files returns the rule's inherited files in order and LISTEN_FDNAMES.
func (s *socketSet) files(c *compiled) ([]*os.File, string) {
	if len(c.sockets) == 0 {
		return nil, ""
	}
	files := make([]*os.File, len(c.sockets))
	names := make([]string, len(c.sockets))
	for i, a := range c.sockets {
		files[i] = s.byAddr[a].file
		names[i] = c.Name
		if len(c.sockets) > 1 {
			names[i] = c.Name + "-" + strconv.Itoa(i+1)
		}
	}
	return files, strings.Join(names, ":")
}

func (s *socketSet) closeAll() {
	for a, l := range s.byAddr {
		l.close()
		delete(s.byAddr, a)
	}
}

// activationArgv wraps argv so that the process that ends up running it
// learns its own PID in LISTEN_PID: a shell sets it to $$ and execs the
// program, which keeps that PID. A shell string gets the variable set and
// runs as written; its server must be started with `exec` to keep the PID.
func activationArgv(cmd Command) []string {
	const setPID = `LISTEN_PID=$$; export LISTEN_PID; `
	argv := cmd.Argv
	if len(argv) == 0 {
		if words, ok := simpleCommand(cmd.Shell); ok {
			argv = words
		}
	}
	if len(argv) > 0 {
		return append([]string{"/bin/sh", "-c", setPID + `exec "$@"`, "vigil"}, argv...)
	}
	return []string{"/bin/sh", "-c", setPID + "\n" + cmd.Shell}
}

// simpleCommand splits a shell string that is only plain words (no quotes,
// variables, redirections, operators or globs) into argv, so that it can be
// exec'd without a shell in between. A leading "exec" is dropped.
func simpleCommand(s string) ([]string, bool) {
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune(" \t_./:@%+,=-", r):
		default:
			return nil, false
		}
	}
	words := strings.Fields(s)
	if len(words) > 0 && words[0] == "exec" {
		words = words[1:]
	}
	if len(words) == 0 || strings.Contains(words[0], "=") {
		return nil, false // an assignment: the shell's business
	}
	switch words[0] {
	case "cd", "export", "set", "unset", ".", "source", "eval", "exit", "ulimit", "umask", "trap", "wait", "read", "shift", "alias":
		return nil, false
	}
	return words, true
}
