package runner

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/vigil-watch/vigil/internal/liveaddr"
)

// DefaultReadyTimeout bounds how long a daemon may take to pass its probe.
const DefaultReadyTimeout = 30 * time.Second

// probe is a parsed readiness check.
type probe struct {
	text string         // as written, for messages
	tcp  string         // host:port to connect to
	http string         // URL whose GET must answer 2xx
	line *regexp.Regexp // matched on the daemon's output lines
}

// parseProbe parses a readiness probe: tcp://HOST:PORT, http://… or
// https://… (a GET that answers 2xx), or "line: REGEXP" (a line of the
// daemon's stdout or stderr matching the Go regular expression).
func parseProbe(s string) (*probe, error) {
	pr, err := liveaddr.ParseProbe(s)
	if err != nil {
		return nil, err
	}
	return &probe{text: s, tcp: pr.TCP, http: pr.HTTP, line: pr.Line}, nil
}

// probeEvery is the pause between attempts of a network probe.
const probeEvery = 25 * time.Millisecond

// wait runs the probe until it passes (nil), ctx ends or timeout passes
// (the last failure). lines delivers the daemon's output lines.
func (pr *probe) wait(ctx context.Context, timeout time.Duration, lines <-chan string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if pr.line != nil {
		for {
			select {
			case l := <-lines:
				if pr.line.MatchString(l) {
					return nil
				}
			case <-ctx.Done():
				return fmt.Errorf("no output line matched %q", pr.line.String())
			}
		}
	}
	client := &http.Client{
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
		// A redirect's target is the app's business: 3xx is not ready.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()
	var last error
	for {
		last = pr.once(ctx, client)
		if last == nil {
			return nil
		}
		t := time.NewTimer(probeEvery)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return last
		}
	}
}

func (pr *probe) once(ctx context.Context, client *http.Client) error {
	actx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if pr.tcp != "" {
		var d net.Dialer
		c, err := d.DialContext(actx, "tcp", pr.tcp)
		if err != nil {
			return err
		}
		c.Close()
		return nil
	}
	req, err := http.NewRequestWithContext(actx, http.MethodGet, pr.http, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}

// lineTap hands a run's output lines to a line probe without ever blocking
// the output copiers: lines that arrive while nobody listens are dropped
// once the buffer is full (the probe has then long matched or timed out).
type lineTap struct {
	mu     sync.Mutex
	ch     chan string
	closed bool
}

func newLineTap() *lineTap { return &lineTap{ch: make(chan string, 256)} }

func (t *lineTap) line(s string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	select {
	case t.ch <- s:
	default:
	}
}

func (t *lineTap) close() {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
}
