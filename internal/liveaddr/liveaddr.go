// Package liveaddr parses the addresses of live reload: listen sockets
// (tcp://HOST:PORT, unix:///PATH) and readiness probes (tcp://, http://,
// "line: REGEXP"). The config and the runner both use it, so that an
// address means the same thing in vigil.yaml, on the command line and in
// the runner's API.
package liveaddr

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// Socket is a parsed listen address.
type Socket struct {
	Network string // "tcp" or "unix"
	Addr    string // host:port, or the socket file's absolute path
}

// ParseSocket parses tcp://HOST:PORT, where HOST is a literal IP address
// (IPv6 in brackets) or localhost and PORT is 1 to 65535, or unix:///PATH
// with an absolute PATH.
func ParseSocket(s string) (Socket, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return Socket{}, fmt.Errorf("%q: want tcp://HOST:PORT or unix:///PATH", s)
	}
	switch scheme {
	case "tcp":
		host, port, err := net.SplitHostPort(rest)
		if err != nil {
			var ae *net.AddrError
			if errors.As(err, &ae) {
				err = errors.New(ae.Err)
			}
			return Socket{}, fmt.Errorf("%q: want tcp://HOST:PORT (IPv6 in brackets): %w", s, err)
		}
		if host != "localhost" && net.ParseIP(host) == nil {
			return Socket{}, fmt.Errorf("%q: host %q is not an IP address (or localhost)", s, host)
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return Socket{}, fmt.Errorf("%q: port %q is not a number from 1 to 65535", s, port)
		}
		return Socket{Network: "tcp", Addr: net.JoinHostPort(host, port)}, nil
	case "unix":
		if !strings.HasPrefix(rest, "/") || len(rest) < 2 {
			return Socket{}, fmt.Errorf("%q: want an absolute path: unix:///PATH", s)
		}
		return Socket{Network: "unix", Addr: rest}, nil
	}
	return Socket{}, fmt.Errorf("%q: unknown scheme %q (want tcp or unix)", s, scheme)
}

// Probe is a parsed readiness probe: exactly one field is set.
type Probe struct {
	TCP  string         // host:port to connect to
	HTTP string         // URL whose GET must answer 2xx
	Line *regexp.Regexp // matched on the daemon's output lines
}

// ParseProbe parses tcp://HOST:PORT, http(s)://HOST[:PORT]/PATH or
// "line: REGEXP" (one space after the colon is dropped).
func ParseProbe(s string) (Probe, error) {
	if rest, ok := strings.CutPrefix(s, "line:"); ok {
		expr := strings.TrimPrefix(rest, " ")
		if expr == "" {
			return Probe{}, fmt.Errorf("%q: an empty regular expression matches any line", s)
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			return Probe{}, fmt.Errorf("%q: %w", s, err)
		}
		return Probe{Line: re}, nil
	}
	scheme, _, _ := strings.Cut(s, "://")
	switch scheme {
	case "tcp":
		a, err := ParseSocket(s)
		if err != nil {
			return Probe{}, err
		}
		return Probe{TCP: a.Addr}, nil
	case "http", "https":
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return Probe{}, fmt.Errorf("%q: not a URL with a host", s)
		}
		return Probe{HTTP: s}, nil
	}
	return Probe{}, fmt.Errorf("%q: want tcp://HOST:PORT, http://HOST[:PORT]/PATH or \"line: REGEXP\"", s)
}
