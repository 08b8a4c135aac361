package vnode

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestFDBudgetShares(t *testing.T) {
	for _, c := range []struct {
		limit                 int64
		reserve, total, files int
	}{
		{256, 64, 192, 144},       // the fake kernel; also macOS's soft default
		{10240, 1024, 9216, 6912}, // macOS kern.maxfilesperproc's usual default
		{4096, 512, 3584, 2688},
		{40, 64, 0, 0}, // below the reserve: nothing for watches
	} {
		b := newFDBudget(c.limit)
		if b.reserve != c.reserve || b.total != c.total || b.files != c.files {
			t.Errorf("newFDBudget(%d) = %+v, want reserve %d, total %d, files %d", c.limit, b, c.reserve, c.total, c.files)
		}
	}
	if b := newFDBudget(-1); b.total < 1<<20 || b.files < 1<<20 {
		t.Errorf("unknown limit: budget %+v, want none", b)
	}
}

// TestKqueueDescriptorBudget: under a limit of 256 descriptors (the fake
// kernel's), files take descriptors up to their share, directories up to
// the whole budget, and everything past it is polled, said once by a
// *LimitError naming the limit, its value and how to raise it, while the
// reserve is never touched.
func TestKqueueDescriptorBudget(t *testing.T) {
	q, kb, f := newTestKqueue(t, true)
	bud := kb.budget
	if bud.limit != kqFakeNoFile || bud.files != 144 || bud.total != 192 {
		t.Fatalf("budget = %+v", bud)
	}
	root := t.TempDir()
	file := func(i int) string { return filepath.Join(root, fmt.Sprintf("f%03d", i)) }
	dir := func(i int) string { return filepath.Join(root, fmt.Sprintf("d%03d", i)) }
	for i := range 160 {
		writeFile(t, file(i), "x")
	}
	for i := range 60 {
		if err := os.Mkdir(dir(i), 0o755); err != nil {
			t.Fatal(err)
		}
		f.mu.Lock()
		f.dirs[dir(i)] = true
		f.mu.Unlock()
	}
	opens := func() int {
		n := 0
		for _, op := range f.opsFrom(0) {
			if strings.HasPrefix(op, "open vnode") {
				n++
			}
		}
		return n
	}

	// Files up to their share get descriptors.
	ids := make([]ID, 0, 160)
	for i := range bud.files {
		id, err := q.Watch(file(i))
		if err != nil {
			t.Fatalf("file %d within the budget: %v", i, err)
		}
		ids = append(ids, id)
	}
	// The next file is polled, without a descriptor.
	before := opens()
	polled, err := q.Watch(file(bud.files))
	var le *LimitError
	if !errors.As(err, &le) || !le.Polled || polled == 0 || le.Value != kqFakeNoFile || !errors.Is(err, syscall.EMFILE) {
		t.Fatalf("file past its share: id %d, %v; want a polled watch and a *LimitError", polled, err)
	}
	msg := err.Error()
	for _, want := range []string{"RLIMIT_NOFILE (open files) = 256", "files past it are polled", "64 kept for the commands vigil runs",
		"launchctl limit maxfiles", "kern.maxfilesperproc", "login.conf"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if opens() != before {
		t.Errorf("a polled file was opened: %v", f.opsFrom(0))
	}
	// Directories still get descriptors, up to the whole budget.
	for i := range bud.total - bud.files {
		if _, err := q.Watch(dir(i)); err != nil {
			t.Fatalf("directory %d within the budget: %v", i, err)
		}
	}
	if _, err := q.Watch(dir(bud.total - bud.files)); !errors.As(err, &le) || !le.Polled {
		t.Fatalf("directory past the budget: %v, want polled", err)
	}
	if n := opens(); n != bud.total {
		t.Errorf("%d descriptors opened for watches, want the budget %d (the reserve is %d)", n, bud.total, bud.reserve)
	}

	// A polled file's save is seen through the same Wait.
	ch := kqWaitAsync(q)
	writeFile(t, file(bud.files), "saved")
	r := kqRecvWait(t, ch)
	if r.err != nil || len(r.evs) == 0 || r.evs[0].ID != polled || r.evs[0].Notes&NoteWrite == 0 {
		t.Fatalf("Wait = %+v, %v; want a write on polled file %d", r.evs, r.err, polled)
	}

	// Removing watches gives their descriptors back (at the next wait).
	for _, id := range ids[:10] {
		if err := q.Remove(id); err != nil {
			t.Fatal(err)
		}
	}
	f.post(kev{ident: kqFakeFirstFD + 20, filter: filtVnode, fflags: noteAttrib})
	kqMustWait(t, q)
	// Directories filled the budget, so files are still past their
	// share; a directory gets one of the freed descriptors.
	if _, err := q.Watch(file(bud.files + 1)); !errors.As(err, &le) || !le.Polled {
		t.Errorf("file after removals: %v, want polled (the budget is full of directories)", err)
	}
	if _, err := q.Watch(dir(59)); err != nil {
		t.Errorf("directory after removals: %v, want a descriptor", err)
	}
}
