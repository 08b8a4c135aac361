package config

import (
	"maps"
	"slices"
	"strings"
)

// suggest returns the candidate closest to word, or "" when none is close
// enough to be a plausible typo. aliases maps words people commonly use for
// a key (from other tools' vocabularies) to the key itself; typos of an alias
// count too, so "comand" leads to "run" through "command".
func suggest(word string, candidates []string, aliases map[string]string) string {
	w := normalizeKey(word)
	if w == "" {
		return ""
	}
	if to, ok := aliases[w]; ok {
		return to
	}
	best, bestDist := "", 0
	consider := func(cand, target string) {
		d := editDistance(w, cand)
		if d > typoBudget(cand) {
			return
		}
		if best == "" || d < bestDist {
			best, bestDist = target, d
		}
	}
	for _, c := range candidates {
		consider(normalizeKey(c), c)
	}
	// Sorted, so that ties resolve the same way on every run.
	for _, a := range slices.Sorted(maps.Keys(aliases)) {
		consider(a, aliases[a])
	}
	return best
}

// normalizeKey folds the spellings that differ only in case or word
// separators: "Max-Wait", "maxWait" and "max_wait" all become "max_wait".
func normalizeKey(s string) string {
	var b strings.Builder
	var prev rune
	for _, r := range s {
		switch {
		case r == '-' || r == ' ':
			b.WriteByte('_')
		case r >= 'A' && r <= 'Z':
			if prev >= 'a' && prev <= 'z' || prev >= '0' && prev <= '9' {
				b.WriteByte('_') // a camelCase word boundary
			}
			b.WriteRune(r - 'A' + 'a')
		default:
			b.WriteRune(r)
		}
		prev = r
	}
	return b.String()
}

// typoBudget is how many edits still look like a typo of a word this long:
// one for short words (where two edits reach unrelated words), two otherwise.
func typoBudget(s string) int {
	switch n := len(s); {
	case n <= 2:
		return 0
	case n <= 5:
		return 1
	default:
		return 2
	}
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and transpositions of adjacent bytes each cost 1.
// Transpositions matter because "on_bsuy" is the typo people actually make.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		// Keys are short; a long word is no typo of one, and this keeps
		// the cost bounded on hostile input.
		if a == b {
			return 0
		}
		return 1 << 20
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
