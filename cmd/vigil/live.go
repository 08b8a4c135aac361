package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"

	"github.com/vigil-watch/vigil/config"
	"github.com/vigil-watch/vigil/livereload"
	"github.com/vigil-watch/vigil/runner"
)

// liveFlags are the ad-hoc form's live-reload flags.
type liveFlags struct {
	sockets    stringsFlag
	ready      string
	livereload string // LISTEN=UPSTREAM

	skipUnchanged bool
}

func (l *liveFlags) register(fs *flagSet) {
	fs.Var(&l.sockets, "socket", "listen on `ADDR` (tcp://HOST:PORT or unix:///PATH) once and hand it to every run (systemd socket activation; repeatable)")
	fs.StringVar(&l.ready, "ready", "", "the command is ready when `PROBE` passes: tcp://HOST:PORT, http://URL (2xx) or \"line: REGEXP\"")
	fs.BoolVar(&l.skipUnchanged, "skip-unchanged", true, "run nothing for a save that leaves a file's contents as they were (--skip-unchanged=false to run anyway)")
	fs.StringVar(&l.livereload, "livereload", "", "serve a reloading proxy: `LISTEN=UPSTREAM`, e.g. 3000=http://127.0.0.1:8080")
}

// any says whether a live-reload flag was given: the ad-hoc command is then
// a server (a daemon).
func (l *liveFlags) any() bool { return len(l.sockets) > 0 || l.ready != "" || l.livereload != "" }

// check validates the flags' syntax before anything starts.
func (l *liveFlags) check() error {
	for _, s := range l.sockets {
		if _, err := runner.ParseSocketAddr(s); err != nil {
			return usageError("--socket %v", err)
		}
	}
	if l.livereload != "" {
		if _, _, err := splitLive(l.livereload); err != nil {
			return err
		}
	}
	return nil
}

// splitLive parses --livereload LISTEN=UPSTREAM.
func splitLive(s string) (listen, upstream string, err error) {
	i := -1
	for j := range len(s) {
		if s[j] == '=' {
			i = j
			break
		}
	}
	if i < 0 {
		return "", "", usageError("--livereload %q: want LISTEN=UPSTREAM, e.g. 3000=http://127.0.0.1:8080", s)
	}
	listen, err = config.ListenAddr(s[:i])
	if err != nil {
		return "", "", usageError("--livereload: listen %v", err)
	}
	if _, err := config.UpstreamURL(s[i+1:]); err != nil {
		return "", "", usageError("--livereload: upstream %v", err)
	}
	return listen, s[i+1:], nil
}

// proxy is a running livereload proxy.
type proxy struct {
	srv *livereload.Server
	ln  net.Listener
}

// startProxy listens on listen (an address in use is a set-up error: exit
// 2, nothing started) and serves the proxy in the background.
func startProxy(listen, upstream string, stderr io.Writer) (*proxy, error) {
	u, err := config.UpstreamURL(upstream)
	if err != nil {
		return nil, fmt.Errorf("%w: livereload: %w", errSetup, err)
	}
	ln, err := livereload.Listen(listen)
	if err != nil {
		return nil, fmt.Errorf("%w: livereload: listen %s: %w", errSetup, listen, err)
	}
	p := &proxy{srv: livereload.New(u), ln: ln}
	go p.srv.Serve(ln)
	fmt.Fprintf(stderr, "livereload: open http://%s/ (proxying %s)\n", ln.Addr(), u)
	return p, nil
}

func (p *proxy) close() {
	if p != nil {
		p.ln.Close()
	}
}

// notifier turns the runner's reload events into the proxy's, with paths
// relative to the working directory.
func (p *proxy) notifier() func(runner.ReloadEvent) {
	cwd, _ := os.Getwd()
	return func(ev runner.ReloadEvent) {
		paths := make([]string, 0, len(ev.Paths))
		for _, a := range ev.Paths {
			if r, err := filepath.Rel(cwd, a); err == nil {
				a = filepath.ToSlash(r)
			}
			paths = append(paths, a)
		}
		p.srv.Notify(livereload.Event{Rule: ev.Rule, Paths: paths, Failed: ev.Failed, Output: ev.Output})
	}
}

// socketError turns a listen failure into an exit-2 error; with a config it
// is positioned at the address in the file.
func socketError(err error, cfg *config.Config) error {
	var se *runner.SocketError
	if !errors.As(err, &se) {
		return fmt.Errorf("%w: %w", errSetup, err)
	}
	if cfg != nil {
		for _, r := range cfg.Rules {
			if r.Name == se.Rule && se.Index < len(r.SocketPos) {
				return &config.Error{File: cfg.Path, Issues: []config.Issue{{Pos: r.SocketPos[se.Index], Msg: se.Error()}}}
			}
		}
	}
	return fmt.Errorf("%w: %w", errSetup, se)
}
