package watcher

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// A file named by identity in IgnoreFiles (vigil's stdout redirected into
// the tree) is never reported, however often it is written, and the user
// hears about it once; a new file that takes its name is reported.
func TestIgnoreFilesNeverReported(t *testing.T) {
	for _, v := range variants() {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			logPath := filepath.Join(dir, "sub", "build.log")
			os.Mkdir(filepath.Dir(logPath), 0o755)
			out, err := os.Create(logPath)
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			fi, err := out.Stat()
			if err != nil {
				t.Fatal(err)
			}
			id, ok := IDOf(fi)
			if !ok {
				t.Skip("no file identities here")
			}
			var mu sync.Mutex
			var notes []string
			logf := func(format string, args ...any) {
				mu.Lock()
				notes = append(notes, fmt.Sprintf(format, args...))
				mu.Unlock()
			}
			c, _ := startWatcher(t, Options{Roots: []string{dir}, Backend: v.backend, PollInterval: testPoll,
				IgnoreFiles: map[FileID]string{id: "it is our stdout"}, Logf: logf})
			marker := filepath.Join(dir, "src.go")
			for i := range 3 {
				for range 20 {
					fmt.Fprintln(out, "compiling...")
				}
				os.Chmod(logPath, 0o600+os.FileMode(i))
				if err := os.WriteFile(marker, []byte{byte(i)}, 0o644); err != nil {
					t.Fatal(err)
				}
				waitUntil(t, fmt.Sprintf("change %d of src.go reported", i), func() bool {
					c.mu.Lock()
					defer c.mu.Unlock()
					n := 0
					for _, b := range c.batches {
						for _, ch := range b.Changes {
							if ch.Path == marker {
								n++
							}
						}
					}
					return n > i
				})
			}
			c.mu.Lock()
			for _, b := range c.batches {
				for _, ch := range b.Changes {
					if ch.Path == logPath {
						t.Errorf("the ignored file was reported: %+v", ch)
					}
				}
			}
			c.mu.Unlock()
			mu.Lock()
			said := 0
			for _, n := range notes {
				if strings.Contains(n, logPath) && strings.Contains(n, "it is our stdout") {
					said++
				}
			}
			mu.Unlock()
			if said != 1 {
				t.Errorf("the notice was given %d times, want once; notices: %q", said, notes)
			}
			// Another file under that name is somebody else's.
			os.Remove(logPath)
			if err := os.WriteFile(logPath, []byte("new\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, "the replacing file reported", func() bool {
				c.mu.Lock()
				defer c.mu.Unlock()
				for _, b := range c.batches {
					for _, ch := range b.Changes {
						if ch.Path == logPath {
							return true
						}
					}
				}
				return false
			})
		})
	}
}
