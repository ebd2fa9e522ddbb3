package metrics

import (
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Indexes of the tls_verify_status failure codes, in the order of
// truststore.Status (the order of the verification steps).
const (
	statusClientCertMaxSizeExceeded = iota
	statusClientCertInvalid
	statusClientCertTypeUnsupported
	statusClientCertMaxChainDepthExceeded
	statusClientCertUntrusted
	statusClientCertNotYetValid
	statusClientCertExpired
	statusClientCertPurposeInvalid
	statusClientCertCrlHit
	statusClientCertCrlProcessingError
	statusClientCertRejected
	statusUnmappedConnectionError
	numStatuses
)

// failureStatuses returns the failure codes the connection log writes after
// "Failed:", indexed by the constants above. These are the only values the
// status label takes.
func failureStatuses() [numStatuses]string {
	return [numStatuses]string{
		statusClientCertMaxSizeExceeded:       "ClientCertMaxSizeExceeded",
		statusClientCertInvalid:               "ClientCertInvalid",
		statusClientCertTypeUnsupported:       "ClientCertTypeUnsupported",
		statusClientCertMaxChainDepthExceeded: "ClientCertMaxChainDepthExceeded",
		statusClientCertUntrusted:             "ClientCertUntrusted",
		statusClientCertNotYetValid:           "ClientCertNotYetValid",
		statusClientCertExpired:               "ClientCertExpired",
		statusClientCertPurposeInvalid:        "ClientCertPurposeInvalid",
		statusClientCertCrlHit:                "ClientCertCrlHit",
		statusClientCertCrlProcessingError:    "ClientCertCrlProcessingError",
		statusClientCertRejected:              "ClientCertRejected",
		statusUnmappedConnectionError:         "UnmappedConnectionError",
	}
}

// statusIndex maps a failure code to its index without allocating. A code
// this package does not know is counted as UnmappedConnectionError, as the
// connection log would report it, so the label set stays fixed.
func statusIndex(code string) int {
	switch code {
	case "ClientCertMaxSizeExceeded":
		return statusClientCertMaxSizeExceeded
	case "ClientCertInvalid":
		return statusClientCertInvalid
	case "ClientCertTypeUnsupported":
		return statusClientCertTypeUnsupported
	case "ClientCertMaxChainDepthExceeded":
		return statusClientCertMaxChainDepthExceeded
	case "ClientCertUntrusted":
		return statusClientCertUntrusted
	case "ClientCertNotYetValid":
		return statusClientCertNotYetValid
	case "ClientCertExpired":
		return statusClientCertExpired
	case "ClientCertPurposeInvalid":
		return statusClientCertPurposeInvalid
	case "ClientCertCrlHit":
		return statusClientCertCrlHit
	case "ClientCertCrlProcessingError":
		return statusClientCertCrlProcessingError
	case "ClientCertRejected":
		return statusClientCertRejected
	default:
		return statusUnmappedConnectionError
	}
}

// requestCodes are the status codes whose request series exist from the
// moment a listener is resolved: the usual target answers and every code
// mtlslb generates. Others appear on first use.
func requestCodes() []int {
	return []int{200, 201, 204, 301, 302, 304, 400, 401, 403, 404, 405, 408, 421, 429, 460, 463, 500, 501, 502, 503, 504}
}

// generatedCodes are the status codes mtlslb answers with itself
// (alb-compat.md §7); their series exist from the start so that an alert on
// a rate sees the first one.
func generatedCodes() []int {
	return []int{400, 403, 405, 408, 421, 460, 463, 501, 502, 503, 504}
}

// Status codes index a fixed table: 100–599 by code, anything else in one
// "other" slot, so a broken target cannot create series without bound.
const (
	minCode      = 100
	maxCode      = 599
	otherSlot    = maxCode - minCode + 1
	numCodeSlots = otherSlot + 1
)

func codeSlot(code int) int {
	if code < minCode || code > maxCode {
		return otherSlot
	}
	return code - minCode
}

func slotLabel(slot int) string {
	if slot == otherSlot {
		return "other"
	}
	return strconv.Itoa(slot + minCode)
}

// codeCounters is a counter per status code of one listener. Each slot is
// resolved once (up front or on first use) and then read with one atomic
// load, so counting never looks up a label or allocates.
type codeCounters struct {
	vec   *prometheus.CounterVec // curried with the listener label
	slots [numCodeSlots]atomic.Pointer[prometheus.Counter]
}

func newCodeCounters(vec *prometheus.CounterVec, addr string, precreate []int) *codeCounters {
	c := &codeCounters{vec: vec.MustCurryWith(prometheus.Labels{labelListener: addr})}
	for _, code := range precreate {
		c.resolve(codeSlot(code))
	}
	return c
}

func (c *codeCounters) resolve(slot int) prometheus.Counter {
	// Two goroutines may race here; WithLabelValues returns the same child to
	// both, so whichever Store wins holds the right counter.
	ctr := c.vec.WithLabelValues(slotLabel(slot))
	c.slots[slot].Store(&ctr)
	return ctr
}

func (c *codeCounters) inc(code int, retired *atomic.Bool) {
	slot := codeSlot(code)
	if p := c.slots[slot].Load(); p != nil {
		(*p).Inc()
		return
	}
	// A retired listener's series were deleted; creating one now would
	// resurrect a listener that no longer exists.
	if retired.Load() {
		return
	}
	c.resolve(slot).Inc()
}

// ListenerMetrics are the per-connection and per-request metrics of one
// listener, with every series resolved in advance. Its methods are safe for
// concurrent use and do not allocate. A nil *ListenerMetrics records nothing.
type ListenerMetrics struct {
	newConns  prometheus.Counter
	active    prometheus.Gauge
	rejected  prometheus.Counter
	handshake prometheus.Observer
	tlsErrors [numStatuses]prometheus.Counter
	requests  *codeCounters
	generated *codeCounters

	// retired is set when the listener leaves the configuration, or when
	// some of its series go because its address went to a TCP or TLS
	// listener (DeleteReplacedSeries), so that late calls from draining
	// connections do not create new series for it (best effort: a first-use
	// code racing with DeleteListener or DeleteReplacedSeries itself may
	// still bring back that one series).
	retired atomic.Bool
}

func newListenerMetrics(m *Metrics, addr string) *ListenerMetrics {
	l := &ListenerMetrics{
		newConns:  m.newConns.WithLabelValues(addr),
		active:    m.activeConns.WithLabelValues(addr),
		rejected:  m.rejectedConns.WithLabelValues(addr),
		handshake: m.handshake.WithLabelValues(addr),
		requests:  newCodeCounters(m.requests, addr, requestCodes()),
		generated: newCodeCounters(m.generated, addr, generatedCodes()),
	}
	for i, status := range failureStatuses() {
		l.tlsErrors[i] = m.tlsErrors.WithLabelValues(addr, status)
	}
	return l
}

// ConnAccepted records a client connection the listener accepted and will
// serve. Pair it with exactly one ConnClosed.
func (l *ListenerMetrics) ConnAccepted() {
	if l == nil {
		return
	}
	l.newConns.Inc()
	l.active.Inc()
}

// ConnClosed records the close of a connection counted by ConnAccepted,
// whatever the reason (handshake failure included).
func (l *ListenerMetrics) ConnClosed() {
	if l == nil {
		return
	}
	l.active.Dec()
}

// ConnRejected records a connection refused before it was served because
// the listener was at its connection limit. It is not also counted by
// ConnAccepted.
func (l *ListenerMetrics) ConnRejected() {
	if l == nil {
		return
	}
	l.rejected.Inc()
}

// HandshakeDone records the outcome of a client TLS handshake. status is the
// tls_verify_status failure code ("ClientCertExpired", as
// truststore.Status.Code returns it), or "" for success; the connection-log
// forms "Success" and "Failed:ClientCertExpired" are accepted too. latency
// is observed only for a success, as the connection log only records it
// then. An unknown code counts as UnmappedConnectionError.
func (l *ListenerMetrics) HandshakeDone(status string, latency time.Duration) {
	if l == nil {
		return
	}
	recordHandshake(l.handshake, &l.tlsErrors, status, latency)
}

// recordHandshake is HandshakeDone for every kind of listener.
func recordHandshake(latencies prometheus.Observer, failures *[numStatuses]prometheus.Counter, status string, latency time.Duration) {
	if status == "" || status == "Success" {
		latencies.Observe(latency.Seconds())
		return
	}
	failures[statusIndex(strings.TrimPrefix(status, "Failed:"))].Inc()
}

// Request records one HTTP request with the status code sent (or, for 460,
// logged) to the client, whether a target or mtlslb produced it. Codes
// outside 100–599 are counted as "other".
func (l *ListenerMetrics) Request(code int) {
	if l == nil {
		return
	}
	l.requests.inc(code, &l.retired)
}

// Generated records a response mtlslb produced itself (alb-compat.md §7),
// in addition to the Request call for the same request.
func (l *ListenerMetrics) Generated(code int) {
	if l == nil {
		return
	}
	l.generated.inc(code, &l.retired)
}
