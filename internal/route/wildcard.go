package route

import "unicode/utf8"

// tokenKind is what one element of a compiled pattern matches.
type tokenKind uint8

const (
	tokenLiteral tokenKind = iota // lit, byte for byte (ASCII-folded when the pattern folds)
	tokenOne                      // ?: exactly one character
	tokenAny                      // *: zero or more characters
)

// token is one element of a compiled pattern.
type token struct {
	kind tokenKind
	lit  string
}

// Pattern is a compiled ALB wildcard pattern: `*` matches zero or more
// characters and `?` exactly one; every other character matches itself.
// A character is a UTF-8 sequence, or a single byte where the subject is not
// valid UTF-8, so `?` never splits a multi-byte character. Case folding,
// where asked for, is ASCII only: ALB's case-insensitive fields (host
// names, header values, query strings) are ASCII on the wire, and full
// Unicode folding would make `k` match the Kelvin sign.
//
// A Pattern is immutable and safe for concurrent use; Match does not
// allocate.
type Pattern struct {
	toks []token
	fold bool
	// literal is set when the pattern has no wildcard: Match is then one
	// comparison with lit.
	literal bool
	lit     string
	// wildcards counts the unescaped * and ? (ALB limits them per rule).
	wildcards int
	// prefix and suffix are the literals the pattern starts and ends with,
	// and minLen the fewest bytes it can match: cheap checks that turn most
	// subjects away before the backtracking loop.
	prefix, suffix string
	minLen         int
}

// CompilePattern compiles a wildcard pattern. fold makes the match
// ASCII-case-insensitive. escapes makes `\*`, `\?` and `\\` stand for a
// literal `*`, `?` and `\`, as ALB's query_string condition documents; any
// other backslash is literal. CompilePattern checks nothing about the
// pattern's characters or length: callers do, per condition type.
func CompilePattern(pattern string, fold, escapes bool) Pattern {
	p := Pattern{fold: fold}
	var lit []byte
	flush := func() {
		if len(lit) > 0 {
			p.toks = append(p.toks, token{kind: tokenLiteral, lit: string(lit)})
			lit = lit[:0]
		}
	}
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		switch {
		case escapes && c == '\\' && i+1 < len(pattern) && (pattern[i+1] == '*' || pattern[i+1] == '?' || pattern[i+1] == '\\'):
			i++
			lit = append(lit, foldByte(pattern[i], fold))
		case c == '*':
			flush()
			p.wildcards++
			// Consecutive stars match what one star matches; keeping one
			// keeps the backtracking in Match to a single star.
			if n := len(p.toks); n == 0 || p.toks[n-1].kind != tokenAny {
				p.toks = append(p.toks, token{kind: tokenAny})
			}
		case c == '?':
			flush()
			p.wildcards++
			p.toks = append(p.toks, token{kind: tokenOne})
		default:
			lit = append(lit, foldByte(c, fold))
		}
	}
	flush()
	for _, t := range p.toks {
		switch t.kind {
		case tokenLiteral:
			p.minLen += len(t.lit)
		case tokenOne:
			p.minLen++
		}
	}
	if n := len(p.toks); n > 1 {
		if p.toks[0].kind == tokenLiteral {
			p.prefix = p.toks[0].lit
		}
		if p.toks[n-1].kind == tokenLiteral {
			p.suffix = p.toks[n-1].lit
		}
	}
	switch {
	case len(p.toks) == 0:
		p.literal = true
	case len(p.toks) == 1 && p.toks[0].kind == tokenLiteral:
		p.literal = true
		p.lit = p.toks[0].lit
	}
	return p
}

// literalPrefix returns the literal the pattern's matches all start with, byte for byte: "" when the
// pattern starts with a wildcard or folds case (its matches then start with any of several spellings).
func (p *Pattern) literalPrefix() string {
	switch {
	case p.fold:
		return ""
	case p.literal:
		return p.lit
	}
	return p.prefix
}

// Wildcards returns the number of wildcard characters in the pattern.
func (p *Pattern) Wildcards() int { return p.wildcards }

// Match reports whether the whole of s matches the pattern.
func (p *Pattern) Match(s string) bool {
	if p.literal {
		return len(s) == len(p.lit) && p.hasPrefix(s, p.lit)
	}
	if len(s) < p.minLen || !p.hasPrefix(s, p.prefix) || !p.hasPrefix(s[len(s)-len(p.suffix):], p.suffix) {
		return false
	}
	// Greedy matching with backtracking to the last star only: a later star
	// can absorb anything an earlier one could, so earlier choices never
	// need revisiting. The cost is O(len(s) × the longest run after a star),
	// and a run is at most the 128 characters of a pattern.
	ti, si := 0, 0
	starTi, starSi := -1, 0
	for {
		if ti < len(p.toks) {
			t := &p.toks[ti]
			switch t.kind {
			case tokenAny:
				starTi, starSi = ti, si
				ti++
				continue
			case tokenOne:
				if si < len(s) {
					_, w := utf8.DecodeRuneInString(s[si:])
					si += w
					ti++
					continue
				}
			case tokenLiteral:
				if len(s)-si >= len(t.lit) && p.hasPrefix(s[si:], t.lit) {
					si += len(t.lit)
					ti++
					continue
				}
			}
		} else if si == len(s) {
			return true
		}
		// Mismatch: let the last star take one more character and retry
		// what follows it.
		if starTi < 0 || starSi >= len(s) {
			return false
		}
		_, w := utf8.DecodeRuneInString(s[starSi:])
		starSi += w
		ti, si = starTi+1, starSi
	}
}

// hasPrefix reports whether s starts with lit, lit being already folded
// when the pattern folds.
func (p *Pattern) hasPrefix(s, lit string) bool {
	if len(s) < len(lit) {
		return false
	}
	if !p.fold {
		return s[:len(lit)] == lit
	}
	for i := 0; i < len(lit); i++ {
		if foldByte(s[i], true) != lit[i] {
			return false
		}
	}
	return true
}

// foldByte lowers an ASCII upper-case letter when fold is set.
func foldByte(c byte, fold bool) byte {
	if fold && 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}
