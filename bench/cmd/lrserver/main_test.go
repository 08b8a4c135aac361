//go:build linux

package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-watch/vigil/internal/testwait"
)

// TestServesPageOnInheritedSocketAndOwnPort checks both ways lrserver gets
// its listener: fd 3 when LISTEN_FDS=1 names its own PID, and binding -addr
// otherwise; each serves the embedded page.
func TestServesPageOnInheritedSocketAndOwnPort(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "lrserver")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	inherited := "http://" + ln.Addr().String() + "/"
	ln.Close() // the child holds its copy, f
	// The shell's PID becomes the server's by exec, as under vigil.
	sock := exec.Command("sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" -addr 127.0.0.1:1`, bin)
	sock.ExtraFiles = []*os.File{f}
	checkServes(t, sock, inherited)
	f.Close()

	port, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := port.Addr().String()
	port.Close()
	// LISTEN_FDS naming another process is not ours: bind -addr.
	own := exec.Command(bin, "-addr", addr)
	own.Env = append(os.Environ(), "LISTEN_FDS=1", "LISTEN_PID=1")
	checkServes(t, own, "http://"+addr+"/")
}

func checkServes(t *testing.T, cmd *exec.Cmd, url string) {
	t.Helper()
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	// A bounded client: a socket nobody accepts on would hang a GET.
	client := &http.Client{Timeout: 2 * time.Second}
	var body string
	testwait.Until(t, 30*time.Second, "lrserver to answer on "+url, func() bool {
		resp, err := client.Get(url)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == http.StatusOK
	})
	if !strings.Contains(body, `<p id="msg">hello</p>`) {
		t.Fatalf("%s served %q, want the embedded page", url, body)
	}
}
