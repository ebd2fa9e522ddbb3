package metrics

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const addrTCP, addrTLS = "0.0.0.0:5432", "0.0.0.0:6443"

func TestLayer4Exposition(t *testing.T) {
	tests := []struct {
		name   string
		record func(m *Metrics)
		want   []string
		absent []string
	}{
		{
			name: "TCP listener",
			record: func(m *Metrics) {
				l := m.Layer4Listener(addrTCP, false)
				for range 4 {
					l.ConnAccepted()
				}
				l.ConnRefused(RefusedProxyProtocol)
				l.ConnRefused(RefusedNoTargets)
				l.ConnRefused(RefusedNoTargets)
				l.ConnRefused(Refusal(200)) // not a reason: ignored, no new series
				l.TargetConnectionError()
				l.Forwarded(ClientToTarget, 100)
				l.Forwarded(ClientToTarget, 5)
				l.Forwarded(TargetToClient, 1<<40) // beyond float32: counted exactly
				l.Forwarded(TargetToClient, 0)
				l.Forwarded(ClientToTarget, -3)         // never from a copy; must not panic the counter
				l.Forwarded(Direction(7), 1)            // not a direction: ignored
				l.HandshakeDone("ClientCertExpired", 0) // a TCP generation has no handshake series
				l.ConnClosed()
				l.ConnClosed()
				l.ConnClosed()
			},
			want: []string{
				`mtlslb_new_connections_total{listener="0.0.0.0:5432"} 4`,
				`mtlslb_active_connections{listener="0.0.0.0:5432"} 1`,
				`mtlslb_refused_connections_total{listener="0.0.0.0:5432",reason="proxy_protocol"} 1`,
				`mtlslb_refused_connections_total{listener="0.0.0.0:5432",reason="no_registered_targets"} 2`,
				`mtlslb_target_connection_errors_total{listener="0.0.0.0:5432"} 1`,
				`mtlslb_forwarded_bytes_total{direction="client_to_target",listener="0.0.0.0:5432"} 105`,
				`mtlslb_forwarded_bytes_total{direction="target_to_client",listener="0.0.0.0:5432"} 1.099511627776e+12`,
			},
			absent: []string{
				`mtlslb_client_tls_negotiation_errors_total{listener="0.0.0.0:5432",status="ClientCertExpired"}`,
				`mtlslb_tls_handshake_duration_seconds_count{listener="0.0.0.0:5432"}`,
				// No HTTP series on a layer-4 listener, and no connection limit to reject at.
				`mtlslb_requests_total{code="200",listener="0.0.0.0:5432"}`,
				`mtlslb_generated_responses_total{code="503",listener="0.0.0.0:5432"}`,
				`mtlslb_rejected_connections_total{listener="0.0.0.0:5432"}`,
			},
		},
		{
			name: "TLS listener",
			record: func(m *Metrics) {
				l := m.Layer4Listener(addrTLS, true)
				l.ConnAccepted()
				l.HandshakeDone("", 2*time.Millisecond)
				l.ConnAccepted()
				l.HandshakeDone("ClientCertUntrusted", 0)
				l.ConnClosed()
			},
			want: []string{
				`mtlslb_new_connections_total{listener="0.0.0.0:6443"} 2`,
				`mtlslb_active_connections{listener="0.0.0.0:6443"} 1`,
				`mtlslb_client_tls_negotiation_errors_total{listener="0.0.0.0:6443",status="ClientCertUntrusted"} 1`,
				`mtlslb_client_tls_negotiation_errors_total{listener="0.0.0.0:6443",status="ClientCertRejected"} 0`,
				`mtlslb_tls_handshake_duration_seconds_count{listener="0.0.0.0:6443"} 1`,
				`mtlslb_tls_handshake_duration_seconds_bucket{listener="0.0.0.0:6443",le="0.0025"} 1`,
				`mtlslb_refused_connections_total{listener="0.0.0.0:6443",reason="proxy_protocol"} 0`,
				`mtlslb_target_connection_errors_total{listener="0.0.0.0:6443"} 0`,
				`mtlslb_forwarded_bytes_total{direction="client_to_target",listener="0.0.0.0:6443"} 0`,
			},
			absent: []string{`mtlslb_requests_total{code="200",listener="0.0.0.0:6443"}`},
		},
		{
			name: "generations of one listener share its series, TCP to TLS included",
			record: func(m *Metrics) {
				old := m.Layer4Listener(addrTCP, false)
				old.ConnAccepted()
				old.ConnAccepted()
				old.Forwarded(ClientToTarget, 10)
				next := m.Layer4Listener(addrTCP, true)
				next.ConnAccepted()
				next.HandshakeDone("", time.Millisecond)
				next.Forwarded(ClientToTarget, 1)
				// Connections of the old generation end after the reload.
				old.ConnClosed()
				old.ConnClosed()
			},
			want: []string{
				`mtlslb_new_connections_total{listener="0.0.0.0:5432"} 3`,
				`mtlslb_active_connections{listener="0.0.0.0:5432"} 1`,
				`mtlslb_forwarded_bytes_total{direction="client_to_target",listener="0.0.0.0:5432"} 11`,
				`mtlslb_tls_handshake_duration_seconds_count{listener="0.0.0.0:5432"} 1`,
			},
		},
		{
			name: "layer-4 listener deleted",
			record: func(m *Metrics) {
				old := m.Layer4Listener(addrTLS, true)
				old.ConnAccepted()
				old.ConnRefused(RefusedProxyProtocol)
				m.Layer4Listener(addrTCP, false).ConnAccepted()
				m.DeleteListener(addrTLS)
				// A draining connection of the deleted listener records safely and brings nothing back.
				old.Forwarded(TargetToClient, 9)
				old.TargetConnectionError()
				old.HandshakeDone("ClientCertExpired", 0)
				old.ConnClosed()
			},
			want: []string{`mtlslb_new_connections_total{listener="0.0.0.0:5432"} 1`},
			absent: []string{
				`mtlslb_new_connections_total{listener="0.0.0.0:6443"}`,
				`mtlslb_active_connections{listener="0.0.0.0:6443"}`,
				`mtlslb_refused_connections_total{listener="0.0.0.0:6443",reason="proxy_protocol"}`,
				`mtlslb_target_connection_errors_total{listener="0.0.0.0:6443"}`,
				`mtlslb_forwarded_bytes_total{direction="target_to_client",listener="0.0.0.0:6443"}`,
				`mtlslb_client_tls_negotiation_errors_total{listener="0.0.0.0:6443",status="ClientCertExpired"}`,
				`mtlslb_tls_handshake_duration_seconds_count{listener="0.0.0.0:6443"}`,
			},
		},
		{
			name: "target groups by state",
			record: func(m *Metrics) {
				m.SetTargetGroups(func(yield func(string, TargetStates) bool) {
					_ = yield("web", TargetStates{Initial: 1, Healthy: 2, Unhealthy: 3, Draining: 4}) &&
						yield("db", TargetStates{Unavailable: 2}) &&
						yield("web", TargetStates{Healthy: 99}) && // twice: the first counts
						yield("bad\xffname", TargetStates{Healthy: 1})
				})
			},
			want: []string{
				`mtlslb_targets{state="initial",target_group="web"} 1`,
				`mtlslb_targets{state="healthy",target_group="web"} 2`,
				`mtlslb_targets{state="unhealthy",target_group="web"} 3`,
				`mtlslb_targets{state="unavailable",target_group="web"} 0`,
				`mtlslb_targets{state="draining",target_group="web"} 4`,
				`mtlslb_targets{state="healthy",target_group="db"} 0`,
				`mtlslb_targets{state="unavailable",target_group="db"} 2`,
				"mtlslb_targets{state=\"healthy\",target_group=\"bad\uFFFDname\"} 1",
			},
		},
		{
			name: "target groups read at each scrape; nil source stops them",
			record: func(m *Metrics) {
				m.SetTargetGroups(func(yield func(string, TargetStates) bool) { yield("old", TargetStates{Healthy: 1}) })
				m.SetTargetGroups(func(yield func(string, TargetStates) bool) { yield("new", TargetStates{Healthy: 1}) })
				m.SetTargetGroups(nil)
			},
			absent: []string{
				`mtlslb_targets{state="healthy",target_group="old"}`,
				`mtlslb_targets{state="healthy",target_group="new"}`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New()
			tt.record(m)
			checkLines(t, scrape(t, m), tt.want, tt.absent)
		})
	}
}

