// Package livereload is vigil's browser reload: an HTTP reverse proxy in
// front of the app that injects a small script into HTML pages, and a
// server-sent event stream that tells those pages when to reload.
//
// # Proxy
//
// Every request goes to the one upstream URL, with the upstream's Host
// header. Requests in absolute form ("GET http://other/ HTTP/1.1") and
// CONNECT are refused, so the proxy can never be used to reach anything
// else. HTML responses (Content-Type text/html, plain or gzip) get
// [Tag] before their last "</body>" in any case, or at the end when there is
// none; the body is streamed (chunked), never buffered whole. Other content
// types, other encodings, HEAD requests, partial content (206), WebSocket
// upgrades and text/event-stream responses pass through byte for byte. The
// proxy asks the upstream for gzip or identity only, so that it can inject.
//
// # Events
//
// GET /.vigil/events is a server-sent event stream. On connect it sends
// "hello" with the current generation (a counter of notifications) and this
// server's instance: a page served before a newer generation, or by an
// earlier vigil, reloads. Then each [Server.Notify] sends, with the new
// generation as its id, either "css" (a batch of .css files only: the page
// re-fetches those stylesheets in place) or "reload", with JSON data
// {"rule":…,"paths":[…]}. A failure, and the first success after one,
// always send "reload".
//
// # Error page
//
// After a failed run, GET requests that accept text/html get status 500 and
// a page with the command's output (ANSI escapes stripped, HTML-escaped)
// that carries the script, until that rule next succeeds.
package livereload

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Event is a notification from the runner: a batch's reload rules ran.
type Event struct {
	Rule   string   // the rule (the failed one, if one failed)
	Paths  []string // the batch's matched paths, as the page should see them
	Failed bool     // a run failed or a daemon did not become ready
	Output string   // the failed run's output
}

// Server is the proxy and event stream. Create it with [New].
type Server struct {
	upstream *url.URL
	proxy    *httputil.ReverseProxy
	instance string

	mu      sync.Mutex
	gen     uint64
	clients map[chan sse]struct{}
	failing map[string]string // rule → output, for the error page
	order   []string          // failing rules, oldest first
}

type sse struct {
	id    uint64
	event string
	data  []byte
}

// New makes a Server forwarding to upstream (http:// or https://).
func New(upstream *url.URL) *Server {
	b := make([]byte, 8)
	rand.Read(b)
	s := &Server{
		upstream: upstream,
		instance: hex.EncodeToString(b),
		clients:  map[chan sse]struct{}{},
		failing:  map[string]string{},
	}
	s.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream) // also sets the outgoing Host to the upstream's
			pr.SetXForwarded()
			// Only encodings the proxy can inject into.
			ae := strings.ToLower(pr.In.Header.Get("Accept-Encoding"))
			if strings.Contains(ae, "gzip") {
				pr.Out.Header.Set("Accept-Encoding", "gzip")
			} else {
				pr.Out.Header.Del("Accept-Encoding")
			}
		},
		ModifyResponse: modifyResponse,
		ErrorHandler:   s.upstreamError,
		FlushInterval:  -1,
	}
	return s
}

// Generation is the number of notifications so far.
func (s *Server) Generation() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}

// Notify records how a batch went and tells every connected page.
func (s *Server) Notify(ev Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	kind := "reload"
	if ev.Failed {
		if _, ok := s.failing[ev.Rule]; !ok {
			s.order = append(s.order, ev.Rule)
		}
		s.failing[ev.Rule] = ev.Output
	} else {
		_, wasFailing := s.failing[ev.Rule]
		delete(s.failing, ev.Rule)
		s.order = slices.DeleteFunc(s.order, func(r string) bool { return r == ev.Rule })
		if !wasFailing && len(s.failing) == 0 && allCSS(ev.Paths) {
			kind = "css"
		}
	}
	paths := ev.Paths
	if paths == nil {
		paths = []string{}
	}
	data, _ := json.Marshal(struct {
		Rule  string   `json:"rule"`
		Paths []string `json:"paths"`
	}{ev.Rule, paths})
	msg := sse{id: s.gen, event: kind, data: data}
	for c := range s.clients {
		select {
		case c <- msg:
		default: // a client too slow to take it reconnects and learns the generation
		}
	}
}

func allCSS(paths []string) bool {
	if len(paths) == 0 {
		return false
	}
	for _, p := range paths {
		if !strings.EqualFold(pathExt(p), ".css") {
			return false
		}
	}
	return true
}

func pathExt(p string) string {
	if i := strings.LastIndexAny(p, "./"); i >= 0 && p[i] == '.' {
		return p[i:]
	}
	return ""
}

