package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// An address in use is found before anything starts: exit 2, the error
// positioned at the address in vigil.yaml, naming rule and address, and the
// command never ran.
func TestSocketInUseExitsBeforeStarting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "vigil.yaml")
	marker := filepath.Join(dir, "started")
	sockets := fmt.Sprintf(`    sockets: ["unix://%s/ok.sock", "tcp://%s"]`, dir, ln.Addr())
	os.WriteFile(cfg, []byte(fmt.Sprintf("rules:\n  - name: web\n    run: touch %s\n    daemon: true\n%s\n", marker, sockets)), 0o644)
	col := strings.Index(sockets, `"tcp://`) + 1
	// vigil runs as its own process: in this one, it would become the
	// subreaper and take other tests' children.
	var errb bytes.Buffer
	run := func(args []string, _ any, stderr *bytes.Buffer) int {
		cmd := exec.Command("vigil", args...)
		cmd.Stderr = stderr
		cmd.Run()
		return cmd.ProcessState.ExitCode()
	}
	code := run([]string{"-c", cfg}, nil, &errb)
	want := fmt.Sprintf("%s:5:%d: rule \"web\": sockets: tcp://%s: address already in use", cfg, col, ln.Addr())
	if code != exitUsage || !strings.Contains(errb.String(), want) {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 2 and %q", code, errb.String(), want)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("the command ran although vigil refused to start")
	}
	if _, err := os.Stat(filepath.Join(dir, "ok.sock")); err == nil {
		t.Errorf("the socket opened before the failing one was left behind")
	}

	errb.Reset()
	code = run([]string{"--socket", "tcp://" + ln.Addr().String(), "--", "touch", marker}, nil, &errb)
	if code != exitUsage || !strings.Contains(errb.String(), `rule "touch": sockets: tcp://`+ln.Addr().String()+": address already in use") {
		t.Errorf("ad hoc: exit %d, stderr:\n%s", code, errb.String())
	}
	errb.Reset()
	code = run([]string{"--socket", "tcp://localhost", "--", "true"}, nil, &errb)
	if code != exitUsage || !strings.Contains(errb.String(), "--socket") {
		t.Errorf("malformed --socket: exit %d, stderr:\n%s", code, errb.String())
	}
	errb.Reset()
	code = run([]string{"--livereload", ln.Addr().String() + "=http://127.0.0.1:9", "--", "touch", marker}, nil, &errb)
	if code != exitUsage || !strings.Contains(errb.String(), "livereload: listen "+ln.Addr().String()) {
		t.Errorf("livereload address in use: exit %d, stderr:\n%s", code, errb.String())
	}
}
