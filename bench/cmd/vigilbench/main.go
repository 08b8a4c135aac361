//go:build linux

// Command vigilbench measures vigil against the file watchers people would
// otherwise use (issue 6): latency, time to ready, memory and idle CPU on a
// large tree, bursts, spaced changes, atomic saves, and vigil tail against
// GNU tail -F. bench/run installs the peers, builds the binaries and runs it;
// see bench/README.md.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// bench holds the run's settings.
type bench struct {
	vigil, stamp, work, path string
	vigilLKQ                 string // vigil built over libkqueue, "" when absent
	files, dirs              int
	samples, atomic, spaced  int
	burst                    int
	readyStarts              int // starts per tree for the time to ready
	burstWait, readyTimeout  time.Duration
	idle, tailTimeout        time.Duration
	tailMB                   int
	treeRoot, treeTouch      string
}

type toolResult struct {
	Tool     string       `json:"tool"`
	Version  string       `json:"version"`
	Debounce string       `json:"debounce"`
	DebMS    float64      `json:"debounce_ms"`
	Small    *smallResult `json:"small,omitempty"`
	Tree     *treeResult  `json:"tree,omitempty"`
	Scale    *treeResult  `json:"scale,omitempty"` // the --scale tree
	Skipped  string       `json:"skipped,omitempty"`
}

type target struct {
	Tool   string `json:"tool"`
	Target string `json:"target"`
	Met    bool   `json:"met"`
	Seen   string `json:"seen"`
}

type report struct {
	Started  time.Time      `json:"started"`
	Finished time.Time      `json:"finished"`
	Mode     string         `json:"mode"`
	Machine  machine        `json:"machine"`
	Command  string         `json:"command"`
	Settings settings       `json:"settings"`
	Tools    []toolResult   `json:"tools"`
	Tail     []*tailResult  `json:"tail,omitempty"`
	Changed  *changedResult `json:"changed,omitempty"`
	Targets  []target       `json:"targets,omitempty"`
}

type settings struct {
	Files          int     `json:"tree_files"`
	Dirs           int     `json:"tree_dirs"`
	LatencySamples int     `json:"latency_samples"`
	AtomicSaves    int     `json:"atomic_saves"`
	SpacedChanges  int     `json:"spaced_changes"`
	Burst          int     `json:"burst_creates_and_writes"`
	IdleSeconds    float64 `json:"idle_seconds"`
	TailMB         int     `json:"tail_mb"`
	ReadyStarts    int     `json:"ready_starts"`
	ScaleFiles     int     `json:"scale_files,omitempty"` // --scale: the scale tree
	ScaleDirs      int     `json:"scale_dirs,omitempty"`
}