// ServeHTTP serves the script, the events and the error page, and
// forwards everything else to the upstream.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		http.Error(w, "vigil livereload: CONNECT refused: this proxy forwards only to its upstream", http.StatusMethodNotAllowed)
		return
	}
	if !strings.HasPrefix(r.RequestURI, "/") {
		http.Error(w, "vigil livereload: absolute-form request refused: this proxy forwards only to its upstream", http.StatusBadRequest)
		return
	}
	switch r.URL.Path {
	case "/.vigil/livereload.js":
		s.serveScript(w)
		return
	case "/.vigil/events":
		s.serveEvents(w, r)
		return
	}
	if page := s.errorPage(r); page != "" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, page)
		return
	}
	s.proxy.ServeHTTP(w, r)
}

func modifyResponse(resp *http.Response) error {
	req := resp.Request
	if req.Method == http.MethodHead || resp.StatusCode == http.StatusPartialContent ||
		resp.StatusCode == http.StatusSwitchingProtocols || resp.StatusCode == http.StatusNoContent ||
		resp.StatusCode == http.StatusNotModified || resp.Header.Get("Content-Range") != "" {
		return nil
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt != "text/html" {
		return nil
	}
	switch strings.ToLower(resp.Header.Get("Content-Encoding")) {
	case "", "identity":
		resp.Body = newInjector(resp.Body)
	case "gzip":
		body, err := gzipInjector(resp.Body)
		if err != nil {
			return nil // not gzip after all: pass it on as it is
		}
		resp.Body = body
	default:
		return nil
	}
	// The length changes: stream it chunked. The validators describe the
	// upstream's bytes, not these.
	resp.ContentLength = -1
	resp.Header.Del("Content-Length")
	resp.Header.Del("ETag")
	resp.Header.Del("Content-MD5")
	return nil
}

// upstreamError answers when the upstream cannot be reached (a daemon
// restarting without inherited sockets): a page that reloads once the next
// event arrives, for browsers; a plain 502 otherwise.
func (s *Server) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client went away
	}
	if r.Method == http.MethodGet && acceptsHTML(r) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprintf(w, "<!doctype html><title>vigil: waiting for the app</title><p>vigil cannot reach %s: %s</p>%s\n",
			html.EscapeString(s.upstream.String()), html.EscapeString(err.Error()), Tag)
		return
	}
	http.Error(w, "vigil livereload: upstream: "+err.Error(), http.StatusBadGateway)
}

func acceptsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]`)

// StripANSI removes terminal escape sequences.
func StripANSI(s string) string { return ansi.ReplaceAllString(s, "") }

func (s *Server) errorPage(r *http.Request) string {
	if r.Method != http.MethodGet || !acceptsHTML(r) {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.order) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>vigil: ")
	b.WriteString(html.EscapeString(strings.Join(s.order, ", ")))
	b.WriteString(" failed</title>\n<style>body{font:14px system-ui,sans-serif;margin:2em}pre{background:#1e1e1e;color:#eee;padding:1em;overflow:auto;white-space:pre-wrap}</style></head>\n<body>\n")
	for _, rule := range s.order {
		fmt.Fprintf(&b, "<h1 class=\"vigil-error\">%s failed</h1>\n<pre>%s</pre>\n",
			html.EscapeString(rule), html.EscapeString(StripANSI(s.failing[rule])))
	}
	b.WriteString("<p>vigil shows this page until the next successful run.</p>\n")
	b.WriteString(Tag)
	b.WriteString("\n</body></html>\n")
	return b.String()
}

func (s *Server) serveScript(w http.ResponseWriter) {
	s.mu.Lock()
	gen := s.gen
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	js := strings.NewReplacer("__GEN__", strconv.FormatUint(gen, 10), "__INSTANCE__", s.instance).Replace(script)
	w.Write([]byte(js))
}

// keepAlive is how often an idle event stream gets a comment line, so that
// intermediaries and the browser keep it open.
const keepAlive = 15 * time.Second

func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	c := make(chan sse, 16)
	s.mu.Lock()
	s.clients[c] = struct{}{}
	gen := s.gen
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.clients, c)
		s.mu.Unlock()
	}()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	hello, _ := json.Marshal(map[string]any{"generation": gen, "instance": s.instance})
	fmt.Fprintf(w, "retry: 500\nid: %d\nevent: hello\ndata: %s\n\n", gen, hello)
	fl.Flush()
	t := time.NewTicker(keepAlive)
	defer t.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case m := <-c:
			if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", m.id, m.event, m.data); err != nil {
				return
			}
			fl.Flush()
		case <-t.C:
			if _, err := w.Write([]byte(": keep-alive\n\n")); err != nil {
				return
			}
			fl.Flush()
		}
	}
}

// Listen opens the proxy's address; a bare port or ":PORT" is taken on
// 127.0.0.1 only.
func Listen(addr string) (net.Listener, error) {
	if !strings.Contains(addr, ":") {
		addr = ":" + addr
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.Listen("tcp", net.JoinHostPort(host, port))
}

// Serve serves s on ln until ln is closed.
func (s *Server) Serve(ln net.Listener) error {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	err := srv.Serve(ln)
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
