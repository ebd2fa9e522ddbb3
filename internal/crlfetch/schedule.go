package crlfetch

import (
	"math/rand/v2"
	"time"

	"github.com/mtlslb/mtlslb/internal/crl"
)

const (
	// backoffBase is the first retry delay after a failure; it doubles with
	// each further failure.
	backoffBase = 10 * time.Second
	// backoffMax caps the retry delay (and so does the interval, when
	// shorter): an outage of the CRL server should be noticed over soon
	// after it ends.
	backoffMax = 15 * time.Minute
	// minPoll is the shortest wait between polls once a successor CRL is
	// due but not yet published.
	minPoll = time.Minute
)

// leadFor returns how long before c's nextUpdate a refresh is due.
func (f *Fetcher) leadFor(c *crl.CRL) time.Duration {
	if f.lead > 0 {
		return f.lead
	}
	return max(c.NextUpdate().Sub(c.ThisUpdate())/10, minLead)
}

// afterSuccess returns when to fetch again after the URL served c (or
// confirmed it) at now: after Interval, or Lead before c's nextUpdate,
// whichever comes first.
func (f *Fetcher) afterSuccess(now time.Time, c *crl.CRL) time.Time {
	next := now.Add(f.interval)
	nu := c.NextUpdate()
	if nu.IsZero() {
		return next
	}
	lead := f.leadFor(c)
	if due := nu.Add(-lead); due.After(now) {
		return earliest(next, due)
	}
	// A successor is due but the issuer has not published it yet. Ask more
	// often than Interval, in proportion to the CRL's lead time, but never
	// hot: without conditional GET support each poll is a full download.
	poll := min(max(lead/10, minPoll), f.interval)
	return earliest(now.Add(poll), staleWake(now, c))
}

// afterFailure returns when to retry after the failures-th failure in a row
// at now. c is the copy in force, or nil.
func (f *Fetcher) afterFailure(now time.Time, failures int, c *crl.CRL) time.Time {
	next := now.Add(backoff(failures, min(backoffMax, f.interval)))
	if c != nil {
		next = earliest(next, staleWake(now, c))
	}
	return next
}

// backoff returns the delay before the retry after the failures-th failure
// in a row: backoffBase doubled per failure up to ceiling, with equal jitter
// (at least half the step, so retries still back off; a random rest so a
// fleet of load balancers does not hit a recovering server in step).
func backoff(failures int, ceiling time.Duration) time.Duration {
	d := min(backoffBase, ceiling)
	for i := 1; i < failures && d < ceiling; i++ {
		d = min(2*d, ceiling)
	}
	return d/2 + rand.N(d/2+1)
}

// staleWake returns the instant just after c's nextUpdate, when c becomes
// stale (crl.Policy judges "strictly after"), or the zero time when that is
// not in the future. Start wakes then to log the staleness as it happens.
func staleWake(now time.Time, c *crl.CRL) time.Time {
	nu := c.NextUpdate()
	if nu.IsZero() || !nu.After(now) {
		return time.Time{}
	}
	return nu.Add(time.Nanosecond)
}

// earliest returns the earliest of ts that is not zero; a is never zero.
func earliest(a time.Time, ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() && t.Before(a) {
			a = t
		}
	}
	return a
}
