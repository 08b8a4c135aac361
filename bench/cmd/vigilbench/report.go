//go:build linux

package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

func summarizeSmall(s *smallResult) string {
	var parts []string
	if l := s.Latency; l != nil {
		parts = append(parts, fmt.Sprintf("latency p50 %.1f ms p90 %.1f max %.1f (missed %d)", l.P50MS, l.P90MS, l.MaxMS, l.Missed))
	}
	if a := s.Atomic; a != nil {
		parts = append(parts, fmt.Sprintf("atomic %d/%d still watched %v", a.Detected, a.Saves, a.StillWatched))
	}
	if sp := s.Spaced; sp != nil {
		parts = append(parts, fmt.Sprintf("spaced %d/%d (%d runs)", sp.WithRun, sp.Changes, sp.Runs))
	}
	if b := s.Burst; b != nil {
		parts = append(parts, fmt.Sprintf("burst %d runs, final seen %v", b.Runs, b.LastSawFinal))
	}
	if s.Error != "" {
		parts = append(parts, "ERROR "+s.Error)
	}
	return strings.Join(parts, "; ")
}

func summarizeTree(t *treeResult) string {
	if t.Error != "" && t.ReadyMS == 0 {
		return "ERROR " + t.Error
	}
	s := fmt.Sprintf("ready %.0f ms, RSS %.1f MB (%s %.1f MB, %d procs), idle CPU %.1f ms in %.0f s",
		t.ReadyMS, mb(t.RSSKB), t.MainComm, mb(t.MainRSSKB), t.Processes, t.IdleCPUMS, t.IdleSeconds)
	if t.StartupMS > 0 {
		s += fmt.Sprintf(", after start-up work that ended %.0f ms after ready", t.StartupMS)
	}
	if t.Error != "" {
		s += "; ERROR " + t.Error
	}
	return s
}

func mb(kb int64) float64 { return float64(kb) / 1024 }

func printTable(w io.Writer, rep *report) {
	fmt.Fprintf(w, "\nvigil benchmark (%s): %s, %d cores, %s, %d GB; tree %d files in %d dirs; %s\n\n",
		rep.Mode, rep.Machine.Kernel, rep.Machine.Cores, rep.Machine.CPU, rep.Machine.MemGB,
		rep.Settings.Files, rep.Settings.Dirs, rep.Started.Format("2006-01-02 15:04 UTC"))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tool\tdebounce\tp50 ms\tp90 ms\tmax ms\tready ms\tRSS MB\tidle CPU ms\tburst runs (write time, harness pauses > debounce watched/unwatched)\tlast=final\tspaced\tatomic\twatched after\t")
	for _, r := range rep.Tools {
		if r.Skipped != "" {
			fmt.Fprintf(tw, "%s\t%s\t\t\t\t\t\t\t\t\t\t\t\t\n", r.Tool, "skipped: "+r.Skipped)
			continue
		}
		c := make([]string, 11)
		for i := range c {
			c[i] = "-"
		}
		if s := r.Small; s != nil {
			if l := s.Latency; l != nil {
				c[0], c[1], c[2] = f1(l.P50MS), f1(l.P90MS), f1(l.MaxMS)
				if l.Missed > 0 {
					c[2] += fmt.Sprintf(" (%d lost)", l.Missed)
				}
			}
			if b := s.Burst; b != nil {
				c[6], c[7] = fmt.Sprintf("%d (%.1f s)", b.Runs, b.WriteMS/1000), yn(b.LastSawFinal)
				if b.Pauses > 0 || b.BaselinePauses > 0 {
					c[6] = fmt.Sprintf("%d (%.1f s, %d/%d pauses)", b.Runs, b.WriteMS/1000, b.Pauses, b.BaselinePauses)
				}
			}
			if sp := s.Spaced; sp != nil {
				c[8] = fmt.Sprintf("%d/%d", sp.WithRun, sp.Changes)
			}
			if a := s.Atomic; a != nil {
				c[9], c[10] = fmt.Sprintf("%d/%d", a.Detected, a.Saves), yn(a.StillWatched)
			}
		}
		if t := r.Tree; t != nil && t.ReadyMS > 0 {
			c[3], c[4], c[5] = fmt.Sprintf("%.0f", t.ReadyMS), f1(mb(t.RSSKB)), f1(t.IdleCPUMS)
		} else if t != nil {
			c[3] = "failed"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t\n", r.Tool, r.Debounce, strings.Join(c, "\t"))
	}
	tw.Flush()
	for _, r := range rep.Tools {
		if r.Small != nil && r.Small.Error != "" {
			fmt.Fprintf(w, "  %s: %s\n", r.Tool, r.Small.Error)
		}
		if r.Tree != nil && r.Tree.Error != "" {
			fmt.Fprintf(w, "  %s (tree): %s\n", r.Tool, r.Tree.Error)
		}
	}
	printScale(w, rep)
	if len(rep.Tail) > 0 {
		fmt.Fprintf(w, "\nfollowing a file written as fast as possible (%d MB of 100-byte lines):\n\n", rep.Settings.TailMB)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "follower\tMB/s\tCPU s per 100 MB\tp50 ms\tp90 ms\tmax ms\t")
		for _, t := range rep.Tail {
			if t.Latency == nil {
				fmt.Fprintf(tw, "%s\tfailed: %s\t\t\t\t\t\n", t.Tool, t.Error)
				continue
			}
			fmt.Fprintf(tw, "%s\t%.0f\t%.2f\t%s\t%s\t%s\t\n", t.Tool, t.MBPerSec, t.CPUSecPer100,
				f2(t.Latency.P50MS), f2(t.Latency.P90MS), f2(t.Latency.MaxMS))
		}
		tw.Flush()
		for _, t := range rep.Tail {
			if t.Error != "" && t.Latency != nil {
				fmt.Fprintf(w, "  %s: %s\n", t.Tool, t.Error)
			}
		}
	}
	if rep.Changed != nil {
		printChanged(w, rep.Changed)
	}
	if len(rep.Targets) > 0 {
		fmt.Fprintln(w, "\nissue 6 targets:")
		for _, t := range rep.Targets {
			fmt.Fprintf(w, "  [%s] %s: %s — %s\n", map[bool]string{true: "met", false: "MISSED"}[t.Met], t.Tool, t.Target, t.Seen)
		}
	}
}

