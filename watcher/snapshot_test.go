package watcher

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// snapTree writes files (path relative to dir → contents) under dir.
func snapTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// settled returns s as if it had been taken RacyWindow after it was: every
// node it holds is then old enough to be trusted by its metadata. Tests use
// it instead of waiting out the window.
func settled(s *Snapshot) *Snapshot {
	s.Time = s.Time.Add(RacyWindow + time.Second)
	return s
}

// take snapshots dir against prev, through a write and a read of the file
// as vigil changed does, and returns the new snapshot and its changes as
// "op rel[<-oldrel]" strings.
func take(t *testing.T, dir string, o Options, prev *Snapshot) (*Snapshot, []string) {
	t.Helper()
	if prev != nil {
		file := filepath.Join(t.TempDir(), "snap")
		if err := prev.WriteFile(file); err != nil {
			t.Fatal(err)
		}
		var err error
		if prev, err = ReadSnapshot(file); err != nil {
			t.Fatal(err)
		}
	}
	o.Roots = []string{dir}
	s, err := TakeSnapshot(o, prev)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range s.Changes() {
		rel := strings.TrimPrefix(c.Path, dir+"/")
		if c.Old != "" {
			rel += "<-" + strings.TrimPrefix(c.Old, dir+"/")
		}
		got = append(got, c.Op.String()+" "+rel)
	}
	return s, got
}

func wantChanges(t *testing.T, step string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s: changes\n  %q\nwant\n  %q", step, got, want)
	}
}

// TestSnapshotChanges walks through the changes vigil changed reports:
// everything is created the first time, then writes, removes, renames,
// chmods, and no change for a touch or a rewrite with the same bytes.
func TestSnapshotChanges(t *testing.T) {
	dir := t.TempDir()
	snapTree(t, dir, map[string]string{"a.txt": "a", "sub/b.txt": "b", "sub/c.txt": "c", "keep.txt": "k"})
	s, got := take(t, dir, Options{}, nil)
	wantChanges(t, "first", got, "create a.txt", "create keep.txt", "create sub", "create sub/b.txt", "create sub/c.txt")

	s, got = take(t, dir, Options{}, settled(s))
	wantChanges(t, "nothing", got)

	// A write of other bytes; a touch; a rewrite with the same bytes; a
	// chmod; a remove; a rename; a new file.
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte("A2"), 0o644)
	future := time.Now().Add(time.Hour)
	os.Chtimes(filepath.Join(dir, "keep.txt"), future, future)
	os.WriteFile(filepath.Join(dir, "sub/c.txt"), []byte("c"), 0o644)
	os.Chmod(filepath.Join(dir, "sub/b.txt"), 0o600)
	if err := os.Rename(filepath.Join(dir, "sub/c.txt"), filepath.Join(dir, "moved.txt")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "new.txt"), []byte("n"), 0o644)
	os.Mkdir(filepath.Join(dir, "empty"), 0o755)
	s, got = take(t, dir, Options{}, settled(s))
	wantChanges(t, "edits", got, "write a.txt", "create empty", "rename moved.txt<-sub/c.txt", "create new.txt", "chmod sub/b.txt")

	os.Remove(filepath.Join(dir, "new.txt"))
	os.RemoveAll(filepath.Join(dir, "sub"))
	_, got = take(t, dir, Options{}, settled(s))
	wantChanges(t, "removes", got, "remove new.txt", "remove sub", "remove sub/b.txt")
}

// TestSnapshotReplaced: a file replaced by a directory, or a symlink whose
// target changes, is a write; a file replaced by an identical copy (new
// inode, same bytes: a checkout) is no change.
func TestSnapshotReplaced(t *testing.T) {
	dir := t.TempDir()
	snapTree(t, dir, map[string]string{"f": "x", "same.txt": "same"})
	os.Symlink("f", filepath.Join(dir, "link"))
	s, _ := take(t, dir, Options{}, nil)

	os.Remove(filepath.Join(dir, "f"))
	os.Mkdir(filepath.Join(dir, "f"), 0o755)
	os.Remove(filepath.Join(dir, "link"))
	os.Symlink("elsewhere", filepath.Join(dir, "link"))
	tmp := filepath.Join(dir, ".same.tmp")
	os.WriteFile(tmp, []byte("same"), 0o644)
	os.Rename(tmp, filepath.Join(dir, "same.txt"))
	_, got := take(t, dir, Options{}, settled(s))
	wantChanges(t, "replaced", got, "write f", "write link")
}

