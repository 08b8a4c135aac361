package livereload

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// proxyTo starts a Server in front of handler and returns the proxy's URL.
func proxyTo(t *testing.T, handler http.HandlerFunc) (*Server, string) {
	t.Helper()
	up := httptest.NewServer(handler)
	t.Cleanup(up.Close)
	u, _ := url.Parse(up.URL)
	s := New(u)
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { ln.Close() })
	return s, "http://" + ln.Addr().String()
}

var plain = &http.Client{Transport: &http.Transport{DisableCompression: true, Proxy: nil}}

func get(t *testing.T, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := plain.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestInjectorPlacement(t *testing.T) {
	cases := map[string]string{
		"<html><body>hi</body></html>":                  "<html><body>hi" + Tag + "</body></html>",
		"<BODY>a</Body>\n</HTML>":                       "<BODY>a" + Tag + "</Body>\n</HTML>",
		"<p>no body element":                            "<p>no body element" + Tag,
		"<pre>&lt;/body&gt;</body> x </body></html>end": "<pre>&lt;/body&gt;</body> x " + Tag + "</body></html>end",
		"": Tag,
	}
	for in, want := range cases {
		// One byte at a time: a "</body" split across reads is still found.
		got, err := io.ReadAll(newInjector(io.NopCloser(iotest.OneByteReader(strings.NewReader(in)))))
		if err != nil || string(got) != want {
			t.Errorf("inject(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestProxyInjectsPlainHTMLAndFixesLength(t *testing.T) {
	page := "<html><body><h1>hello</h1></body></html>"
	_, px := proxyTo(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Length", fmt.Sprint(len(page)))
		io.WriteString(w, page)
	})
	resp, body := get(t, px+"/")
	if want := "<html><body><h1>hello</h1>" + Tag + "</body></html>"; body != want {
		t.Errorf("body %q, want %q", body, want)
	}
	if cl := resp.Header.Get("Content-Length"); cl != "" && cl != fmt.Sprint(len(body)) {
		t.Errorf("Content-Length %s for a %d-byte body", cl, len(body))
	}
}

func TestProxyInjectsGzipHTML(t *testing.T) {
	_, px := proxyTo(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept-Encoding") != "gzip" {
			t.Errorf("upstream got Accept-Encoding %q, want gzip only", r.Header.Get("Accept-Encoding"))
		}
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		io.WriteString(zw, "<body>zipped</body>")
		zw.Close()
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Length", fmt.Sprint(b.Len()))
		w.Write(b.Bytes())
	})
	resp, body := get(t, px+"/", "Accept-Encoding", "gzip, deflate, br")
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip", resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if want := "<body>zipped" + Tag + "</body>"; err != nil || string(got) != want {
		t.Errorf("gunzipped body %q (%v), want %q", got, err, want)
	}
}

// A large chunked page streams: its first part reaches the browser while
// the upstream is still writing, and the script lands before its </body>.
func TestProxyStreamsChunkedHTMLWithoutBuffering(t *testing.T) {
	release := make(chan struct{})
	big := strings.Repeat("<p>row</p>\n", 200000) // 2.2 MB
	_, px := proxyTo(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html><body>"+big)
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "</body></html>")
	})
	resp, err := plain.Get(px + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("transfer encoding %v, want chunked", resp.TransferEncoding)
	}
	first := make([]byte, 1<<20)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatalf("the first MiB did not arrive while the upstream was still writing: %v", err)
	}
	close(release)
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	all := string(first) + string(rest)
	if want := "<html><body>" + big + Tag + "</body></html>"; all != want {
		t.Errorf("streamed body is %d bytes, ends %q", len(all), all[max(0, len(all)-80):])
	}
}

func TestProxyPassesOtherResponsesUntouched(t *testing.T) {
	_, px := proxyTo(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/app.js":
			w.Header().Set("Content-Type", "text/javascript")
			io.WriteString(w, "var s = '</body>';")
		case "/page":
			http.ServeContent(w, r, "page.html", time.Time{}, strings.NewReader("<body>0123456789</body>"))
		}
	})
	if _, body := get(t, px+"/app.js"); body != "var s = '</body>';" {
		t.Errorf("non-HTML changed: %q", body)
	}
	resp, body := get(t, px+"/page", "Range", "bytes=0-5")
	if resp.StatusCode != http.StatusPartialContent || body != "<body>" {
		t.Errorf("range request: %d %q, want 206 %q", resp.StatusCode, body, "<body>")
	}
	req, _ := http.NewRequest("HEAD", px+"/page", nil)
	hr, err := plain.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	hr.Body.Close()
	if hr.ContentLength != int64(len("<body>0123456789</body>")) {
		t.Errorf("HEAD Content-Length %d, want the upstream's %d", hr.ContentLength, len("<body>0123456789</body>"))
	}
}

func TestProxyStreamsServerSentEvents(t *testing.T) {
	release := make(chan struct{})
	_, px := proxyTo(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "data: two\n\n")
	})
	resp, err := plain.Get(px + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "data: one\n" {
		t.Fatalf("first event %q, %v: the stream was held back", line, err)
	}
	close(release)
	rest, _ := io.ReadAll(br)
	if string(rest) != "\ndata: two\n\n" {
		t.Errorf("rest of the stream %q", rest)
	}
}

