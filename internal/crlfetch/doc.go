// Package crlfetch keeps one revocation list fetched from a URL fresh, so a
// trust store can use a CRL that its issuer publishes over HTTP(S) instead of
// one uploaded by hand (alb-compat.md §4, beyond ALB).
//
// A Fetcher serves the last good copy at all times. Start first loads the
// copy cached on disk by an earlier run, so a restart serves at once even
// when the URL is down, then fetches the URL and keeps refreshing it: at
// least every Interval, and Lead before the CRL's nextUpdate. Requests are
// conditional (If-None-Match, If-Modified-Since) so an unchanged CRL costs a
// 304. Each failure is retried with a bounded exponential backoff with
// jitter. All network and disk work happens on the goroutine that runs
// Start; Current and Status only load an atomic pointer, so the handshake
// path never waits for the network.
//
// A response is refused, and the current copy stays in force, when it is
// larger than MaxSize (checked without reading the body whole), does not
// parse as a CRL (crl.Parse: PEM or DER, strict), names a different issuer
// than the current copy, changes from a complete CRL to a delta CRL or back,
// or goes back in time: a lower cRLNumber or an earlier thisUpdate than the
// current copy (a rollback, which would bring revoked certificates back to
// life). Every refusal is logged and shown in Status in plain words.
//
// crlfetch does not check the CRL's signature: it does not know the trust
// store's certificates. The trust store checks it when it compiles the CRL
// into a crl.Set (against the bundle, or at handshake time against the
// issuing certificate on the verified path), and a CRL whose signature does
// not verify is never used to accept a certificate. The checks here only
// keep an obviously wrong or replayed response from replacing a good copy.
//
// Staleness (nextUpdate has passed) is reported, not enforced: the Fetcher
// logs a warning once when its copy becomes stale and Status says so, which
// is what a metric reads; the trust store's stale_crl_policy decides at
// handshake time whether a stale CRL is still used (crl.Policy).
//
// The cache is one file per URL in CacheDir, named by the SHA-256 of the
// URL. It is a PEM "X509 CRL" block, readable by openssl, preceded by
// comment lines that record the URL and the HTTP validators. It is replaced
// atomically (temporary file, fsync, rename, fsync of the directory), so a
// crash leaves either the old copy or the new one, never half of one.
package crlfetch
