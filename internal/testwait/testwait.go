// Package testwait is how vigil's tests wait for what another goroutine or
// process does: poll a condition until it holds or a deadline passes, never
// a blind sleep. Deadlines are generous, since the tests run on loaded
// machines; the poll interval starts at a millisecond and backs off to 20 ms,
// so a condition that holds soon is seen soon.
package testwait

import (
	"testing"
	"time"
)

// For polls cond until it returns true or d has passed, and reports
// whether it held. cond is called at least once.
func For(d time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	delay := time.Millisecond
	for !cond() {
		if !time.Now().Before(end) {
			return false
		}
		time.Sleep(min(delay, max(time.Until(end), 0)))
		delay = min(2*delay, 20*time.Millisecond)
	}
	return true
}

// Until is For that ends the test with "timed out after d waiting for
// what" when cond never held.
func Until(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if !For(d, cond) {
		t.Fatalf("timed out after %v waiting for %s", d, what)
	}
}