type machine struct {
	Kernel string `json:"kernel"`
	CPU    string `json:"cpu"`
	Cores  int    `json:"cores"`
	MemGB  int64  `json:"mem_gb"`
	Go     string `json:"go"`
	Commit string `json:"vigil_commit"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "vigilbench:", err)
		os.Exit(1)
	}
}

func run() error {
	quick := flag.Bool("quick", false, "smaller tree and fewer samples: finishes in under 10 minutes")
	vigil := flag.String("vigil", "", "the vigil binary (empty: skip vigil)")
	vigilLKQ := flag.String("vigil-libkqueue", "", "vigil built over libkqueue by .ci/build-libkqueue-vigil (empty: skip its row)")
	stamp := flag.String("stamp", "", "the stamp binary every tool runs")
	work := flag.String("work", "/tmp/vigilbench", "scratch directory for trees and logs")
	results := flag.String("results", "bench/results", "directory for the JSON report")
	only := flag.String("tools", "", "comma-separated tool names to run (default all installed)")
	debs := flag.String("vigil-debounce", "1ms,50ms", "vigil debounce settings to measure, comma-separated (0 means vigil's default)")
	noTail := flag.Bool("no-tail", false, "skip vigil tail against tail -F")
	noChanged := flag.Bool("no-changed", false, "skip vigil changed against vigil's ready time")
	changedSamples := flag.Int("changed-samples", 7, "turns of vigil ready and vigil changed on the large tree")
	repo := flag.String("repo", ".", "vigil checkout, for the commit in the report")
	files := flag.Int("files", 0, "files in the large tree (default 100000, --quick 10000)")
	dirs := flag.Int("dirs", 0, "directories in the large tree (default 10000, --quick 1000)")
	samples := flag.Int("samples", 0, "latency samples per tool (default 50)")
	spaced := flag.Int("spaced", 0, "spaced changes per tool (default 200, --quick 30)")
	burst := flag.Int("burst", 0, "creates and writes in the burst (default 5000, --quick 1000)")
	idle := flag.Duration("idle", 0, "idle period for the CPU measurement (default 10s)")
	readyStarts := flag.Int("ready-starts", 5, "starts per tree for the time to ready (the median is reported)")
	scale := flag.Bool("scale", false, "also measure ready time, memory and idle CPU on a tree of --scale-files files in --scale-dirs directories (inotifywait and the vigil rows)")
	scaleFiles := flag.Int("scale-files", 1000000, "files in the --scale tree")
	scaleDirs := flag.Int("scale-dirs", 100000, "directories in the --scale tree")
	flag.Parse()

	b := &bench{vigil: *vigil, vigilLKQ: *vigilLKQ, stamp: *stamp, work: *work, path: os.Getenv("PATH"),
		files: 100000, dirs: 10000, samples: 50, atomic: 20, spaced: 200, burst: 5000,
		burstWait: 180 * time.Second, readyTimeout: 180 * time.Second,
		idle: 10 * time.Second, tailMB: 100, tailTimeout: 120 * time.Second}
	mode := "full"
	if *quick {
		mode = "quick"
		b.files, b.dirs, b.samples, b.atomic, b.spaced, b.burst = 10000, 1000, 20, 10, 30, 1000
		b.burstWait, b.readyTimeout, b.idle, b.tailMB, b.tailTimeout = 30*time.Second, 40*time.Second, 10*time.Second, 20, 40*time.Second
	}
	for _, o := range []struct {
		dst *int
		v   int
	}{{&b.samples, *samples}, {&b.spaced, *spaced}, {&b.burst, *burst}} {
		if o.v > 0 {
			*o.dst = o.v
		}
	}
	if *idle > 0 {
		b.idle = *idle
	}
	b.readyStarts = max(*readyStarts, 1)
	if *files > 0 {
		b.files = *files
	}
	if *dirs > 0 {
		b.dirs = *dirs
	}
	if b.stamp == "" {
		return fmt.Errorf("--stamp is required (bench/run builds it)")
	}
	if b.vigil != "" {
		abs, err := filepath.Abs(b.vigil)
		if err != nil {
			return err
		}
		b.vigil = abs
	}
	if b.vigilLKQ != "" {
		abs, err := filepath.Abs(b.vigilLKQ)
		if err != nil {
			return err
		}
		b.vigilLKQ = abs
	}
	var vds []time.Duration
	for _, s := range strings.Split(*debs, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("--vigil-debounce %q: %w", s, err)
		}
		vds = append(vds, d)
	}
	if err := os.MkdirAll(b.work, 0o755); err != nil {
		return err
	}
	// On SIGINT/SIGTERM finish the current step (it stops its own tool) and
	// report what was measured; every step has its own timeouts.
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	var stopped atomic.Bool
	go func() {
		<-sigc
		stopped.Store(true)
		fmt.Fprintln(os.Stderr, "interrupted: finishing the current step, then reporting")
	}()

	rep := &report{Started: time.Now().UTC(), Mode: mode, Machine: machineInfo(*repo),
		Command: strings.Join(os.Args, " "),
		Settings: settings{Files: b.files, Dirs: b.dirs, LatencySamples: b.samples, AtomicSaves: b.atomic,
			SpacedChanges: b.spaced, Burst: b.burst, IdleSeconds: b.idle.Seconds(), TailMB: b.tailMB,
			ReadyStarts: b.readyStarts}}

	want := map[string]bool{}
	for _, n := range strings.Split(*only, ",") {
		if n = strings.TrimSpace(n); n != "" {
			want[n] = true
		}
	}
	var tools []tool
	for _, t := range allTools(vds) {
		if len(want) > 0 && !want[t.name] && !(strings.HasPrefix(t.name, "vigil") && want["vigil"]) {
			continue
		}
		tools = append(tools, t)
	}

	logf("tree: %d files in %d directories under %s", b.files, b.dirs, b.work)
	b.treeRoot = filepath.Join(b.work, fmt.Sprintf("tree-%d-%d", b.files, b.dirs))
	touch, err := makeTree(b.treeRoot, b.files, b.dirs)
	if err != nil {
		return err
	}
	b.treeTouch = touch
	// Read the whole tree once so that no tool pays for a cold cache.
	exec.Command("find", b.treeRoot, "-noleaf").Run()
	var scaleRoot, scaleTouch string
	if *scale {
		// Made once and kept under --work, like the large tree: a
		// million files take minutes and gigabytes to write.
		logf("scale tree: %d files in %d directories under %s", *scaleFiles, *scaleDirs, b.work)
		scaleRoot = filepath.Join(b.work, fmt.Sprintf("tree-%d-%d", *scaleFiles, *scaleDirs))
		if scaleTouch, err = makeTree(scaleRoot, *scaleFiles, *scaleDirs); err != nil {
			return err
		}
		exec.Command("find", scaleRoot, "-noleaf").Run()
		rep.Settings.ScaleFiles, rep.Settings.ScaleDirs = *scaleFiles, *scaleDirs
	}

	for _, t := range tools {
		if stopped.Load() {
			break
		}
		r := toolResult{Tool: t.name, Debounce: t.setting, DebMS: float64(t.debounce) / 1e6}
		bin := t.bin
		switch t.bin {
		case "vigil":
			bin = b.vigil
		case "vigil-libkqueue":
			bin = b.vigilLKQ
		}
		if bin == "" {
			r.Skipped = "no " + t.bin + " binary (it did not build)"
		} else if _, err := exec.LookPath(bin); err != nil {
			r.Skipped = fmt.Sprintf("%s is not installed", t.bin)
		}
		if r.Skipped != "" {
			logf("%s: skipped: %s", t.name, r.Skipped)
			rep.Tools = append(rep.Tools, r)
			continue
		}
		r.Version = t.version(bin)
		logf("%s (%s): behaviour tests", t.name, r.Version)
		r.Small = b.runSmall(t)
		logf("%s: %s", t.name, summarizeSmall(r.Small))
		if !stopped.Load() && !t.smallOnly {
			logf("%s: large tree", t.name)
			r.Tree = b.runTree(t, b.treeRoot, b.treeTouch, b.files, b.dirs, b.readyTimeout)
			logf("%s: %s", t.name, summarizeTree(r.Tree))
		}
		if !stopped.Load() && t.scale && scaleRoot != "" {
			logf("%s: scale tree", t.name)
			r.Scale = b.runTree(t, scaleRoot, scaleTouch, *scaleFiles, *scaleDirs, max(b.readyTimeout, 10*time.Minute))
			logf("%s: %s", t.name, summarizeTree(r.Scale))
		}
		rep.Tools = append(rep.Tools, r)
	}

	if !*noTail && !stopped.Load() {
		if _, err := exec.LookPath("tail"); err == nil {
			logf("tail -F")
			rep.Tail = append(rep.Tail, b.runTail("tail -F", firstLine("tail", "--version"), "exec tail -n 0 -F", b.tailMB))
		}
		if b.vigil != "" {
			logf("vigil tail")
			rep.Tail = append(rep.Tail, b.runTail("vigil tail", firstLine(b.vigil, "version"), "exec "+q(b.vigil)+" tail -n 0", b.tailMB))
			// The same with positions saved, as `vigil tail --state`
			// does: what resuming after a restart costs.
			logf("vigil tail --state")
			state := filepath.Join(b.work, "tail", "vigil.state")
			os.Remove(state)
			rep.Tail = append(rep.Tail, b.runTail("vigil tail --state", firstLine(b.vigil, "version"), "exec "+q(b.vigil)+" tail -n 0 --state "+q(state), b.tailMB))
		}
	}
	// `--tools changed` selects this row alone (no tool has that name).
	if !*noChanged && !stopped.Load() && b.vigil != "" && (len(want) == 0 || want["vigil"] || want["changed"]) {
		logf("vigil changed against vigil's ready time")
		settleDisk() // the tail rounds' writes: see settleDisk
		rep.Changed = b.runChanged(*changedSamples)
		logf("vigil changed: %+v", *rep.Changed)
	}
	rep.Targets = targets(rep)
	rep.Finished = time.Now().UTC()

	printTable(os.Stdout, rep)
	if err := os.MkdirAll(*results, 0o755); err != nil {
		return err
	}
	path := filepath.Join(*results, fmt.Sprintf("%s-%s.json", rep.Started.Format("20060102T150405Z"), mode))
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	fmt.Println("JSON:", path)
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func machineInfo(repo string) machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				if i := strings.IndexByte(l, ':'); i >= 0 {
					m.CPU = strings.TrimSpace(l[i+1:])
				}
				break
			}
		}
	}
	m.MemGB = (statusMem() + (1 << 19)) >> 20
	if out, err := exec.Command("git", "-C", repo, "rev-parse", "--short", "HEAD").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	return m
}

func statusMem() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "MemTotal:") {
			var kb int64
			fmt.Sscan(strings.TrimSpace(l[len("MemTotal:"):]), &kb)
			return kb
		}
	}
	return 0
}
