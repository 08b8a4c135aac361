//go:build linux

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// launchEnv is what a tool's start script needs.
type launchEnv struct {
	root  string // the watched tree
	out   string // the file stamp appends to (outside root)
	state string // the file whose last line stamp records
	stamp string // the stamp binary
	work  string // a scratch directory outside root, for configs and sockets
	vigil string // the vigil binary
}

// tool is one watcher under test, started as a bash script that runs stamp
// on every change it reports, with the smallest debounce it allows.
type tool struct {
	name     string
	bin      string        // the binary that must be on PATH (or the vigil path)
	debounce time.Duration // the quiet period / latency / settle in use
	setting  string        // how that debounce is set, for the table
	comm     string        // process name of the watcher itself, for its own RSS
	script   func(e launchEnv) string
	prepare  func(e launchEnv) error // optional: files to write before start
	version  func(bin string) string
	// smallOnly: the behaviour tests only, no large tree (the libkqueue
	// row: libkqueue holds an inotify instance per watch, 128 per user).
	smallOnly bool
	// scale: measured on the --scale tree too (a million files is more
	// than the peers built on per-file watches or on node can hold).
	scale bool
	// startupDone is what the tool logs when the work it does in the
	// background after ready is over (vigil: hashing for skip_unchanged);
	// the tree's memory and idle CPU are measured after that line.
	startupDone string
}

