package watcher

import (
	"strconv"
	"testing"
	"time"
)

// TestNewerThan: a file time counts as newer than a moment allowing for the
// kernel's tick-grained file clock, and for whole-second file systems.
func TestNewerThan(t *testing.T) {
	since := time.Date(2026, 12, 4, 10, 0, 0, 500_000_000, time.UTC)
	for _, c := range []struct {
		t    time.Time
		want bool
	}{
		{since, true},
		{since.Add(-5 * time.Millisecond), true}, // one tick behind
		{since.Add(-time.Second + 3), false},     // well before, fine-grained
		{since.Truncate(time.Second), true},      // whole seconds: up to 2 s of slack
		{since.Truncate(time.Second).Add(-3 * time.Second), false},
	} {
		if got := newerThan(c.t.UnixNano(), since); got != c.want {
			t.Errorf("newerThan(%s, %s) = %v, want %v", c.t.Format(time.StampNano), since.Format(time.StampNano), got, c.want)
		}
	}
}

// TestPrintsBounded: past maxPrints the prints are dropped and the
// baseline moves up to now, as a fresh crawl would give.
func TestPrintsBounded(t *testing.T) {
	r := &run{prints: map[string]fprint{}, printsSince: time.Unix(0, 0)}
	for i := range maxPrints {
		r.prints["/f"+strconv.Itoa(i)] = fprint{}
	}
	now := time.Now()
	r.takePrints(nil, newPending(), now)
	if len(r.prints) != 0 || !r.printsSince.Equal(now) {
		t.Errorf("after %d prints: %d kept, since %s; want none kept, since now", maxPrints, len(r.prints), r.printsSince)
	}
}