// TestSnapshotRacy: a file rewritten with the same size and the same time
// stamps after a snapshot was taken is found when the snapshot was taken
// within its time stamps' tick (git's racily clean case), and costs no
// hashing when the snapshot was taken safely later.
func TestSnapshotRacy(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f.txt")
	snapTree(t, dir, map[string]string{"f.txt": "one"})
	s, _ := take(t, dir, Options{}, nil)

	// The rewrite lands in the same tick: same size, and (as a coarse
	// clock gives it) the same mtime and ctime as recorded.
	os.WriteFile(file, []byte("two"), 0o644)
	fi, err := os.Lstat(file)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(s.load(), func(e snapEntry) bool { return e.path == file })
	s.entries[i].mtime, s.entries[i].ctime = fi.ModTime().UnixNano(), ctimeOf(fi)
	s.Time = time.Unix(0, s.entries[i].mtime) // taken within the same tick

	_, got := take(t, dir, Options{}, s)
	wantChanges(t, "racy", got, "write f.txt")

	// Had the snapshot been taken well after the file's time stamps, its
	// metadata would be trusted and the file not read again.
	_, got = take(t, dir, Options{}, settled(s))
	wantChanges(t, "trusted", got)
}

// TestSnapshotRacyEndToEnd: without any adjustment, a file rewritten with
// the same size at once after a snapshot, its mtime put back, is found.
func TestSnapshotRacyEndToEnd(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f.txt")
	snapTree(t, dir, map[string]string{"f.txt": "one"})
	fi, _ := os.Lstat(file)
	s, _ := take(t, dir, Options{}, nil)
	os.WriteFile(file, []byte("two"), 0o644)
	os.Chtimes(file, fi.ModTime(), fi.ModTime())
	_, got := take(t, dir, Options{}, s)
	wantChanges(t, "same size, same mtime", got, "write f.txt")
}

// TestSnapshotHashesOnlyWhenNeeded: with metadata unchanged and outside the
// racy window, a file's contents are not read (an unreadable file shows
// it); once its metadata changes they are.
func TestSnapshotHashesOnlyWhenNeeded(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads files whatever their mode")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "f.txt")
	snapTree(t, dir, map[string]string{"f.txt": "one"})
	s, _ := take(t, dir, Options{}, nil)
	os.Chmod(file, 0)
	defer os.Chmod(file, 0o644)
	var notices []string
	o := Options{OnError: func(err error) { notices = append(notices, err.Error()) }}
	s2, got := take(t, dir, o, settled(s))
	wantChanges(t, "chmod 0", got, "chmod f.txt") // metadata changed: read attempted
	if len(notices) != 1 || !strings.Contains(notices[0], "f.txt") {
		t.Errorf("notices %q, want one naming f.txt", notices)
	}
	notices = nil
	_, got = take(t, dir, o, settled(s2))
	wantChanges(t, "unchanged unreadable", got)
	if len(notices) != 0 {
		t.Errorf("file read again although nothing changed: %q", notices)
	}
}

// TestSnapshotSameAs: a snapshot that found everything as recorded says so
// (vigil changed then keeps the old file); a touch makes it differ.
func TestSnapshotSameAs(t *testing.T) {
	dir := t.TempDir()
	snapTree(t, dir, map[string]string{"a": "a", "d/b": "b"})
	s0, _ := take(t, dir, Options{}, nil)
	s0 = settled(s0)
	s1, err := TakeSnapshot(Options{Roots: []string{dir}}, s0)
	if err != nil {
		t.Fatal(err)
	}
	if !s1.SameAs(s0) {
		t.Error("nothing changed, but SameAs is false")
	}
	if s1.SameAs(nil) || s0.SameAs(s1) {
		t.Error("SameAs true for a snapshot it was not taken against")
	}
	future := time.Now().Add(time.Hour)
	os.Chtimes(filepath.Join(dir, "a"), future, future)
	s2, _ := TakeSnapshot(Options{Roots: []string{dir}}, s0)
	if s2.SameAs(s0) {
		t.Error("a touched file, but SameAs is true")
	}
	if len(s2.Changes()) != 0 {
		t.Errorf("a touch is a change: %v", s2.Changes())
	}
	// A racy previous snapshot is never kept as it is.
	s3, _ := TakeSnapshot(Options{Roots: []string{dir}}, s2)
	if s3.SameAs(s2) {
		t.Error("SameAs true although the previous snapshot had racy entries")
	}
}

