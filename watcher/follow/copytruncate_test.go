package follow

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// lookHarness drives one tfile by hand, without a queue, to make the
// interleaving of copy, truncation and looks exact.
func lookHarness(t *testing.T, path string) (*tfile, *Follower, *[]string, *[]string) {
	t.Helper()
	var texts, notes []string
	fl := &Follower{
		maxLine: DefaultMaxLine,
		readBuf: make([]byte, readBufSize),
		fpBuf:   make([]byte, fingerprintLen),
		out:     func(l Line) error { texts = append(texts, fmt.Sprintf("%s@%d", l.Text, l.Offset)); return nil },
		o:       Options{Logf: func(format string, args ...any) { notes = append(notes, fmt.Sprintf(format, args...)) }},
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fi, _ := f.Stat()
	id, _ := identOf(fi)
	return &tfile{name: path, f: f, ino: id}, fl, &texts, &notes
}

// TestCopyTruncateRecovery: lines appended after the follower's last look
// and copied by logrotate before the truncation are read from the copy.
func TestCopyTruncateRecovery(t *testing.T) {
	for _, tc := range []struct {
		name     string
		copyData func(old string) string
		want     []string
		isCopy   bool // judged a copy read to its end when a glob brings it in
	}{
		{"copy matches", func(old string) string { return old },
			[]string{"first line of the log@0", "second@22", "third@29", "fourth@35", "new@0"}, true},
		{"copy of another file", func(old string) string { return strings.ToUpper(old) },
			[]string{"first line of the log@0", "second@22", "new@0"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			log := filepath.Join(dir, "app.log")
			writeFile(t, log, "first line of the log\nsecond\n")
			tf, fl, texts, notes := lookHarness(t, log)
			if err := tf.look(fl); err != nil {
				t.Fatal(err)
			}
			appendFile(t, log, "third\nfourth\n")
			old, _ := os.ReadFile(log)
			writeFile(t, log+".1", tc.copyData(string(old)))
			if err := os.Truncate(log, 0); err != nil {
				t.Fatal(err)
			}
			appendFile(t, log, "new\n")
			if err := tf.look(fl); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(*texts, tc.want) {
				t.Errorf("lines %q, want %q (notices %q)", *texts, tc.want, *notes)
			}
			if !slices.ContainsFunc(*notes, func(s string) bool { return strings.Contains(s, "file truncated") }) {
				t.Errorf("no truncation notice in %q", *notes)
			}
			if tc.isCopy {
				// What the recovery read from the copy counts as read.
				checkCopyJudged(t, fl, log+".1", *notes)
			}
		})
	}
}

// TestRegrowSameSizeHead: truncated and rewritten with as many bytes as
// were read, so the size alone shows nothing; the head fingerprint does.
func TestRegrowSameSize(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	writeFile(t, log, "b1\nb2\n")
	tf, fl, texts, _ := lookHarness(t, log)
	if err := tf.look(fl); err != nil {
		t.Fatal(err)
	}
	writeFile(t, log, "c1\nc2\n")
	if err := tf.look(fl); err != nil {
		t.Fatal(err)
	}
	want := []string{"b1@0", "b2@3", "c1@0", "c2@3"}
	if !slices.Equal(*texts, want) {
		t.Errorf("lines %q, want %q", *texts, want)
	}
}

func TestPatternLevels(t *testing.T) {
	for _, tc := range []struct {
		pat        string
		base       string
		match, not []string
		dirs       map[int][]string // depth → names descend must accept
		nodirs     map[int][]string
	}{
		{pat: "/var/log/app.log", base: "/var/log", match: []string{"/var/log/app.log"}, not: []string{"/var/log/app.log.1"}},
		{pat: "/var/log/*.log", base: "/var/log", match: []string{"/var/log/a.log"}, not: []string{"/var/log/x/a.log", "/var/log/a.log.1"},
			nodirs: map[int][]string{0: {"x"}}},
		{pat: "/srv/*/logs/*.log", base: "/srv", match: []string{"/srv/web/logs/a.log"}, not: []string{"/srv/web/a.log"},
			dirs: map[int][]string{0: {"web"}, 1: {"logs"}}, nodirs: map[int][]string{1: {"tmp"}, 2: {"x"}}},
		{pat: "/srv/**/*.log", base: "/srv", match: []string{"/srv/a.log", "/srv/a/b/c.log"},
			dirs: map[int][]string{0: {"a"}, 5: {"z"}}},
	} {
		p, err := compilePattern(tc.pat, "/")
		if err != nil {
			t.Fatalf("%s: %v", tc.pat, err)
		}
		if p.base != tc.base {
			t.Errorf("%s: base %q, want %q", tc.pat, p.base, tc.base)
		}
		for _, m := range tc.match {
			if !p.match(m) {
				t.Errorf("%s does not match %s", tc.pat, m)
			}
		}
		for _, m := range tc.not {
			if p.match(m) {
				t.Errorf("%s matches %s", tc.pat, m)
			}
		}
		for depth, names := range tc.dirs {
			for _, n := range names {
				if !p.descend(depth, n) {
					t.Errorf("%s: does not descend into %q at depth %d", tc.pat, n, depth)
				}
			}
		}
		for depth, names := range tc.nodirs {
			for _, n := range names {
				if p.descend(depth, n) {
					t.Errorf("%s: descends into %q at depth %d", tc.pat, n, depth)
				}
			}
		}
	}
	if _, err := compilePattern("/x/[a", "/"); err == nil {
		t.Error("a malformed glob compiled")
	}
}

// TestTruncateRegrowBetweenLooks: truncated, then regrown past the offset
// before the next look, deterministically; GNU tail loses the first bytes.
func TestTruncateRegrowBetweenLooks(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	writeFile(t, log, "a1\na2\n")
	tf, fl, texts, notes := lookHarness(t, log)
	if err := tf.look(fl); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(log, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, log, "XXXXXXXXXXXXXXXXXXXX-new-longer-line\n")
	if err := tf.look(fl); err != nil {
		t.Fatal(err)
	}
	want := []string{"a1@0", "a2@3", "XXXXXXXXXXXXXXXXXXXX-new-longer-line@0"}
	if !slices.Equal(*texts, want) {
		t.Errorf("lines %q, want %q", *texts, want)
	}
	if len(*notes) != 1 || !strings.HasSuffix((*notes)[0], "app.log: file truncated") {
		t.Errorf("notices %q, want one truncation notice", *notes)
	}
}

// TestCopyTruncateDuringRead: logrotate copies and truncates the file while
// the follower is still in the read that delivered its last line. The
// fingerprint must be what was read, not the new head read afterwards, or
// the truncation is seen without its contents and the copy, when it shows
// up, is taken for a new file and shown again.
func TestCopyTruncateDuringRead(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	old := "first line of the log\nsecond\n"
	writeFile(t, log, old)
	tf, fl, texts, notes := lookHarness(t, log)
	record := fl.out
	fl.out = func(l Line) error {
		if l.Text == "second" {
			writeFile(t, log+".1", old)
			if err := os.Truncate(log, 0); err != nil {
				t.Fatal(err)
			}
			appendFile(t, log, "new\n")
		}
		return record(l)
	}
	if err := tf.look(fl); err != nil {
		t.Fatal(err)
	}
	if err := tf.look(fl); err != nil {
		t.Fatal(err)
	}
	want := []string{"first line of the log@0", "second@22", "new@0"}
	if !slices.Equal(*texts, want) {
		t.Errorf("lines %q, want %q (notices %q)", *texts, want, *notes)
	}
	checkCopyJudged(t, fl, log+".1", *notes)
}

// checkCopyJudged checks that the copy at path, as a glob would bring it
// in now, is judged a copy to be read from its end.
func checkCopyJudged(t *testing.T, fl *Follower, path string, notes []string) {
	t.Helper()
	cf, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer cf.Close()
	fi, err := cf.Stat()
	if err != nil {
		t.Fatal(err)
	}
	cp := &tfile{name: path, f: cf, judging: true}
	if v, off := fl.judge(cp, fi.Size()); v != copyAt || off != fi.Size() {
		t.Errorf("the copy judged %v at %d, want a copy from offset %d (notices %q)", v, off, fi.Size(), notes)
	}
}
