package crl

import (
	"fmt"
	"time"
)

// StalePolicy says whether a CRL may still be used once its nextUpdate has
// passed. The zero value is StaleUse, the ALB-compatible default.
type StalePolicy int

const (
	// StaleUse keeps using a CRL after its nextUpdate (ALB documents no
	// expiry; the trust store logs and reports the staleness instead).
	StaleUse StalePolicy = iota
	// StaleReject refuses a CRL as soon as its nextUpdate has passed.
	StaleReject
	// StaleGrace keeps using a CRL until Policy.Grace after its nextUpdate.
	StaleGrace
)

// String returns the policy as written in configuration: "use", "reject" or
// "grace".
func (p StalePolicy) String() string {
	switch p {
	case StaleUse:
		return "use"
	case StaleReject:
		return "reject"
	case StaleGrace:
		return "grace"
	}
	return fmt.Sprintf("StalePolicy(%d)", int(p))
}

// ParseStalePolicy parses a trust store's stale_crl_policy: "use", "reject",
// or a positive Go duration such as "72h", which selects StaleGrace with that
// grace period.
func ParseStalePolicy(s string) (StalePolicy, time.Duration, error) {
	switch s {
	case "use":
		return StaleUse, 0, nil
	case "reject":
		return StaleReject, 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, 0, fmt.Errorf("stale CRL policy %q: want use, reject or a duration such as 72h", s)
	}
	if d <= 0 {
		return 0, 0, fmt.Errorf("stale CRL policy %q: the grace period must be positive", s)
	}
	return StaleGrace, d, nil
}

// Policy says which CRLs are usable at a given time.
type Policy struct {
	// Stale says what to do once a CRL's nextUpdate has passed.
	Stale StalePolicy
	// Grace is how long after nextUpdate a CRL stays usable with StaleGrace.
	Grace time.Duration
	// MaxAge, when positive, makes a CRL whose thisUpdate is older than
	// now-MaxAge unusable whatever its nextUpdate says (beyond ALB; the CRL
	// conformance vectors use 7 days).
	MaxAge time.Duration
}

// timeProblem says why c cannot be used at now under p, or returns "" when
// it can. A CRL from the future is refused under every policy: its issuer's
// clock or ours is wrong, and either way its contents cannot be placed in
// time. freshnessOnly reports that the only problems are staleness or age,
// which a usable delta CRL can cure (RFC 5280 §6.3.3 (a)).
func (p Policy) timeProblem(c *CRL, now time.Time) (problem string, freshnessOnly bool) {
	if c.thisUpdate.After(now) {
		return "its thisUpdate " + stamp(c.thisUpdate) + " is in the future", false
	}
	if !c.nextUpdate.IsZero() && now.After(c.nextUpdate) {
		switch p.Stale {
		case StaleReject:
			return "its nextUpdate " + stamp(c.nextUpdate) + " has passed and the stale CRL policy is reject", true
		case StaleGrace:
			if now.After(c.nextUpdate.Add(p.Grace)) {
				return "its nextUpdate " + stamp(c.nextUpdate) + " has passed by more than the " + p.Grace.String() + " grace period", true
			}
		case StaleUse:
		default:
			// An unknown policy value is a programming error; refusing the
			// CRL fails closed instead of silently using it.
			return "the stale CRL policy " + p.Stale.String() + " is unknown", false
		}
	}
	if p.MaxAge > 0 && c.thisUpdate.Before(now.Add(-p.MaxAge)) {
		return "its thisUpdate " + stamp(c.thisUpdate) + " is older than the maximum age of " + p.MaxAge.String(), true
	}
	return "", false
}

// stamp writes a time as in logs and headers: RFC 3339, UTC, seconds.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