// TestSnapshotFilters: the watch options decide what a snapshot holds, as
// for a watcher: include and exclude globs, .gitignore, the default
// ignores; directories only when no include pattern leaves them out; the
// skipped paths (a snapshot kept in the tree) and their temporary files.
func TestSnapshotFilters(t *testing.T) {
	dir := t.TempDir()
	snapTree(t, dir, map[string]string{
		"main.go": "", "gen_gen.go": "", "README": "", ".gitignore": "build/\n",
		"build/out.go": "", "pkg/x.go": "", ".git/HEAD": "", "snap": "", ".snap.tmp-123": "",
	})
	list := func(s *Snapshot) []string {
		var out []string
		for _, e := range s.load() {
			out = append(out, strings.TrimPrefix(e.path, dir+"/"))
		}
		slices.Sort(out)
		return out
	}
	s, err := TakeSnapshot(Options{Roots: []string{dir}, Include: []string{"**/*.go"}, Exclude: []string{"**/*_gen.go"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := list(s), []string{"main.go", "pkg/x.go"}; !slices.Equal(got, want) {
		t.Errorf("include/exclude/gitignore: %q, want %q", got, want)
	}
	s, _ = TakeSnapshot(Options{Roots: []string{dir}}, nil, filepath.Join(dir, "snap"))
	if got, want := list(s), []string{".gitignore", "README", "gen_gen.go", "main.go", "pkg", "pkg/x.go"}; !slices.Equal(got, want) {
		t.Errorf("defaults, snapshot skipped: %q, want %q", got, want)
	}
	s, _ = TakeSnapshot(Options{Roots: []string{dir}, NoIgnore: true}, nil)
	if got := list(s); !slices.Contains(got, "build/out.go") || !slices.Contains(got, ".git/HEAD") || !slices.Contains(got, "snap") {
		t.Errorf("NoIgnore: %q lacks ignored paths", got)
	}
	if _, err := TakeSnapshot(Options{Roots: []string{dir}, Include: []string{"a/[b"}}, nil); err == nil {
		t.Error("a bad glob was accepted")
	}
}

// TestSnapshotFileRoundTrip: what is written is read back alike, and the
// file is written atomically (no temporary file is left behind).
func TestSnapshotFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	snapTree(t, dir, map[string]string{"a": "a", "d/e/f": "f", "d/e/g": "gg", "z": ""})
	os.Symlink("a", filepath.Join(dir, "l"))
	s, err := TakeSnapshot(Options{Roots: []string{dir}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	file := filepath.Join(out, "snap")
	for range 2 { // the second write replaces the first
		if err := s.WriteFile(file); err != nil {
			t.Fatal(err)
		}
	}
	back, err := ReadSnapshot(file)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Time.Equal(s.Time) || len(back.load()) != len(s.load()) || back.Len() != s.Len() {
		t.Fatalf("read back %d entries at %v, wrote %d at %v", len(back.entries), back.Time, len(s.entries), s.Time)
	}
	for i := range s.entries {
		w, g := s.entries[i], back.entries[i]
		w.prev, g.prev = 0, 0
		if w != g {
			t.Errorf("entry %d: read %+v, wrote %+v", i, g, w)
		}
	}
	ents, _ := os.ReadDir(out)
	if len(ents) != 1 {
		t.Errorf("%d files beside the snapshot, want none: %v", len(ents)-1, ents)
	}
	if err := s.WriteFile(filepath.Join(out, "no/such/dir/snap")); err == nil || !strings.Contains(err.Error(), "no/such/dir/snap") {
		t.Errorf("write into a missing directory: %v", err)
	}
}

// TestSnapshotBadFiles: a damaged, cut short, foreign, empty or newer file
// is an error naming the file, never an empty snapshot; a missing one is
// fs.ErrNotExist.
func TestSnapshotBadFiles(t *testing.T) {
	dir := t.TempDir()
	snapTree(t, dir, map[string]string{"a": "a", "b/c": "c"})
	s, err := TakeSnapshot(Options{Roots: []string{dir}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	good := filepath.Join(out, "good")
	if err := s.WriteFile(good); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(good)
	flipped := slices.Clone(data)
	flipped[len(flipped)/2] ^= 0x40
	newer := slices.Clone(data)
	newer[len(snapMagic)] = 9 // the version
	cases := map[string]struct {
		data []byte
		want string
	}{
		"truncated": {data[:len(data)-7], "truncated"},
		"cut":       {data[:len(snapMagic)+1], "truncated"},
		"corrupted": {flipped, "corrupted"},
		"foreign":   {[]byte(`{"not":"a snapshot"}`), "not a vigil snapshot"},
		"empty":     {nil, "empty file"},
		"newer":     {newer, "format version 9"},
	}
	for name, c := range cases {
		p := filepath.Join(out, name)
		os.WriteFile(p, c.data, 0o644)
		got, err := ReadSnapshot(p)
		var se *SnapshotError
		if got != nil || !errors.As(err, &se) || se.Path != p || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: ReadSnapshot = %v, %v; want a *SnapshotError naming %s and saying %q", name, got, err, p, c.want)
		}
	}
	// Every truncation is caught, not only the ones above.
	for n := range len(data) {
		if _, err := decodeSnapshot(data[:n]); err == "" {
			t.Fatalf("cut at %d of %d bytes: read without error", n, len(data))
		}
	}
	if _, err := ReadSnapshot(filepath.Join(out, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}

// TestSnapshotRenamedDirectory: a renamed directory and the files it
// carries are renames, paired by inode and contents.
func TestSnapshotRenamedDirectory(t *testing.T) {
	dir := t.TempDir()
	snapTree(t, dir, map[string]string{"old/a": "a", "old/b": "b"})
	s, _ := take(t, dir, Options{}, nil)
	os.Rename(filepath.Join(dir, "old"), filepath.Join(dir, "new"))
	_, got := take(t, dir, Options{}, settled(s))
	wantChanges(t, "mv old new", got, "rename new<-old", "rename new/a<-old/a", "rename new/b<-old/b")
}

// TestSnapshotManyChunks: on a tree large enough to be handed to the
// workers in many chunks, a change in the middle and a removal near the
// end are found; the snapshot taken then (partly copied from the previous
// one, partly encoded anew) records the tree exactly as a fresh snapshot
// does, and the next run against it finds nothing.
func TestSnapshotManyChunks(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{}
	for d := range 30 {
		for f := range 100 {
			files[filepath.Join("d"+strconv.Itoa(d), "f"+strconv.Itoa(f))] = "x"
		}
	}
	snapTree(t, dir, files)
	s0, _ := take(t, dir, Options{}, nil)
	s1, got := take(t, dir, Options{}, settled(s0))
	wantChanges(t, "unchanged", got)

	os.WriteFile(filepath.Join(dir, "d15", "f50"), []byte("y"), 0o644)
	os.Remove(filepath.Join(dir, "d29", "f99"))
	s2, got := take(t, dir, Options{}, settled(s1))
	wantChanges(t, "changed", got, "write d15/f50", "remove d29/f99")

	fresh, err := TakeSnapshot(Options{Roots: []string{dir}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, b := s2.load(), fresh.load()
	if len(a) != len(b) {
		t.Fatalf("%d entries, a fresh snapshot has %d", len(a), len(b))
	}
	for i := range a {
		x, y := a[i], b[i]
		x.prev, y.prev = 0, 0
		if x != y {
			t.Fatalf("entry %d: %+v, a fresh snapshot has %+v", i, x, y)
		}
	}
	_, got = take(t, dir, Options{}, settled(s2))
	wantChanges(t, "unchanged again", got)
}

// TestSnapshotLinkRoot: a root that is a symlink to a file is recorded as
// the file it leads to, as the watcher follows it: a change of the
// target's contents is a write of the link's path.
func TestSnapshotLinkRoot(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real.conf")
	link := filepath.Join(dir, "app.conf")
	os.WriteFile(target, []byte("a=1"), 0o644)
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	var notices []error
	o := Options{Roots: []string{link}, OnError: func(err error) { notices = append(notices, err) }}
	s, err := TakeSnapshot(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Changes(); len(got) != 1 || got[0].Path != link || got[0].Op != Create {
		t.Fatalf("first snapshot: %v, want a create of %s", got, link)
	}
	// Same size, same modification time: only the contents tell, so the
	// target must have been hashed through the link.
	fi, _ := os.Stat(target)
	os.WriteFile(target, []byte("a=2"), 0o644)
	os.Chtimes(target, fi.ModTime(), fi.ModTime())
	s2, err := TakeSnapshot(o, settled(s))
	if err != nil {
		t.Fatal(err)
	}
	if got := s2.Changes(); len(got) != 1 || got[0].Path != link || got[0].Op != Write {
		t.Errorf("target rewritten: %v, want a write of %s", got, link)
	}
	if len(notices) > 0 {
		t.Errorf("notices: %v", notices)
	}
}

// TestSnapshotClosesDirectories: the crawl keeps directories open for the
// stat workers (up to maxDirFDs at once, then it goes by path); a snapshot
// of a tree with more directories than that records every node, the same
// as a second one, and leaves no descriptor open.
func TestSnapshotClosesDirectories(t *testing.T) {
	fds := func() int {
		es, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd")
		}
		return len(es)
	}
	dir := t.TempDir()
	files := map[string]string{}
	for i := range 2 * maxDirFDs {
		files["d"+strconv.Itoa(i)+"/f"] = strconv.Itoa(i)
	}
	snapTree(t, dir, files)
	before := fds()
	s, got := take(t, dir, Options{}, nil)
	if len(got) != 4*maxDirFDs {
		t.Errorf("first snapshot: %d changes, want %d (each directory and its file created)", len(got), 4*maxDirFDs)
	}
	_, got = take(t, dir, Options{}, settled(s))
	wantChanges(t, "second snapshot", got)
	if after := fds(); after != before {
		t.Errorf("%d descriptors open after the snapshots, %d before", after, before)
	}
}
