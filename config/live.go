package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-watch/vigil/internal/liveaddr"
)

// LiveReload is the livereload section: a reverse proxy that browsers open
// at Listen, forwarding to Proxy and injecting the reload script.
type LiveReload struct {
	// Listen is host:port; a bare ":PORT" or "PORT" means 127.0.0.1, so
	// that the proxy is reachable from this machine only unless the
	// address says otherwise.
	Listen string
	// Proxy is the upstream: an http:// URL with a host.
	Proxy string
	// Pos is where the section starts.
	Pos Pos
}

// ListenAddr normalizes a livereload listen address: "3000" and ":3000"
// mean 127.0.0.1:3000.
func ListenAddr(s string) (string, error) {
	if !strings.Contains(s, ":") {
		s = ":" + s
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("%q: want HOST:PORT or :PORT", s)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	if _, err := net.LookupPort("tcp", port); err != nil || port == "" {
		return "", fmt.Errorf("%q: bad port %q", s, port)
	}
	return net.JoinHostPort(host, port), nil
}

// UpstreamURL checks a livereload proxy target: http:// or https:// with a
// host.
func UpstreamURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q: want an http:// URL with a host, like http://127.0.0.1:8080", s)
	}
	return u, nil
}

// liveReload reads the livereload section.
func (p *parser) liveReload(v *yaml.Node) *LiveReload {
	if v.Kind != yaml.MappingNode {
		p.errorf(v, "livereload: expected a mapping with listen: and proxy:, found %s", describe(v))
		return nil
	}
	lr := &LiveReload{Pos: nodePos(v)}
	for _, kv := range p.pairs(v, "livereload: ") {
		k, val := kv.key, kv.val
		switch k.Value {
		case "listen":
			if s, ok := p.scalar(val, "listen", "livereload: ", "an address like 127.0.0.1:3000"); ok {
				if a, err := ListenAddr(s); err != nil {
					p.errorf(val, "livereload: listen: %v", err)
				} else {
					lr.Listen = a
				}
			}
		case "proxy":
			if s, ok := p.scalar(val, "proxy", "livereload: ", "a URL like http://127.0.0.1:8080"); ok {
				if _, err := UpstreamURL(s); err != nil {
					p.errorf(val, "livereload: proxy: %v", err)
				} else {
					lr.Proxy = s
				}
			}
		default:
			p.unknownKey(k, "livereload: ", []string{"listen", "proxy"}, nil, map[string]string{"upstream": "proxy", "target": "proxy", "addr": "listen", "port": "listen"})
		}
	}
	if lr.Proxy == "" && !p.hasKey(v, "proxy") {
		p.errorf(v, "livereload: missing proxy: the app's address, like http://127.0.0.1:8080")
	}
	if lr.Listen == "" && !p.hasKey(v, "listen") {
		p.errorf(v, "livereload: missing listen: the address browsers open, like 127.0.0.1:3000")
	}
	return lr
}

func (p *parser) hasKey(m *yaml.Node, key string) bool {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := resolve(m.Content[i]); k != nil && k.Value == key {
			return true
		}
	}
	return false
}

// liveRuleKey reads a rule's live-reload keys (sockets, ready,
// ready_timeout, reload); it reports whether k was one of them.
func (p *parser) liveRuleKey(info *ruleInfo, k, v *yaml.Node) bool {
	r, ctx := info.rule, info.ctx
	switch k.Value {
	case "sockets":
		items, ok := p.list(v, ctx+"sockets", "an address or a list of addresses (tcp://HOST:PORT, unix:///PATH)")
		if !ok {
			return true
		}
		seen := map[liveaddr.Socket]bool{}
		for _, it := range items {
			a, err := liveaddr.ParseSocket(it.s)
			switch {
			case err != nil:
				p.errorf(it.n, "%ssockets: %v", ctx, err)
			case seen[a]:
				p.errorf(it.n, "%ssockets: %s is listed twice", ctx, it.s)
			default:
				seen[a] = true
				r.Sockets = append(r.Sockets, it.s)
				r.SocketPos = append(r.SocketPos, nodePos(it.n))
			}
		}
	case "ready":
		if s, ok := p.scalar(v, "ready", ctx, `a probe: tcp://HOST:PORT, http://URL or "line: REGEXP"`); ok {
			if _, err := liveaddr.ParseProbe(s); err != nil {
				p.errorf(v, "%sready: %v", ctx, err)
			} else {
				r.Ready, info.readyNode = s, v
			}
		}
	case "ready_timeout":
		if d, ok := p.duration(v, "ready_timeout", ctx); ok {
			if d == 0 {
				p.errorf(v, "%sready_timeout: must be more than 0", ctx)
			} else {
				r.ReadyTimeout = d
			}
		}
	case "reload":
		p.boolean(v, "reload", ctx, &r.Reload)
	default:
		return false
	}
	return true
}

// checkLive checks a rule's live-reload keys together.
func (p *parser) checkLive(info *ruleInfo, keys *ruleSeen) {
	r, ctx := info.rule, info.ctx
	if r.Ready != "" {
		pr, _ := liveaddr.ParseProbe(r.Ready)
		for _, s := range r.Sockets {
			if a, _ := liveaddr.ParseSocket(s); a.Network == "tcp" && a.Addr == pr.TCP {
				p.errorf(info.readyNode, "%sready: %s is the rule's own socket, which vigil keeps open, so it would always answer; probe with http://… or \"line: REGEXP\" instead", ctx, r.Ready)
			}
		}
		if !r.Daemon {
			p.errorf(info.readyNode, "%sready needs daemon: true (a command that is not a daemon is ready when it exits)", ctx)
		}
	}
	if kn, ok := keys.keyNode["ready_timeout"]; ok && r.Ready == "" && keys.val["ready"] == nil {
		p.errorf(kn, "%sready_timeout needs ready: the probe it bounds", ctx)
	}
	if kn, ok := keys.keyNode["sockets"]; ok && r.IsLineRule() {
		p.errorf(kn, "%ssockets cannot be used with follow: a line rule is not a server", ctx)
	}
	if r.ReadyTimeout == 0 {
		r.ReadyTimeout = defaultReadyTimeout
	}
}

// defaultReadyTimeout bounds a daemon's wait for its ready probe.
const defaultReadyTimeout = 30 * time.Second
