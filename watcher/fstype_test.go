package watcher

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-watch/vigil/internal/testwait"
	"github.com/vigil-watch/vigil/vnode"
)

// Roots on network file systems are polled with a notice naming the file
// system; a chosen backend wins; next to local roots, which keep the kernel
// backend, their watches are polled one by one. The file system type comes from
// a seam: these machines mount no NFS.
func TestRemoteRootsArePolled(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the kernel backend compared against is inotify")
	}
	cases := []struct {
		name     string
		backend  vnode.Backend
		mixed    bool
		want     vnode.Backend
		noticeOK bool // a RemoteRoot notice with Err == nil
		noticeEr bool // a RemoteRoot notice with an Err
	}{
		{"auto polls", vnode.Auto, false, vnode.Poll, true, false},
		{"backend chosen wins", vnode.Inotify, false, vnode.Inotify, false, false},
		{"mixed: the kernel for local roots, polling for the remote one", vnode.Auto, true, vnode.Inotify, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			nfs := t.TempDir()
			roots := []string{nfs}
			if tc.mixed {
				roots = append(roots, t.TempDir())
			}
			w, err := New(Options{Roots: roots, Backend: tc.backend, PollInterval: testPoll, Debounce: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var notices []*Notice
			w.o.OnError = func(err error) {
				var n *Notice
				if errors.As(err, &n) && n.Kind == RemoteRoot {
					mu.Lock()
					notices = append(notices, n)
					mu.Unlock()
				}
			}
			w.fsType = func(p string) string {
				if p == nfs || strings.HasPrefix(p, nfs+"/") {
					return "nfs4"
				}
				return "ext4"
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			out := make(chan Batch, 16)
			stats := make(chan Stats, 1)
			done := make(chan error, 1)
			go func() { done <- w.Run(ctx, func(s Stats) { stats <- s }, out) }()
			var st Stats
			select {
			case st = <-stats:
			case <-time.After(deadline):
				t.Fatal("not ready")
			}
			if st.Backend != tc.want {
				t.Errorf("backend %s, want %s", st.Backend, tc.want)
			}
			mu.Lock()
			got := append([]*Notice(nil), notices...)
			mu.Unlock()
			switch {
			case tc.noticeOK || tc.noticeEr:
				if len(got) != 1 || got[0].Path != nfs || got[0].FS != "nfs4" || (got[0].Err != nil) != tc.noticeEr {
					t.Errorf("notices %+v, want one about %s on nfs4 (with a reason: %v)", got, nfs, tc.noticeEr)
				} else if !strings.Contains(got[0].Error(), "nfs4") {
					t.Errorf("notice %q does not name the file system", got[0].Error())
				}
			case len(got) > 0:
				t.Errorf("notices %+v, want none", got)
			}
			if tc.mixed && (!w.roots[0].polled || w.roots[1].polled) {
				t.Errorf("per-root polling: nfs root polled %v, local root polled %v; want true, false", w.roots[0].polled, w.roots[1].polled)
			}
			f := filepath.Join(nfs, "f")
			os.WriteFile(f, []byte("x"), 0o644)
			testwait.Until(t, deadline, "the change", func() bool {
				select {
				case b := <-out:
					for _, c := range b.Changes {
						if c.Path == f {
							return true
						}
					}
				default:
				}
				return false
			})
			cancel()
			<-done
		})
	}
	if !isRemote("fuse.sshfs") || !isRemote("cifs") || isRemote("ext4") || isRemote("") {
		t.Error("isRemote misjudges a name")
	}
}

// TestClosedOnPolledRemoteRoot: with Options.Closed, inotify finishes a
// file by its writer's close, but a remote root next to local ones is
// polled, and polling reports no closes: files there finish by settling
// instead of being held for ever. Local files still wait for their close.
func TestClosedOnPolledRemoteRoot(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("closes are reported by inotify")
	}
	nfs, local := t.TempDir(), t.TempDir()
	w, err := New(Options{Roots: []string{nfs, local}, PollInterval: testPoll, Debounce: 50 * time.Millisecond,
		Closed: true, Settle: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	w.fsType = func(p string) string {
		if within(nfs, p) {
			return "nfs4"
		}
		return "ext4"
	}
	c, _ := runWatcher(t, w)
	remote, near := filepath.Join(nfs, "sub", "remote.bin"), filepath.Join(local, "near.bin")
	if err := os.Mkdir(filepath.Dir(remote), 0o755); err != nil {
		t.Fatal(err)
	}
	// Kept open: a local file is not finished until its writer closes it.
	f, err := os.Create(near)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("partial")
	if err := os.WriteFile(remote, []byte("done"), 0o644); err != nil {
		t.Fatal(err)
	}
	seen := func(path string) bool { return c.has(path, Create) }
	testwait.Until(t, deadline, "the remote file reported once settled", func() bool { return seen(remote) })
	if seen(near) {
		t.Fatalf("the local file was reported while its writer still had it open")
	}
	f.Close()
	testwait.Until(t, deadline, "the local file reported after its close", func() bool { return seen(near) })
}
