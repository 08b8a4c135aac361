// Package order finds cycles in the "after" relation between rules: a rule
// that runs after another, which runs after the first, would wait for ever.
// config reports each cycle at the entry that closes it; runner refuses
// rules that contain one. Both use [Cycles], so that they agree.
package order

// Cycles walks the relation depth first from each name in turn and returns
// every cycle it closes. A cycle is given as the names along it, starting
// and ending with the name whose after entry closes it: [u v ... u], where
// each name runs after the next one. after returns the names a name runs
// after; names it does not know have no entries.
func Cycles(names []string, after func(name string) []string) [][]string {
	const (
		unvisited = iota
		onStack
		done
	)
	state := map[string]int{}
	var stack []string
	var cycles [][]string
	var visit func(u string)
	visit = func(u string) {
		state[u] = onStack
		stack = append(stack, u)
		for _, v := range after(u) {
			switch state[v] {
			case unvisited:
				visit(v)
			case onStack:
				// The cycle is stack[i:], closed by the edge u -> v.
				i := len(stack) - 1
				for stack[i] != v {
					i--
				}
				c := append([]string{u}, stack[i:]...)
				cycles = append(cycles, c)
			}
		}
		stack = stack[:len(stack)-1]
		state[u] = done
	}
	for _, n := range names {
		if state[n] == unvisited {
			visit(n)
		}
	}
	return cycles
}
