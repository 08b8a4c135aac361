// Command lrserver is the web server every live-reload row of the benchmark
// restarts: it serves page.html, embedded at build time, so an edit of the
// template takes a rebuild and a restart to show, as in a real Go app.
//
// It takes an inherited listening socket by the systemd protocol
// (LISTEN_FDS=1 and LISTEN_PID equal to its own PID: fd 3) when given one,
// and otherwise binds -addr itself. It prints "lrserver listening" once it
// accepts, for readiness probes that watch the output.
package main

import (
	_ "embed"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

//go:embed page.html
var page []byte

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to bind when no socket is inherited")
	flag.Parse()
	// Before listening: SIGTERM's default action would drop accepted
	// connections.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)

	var ln net.Listener
	var err error
	if os.Getenv("LISTEN_FDS") == "1" && os.Getenv("LISTEN_PID") == strconv.Itoa(os.Getpid()) {
		ln, err = net.FileListener(os.NewFile(3, "socket"))
	} else {
		ln, err = net.Listen("tcp", *addr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "lrserver:", err)
		os.Exit(1)
	}
	var conns atomic.Int64
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			w.Write(page)
		}),
		ConnState: func(c net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				conns.Add(1)
			case http.StateClosed, http.StateHijacked:
				conns.Add(-1)
			}
		},
	}
	done := make(chan struct{})
	go func() { srv.Serve(ln); close(done) }()
	fmt.Println("lrserver listening on", ln.Addr())

	<-sig
	// A graceful stop by hand: http.Server.Shutdown drops a request accepted
	// but not read yet. Closing the listener leaves the connections not yet
	// accepted queued on an inherited socket, for the next run.
	srv.SetKeepAlivesEnabled(false)
	ln.Close()
	<-done
	for deadline := time.Now().Add(5 * time.Second); conns.Load() > 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	os.Exit(0)
}
