package metrics

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Refusal is why a TCP or TLS listener closed a connection it had accepted
// before forwarding it; the values of the reason label.
type Refusal uint8

// The refusals of layer-4 listeners. A failed TLS handshake is not one: it
// is counted by tls_verify_status, as on HTTPS listeners.
const (
	// RefusedProxyProtocol is a connection from a trusted network without a
	// valid PROXY header, or one from an untrusted network that sent a PROXY
	// header (a forgery, or a proxy the listener was not told to trust).
	RefusedProxyProtocol Refusal = iota
	// RefusedNoTargets is a connection to a target group with no registered
	// target.
	RefusedNoTargets
	numRefusals
)

func refusalLabels() [numRefusals]string {
	return [numRefusals]string{
		RefusedProxyProtocol: "proxy_protocol",
		RefusedNoTargets:     "no_registered_targets",
	}
}

// Direction is one way of a forwarded connection; the values of the
// direction label.
type Direction uint8

// The two directions of a forwarded connection.
const (
	// ClientToTarget is the bytes the client sent and the target received.
	ClientToTarget Direction = iota
	// TargetToClient is the bytes the target sent and the client received.
	TargetToClient
	numDirections
)

func directionLabels() [numDirections]string {
	return [numDirections]string{
		ClientToTarget: "client_to_target",
		TargetToClient: "target_to_client",
	}
}

// Layer4Metrics are the per-connection metrics of one generation of a TCP or
// TLS listener, with every series resolved in advance. Its methods are safe
// for concurrent use and do not allocate. A nil *Layer4Metrics records
// nothing.
//
// It shares the connection and handshake families with HTTPS listeners
// ([ListenerMetrics]) but resolves no HTTP request series, so a layer-4
// listener exports no request counts that would always be zero.
type Layer4Metrics struct {
	newConns     prometheus.Counter
	active       prometheus.Gauge
	refused      [numRefusals]prometheus.Counter
	targetErrors prometheus.Counter
	forwarded    [numDirections]prometheus.Counter

	// Resolved on TLS listeners only: a TCP listener never handshakes, so it
	// exports no handshake series.
	handshake prometheus.Observer
	tlsErrors *[numStatuses]prometheus.Counter
}

// Layer4Listener returns the metrics of the TCP or TLS listener at addr for
// one configuration generation, with every series it will update already
// resolved; tls says whether the generation terminates TLS. Call it once per
// listener generation, not per connection. Generations of the listener at the
// same address update the same series, so its counters and active-connection
// gauge stay continuous across reloads, a change between TCP and TLS
// included; on a change from TLS to TCP the caller deletes the handshake
// series with [Metrics.DeleteReplacedSeries], since a TCP generation
// never records them. A nil *Metrics returns nil, which records nothing.
func (m *Metrics) Layer4Listener(addr string, tls bool) *Layer4Metrics {
	if m == nil {
		return nil
	}
	addr = strings.ToValidUTF8(addr, "\uFFFD")
	// Unlike Listener, nothing is cached: every series is resolved here and
	// none later, and the registry hands back the same child for the same
	// labels, which is what keeps generations continuous.
	l := &Layer4Metrics{
		newConns:     m.newConns.WithLabelValues(addr),
		active:       m.activeConns.WithLabelValues(addr),
		targetErrors: m.targetErrors.WithLabelValues(addr),
	}
	for i, reason := range refusalLabels() {
		l.refused[i] = m.refusedConns.WithLabelValues(addr, reason)
	}
	for i, dir := range directionLabels() {
		l.forwarded[i] = m.forwarded.WithLabelValues(addr, dir)
	}
	if tls {
		l.handshake = m.handshake.WithLabelValues(addr)
		l.tlsErrors = new([numStatuses]prometheus.Counter)
		for i, status := range failureStatuses() {
			l.tlsErrors[i] = m.tlsErrors.WithLabelValues(addr, status)
		}
	}
	return l
}

// ConnAccepted records a client connection the listener accepted. Pair it
// with exactly one ConnClosed.
func (l *Layer4Metrics) ConnAccepted() {
	if l == nil {
		return
	}
	l.newConns.Inc()
	l.active.Inc()
}

// ConnClosed records the close of a connection counted by ConnAccepted,
// whatever the reason, once both of its sockets are closed.
func (l *Layer4Metrics) ConnClosed() {
	if l == nil {
		return
	}
	l.active.Dec()
}

// HandshakeDone records the outcome of a client TLS handshake, as
// [ListenerMetrics.HandshakeDone] does. On a generation resolved for a TCP
// listener it records nothing.
func (l *Layer4Metrics) HandshakeDone(status string, latency time.Duration) {
	if l == nil || l.tlsErrors == nil {
		return
	}
	recordHandshake(l.handshake, l.tlsErrors, status, latency)
}

// ConnRefused records a connection closed before forwarding, for reason. It
// is counted by ConnAccepted and ConnClosed too.
func (l *Layer4Metrics) ConnRefused(reason Refusal) {
	if l == nil || reason >= numRefusals {
		return
	}
	l.refused[reason].Inc()
}

// TargetConnectionError records a connection to a target that could not be
// established.
func (l *Layer4Metrics) TargetConnectionError() {
	if l == nil {
		return
	}
	l.targetErrors.Inc()
}

// Forwarded adds n bytes moved in direction dir. Call it with what one copy
// call moved, not per read or write: the copy loop of layer-4 listeners calls
// it when a splice or buffered copy returns (at the end of the stream or at
// an idle-check wake-up), so a long-lived connection's bytes show up while it
// is open.
func (l *Layer4Metrics) Forwarded(dir Direction, n int64) {
	if l == nil || n <= 0 || dir >= numDirections {
		return
	}
	// An integral value takes client_golang's atomic-add path: no CAS loop.
	l.forwarded[dir].Add(float64(n))
}
