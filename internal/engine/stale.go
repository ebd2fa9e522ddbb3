package engine

import (
	"time"
)

// watchStaleCRLs logs a warning for every CRL of snap that is stale (its nextUpdate has passed) now, and for
// each one that becomes stale while snap serves, at that moment. Under the default stale_crl_policy "use" a
// stale CRL stays in force (as ALB, which has no expiry behaviour), so the log line and the
// mtlslb_crl_time_to_next_update_seconds metric going negative are how an operator learns of it.
func (e *Engine) watchStaleCRLs(snap *snapshot) {
	type pending struct {
		store string
		id    int64
		next  time.Time
	}
	var future []pending
	now := e.opts.Now()
	for name, ts := range snap.trustStores {
		for _, r := range ts.Revocations() {
			switch {
			case r.NextUpdate.IsZero():
			case !r.NextUpdate.After(now):
				e.log.Warn("stale CRL: its nextUpdate has passed; upload a current one (or fix its URL)",
					"trust_store", name, "revocation_id", r.ID, "issuer", r.Issuer, "next_update", r.NextUpdate.UTC().Format(time.RFC3339))
			default:
				future = append(future, pending{name, r.ID, r.NextUpdate})
			}
		}
	}
	if len(future) == 0 {
		return
	}
	go func() {
		for len(future) > 0 {
			first := 0
			for i := range future {
				if future[i].next.Before(future[first].next) {
					first = i
				}
			}
			t := time.NewTimer(future[first].next.Sub(e.opts.Now()))
			select {
			case <-snap.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			p := future[first]
			e.log.Warn("CRL became stale: its nextUpdate has passed; upload a current one (or fix its URL)",
				"trust_store", p.store, "revocation_id", p.id, "next_update", p.next.UTC().Format(time.RFC3339))
			future = append(future[:first], future[first+1:]...)
		}
	}()
}
