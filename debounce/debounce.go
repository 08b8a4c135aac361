// Package debounce is vigil's burst policy: a pure state machine that decides
// when a batch of changes is due.
//
// A batch opens with its first change. It is due once no change has arrived
// for the quiet period, or once the max wait has passed since the first
// change, whichever comes first. The max wait is what keeps a file that grows
// without pause from starving its consumers.
//
// The state machine knows time, not files: it owns no clock, timer or
// goroutine and does no I/O. Its caller reports each change with the current
// time, arms its own one-shot timer for the instant [State.Add] returns, and
// asks [State.Due] when that timer fires. Because every input is explicit,
// the policy can be tested with made-up times.
package debounce

import "time"

// Defaults used when New is given a zero duration.
const (
	// DefaultQuiet matches watchexec's debounce: long enough to merge the
	// steps of an editor's save or a git checkout, short enough to feel
	// instant.
	DefaultQuiet = 50 * time.Millisecond
	// DefaultMaxWait bounds how long a continuous stream of changes can
	// postpone a batch.
	DefaultMaxWait = time.Second
)

// State is one batch's debounce state. The zero value is not usable; call
// New. A State is not safe for concurrent use: it belongs to the loop that
// owns the batch.
type State struct {
	quiet, maxWait time.Duration
	pending        bool
	first, last    time.Time
}

// New returns an idle State with the given quiet period and max wait. A zero
// quiet period means DefaultQuiet and a negative one means none: a batch is
// due as soon as its first change is reported, so the caller delivers what
// it has read and no more. A zero or negative max wait means DefaultMaxWait.
// A max wait shorter than the quiet period is raised to it: otherwise every
// batch would be cut by the max wait and the quiet period would mean nothing.
func New(quiet, maxWait time.Duration) *State {
	switch {
	case quiet == 0:
		quiet = DefaultQuiet
	case quiet < 0:
		quiet = 0
	}
	if maxWait <= 0 {
		maxWait = DefaultMaxWait
	}
	if maxWait < quiet {
		maxWait = quiet
	}
	return &State{quiet: quiet, maxWait: maxWait}
}

// Quiet returns the quiet period in effect.
func (s *State) Quiet() time.Duration { return s.quiet }

// MaxWait returns the max wait in effect.
func (s *State) MaxWait() time.Duration { return s.maxWait }

// Add records a change at now and returns when the batch becomes due: the
// instant the caller's timer must fire. The first Add after New or Reset
// opens the batch and starts the max-wait clock. A now earlier than a
// previous change (a caller mixing clocks) is treated as that change's time,
// so the due instant never moves backwards.
func (s *State) Add(now time.Time) (fireAt time.Time) {
	if !s.pending {
		s.pending = true
		s.first = now
		s.last = now
	} else if now.After(s.last) {
		s.last = now
	}
	return s.FireAt()
}

// FireAt returns when the open batch becomes due, or the zero Time when no
// batch is open.
func (s *State) FireAt() time.Time {
	if !s.pending {
		return time.Time{}
	}
	quietEnd := s.last.Add(s.quiet)
	capEnd := s.first.Add(s.maxWait)
	if capEnd.Before(quietEnd) {
		return capEnd
	}
	return quietEnd
}

// Due reports whether a batch is open and due at now.
func (s *State) Due(now time.Time) bool {
	return s.pending && !now.Before(s.FireAt())
}

// Pending reports whether a batch is open (a change was added since the last
// Reset).
func (s *State) Pending() bool { return s.pending }

// First returns the time of the open batch's first change, or the zero Time.
func (s *State) First() time.Time {
	if !s.pending {
		return time.Time{}
	}
	return s.first
}

// Reset closes the batch: the caller has taken it. The next Add opens a new
// one.
func (s *State) Reset() {
	s.pending = false
	s.first = time.Time{}
	s.last = time.Time{}
}