func f1(v float64) string { return fmt.Sprintf("%.1f", v) }
func f2(v float64) string { return fmt.Sprintf("%.2f", v) }
func yn(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// targets checks each vigil row against issue 6's targets, as ratios to the
// peers measured in the same run.
func targets(rep *report) []target {
	find := func(name string) *toolResult {
		for i := range rep.Tools {
			if rep.Tools[i].Tool == name && rep.Tools[i].Skipped == "" {
				return &rep.Tools[i]
			}
		}
		return nil
	}
	ino, wm := find("inotifywait"), find("watchman")
	var out []target
	add := func(tool, what string, met bool, seen string, args ...any) {
		out = append(out, target{Tool: tool, Target: what, Met: met, Seen: fmt.Sprintf(seen, args...)})
	}
	for _, r := range rep.Tools {
		// vigil-events is a diagnostic row (its tree includes a bash loop);
		// vigil-libkqueue is informative: libkqueue is not a BSD kernel.
		if !strings.HasPrefix(r.Tool, "vigil") || strings.HasPrefix(r.Tool, "vigil-events") ||
			strings.HasPrefix(r.Tool, "vigil-libkqueue") || r.Skipped != "" {
			continue
		}
		s, t := r.Small, r.Tree
		if s != nil && s.Latency != nil && ino != nil && ino.Small != nil && ino.Small.Latency != nil {
			lim := ino.Small.Latency.P50MS + 0.5 + r.DebMS
			add(r.Tool, "latency p50 ≤ inotifywait p50 + 0.5 ms + debounce", s.Latency.P50MS <= lim && s.Latency.Missed == 0,
				"%.2f ms vs limit %.2f ms (%d missed)", s.Latency.P50MS, lim, s.Latency.Missed)
		}
		treeOK := func(x *toolResult) bool { return x != nil && x.Tree != nil && x.Tree.ReadyMS > 0 }
		if t != nil && t.ReadyMS > 0 {
			// The command fires a debounce after the touch it saw, so the
			// debounce is taken off before comparing with tools that have none.
			ready := t.ReadyMS - r.DebMS
			if treeOK(ino) {
				add(r.Tool, "ready (less debounce) ≤ 1.2 × inotifywait", ready <= 1.2*ino.Tree.ReadyMS,
					"%.0f ms vs %.0f ms (%.2f×)", ready, ino.Tree.ReadyMS, ready/ino.Tree.ReadyMS)
				add(r.Tool, "RSS ≤ 2 × inotifywait", t.RSSKB <= 2*ino.Tree.RSSKB,
					"%.1f MB vs %.1f MB (%.2f×)", mb(t.RSSKB), mb(ino.Tree.RSSKB), float64(t.RSSKB)/float64(ino.Tree.RSSKB))
			}
			if treeOK(wm) {
				wr := wm.Tree.ReadyMS - wm.DebMS
				add(r.Tool, "ready (less debounce) ≤ 0.5 × watchman", ready <= 0.5*wr,
					"%.0f ms vs %.0f ms (%.2f×)", ready, wr, ready/wr)
			}
			// schedstat has nanosecond resolution; under 1 ms in 10 s is
			// reported as met (the harness's own /proc reads wake nothing in vigil).
			add(r.Tool, "0 ms CPU while idle", t.IdleCPUMS < 1, "%.2f ms in %.0f s", t.IdleCPUMS, t.IdleSeconds)
		}
		if s != nil && s.Burst != nil {
			// max_wait (1 s) makes a run at least once a second while
			// changes go on, so a burst the harness took longer than 1 s to
			// write may fairly give one run per started second, plus one.
			// And a pause of the harness longer than the debounce makes
			// two bursts of one, by the definition of a quiet period; only
			// the pauses it makes writing the same burst with the tool
			// idle are allowed for, not those the tool may cause.
			allowed := 2
			if extra := int(s.Burst.WriteMS/1000) + 2; extra > allowed {
				allowed = extra
			}
			allowed += s.Burst.BaselinePauses
			add(r.Tool, "burst: 1 run (2 if it straddles max-wait; more only if writing it took over 1 s, or for the harness's own pauses over the debounce), last run sees the final state",
				s.Burst.Runs >= 1 && s.Burst.Runs <= allowed && s.Burst.LastSawFinal,
				"%d runs (at most %d allowed), final state seen %v, writing the burst took %.0f ms; pauses over the debounce: %d (longest %.1f ms), %d writing it unwatched",
				s.Burst.Runs, allowed, s.Burst.LastSawFinal, s.Burst.WriteMS, s.Burst.Pauses, s.Burst.MaxPauseMS, s.Burst.BaselinePauses)
		}
		if s != nil && s.Spaced != nil {
			add(r.Tool, "every spaced change runs", s.Spaced.WithRun == s.Spaced.Changes,
				"%d of %d", s.Spaced.WithRun, s.Spaced.Changes)
		}
		if s != nil && s.Atomic != nil {
			add(r.Tool, "every atomic save seen, file still watched", s.Atomic.Detected == s.Atomic.Saves && s.Atomic.StillWatched,
				"%d of %d, still watched %v", s.Atomic.Detected, s.Atomic.Saves, s.Atomic.StillWatched)
		}
	}
	if c := rep.Changed; c != nil && c.Error == "" && c.ReadyP50MS > 0 {
		add("vigil changed", "nothing changed: ≤ 1.5 × vigil's ready time (issue 12)", c.Ratio <= 1.5,
			"%.0f ms vs %.0f ms (%.2f×)", c.ChangedP50MS, c.ReadyP50MS, c.Ratio)
	}
	var gnu, vt, vs *tailResult
	for _, t := range rep.Tail {
		switch t.Tool {
		case "tail -F":
			gnu = t
		case "vigil tail":
			vt = t
		case "vigil tail --state":
			vs = t
		}
	}
	if vt != nil && vs != nil && vt.Error == "" {
		add("vigil tail --state", "throughput ≥ 90% of vigil tail", vs.Error == "" && vs.MBPerSec >= 0.9*vt.MBPerSec,
			"%.0f MB/s vs %.0f MB/s", vs.MBPerSec, vt.MBPerSec)
	}
	if gnu != nil && vt != nil && gnu.Error == "" {
		add("vigil tail", "throughput ≥ GNU tail -F", vt.Error == "" && vt.MBPerSec >= gnu.MBPerSec,
			"%.0f MB/s vs %.0f MB/s", vt.MBPerSec, gnu.MBPerSec)
		add("vigil tail", "CPU per MB ≤ GNU tail -F", vt.Error == "" && vt.CPUSecPer100 <= gnu.CPUSecPer100,
			"%.2f s vs %.2f s per 100 MB", vt.CPUSecPer100, gnu.CPUSecPer100)
	}
	return out
}

// printScale prints the --scale rows: ready time and memory on the scale
// tree, with bytes per file.
func printScale(w io.Writer, rep *report) {
	if rep.Settings.ScaleFiles == 0 {
		return
	}
	fmt.Fprintf(w, "\nscale: %d files in %d directories:\n\n", rep.Settings.ScaleFiles, rep.Settings.ScaleDirs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tool\tready ms\tRSS MB\twatcher RSS MB\tRSS bytes per file\tidle CPU ms\t")
	for _, r := range rep.Tools {
		t := r.Scale
		switch {
		case t == nil:
			continue
		case t.Error != "":
			fmt.Fprintf(tw, "%s\tfailed: %s\t\t\t\t\t\n", r.Tool, t.Error)
			continue
		}
		perFile := "-"
		if t.Files > 0 {
			perFile = fmt.Sprintf("%.0f", float64(t.MainRSSKB)*1024/float64(t.Files))
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%s\t\n", r.Tool, t.ReadyMS, f1(mb(t.RSSKB)), f1(mb(t.MainRSSKB)), perFile, f1(t.IdleCPUMS))
	}
	tw.Flush()
}
