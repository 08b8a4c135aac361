package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckConfigErrors runs `vigil check` on every bad config under
// testdata/config: it must exit 2 and print exactly the positioned errors in
// the config's .err file; every good config must pass with exit 0.
func TestCheckConfigErrors(t *testing.T) {
	files, err := filepath.Glob("../../testdata/config/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no configs found: %v", err)
	}
	t.Chdir("../../testdata/config")
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(strings.TrimSuffix(name, ".yaml"), func(t *testing.T) {
			want, err := os.ReadFile(strings.TrimSuffix(name, ".yaml") + ".err")
			good := os.IsNotExist(err)
			if err != nil && !good {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			code := run([]string{"check", "-c", name}, &stdout, &stderr)
			if good {
				if code != exitOK {
					t.Fatalf("vigil check -c %s: exit %d, want 0; stderr:\n%s", name, code, stderr.String())
				}
				if !strings.Contains(stdout.String(), name+" is valid") {
					t.Errorf("stdout does not say the config is valid:\n%s", stdout.String())
				}
				return
			}
			if code != exitUsage {
				t.Errorf("vigil check -c %s: exit %d, want %d", name, code, exitUsage)
			}
			if got := stderr.String(); got != string(want) {
				t.Errorf("vigil check -c %s printed:\n%s\nwant:\n%s", name, got, want)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout should be empty on error, got:\n%s", stdout.String())
			}
		})
	}
}