// TestTargetGroupsFollowTheSource: the counts are the source's at the time of each scrape, not of SetTargetGroups.
func TestTargetGroupsFollowTheSource(t *testing.T) {
	m := New()
	healthy := 0
	m.SetTargetGroups(func(yield func(string, TargetStates) bool) { yield("web", TargetStates{Healthy: healthy}) })
	for _, n := range []int{0, 3, 1} {
		healthy = n
		want := []string{`mtlslb_targets{state="healthy",target_group="web"} ` + strconv.Itoa(n)}
		checkLines(t, scrape(t, m), want, nil)
	}
}

// TestLayer4ConcurrentUse runs connections of two generations, target-group scrapes and a delete at once, for the
// race detector, and checks that no count was lost.
func TestLayer4ConcurrentUse(t *testing.T) {
	m := New()
	const workers, rounds = 4, 200
	var healthy atomic.Int64
	m.SetTargetGroups(func(yield func(string, TargetStates) bool) {
		yield("web", TargetStates{Healthy: int(healthy.Load())})
	})

	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			// Half the workers run on a TLS generation, half on the TCP one before it.
			l := m.Layer4Listener(addrTCP, w%2 == 0)
			for i := range rounds {
				l.ConnAccepted()
				l.HandshakeDone("", time.Duration(i)*time.Microsecond)
				l.Forwarded(ClientToTarget, 3)
				l.Forwarded(TargetToClient, 5)
				l.ConnClosed()
			}
		})
	}
	wg.Go(func() {
		for i := range rounds {
			healthy.Store(int64(i))
			l := m.Layer4Listener(addrTLS, true)
			l.ConnAccepted()
			m.DeleteListener(addrTLS)
		}
	})
	wg.Go(func() {
		for range 5 {
			if _, err := m.Gatherer().Gather(); err != nil {
				t.Errorf("gathering during updates: %v", err)
			}
		}
	})
	wg.Wait()

	checkLines(t, scrape(t, m), []string{
		`mtlslb_new_connections_total{listener="0.0.0.0:5432"} ` + strconv.Itoa(workers*rounds),
		`mtlslb_active_connections{listener="0.0.0.0:5432"} 0`,
		`mtlslb_forwarded_bytes_total{direction="client_to_target",listener="0.0.0.0:5432"} ` + strconv.Itoa(3*workers*rounds),
		`mtlslb_forwarded_bytes_total{direction="target_to_client",listener="0.0.0.0:5432"} ` + strconv.Itoa(5*workers*rounds),
		`mtlslb_tls_handshake_duration_seconds_count{listener="0.0.0.0:5432"} ` + strconv.Itoa(workers/2*rounds),
		`mtlslb_targets{state="healthy",target_group="web"} ` + strconv.Itoa(rounds-1),
	}, nil)
}
