// Package metrics holds every Prometheus metric mtlslb exposes, on a registry
// of its own (never the global default one), and the admin handler that
// serves them.
//
// The engine resolves a [ListenerMetrics] (HTTPS listeners) or a
// [Layer4Metrics] (TCP and TLS listeners) once per listener generation and
// calls its small methods per connection and per request; those methods do
// no label look-ups and no allocations. Trust-store and configuration gauges
// are set when a configuration is compiled and applied; CRL ages are computed
// at scrape time from an injected clock, and target counts from a source the
// engine registers, so they move without being touched.
//
// Metric names follow Prometheus conventions with the prefix "mtlslb_"; the
// help text of each names its AWS ALB CloudWatch equivalent where there is
// one. docs/metrics.md lists them all.
package metrics
