package health

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The code ranges ALB accepts in a matcher.
const (
	minHTTPCode = 200
	maxHTTPCode = 499
	minGRPCCode = 0
	maxGRPCCode = 99
	maxCode     = 511 // the highest code the bit set below can hold
)

// ErrBadMatcher is wrapped by every error of [ParseMatcher] and
// [ParseGRPCMatcher].
var ErrBadMatcher = errors.New("bad health check matcher")

// Matcher is the set of response codes a health check accepts. The zero
// Matcher accepts nothing. Matchers are compared with ==.
type Matcher struct {
	// bits holds codes 0–511, one bit each, so that Match is a shift and a
	// mask on the check path.
	bits [8]uint64
}

// ParseMatcher parses an HTTP matcher in ALB's forms: one code ("200"), a
// comma-separated list ("200,202") or a range ("200-299"), codes 200–499.
func ParseMatcher(s string) (Matcher, error) {
	return parseCodes(s, minHTTPCode, maxHTTPCode)
}

// ParseGRPCMatcher parses a gRPC matcher: the same forms, codes 0–99.
func ParseGRPCMatcher(s string) (Matcher, error) {
	return parseCodes(s, minGRPCCode, maxGRPCCode)
}

// Match reports whether code is one of m's codes.
func (m Matcher) Match(code int) bool {
	if code < 0 || code > maxCode {
		return false
	}
	return m.bits[code>>6]&(1<<(code&63)) != 0
}

// IsZero reports whether m accepts no code.
func (m Matcher) IsZero() bool { return m == Matcher{} }

// String returns m in ALB's form: "200", "200,202" or, for three or more
// consecutive codes, "200-299". It parses back to m.
func (m Matcher) String() string {
	var codes []int
	for c := 0; c <= maxCode; c++ {
		if m.Match(c) {
			codes = append(codes, c)
		}
	}
	n := len(codes)
	if n > 2 && codes[n-1]-codes[0] == n-1 {
		return strconv.Itoa(codes[0]) + "-" + strconv.Itoa(codes[n-1])
	}
	parts := make([]string, n)
	for i, c := range codes {
		parts[i] = strconv.Itoa(c)
	}
	return strings.Join(parts, ",")
}

func (m *Matcher) add(code int) { m.bits[code>>6] |= 1 << (code & 63) }

// parseCodes accepts exactly what the configuration validator accepts, so
// that a document that validated never fails here: a range is alone, a
// list has no ranges, a code is one to three digits with no sign or space.
func parseCodes(s string, lo, hi int) (Matcher, error) {
	var m Matcher
	code := func(c string) (int, error) {
		if c == "" || len(c) > 3 || strings.TrimLeft(c, "0123456789") != "" {
			return 0, fmt.Errorf("%w: %q: %q is not a code", ErrBadMatcher, s, c)
		}
		n, _ := strconv.Atoi(c) // cannot fail: one to three digits
		if n < lo || n > hi {
			return 0, fmt.Errorf("%w: %q: code %d is outside %d–%d", ErrBadMatcher, s, n, lo, hi)
		}
		return n, nil
	}
	if a, b, isRange := strings.Cut(s, "-"); isRange {
		x, err := code(a)
		if err != nil {
			return Matcher{}, err
		}
		y, err := code(b)
		if err != nil {
			return Matcher{}, err
		}
		if x >= y {
			return Matcher{}, fmt.Errorf("%w: %q: a range runs from a lower code to a higher one", ErrBadMatcher, s)
		}
		for c := x; c <= y; c++ {
			m.add(c)
		}
		return m, nil
	}
	for c := range strings.SplitSeq(s, ",") {
		n, err := code(c)
		if err != nil {
			return Matcher{}, err
		}
		m.add(n)
	}
	return m, nil
}
