package metrics

import (
	"testing"
	"time"
)

// hotPath lists the calls the engine makes per connection or per request.
func hotPath() []struct {
	name string
	call func(l *ListenerMetrics)
} {
	return []struct {
		name string
		call func(l *ListenerMetrics)
	}{
		{"ConnAccepted", func(l *ListenerMetrics) { l.ConnAccepted() }},
		{"ConnClosed", func(l *ListenerMetrics) { l.ConnClosed() }},
		{"ConnRejected", func(l *ListenerMetrics) { l.ConnRejected() }},
		{"HandshakeDone/success", func(l *ListenerMetrics) { l.HandshakeDone("", 3*time.Millisecond) }},
		{"HandshakeDone/failure", func(l *ListenerMetrics) { l.HandshakeDone("ClientCertCrlHit", 0) }},
		{"HandshakeDone/failure_log_form", func(l *ListenerMetrics) { l.HandshakeDone("Failed:UnmappedConnectionError", 0) }},
		{"Request/precreated", func(l *ListenerMetrics) { l.Request(200) }},
		{"Request/first_use_code", func(l *ListenerMetrics) { l.Request(418) }},
		{"Request/out_of_range", func(l *ListenerMetrics) { l.Request(1000) }},
		{"Generated", func(l *ListenerMetrics) { l.Generated(503) }},
	}
}

// layer4HotPath lists the calls a TCP or TLS listener makes per connection, and per copy call for Forwarded.
func layer4HotPath() []struct {
	name string
	call func(l *Layer4Metrics)
} {
	return []struct {
		name string
		call func(l *Layer4Metrics)
	}{
		{"ConnAccepted", func(l *Layer4Metrics) { l.ConnAccepted() }},
		{"ConnClosed", func(l *Layer4Metrics) { l.ConnClosed() }},
		{"HandshakeDone/success", func(l *Layer4Metrics) { l.HandshakeDone("", 3*time.Millisecond) }},
		{"HandshakeDone/failure", func(l *Layer4Metrics) { l.HandshakeDone("ClientCertUntrusted", 0) }},
		{"ConnRefused", func(l *Layer4Metrics) { l.ConnRefused(RefusedProxyProtocol) }},
		{"TargetConnectionError", func(l *Layer4Metrics) { l.TargetConnectionError() }},
		{"Forwarded/client_to_target", func(l *Layer4Metrics) { l.Forwarded(ClientToTarget, 16384) }},
		{"Forwarded/target_to_client", func(l *Layer4Metrics) { l.Forwarded(TargetToClient, 1<<20) }},
	}
}

func BenchmarkLayer4Metrics(b *testing.B) {
	for _, bm := range layer4HotPath() {
		b.Run(bm.name, func(b *testing.B) {
			l := New().Layer4Listener(addrA, true)
			b.ReportAllocs()
			for b.Loop() {
				bm.call(l)
			}
		})
	}
}

func BenchmarkListenerMetrics(b *testing.B) {
	for _, bm := range hotPath() {
		b.Run(bm.name, func(b *testing.B) {
			l := New().Listener(addrA)
			bm.call(l) // resolve lazily created series outside the timing
			b.ReportAllocs()
			for b.Loop() {
				bm.call(l)
			}
		})
	}
}

// BenchmarkListenerMetricsParallel measures the calls under contention, as
// when every core accepts connections on the same listener.
func BenchmarkListenerMetricsParallel(b *testing.B) {
	for _, bm := range hotPath() {
		b.Run(bm.name, func(b *testing.B) {
			l := New().Listener(addrA)
			bm.call(l)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					bm.call(l)
				}
			})
		})
	}
}

// BenchmarkConnection is one whole connection's worth of calls: accept,
// handshake, two requests, close.
func BenchmarkConnection(b *testing.B) {
	l := New().Listener(addrA)
	b.ReportAllocs()
	for b.Loop() {
		l.ConnAccepted()
		l.HandshakeDone("", 2*time.Millisecond)
		l.Request(200)
		l.Request(404)
		l.ConnClosed()
	}
}