// q quotes s for bash.
func q(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func cmdline(e launchEnv) string { return q(e.stamp) + " " + q(e.out) + " " + q(e.state) }

// plainCmdline is the command unquoted, for tools that split the string
// themselves (the harness's paths hold no spaces).
func plainCmdline(e launchEnv) string { return e.stamp + " " + e.out + " " + e.state }

func firstLine(bin string, args ...string) string {
	c := exec.Command(bin, args...)
	b, _ := c.CombinedOutput()
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

func dpkgVersion(pkg string) func(string) string {
	return func(string) string {
		return firstLine("dpkg-query", "-W", "-f=${Version}", pkg)
	}
}

func allTools(vigilDebounces []time.Duration) []tool {
	ts := []tool{
		{
			name: "inotifywait", bin: "inotifywait", comm: "inotifywait",
			setting: "none (raw events)", scale: true,
			script: func(e launchEnv) string {
				// The raw-kernel floor: every event runs the command, nothing is filtered.
				return "inotifywait -m -r -q -e modify -e attrib -e move -e create -e delete --format x . | " +
					"while read -r _; do " + cmdline(e) + "; done"
			},
			version: dpkgVersion("inotify-tools"),
		},
		{
			name: "fswatch", bin: "fswatch", comm: "fswatch",
			debounce: 100 * time.Millisecond, setting: "-l 0.1 (minimum latency)",
			script: func(e launchEnv) string {
				// Without an event filter fswatch also reports reads (the command's
				// own), and loops; without --allow-overflow it exits when its own
				// crawl of a large tree overflows the kernel queue.
				return "fswatch -r -o -l 0.1 --allow-overflow --event Created --event Updated --event Removed --event Renamed " +
					"--event AttributeModified --event MovedFrom --event MovedTo . | while read -r _; do " + cmdline(e) + "; done"
			},
			version: func(b string) string { return firstLine(b, "--version") },
		},
		{
			name: "watchman", bin: "watchman", comm: "watchman",
			// settle 0 makes watchman 4.9 spin a core while idle, so 1 ms is
			// the smallest usable settle. It goes in .watchmanconfig in the root.
			debounce: time.Millisecond, setting: "settle 1 ms",
			prepare: func(e launchEnv) error {
				if err := os.WriteFile(filepath.Join(e.work, "watchman.json"), []byte("{}\n"), 0o644); err != nil {
					return err
				}
				return os.WriteFile(filepath.Join(e.root, ".watchmanconfig"), []byte(`{"settle": 1}`+"\n"), 0o644)
			},
			script: func(e launchEnv) string {
				sock := filepath.Join(e.work, "wm.sock")
				wm := "watchman --sockname=" + q(sock) + " --no-spawn --no-local"
				trig := fmt.Sprintf(`["trigger", %q, {"name": "bench", "expression": ["type", "f"], "command": [%q, %q, %q], "stdin": "/dev/null"}]`,
					e.root, e.stamp, e.out, e.state)
				return "export WATCHMAN_CONFIG_FILE=" + q(filepath.Join(e.work, "watchman.json")) + "\n" +
					"watchman --foreground --no-save-state --sockname=" + q(sock) +
					" --statefile=" + q(filepath.Join(e.work, "wm.state")) +
					" --logfile=" + q(filepath.Join(e.work, "wm.log")) +
					" --pidfile=" + q(filepath.Join(e.work, "wm.pid")) + " &\n" +
					"for i in $(seq 1 1000); do [ -S " + q(sock) + " ] && break; sleep 0.01; done\n" +
					wm + " watch " + q(e.root) + " >/dev/null || exit 1\n" +
					"echo " + q(trig) + " | " + wm + " -j >/dev/null || exit 1\n" +
					"wait\n"
			},
			version: func(b string) string { return firstLine(b, "--version") },
		},
		{
			// entr has no setting; it runs about 50 ms after a change, but
			// changes 70 ms apart kept it from running for minutes, so the
			// harness paces it as a 100 ms debounce.
			name: "entr", bin: "entr", comm: "entr",
			debounce: 100 * time.Millisecond, setting: "none (~50 ms built in)",
			script: func(e launchEnv) string {
				// entr takes a file list; -d makes it exit (status 2) when a
				// directory gains a file, and the documented idiom is a loop
				// that lists the files again. Only the first start postpones.
				return "p=-p; while :; do find . -type f -not -name '.*' | entr -n -d $p " + cmdline(e) +
					"; rc=$?; [ $rc -eq 2 ] || exit $rc; p=; done"
			},
			version: func(b string) string { return "entr " + dpkgVersion("entr")(b) },
		},
		{
			name: "reflex", bin: "reflex", comm: "reflex",
			debounce: 300 * time.Millisecond, setting: "300 ms (fixed)",
			script: func(e launchEnv) string {
				return "exec reflex -d none -- " + cmdline(e)
			},
			version: func(string) string { return "go install @latest" },
		},
		{
			name: "modd", bin: "modd", comm: "modd",
			// The documented lull is 100 ms, but runs come about 200 ms after
			// a change, so the harness paces modd as a 200 ms debounce.
			debounce: 200 * time.Millisecond, setting: "100 ms lull (fixed)",
			prepare: func(e launchEnv) error {
				conf := fmt.Sprintf("**/*.txt {\n    prep +onchange: %s %s %s\n}\n", e.stamp, e.out, e.state)
				return os.WriteFile(filepath.Join(e.work, "modd.conf"), []byte(conf), 0o644)
			},
			script: func(e launchEnv) string {
				return "exec modd -c -f " + q(filepath.Join(e.work, "modd.conf"))
			},
			version: func(b string) string { return firstLine(b, "--version") },
		},
		{
			name: "nodemon", bin: "nodemon", comm: "node",
			setting: "none (no --delay)",
			script: func(e launchEnv) string {
				return "exec nodemon -C -q -I -e txt -w . -x " + q(plainCmdline(e))
			},
			version: func(b string) string { return "nodemon " + firstLine(b, "--version") },
		},
		{
			name: "chokidar", bin: "chokidar", comm: "node",
			setting: "-d 0",
			script: func(e launchEnv) string {
				return "exec chokidar '**/*' -d 0 --silent -c " + q(plainCmdline(e))
			},
			version: func(b string) string { return "chokidar-cli " + firstLine(b, "--version") },
		},
	}
	// vigil's rows go right after inotifywait, so the floor and vigil are
	// measured minutes apart, not a quarter of an hour, on a noisy machine.
	peers := ts[1:]
	ts = ts[:1:1]
	if len(vigilDebounces) > 0 {
		// A diagnostic row: the watcher without the runner, shaped like the
		// inotifywait row, to split vigil's latency between the two.
		d := vigilDebounces[0]
		ts = append(ts, tool{
			name: "vigil-events-" + d.String(), bin: "vigil", comm: "vigil",
			debounce: d, setting: "events --debounce " + d.String(),
			script: func(e launchEnv) string {
				return q(e.vigil) + " events --json --debounce " + d.String() + " | while read -r _; do " + cmdline(e) + "; done"
			},
			version: func(b string) string { return firstLine(b, "version") },
		})
	}
	for _, d := range vigilDebounces {
		d := d
		ts = append(ts, tool{
			name: "vigil-" + d.String(), bin: "vigil", comm: "vigil",
			debounce: d, setting: "--debounce " + d.String(), scale: true,
			startupDone: "skip_unchanged: hashed",
			script: func(e launchEnv) string {
				return "exec " + q(e.vigil) + " --postpone --debounce " + d.String() + " -- " + cmdline(e)
			},
			version: func(b string) string { return firstLine(b, "version") },
		})
	}
	if len(vigilDebounces) > 0 {
		// An informative row without a target: the kqueue backend over
		// libkqueue (a user-space kqueue on inotify, not a BSD kernel),
		// built by .ci/build-libkqueue-vigil; small tree only.
		d := vigilDebounces[0]
		ts = append(ts, tool{
			name: "vigil-libkqueue-" + d.String(), bin: "vigil-libkqueue", comm: "vigil",
			debounce: d, setting: "--backend kqueue --debounce " + d.String(), smallOnly: true,
			script: func(e launchEnv) string {
				return "exec " + q(e.vigil) + " --backend kqueue --postpone --debounce " + d.String() + " -- " + cmdline(e)
			},
			version: func(b string) string { return firstLine(b, "version") + " (kqueue over libkqueue)" },
		})
	}
	return append(ts, peers...)
}
