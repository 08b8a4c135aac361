package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/vigil-watch/vigil/debounce"
	"github.com/vigil-watch/vigil/watcher/follow"
)

// LineSource is what [Runner.FollowLines] needs to feed a line rule.
type LineSource struct {
	// Rule names the line rule (one with LineRule set) the lines are for.
	Rule string
	// Follower follows the rule's files; FollowLines runs it.
	Follower *follow.Follower
	// Line selects the lines that trigger the rule.
	Line *regexp.Regexp
	// Debounce and MaxWait batch the matching lines as file changes are
	// batched: a batch is handed over once no line has matched for
	// Debounce, or MaxWait after its first line. Zero means the default
	// of the debounce package.
	Debounce, MaxWait time.Duration
	// Throttle, when positive, hands batches over at most once per
	// Throttle: lines that match meanwhile wait, all of them, for the next
	// batch, so the rule runs at most once per Throttle and its events
	// file lists every line that matched since the last one.
	Throttle time.Duration
	// Ready, if set, is called once the follower is in place.
	Ready func()
}

// FollowLines runs src's follower until ctx ends, and hands the lines that
// match src.Line to the running [Runner.Run] in debounced batches, for
// src.Rule only. The events file of such a run lists every matching line.
// It returns the follower's error, or nil when ctx ended.
func (r *Runner) FollowLines(ctx context.Context, src LineSource) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lines := make(chan Line, 256)
	ferr := make(chan error, 1)
	ready := src.Ready
	if ready == nil {
		ready = func() {}
	}
	go func() {
		ferr <- src.Follower.Run(ctx, ready, func(l follow.Line) error {
			if !src.Line.MatchString(l.Text) {
				return nil
			}
			select {
			case lines <- Line{File: l.File, Text: l.Text, Offset: l.Offset}:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	var (
		pending []Line
		sentAt  time.Time // when the last batch was handed over
	)
	deb := debounce.New(src.Debounce, src.MaxWait)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			<-ferr
			return nil
		case err := <-ferr:
			if ctx.Err() != nil {
				return nil
			}
			return err
		case l := <-lines:
			pending = append(pending, l)
			now := time.Now()
			timer.Reset(max(deb.Add(now).Sub(now), 0))
		case <-timer.C:
			now := time.Now()
			if !deb.Due(now) {
				timer.Reset(max(deb.FireAt().Sub(now), 0))
				continue
			}
			if src.Throttle > 0 && !sentAt.IsZero() && now.Sub(sentAt) < src.Throttle {
				// Too soon after the last batch: keep gathering.
				timer.Reset(sentAt.Add(src.Throttle).Sub(now))
				continue
			}
			deb.Reset()
			select {
			case r.lines <- newLineBatch(src.Rule, pending):
				sentAt = time.Now()
			case <-ctx.Done():
			}
			pending = nil
		}
	}
}

// newLineBatch builds the batch of a line rule; its events file lists
// every matching line.
func newLineBatch(rule string, lines []Line) lineBatch {
	type jline struct {
		File   string `json:"file"`
		Line   string `json:"line"`
		Offset int64  `json:"offset"`
	}
	ev := struct {
		Time  time.Time `json:"time"`
		Rule  string    `json:"rule"`
		Lines []jline   `json:"lines"`
	}{Time: time.Now().UTC(), Rule: rule}
	for _, l := range lines {
		ev.Lines = append(ev.Lines, jline{l.File, l.Text, l.Offset})
	}
	data, err := json.Marshal(ev)
	if err != nil {
		// Strings and numbers only: cannot fail.
		panic(fmt.Sprintf("runner: encoding a line batch: %v", err))
	}
	return lineBatch{rule: rule, lines: lines, events: data}
}
