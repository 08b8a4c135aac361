package testwait

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestFor(t *testing.T) {
	var n atomic.Int32
	go func() {
		for range 3 {
			time.Sleep(2 * time.Millisecond)
			n.Add(1)
		}
	}()
	if !For(10*time.Second, func() bool { return n.Load() == 3 }) {
		t.Fatal("a condition that comes true was not seen")
	}
	start := time.Now()
	if For(30*time.Millisecond, func() bool { return false }) {
		t.Fatal("a false condition held")
	}
	if took := time.Since(start); took < 30*time.Millisecond {
		t.Errorf("gave up after %v, before the deadline", took)
	}
}
