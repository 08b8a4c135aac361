//go:build linux

package runner

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// When vigil is PID 1 in a container, or a child subreaper, the orphans of
// its commands become its own children: unless the runner reaps them they
// stay zombies, and their group never reads as empty. The scenario runs in
// a child test process, because being a subreaper is process-wide.
func TestOrphansReapedWhenWeAreTheirParent(t *testing.T) {
	if os.Getenv("VIGIL_RUNNER_TEST_SUBREAPER") != "1" {
		t.Parallel()
		cmd := exec.Command(os.Args[0], "-test.run=^TestOrphansReapedWhenWeAreTheirParent$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), "VIGIL_RUNNER_TEST_SUBREAPER=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("subreaper scenario failed: %v\n%s", err, out)
		}
		return
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Skipf("cannot become a subreaper: %v", err)
	}
	h := newHarness(t, func(dir string) ([]Rule, Options) {
		return []Rule{{
			Name:       "orphans",
			RunAtStart: true,
			Run:        sh(`sleep 300 & echo $! > grandchild; echo $$ > leader; exit 0`),
		}}, Options{Once: true}
	}).run()
	began := time.Now()
	if st := h.wait(); st != 0 {
		t.Fatalf("status %d, want 0", st)
	}
	leader, _ := strconv.Atoi(strings.TrimSpace(h.read("leader")))
	if !groupGone(leader) {
		t.Errorf("group %d still has members (unreaped zombies?)", leader)
	}
	if took := time.Since(began); took >= killWait {
		t.Errorf("the run took %v: the group was not seen empty until the kill wait gave up", took)
	}
	if out := h.out.String(); strings.Contains(out, "still has members") {
		t.Errorf("runner reported leftovers:\n%s", out)
	}
}
