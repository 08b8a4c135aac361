package idtable

import (
	"math/rand"
	"testing"
)

// TestAgreesWithMap: random sets and deletes, checked against a map after
// each step, including through All and with pages emptied and refilled.
func TestAgreesWithMap(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var tab Table[int32, int]
	model := map[int32]*int{}
	for step := 0; step < 20000; step++ {
		id := int32(rng.Intn(2000))
		if rng.Intn(3) == 0 {
			tab.Delete(id)
			delete(model, id)
		} else {
			v := new(int)
			*v = step
			tab.Set(id, v)
			model[id] = v
		}
		if tab.Len() != len(model) {
			t.Fatalf("step %d: Len %d, want %d", step, tab.Len(), len(model))
		}
		if got := tab.Get(id); got != model[id] {
			t.Fatalf("step %d: Get(%d) = %v, want %v", step, id, got, model[id])
		}
	}
	seen := 0
	for id, v := range tab.All() {
		if model[id] != v {
			t.Fatalf("All gave %d → %v, want %v", id, v, model[id])
		}
		seen++
	}
	if seen != len(model) {
		t.Fatalf("All gave %d IDs, want %d", seen, len(model))
	}
	for id := range model {
		tab.Delete(id)
	}
	if tab.Len() != 0 || len(tab.pages) != 0 {
		t.Fatalf("after deleting all: Len %d, %d pages left", tab.Len(), len(tab.pages))
	}
}
