package order

import (
	"slices"
	"testing"
)

func TestCycles(t *testing.T) {
	graph := func(edges map[string][]string) func(string) []string {
		return func(n string) []string { return edges[n] }
	}
	cases := []struct {
		name  string
		names []string
		after map[string][]string
		want  [][]string
	}{
		{"none", []string{"a", "b", "c"}, map[string][]string{"b": {"a"}, "c": {"a", "b"}}, nil},
		{"self", []string{"a"}, map[string][]string{"a": {"a"}}, [][]string{{"a", "a"}}},
		{"three", []string{"a", "b", "c"}, map[string][]string{"a": {"c"}, "b": {"a"}, "c": {"b"}}, [][]string{{"b", "a", "c", "b"}}},
		{"two separate", []string{"a", "b", "c", "d"}, map[string][]string{"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}},
			[][]string{{"b", "a", "b"}, {"d", "c", "d"}}},
		{"unknown names have no edges", []string{"a"}, map[string][]string{"a": {"zzz"}}, nil},
	}
	for _, c := range cases {
		got := Cycles(c.names, graph(c.after))
		if !slices.EqualFunc(got, c.want, slices.Equal) {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}
