package route

import (
	"math/bits"
	"slices"
)

// The path index lets Match skip the rules whose path_pattern cannot match the request's path, so that a
// listener with hundreds of path rules pays for the few that could apply instead of for all of them.
//
// A path pattern that starts with a literal ("/svc7/*" starts with "/svc7/") matches only paths with that
// literal as a prefix; a pattern that starts with a wildcard has no such prefix. A rule with a path_pattern
// condition is a candidate for a path when one of its values' prefixes is a prefix of the path; a rule
// without one, or with a value without a prefix, is a candidate for every path. The index finds the
// candidates with one map lookup per distinct prefix length, and Match then evaluates them, in priority
// order, exactly as it evaluates every rule without the index: the index only ever skips rules that could
// not have matched, so it changes speed, never the result (FuzzPathIndex checks this against the plain scan).

const (
	// indexWords bounds the candidate set Match keeps on its stack: the first indexWords×64 rules in
	// priority order are indexed, and any later ones are evaluated one by one after them, as without an
	// index.
	indexWords = 16
	// maxIndexLengths bounds the map lookups per request: when the prefixes have more distinct lengths,
	// the longer ones are cut to the longest kept length below them, which keeps every candidate (a
	// shorter prefix filters less, never wrongly).
	maxIndexLengths = 16
)

// pathIndex is a Table's index of its rules by path prefix. Rules are numbered by their position in the
// table's priority order.
type pathIndex struct {
	// words is the number of 64-bit words of a candidate set: one bit per indexed rule.
	words int
	// always is the set of indexed rules that are candidates whatever the path.
	always []uint64
	// lengths are the distinct lengths of the prefixes, ascending.
	lengths []int
	// byPrefix gives, for a prefix, the offset in sets of the words-long set of rules it makes candidates.
	byPrefix map[string]int
	sets     []uint64
}

// buildPathIndex indexes the rules (in priority order) by the prefixes of their path patterns, or returns
// nil when no rule has a path prefix to index.
func buildPathIndex(rules []rule) *pathIndex {
	n := min(len(rules), indexWords*64)
	// prefixes[k] are rule k's path prefixes; nil when rule k is a candidate for every path.
	prefixes := make([][]string, n)
	var lengths []int
	for k := range n {
		prefixes[k] = pathPrefixes(&rules[k])
		for _, p := range prefixes[k] {
			lengths = append(lengths, len(p))
		}
	}
	if len(lengths) == 0 {
		return nil
	}
	slices.Sort(lengths)
	lengths = slices.Compact(lengths)
	if len(lengths) > maxIndexLengths {
		lengths = lengths[:maxIndexLengths]
	}
	x := &pathIndex{words: (n + 63) / 64, lengths: lengths, byPrefix: map[string]int{}}
	x.always = make([]uint64, x.words)
	for k := range n {
		if prefixes[k] == nil {
			x.always[k/64] |= 1 << (k % 64)
			continue
		}
		for _, p := range prefixes[k] {
			// The longest kept length not over len(p); the lengths start with the shortest prefix's, so
			// there is one.
			i, found := slices.BinarySearch(lengths, len(p))
			if !found {
				i--
			}
			p = p[:lengths[i]]
			off, ok := x.byPrefix[p]
			if !ok {
				off = len(x.sets)
				x.sets = append(x.sets, make([]uint64, x.words)...)
				x.byPrefix[p] = off
			}
			x.sets[off+k/64] |= 1 << (k % 64)
		}
	}
	return x
}

// pathPrefixes returns the literal prefixes of r's path_pattern values, or nil when r is a candidate for any
// path: it has no path_pattern condition, or one of its values starts with a wildcard.
func pathPrefixes(r *rule) []string {
	for k := range r.conds {
		c := &r.conds[k]
		if c.kind != kindPath {
			continue
		}
		ps := make([]string, 0, len(c.patterns))
		for i := range c.patterns {
			p := c.patterns[i].literalPrefix()
			if p == "" {
				return nil
			}
			ps = append(ps, p)
		}
		return ps
	}
	return nil
}

// candidates returns the set of indexed rules that could match path, as words of a bit set in cand.
func (x *pathIndex) candidates(path string, cand *[indexWords]uint64) []uint64 {
	set := cand[:x.words]
	copy(set, x.always)
	for _, l := range x.lengths {
		if l > len(path) {
			break
		}
		if off, ok := x.byPrefix[path[:l]]; ok {
			for w, s := range x.sets[off : off+x.words] {
				set[w] |= s
			}
		}
	}
	return set
}

// matchIndexed is MatchClient's loop with the index: the candidates among the indexed rules in priority
// order, then every rule past the indexed ones.
func (t *Table) matchIndexed(in *request) int {
	var cand [indexWords]uint64
	set := t.index.candidates(requestPath(in.r), &cand)
	for w, word := range set {
		for word != 0 {
			k := w*64 + bits.TrailingZeros64(word)
			word &= word - 1
			if t.rules[k].match(in) {
				return t.rules[k].index
			}
		}
	}
	return t.scan(in, len(set)*64)
}