func TestProxyPassesWebSocketUpgrade(t *testing.T) {
	_, px := proxyTo(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "want upgrade", 400)
			return
		}
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		line, _ := brw.ReadString('\n')
		brw.WriteString("echo " + line)
		brw.Flush()
	})
	c, err := net.Dial("tcp", strings.TrimPrefix(px, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	fmt.Fprintf(c, "ping\n")
	if line, err := br.ReadString('\n'); err != nil || line != "echo ping\n" {
		t.Errorf("after the upgrade: %q, %v", line, err)
	}
}

func TestProxySecurity(t *testing.T) {
	var hosts []string
	s, px := proxyTo(t, func(w http.ResponseWriter, r *http.Request) {
		hosts = append(hosts, r.Host)
		io.WriteString(w, "upstream")
	})
	addr := strings.TrimPrefix(px, "http://")
	raw := func(req string) string {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, req)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Status
	}
	if st := raw("GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n"); !strings.HasPrefix(st, "400") {
		t.Errorf("absolute-form request: %s, want 400", st)
	}
	if st := raw("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"); !strings.HasPrefix(st, "405") {
		t.Errorf("CONNECT: %s, want 405", st)
	}
	if st := raw("GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n"); !strings.HasPrefix(st, "200") {
		t.Errorf("origin-form request: %s, want 200", st)
	}
	if len(hosts) != 1 || hosts[0] != s.upstream.Host {
		t.Errorf("upstream saw Host %q, want only its own %q", hosts, s.upstream.Host)
	}
	ln, err := Listen(":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
		t.Errorf("Listen(\":0\") bound %v, want loopback", ip)
	}
}

// events reads server-sent events from the proxy.
type events struct {
	br   *bufio.Reader
	body io.Closer
}

func openEvents(t *testing.T, px string) *events {
	t.Helper()
	resp, err := plain.Get(px + "/.vigil/events")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("events Content-Type %q", ct)
	}
	return &events{br: bufio.NewReader(resp.Body), body: resp.Body}
}

// next returns the next event's id, name and data.
func (e *events) next(t *testing.T) (id, name, data string) {
	t.Helper()
	for {
		line, err := e.br.ReadString('\n')
		if err != nil {
			t.Fatalf("event stream: %v", err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "" && name != "":
			return id, name, data
		case strings.HasPrefix(line, "id: "):
			id = line[4:]
		case strings.HasPrefix(line, "event: "):
			name = line[7:]
		case strings.HasPrefix(line, "data: "):
			data = line[6:]
		}
	}
}

func TestEventsAndErrorPage(t *testing.T) {
	s, px := proxyTo(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<body>the app</body>")
	})
	ev := openEvents(t, px)
	if id, name, data := ev.next(t); id != "0" || name != "hello" || !strings.Contains(data, `"generation":0`) || !strings.Contains(data, s.instance) {
		t.Fatalf("first event: id %s %s %s", id, name, data)
	}
	s.Notify(Event{Rule: "css", Paths: []string{"web/site.css", "web/b.CSS"}})
	if id, name, data := ev.next(t); id != "1" || name != "css" || data != `{"rule":"css","paths":["web/site.css","web/b.CSS"]}` {
		t.Errorf("css batch: id %s event %s data %s", id, name, data)
	}
	s.Notify(Event{Rule: "server", Paths: []string{"web/site.css", "main.go"}})
	if id, name, _ := ev.next(t); id != "2" || name != "reload" {
		t.Errorf("mixed batch: id %s event %s, want 2 reload", id, name)
	}
	s.Notify(Event{Rule: "server", Failed: true, Output: "\x1b[31merror:\x1b[0m main.go:3: <undefined> & co\n"})
	if _, name, _ := ev.next(t); name != "reload" {
		t.Errorf("failure sent %s, want reload", name)
	}
	resp, body := get(t, px+"/", "Accept", "text/html,application/xhtml+xml")
	if resp.StatusCode != 500 || !strings.Contains(body, "error: main.go:3: &lt;undefined&gt; &amp; co") || strings.Contains(body, "\x1b") || !strings.Contains(body, Tag) {
		t.Errorf("error page: %d\n%s", resp.StatusCode, body)
	}
	if _, body := get(t, px+"/data.json", "Accept", "application/json"); body != "<body>the app"+Tag+"</body>" {
		t.Errorf("a request not accepting HTML got the error page: %q", body)
	}
	// A css-only batch right after the fix still reloads: the page shows the error.
	s.Notify(Event{Rule: "server", Paths: []string{"web/site.css"}})
	if _, name, _ := ev.next(t); name != "reload" {
		t.Errorf("first success after a failure sent %s, want reload", name)
	}
	if resp, body := get(t, px+"/", "Accept", "text/html"); resp.StatusCode != 200 || body != "<body>the app"+Tag+"</body>" {
		t.Errorf("after the fix: %d %q", resp.StatusCode, body)
	}
	// The script carries the generation it was served at.
	if _, js := get(t, px+"/.vigil/livereload.js"); !strings.Contains(js, "var gen = 4,") {
		t.Errorf("script does not carry generation 4:\n%s", js[:min(len(js), 300)])
	}
}
