package debounce

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func TestSchedule(t *testing.T) {
	type step struct {
		add    int // ms of a change; -1 for none
		fireAt int // expected fire instant after the add (ms)
	}
	tests := []struct {
		name           string
		quiet, maxWait time.Duration
		adds           []step
		dueAt, notDue  []int // instants (ms) at which Due must be true / false
	}{
		{
			name: "single change waits the quiet period",
			adds: []step{{0, 50}}, notDue: []int{0, 49}, dueAt: []int{50, 500},
		},
		{
			name: "each change restarts the quiet period",
			adds: []step{{0, 50}, {30, 80}, {70, 120}}, notDue: []int{50, 80, 119}, dueAt: []int{120},
		},
		{
			name:   "max wait caps a continuous stream from the first change",
			adds:   []step{{0, 50}, {40, 90}, {400, 450}, {960, 1000}, {990, 1000}},
			notDue: []int{999}, dueAt: []int{1000},
		},
		{
			name:  "custom durations",
			quiet: 200 * time.Millisecond, maxWait: 300 * time.Millisecond,
			adds: []step{{0, 200}, {150, 300}}, notDue: []int{299}, dueAt: []int{300},
		},
		{
			name:  "max wait below quiet is raised to quiet",
			quiet: 100 * time.Millisecond, maxWait: 10 * time.Millisecond,
			adds: []step{{0, 100}, {50, 100}}, notDue: []int{99}, dueAt: []int{100},
		},
		{
			name: "a change reported with an older time does not pull the deadline back",
			adds: []step{{100, 150}, {20, 150}}, notDue: []int{149}, dueAt: []int{150},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(tt.quiet, tt.maxWait)
			if s.Pending() || s.Due(at(0)) || !s.FireAt().IsZero() {
				t.Fatalf("new state is not idle")
			}
			for _, st := range tt.adds {
				if got := s.Add(at(st.add)); !got.Equal(at(st.fireAt)) {
					t.Fatalf("Add(%dms) fires at %v, want %dms", st.add, got.Sub(t0), st.fireAt)
				}
			}
			for _, ms := range tt.notDue {
				if s.Due(at(ms)) {
					t.Errorf("due at %dms, want not yet (fire at %v)", ms, s.FireAt().Sub(t0))
				}
			}
			for _, ms := range tt.dueAt {
				if !s.Due(at(ms)) {
					t.Errorf("not due at %dms (fire at %v)", ms, s.FireAt().Sub(t0))
				}
			}
		})
	}
}

func TestResetStartsANewBatch(t *testing.T) {
	s := New(0, 0)
	if s.Quiet() != DefaultQuiet || s.MaxWait() != DefaultMaxWait {
		t.Fatalf("defaults: quiet %v max %v", s.Quiet(), s.MaxWait())
	}
	s.Add(at(0))
	s.Add(at(900))
	if !s.Due(at(950)) {
		t.Fatal("first batch not due at 950ms")
	}
	s.Reset()
	if s.Pending() || s.Due(at(5000)) || !s.First().IsZero() {
		t.Fatal("reset state still has a batch")
	}
	// The max wait of the second batch counts from its own first change,
	// not from the first batch's.
	if got := s.Add(at(1000)); !got.Equal(at(1050)) {
		t.Fatalf("second batch fires at %v, want 1050ms", got.Sub(t0))
	}
	if !s.First().Equal(at(1000)) {
		t.Fatalf("second batch first change %v, want 1000ms", s.First().Sub(t0))
	}
	for ms := 1040; ms < 2000; ms += 40 {
		s.Add(at(ms))
	}
	if !s.Due(at(2000)) || s.Due(at(1999)) {
		t.Fatalf("second batch should be due exactly at 2000ms, fire at %v", s.FireAt().Sub(t0))
	}
}

func BenchmarkAdd(b *testing.B) {
	s := New(0, 0)
	now := t0
	for i := 0; b.Loop(); i++ {
		now = now.Add(time.Millisecond)
		s.Add(now)
		if s.Due(now) {
			s.Reset()
		}
		if i%2000 == 0 {
			s.Reset()
		}
	}
}

// A negative quiet period means none: the batch is due at its first change,
// while the max wait keeps its default.
func TestNegativeQuietMeansNone(t *testing.T) {
	s := New(-1, 0)
	if s.Quiet() != 0 || s.MaxWait() != DefaultMaxWait {
		t.Fatalf("quiet %v max %v, want 0 and the default", s.Quiet(), s.MaxWait())
	}
	if s.Due(at(0)) {
		t.Fatal("due with no change")
	}
	if fire := s.Add(at(10)); !fire.Equal(at(10)) {
		t.Errorf("fires at %v, want at the change", fire)
	}
	if !s.Due(at(10)) {
		t.Error("not due at its first change")
	}
}
