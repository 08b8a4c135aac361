package follow

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigil-watch/vigil/vnode"
)

var stamp = regexp.MustCompile(`^\d{4}-\d\d-\d\d `)

const javaTrace = `2026-12-04 10:00:00 ERROR request failed
java.lang.IllegalStateException: boom
	at com.example.Foo.bar(Foo.java:10)
	at com.example.Main.main(Main.java:3)
Caused by: java.io.IOException: disk
	... 2 more
`

const pythonTrace = `2026-12-04 10:00:01 ERROR job failed
Traceback (most recent call last):
  File "app.py", line 3, in <module>
    main()
ValueError: bad
`

// TestMultilineTraces: Java and Python stack traces come out as one record
// each, the last one after the quiet period.
func TestMultilineTraces(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b vnode.Backend) {
		log := filepath.Join(t.TempDir(), "app.log")
		writeFile(t, log, "")
		r := startFollower(t, b, Options{Patterns: []string{log}, Multiline: stamp, RecordWait: 100 * time.Millisecond})
		appendFile(t, log, javaTrace+"2026-12-04 10:00:00 INFO fine\n"+pythonTrace)
		r.expect(strings.TrimSuffix(javaTrace, "\n"), "2026-12-04 10:00:00 INFO fine", strings.TrimSuffix(pythonTrace, "\n"))
		if l := r.snapshot()[1]; l.Offset != int64(len(javaTrace)) {
			t.Errorf("second record at offset %d, want %d", l.Offset, len(javaTrace))
		}
	})
}

// TestMultilineRotation: a record whose start is in the old file and whose
// rest is in the new one (rename rotation) stays one record.
func TestMultilineRotation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b vnode.Backend) {
		log := filepath.Join(t.TempDir(), "app.log")
		writeFile(t, log, "")
		r := startFollower(t, b, Options{Patterns: []string{log}, Multiline: stamp, RecordWait: 2 * time.Second})
		appendFile(t, log, "2026-12-04 10:00:00 ERROR cut\n\tat one\n")
		if err := os.Rename(log, log+".1"); err != nil {
			t.Fatal(err)
		}
		appendFile(t, log, "\tat two\n2026-12-04 10:00:01 INFO next\n")
		r.expect("2026-12-04 10:00:00 ERROR cut\n\tat one\n\tat two", "2026-12-04 10:00:01 INFO next")
	})
}

// TestMultilineCap: a record stops at MaxRecord bytes; what follows starts
// the next one, and nothing is lost.
func TestMultilineCap(t *testing.T) {
	log := filepath.Join(t.TempDir(), "app.log")
	writeFile(t, log, "")
	r := startFollower(t, backends[0], Options{Patterns: []string{log}, Multiline: stamp, MaxRecord: 30, RecordWait: 50 * time.Millisecond})
	appendFile(t, log, "2026-12-04 x\naaaaaaaaa\nbbbbbbbbb\nccccccccc\n")
	r.expect("2026-12-04 x\naaaaaaaaa", "bbbbbbbbb\nccccccccc")
}
