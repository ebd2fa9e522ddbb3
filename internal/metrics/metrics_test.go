package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mtlslb/mtlslb/internal/truststore"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// scrape fetches the exposition text through the real handler on a real
// socket, as Prometheus would.
func scrape(tb testing.TB, m *Metrics) string {
	tb.Helper()
	srv := httptest.NewServer(m.Handler())
	tb.Cleanup(srv.Close)
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		tb.Fatalf("scraping metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("reading metrics: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("scrape status %d: %s", resp.StatusCode, body)
	}
	return string(body)
}

// checkLines reports every wanted line missing from the exposition text and
// every series (a line prefix up to the value) that must be absent.
func checkLines(tb testing.TB, text string, want, absent []string) {
	tb.Helper()
	lines := strings.Split(text, "\n")
	for _, w := range want {
		if !slices.Contains(lines, w) {
			tb.Errorf("exposition lacks line %q", w)
		}
	}
	for _, a := range absent {
		for _, line := range lines {
			if strings.HasPrefix(line, a+" ") {
				tb.Errorf("exposition has %q, want it absent", line)
			}
		}
	}
	if tb.Failed() {
		tb.Logf("exposition:\n%s", grepMtlslb(text))
	}
}

func grepMtlslb(text string) string {
	var b strings.Builder
	for line := range strings.Lines(text) {
		if strings.HasPrefix(line, "mtlslb_") {
			b.WriteString(line)
		}
	}
	return b.String()
}

const (
	addrA = "127.0.0.1:8443"
	addrB = "[::1]:9443"
)

func TestExposition(t *testing.T) {
	tests := []struct {
		name   string
		record func(m *Metrics, clock *fakeClock)
		want   []string
		absent []string
	}{
		{
			name: "connection lifecycle",
			record: func(m *Metrics, _ *fakeClock) {
				l := m.Listener(addrA)
				l.ConnAccepted()
				l.ConnAccepted()
				l.ConnAccepted()
				l.ConnClosed()
				l.ConnRejected()
			},
			want: []string{
				`mtlslb_new_connections_total{listener="127.0.0.1:8443"} 3`,
				`mtlslb_active_connections{listener="127.0.0.1:8443"} 2`,
				`mtlslb_rejected_connections_total{listener="127.0.0.1:8443"} 1`,
			},
		},
		{
			name: "listeners are counted apart",
			record: func(m *Metrics, _ *fakeClock) {
				m.Listener(addrA).ConnAccepted()
				m.Listener(addrB).ConnAccepted()
				m.Listener(addrB).ConnAccepted()
			},
			want: []string{
				`mtlslb_new_connections_total{listener="127.0.0.1:8443"} 1`,
				`mtlslb_new_connections_total{listener="[::1]:9443"} 2`,
			},
		},
		{
			name: "handshake outcomes",
			record: func(m *Metrics, _ *fakeClock) {
				l := m.Listener(addrA)
				l.HandshakeDone("", time.Millisecond)
				l.HandshakeDone("Success", 30*time.Millisecond)
				l.HandshakeDone("ClientCertExpired", time.Second)
				l.HandshakeDone("Failed:ClientCertCrlHit", 0)
				l.HandshakeDone("ClientCertCrlHit", 0)
				l.HandshakeDone("SomethingNew", 0)
			},
			want: []string{
				`mtlslb_client_tls_negotiation_errors_total{listener="127.0.0.1:8443",status="ClientCertExpired"} 1`,
				`mtlslb_client_tls_negotiation_errors_total{listener="127.0.0.1:8443",status="ClientCertCrlHit"} 2`,
				`mtlslb_client_tls_negotiation_errors_total{listener="127.0.0.1:8443",status="UnmappedConnectionError"} 1`,
				// Precreated: an alert on a rate sees the first failure.
				`mtlslb_client_tls_negotiation_errors_total{listener="127.0.0.1:8443",status="ClientCertUntrusted"} 0`,
				// Failures carry no latency, as in the connection log.
				`mtlslb_tls_handshake_duration_seconds_count{listener="127.0.0.1:8443"} 2`,
				`mtlslb_tls_handshake_duration_seconds_sum{listener="127.0.0.1:8443"} 0.031`,
				`mtlslb_tls_handshake_duration_seconds_bucket{listener="127.0.0.1:8443",le="0.001"} 1`,
				`mtlslb_tls_handshake_duration_seconds_bucket{listener="127.0.0.1:8443",le="0.025"} 1`,
				`mtlslb_tls_handshake_duration_seconds_bucket{listener="127.0.0.1:8443",le="0.05"} 2`,
				`mtlslb_tls_handshake_duration_seconds_bucket{listener="127.0.0.1:8443",le="+Inf"} 2`,
			},
			absent: []string{
				`mtlslb_client_tls_negotiation_errors_total{listener="127.0.0.1:8443",status="SomethingNew"}`,
				`mtlslb_client_tls_negotiation_errors_total{listener="127.0.0.1:8443",status="Success"}`,
			},
		},
		{
			name: "requests and generated responses by code",
			record: func(m *Metrics, _ *fakeClock) {
				l := m.Listener(addrA)
				l.Request(200)
				l.Request(200)
				l.Request(418) // not precreated: resolved on first use
				l.Request(418)
				l.Request(42)
				l.Request(700)
				l.Request(503)
				l.Generated(503)
			},
			want: []string{
				`mtlslb_requests_total{code="200",listener="127.0.0.1:8443"} 2`,
				`mtlslb_requests_total{code="418",listener="127.0.0.1:8443"} 2`,
				`mtlslb_requests_total{code="other",listener="127.0.0.1:8443"} 2`,
				`mtlslb_requests_total{code="503",listener="127.0.0.1:8443"} 1`,
				`mtlslb_requests_total{code="404",listener="127.0.0.1:8443"} 0`,
				`mtlslb_generated_responses_total{code="503",listener="127.0.0.1:8443"} 1`,
				`mtlslb_generated_responses_total{code="463",listener="127.0.0.1:8443"} 0`,
			},
			absent: []string{
				`mtlslb_requests_total{code="42",listener="127.0.0.1:8443"}`,
				`mtlslb_requests_total{code="700",listener="127.0.0.1:8443"}`,
				`mtlslb_requests_total{code="299",listener="127.0.0.1:8443"}`,
				`mtlslb_generated_responses_total{code="200",listener="127.0.0.1:8443"}`,
			},
		},
		{
			name: "trust store with CRLs",
			record: func(m *Metrics, clock *fakeClock) {
				now := clock.Now()
				m.SetTrustStore("partners", 3, 2, []CRLInfo{
					{ID: 1, ThisUpdate: now.Add(-time.Hour), NextUpdate: now.Add(2 * time.Hour)},
					{ID: 2, ThisUpdate: now.Add(-30 * time.Minute)},
				})
				m.SetTrustStore("devices", 1, 0, nil)
			},
			want: []string{
				`mtlslb_trust_store_ca_certificates{trust_store="partners"} 3`,
				`mtlslb_trust_store_revoked_entries{trust_store="partners"} 2`,
				`mtlslb_crl_age_seconds{revocation_id="1",trust_store="partners"} 3600`,
				`mtlslb_crl_time_to_next_update_seconds{revocation_id="1",trust_store="partners"} 7200`,
				`mtlslb_crl_age_seconds{revocation_id="2",trust_store="partners"} 1800`,
				`mtlslb_trust_store_ca_certificates{trust_store="devices"} 1`,
				`mtlslb_trust_store_revoked_entries{trust_store="devices"} 0`,
			},
			absent: []string{
				// No nextUpdate in the CRL, no series.
				`mtlslb_crl_time_to_next_update_seconds{revocation_id="2",trust_store="partners"}`,
			},
		},
		{
			name: "trust store replaced whole",
			record: func(m *Metrics, clock *fakeClock) {
				now := clock.Now()
				m.SetTrustStore("partners", 3, 5, []CRLInfo{
					{ID: 1, ThisUpdate: now, NextUpdate: now.Add(time.Hour)},
					{ID: 2, ThisUpdate: now, NextUpdate: now.Add(time.Hour)},
				})
				m.SetTrustStore("partners", 4, 1, []CRLInfo{
					{ID: 2, ThisUpdate: now, NextUpdate: now.Add(time.Hour)},
				})
			},
			want: []string{
				`mtlslb_trust_store_ca_certificates{trust_store="partners"} 4`,
				`mtlslb_trust_store_revoked_entries{trust_store="partners"} 1`,
				`mtlslb_crl_age_seconds{revocation_id="2",trust_store="partners"} 0`,
			},
			absent: []string{
				`mtlslb_crl_age_seconds{revocation_id="1",trust_store="partners"}`,
				`mtlslb_crl_time_to_next_update_seconds{revocation_id="1",trust_store="partners"}`,
			},
		},
		{
			name: "duplicate revocation id does not break the scrape",
			record: func(m *Metrics, clock *fakeClock) {
				now := clock.Now()
				m.SetTrustStore("partners", 1, 1, []CRLInfo{
					{ID: 7, ThisUpdate: now.Add(-time.Minute)},
					{ID: 7, ThisUpdate: now.Add(-time.Hour)},
				})
			},
			want: []string{`mtlslb_crl_age_seconds{revocation_id="7",trust_store="partners"} 60`},
		},
		{
			name: "trust store deleted",
			record: func(m *Metrics, clock *fakeClock) {
				now := clock.Now()
				m.SetTrustStore("partners", 3, 2, []CRLInfo{{ID: 1, ThisUpdate: now, NextUpdate: now.Add(time.Hour)}})
				m.SetTrustStore("devices", 1, 0, nil)
				m.DeleteTrustStore("partners")
				m.DeleteTrustStore("never-existed")
			},
			want: []string{`mtlslb_trust_store_ca_certificates{trust_store="devices"} 1`},
			absent: []string{
				`mtlslb_trust_store_ca_certificates{trust_store="partners"}`,
				`mtlslb_trust_store_revoked_entries{trust_store="partners"}`,
				`mtlslb_crl_age_seconds{revocation_id="1",trust_store="partners"}`,
				`mtlslb_crl_time_to_next_update_seconds{revocation_id="1",trust_store="partners"}`,
			},
		},
		{
			name:   "before any configuration",
			record: func(*Metrics, *fakeClock) {},
			want: []string{
				`mtlslb_config_revision 0`,
				`mtlslb_config_last_reload_successful 0`,
				`mtlslb_config_reloads_total{result="success"} 0`,
				`mtlslb_config_reloads_total{result="failure"} 0`,
			},
		},
		{
			name: "configuration applied",
			record: func(m *Metrics, clock *fakeClock) {
				m.SetConfig(7, true, clock.Now())
			},
			want: []string{
				`mtlslb_config_revision 7`,
				`mtlslb_config_last_reload_successful 1`,
				`mtlslb_config_last_reload_success_timestamp_seconds 1.7408304e+09`,
				`mtlslb_config_reloads_total{result="success"} 1`,
				`mtlslb_config_reloads_total{result="failure"} 0`,
			},
		},
		{
			name: "rejected reload keeps the served revision",
			record: func(m *Metrics, clock *fakeClock) {
				m.SetConfig(7, true, clock.Now())
				m.SetConfig(8, false, clock.Now().Add(time.Hour))
			},
			want: []string{
				`mtlslb_config_revision 7`,
				`mtlslb_config_last_reload_successful 0`,
				`mtlslb_config_last_reload_success_timestamp_seconds 1.7408304e+09`,
				`mtlslb_config_reloads_total{result="success"} 1`,
				`mtlslb_config_reloads_total{result="failure"} 1`,
			},
		},
		{
			name: "listener deleted",
			record: func(m *Metrics, _ *fakeClock) {
				old := m.Listener(addrA)
				old.ConnAccepted()
				old.Request(200)
				m.Listener(addrB).ConnAccepted()
				m.DeleteListener(addrA)
				// A connection of the old generation finishing late must
				// neither fail nor bring the listener's series back.
				old.Request(200)
				old.Request(418)
				old.Generated(599)
				old.HandshakeDone("ClientCertExpired", 0)
				old.ConnClosed()
			},
			want: []string{`mtlslb_new_connections_total{listener="[::1]:9443"} 1`},
			absent: []string{
				`mtlslb_new_connections_total{listener="127.0.0.1:8443"}`,
				`mtlslb_active_connections{listener="127.0.0.1:8443"}`,
				`mtlslb_requests_total{code="200",listener="127.0.0.1:8443"}`,
				`mtlslb_requests_total{code="418",listener="127.0.0.1:8443"}`,
				`mtlslb_generated_responses_total{code="599",listener="127.0.0.1:8443"}`,
				`mtlslb_client_tls_negotiation_errors_total{listener="127.0.0.1:8443",status="ClientCertExpired"}`,
				`mtlslb_tls_handshake_duration_seconds_count{listener="127.0.0.1:8443"}`,
			},
		},
		{
			name: "listener re-added after delete starts from zero",
			record: func(m *Metrics, _ *fakeClock) {
				m.Listener(addrA).ConnAccepted()
				m.DeleteListener(addrA)
				m.Listener(addrA).ConnRejected()
			},
			want: []string{
				`mtlslb_new_connections_total{listener="127.0.0.1:8443"} 0`,
				`mtlslb_active_connections{listener="127.0.0.1:8443"} 0`,
				`mtlslb_rejected_connections_total{listener="127.0.0.1:8443"} 1`,
			},
		},
		{
			name: "invalid UTF-8 in names does not break the scrape",
			record: func(m *Metrics, _ *fakeClock) {
				m.Listener("bad\xffaddr").ConnAccepted()
				m.SetTrustStore("bad\xffstore", 1, 0, nil)
			},
			want: []string{
				"mtlslb_new_connections_total{listener=\"bad\uFFFDaddr\"} 1",
				"mtlslb_trust_store_ca_certificates{trust_store=\"bad\uFFFDstore\"} 1",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			m := New(WithClock(clock.Now))
			tt.record(m, clock)
			checkLines(t, scrape(t, m), tt.want, tt.absent)
		})
	}
}

func TestCRLGaugesFollowTheClock(t *testing.T) {
	clock := newFakeClock()
	m := New(WithClock(clock.Now))
	now := clock.Now()
	m.SetTrustStore("partners", 1, 10, []CRLInfo{
		{ID: 3, ThisUpdate: now.Add(-time.Hour), NextUpdate: now.Add(2 * time.Hour)},
	})

	steps := []struct {
		name    string
		advance time.Duration
		want    []string
	}{
		{
			name: "fresh",
			want: []string{
				`mtlslb_crl_age_seconds{revocation_id="3",trust_store="partners"} 3600`,
				`mtlslb_crl_time_to_next_update_seconds{revocation_id="3",trust_store="partners"} 7200`,
			},
		},
		{
			name:    "nearly due",
			advance: 90 * time.Minute,
			want: []string{
				`mtlslb_crl_age_seconds{revocation_id="3",trust_store="partners"} 9000`,
				`mtlslb_crl_time_to_next_update_seconds{revocation_id="3",trust_store="partners"} 1800`,
			},
		},
		{
			name:    "stale",
			advance: 90 * time.Minute,
			want: []string{
				`mtlslb_crl_age_seconds{revocation_id="3",trust_store="partners"} 14400`,
				`mtlslb_crl_time_to_next_update_seconds{revocation_id="3",trust_store="partners"} -3600`,
			},
		},
	}
	// The steps share one clock and run in order: each moves it further.
	for _, step := range steps {
		clock.Advance(step.advance)
		t.Run(step.name, func(t *testing.T) {
			checkLines(t, scrape(t, m), step.want, nil)
		})
	}
}

func TestListenerIsResolvedOncePerAddress(t *testing.T) {
	m := New()
	a := m.Listener(addrA)
	if got := m.Listener(addrA); got != a {
		t.Errorf("second Listener(%q) returned a new *ListenerMetrics; a kept listener must keep its series", addrA)
	}
	if got := m.Listener(addrB); got == a {
		t.Errorf("Listener(%q) returned the metrics of %q", addrB, addrA)
	}
	m.DeleteListener(addrA)
	if got := m.Listener(addrA); got == a {
		t.Errorf("Listener(%q) after DeleteListener returned the retired *ListenerMetrics", addrA)
	}
}

// TestDeleteReplacedSeries gives an address to a listener of another family
// and checks that only the series the replaced family alone records go.
func TestDeleteReplacedSeries(t *testing.T) {
	const a = `listener="127.0.0.1:8443"`
	httpOnly := []string{
		`mtlslb_requests_total{code="200",` + a + `}`,
		`mtlslb_requests_total{code="418",` + a + `}`,
		`mtlslb_generated_responses_total{code="503",` + a + `}`,
		`mtlslb_rejected_connections_total{` + a + `}`,
	}
	handshake := []string{
		`mtlslb_tls_handshake_duration_seconds_count{` + a + `}`,
		`mtlslb_client_tls_negotiation_errors_total{` + a + `,status="ClientCertExpired"}`,
	}
	layer4 := []string{
		`mtlslb_refused_connections_total{` + a + `,reason="proxy_protocol"}`,
		`mtlslb_target_connection_errors_total{` + a + `}`,
		`mtlslb_forwarded_bytes_total{direction="client_to_target",` + a + `}`,
	}
	// https and layer4 record one of everything their family has.
	https := func(m *Metrics) *ListenerMetrics {
		l := m.Listener(addrA)
		l.ConnAccepted()
		l.ConnRejected()
		l.HandshakeDone("", time.Millisecond)
		l.HandshakeDone("ClientCertExpired", 0)
		l.Request(200)
		l.Request(418)
		l.Generated(503)
		l.ConnClosed()
		return l
	}
	layer4Listener := func(m *Metrics, tls bool) *Layer4Metrics {
		l := m.Layer4Listener(addrA, tls)
		l.ConnAccepted()
		l.HandshakeDone("", time.Millisecond)
		l.HandshakeDone("ClientCertExpired", 0)
		l.ConnRefused(RefusedProxyProtocol)
		l.TargetConnectionError()
		l.Forwarded(ClientToTarget, 10)
		l.ConnClosed()
		return l
	}
	tests := []struct {
		name   string
		record func(m *Metrics)
		want   []string
		absent []string
	}{
		{
			name: "HTTPS replaced by TCP",
			record: func(m *Metrics) {
				old := https(m)
				layer4Listener(m, false)
				m.Listener(addrB).Request(200)
				m.DeleteReplacedSeries(addrA, FamilyHTTP, FamilyTCP)
				// A late request of the old listener brings back neither a
				// code it had nor a new one.
				old.Request(200)
				old.Request(599)
			},
			want: []string{
				`mtlslb_new_connections_total{` + a + `} 2`,
				`mtlslb_active_connections{` + a + `} 0`,
				`mtlslb_forwarded_bytes_total{direction="client_to_target",` + a + `} 10`,
				`mtlslb_target_connection_errors_total{` + a + `} 1`,
				`mtlslb_requests_total{code="200",listener="[::1]:9443"} 1`,
			},
			absent: append(append([]string{`mtlslb_requests_total{code="599",` + a + `}`}, httpOnly...), handshake...),
		},
		{
			name: "TCP replaced by HTTPS",
			record: func(m *Metrics) {
				layer4Listener(m, false)
				https(m)
				m.DeleteReplacedSeries(addrA, FamilyTCP, FamilyHTTP)
			},
			want: []string{
				`mtlslb_new_connections_total{` + a + `} 2`,
				`mtlslb_requests_total{code="200",` + a + `} 1`,
				`mtlslb_generated_responses_total{code="503",` + a + `} 1`,
				`mtlslb_rejected_connections_total{` + a + `} 1`,
				`mtlslb_tls_handshake_duration_seconds_count{` + a + `} 1`,
			},
			absent: layer4,
		},
		{
			name: "HTTPS replaced by TLS keeps the handshake series",
			record: func(m *Metrics) {
				https(m)
				layer4Listener(m, true)
				m.DeleteReplacedSeries(addrA, FamilyHTTP, FamilyTLS)
			},
			want: []string{
				`mtlslb_new_connections_total{` + a + `} 2`,
				`mtlslb_tls_handshake_duration_seconds_count{` + a + `} 2`,
				`mtlslb_client_tls_negotiation_errors_total{` + a + `,status="ClientCertExpired"} 2`,
				`mtlslb_forwarded_bytes_total{direction="client_to_target",` + a + `} 10`,
			},
			absent: httpOnly,
		},
		{
			name: "TLS replaced by HTTPS keeps the handshake series",
			record: func(m *Metrics) {
				layer4Listener(m, true)
				https(m)
				m.DeleteReplacedSeries(addrA, FamilyTLS, FamilyHTTP)
			},
			want: []string{
				`mtlslb_tls_handshake_duration_seconds_count{` + a + `} 2`,
				`mtlslb_client_tls_negotiation_errors_total{` + a + `,status="ClientCertExpired"} 2`,
				`mtlslb_requests_total{code="200",` + a + `} 1`,
			},
			absent: layer4,
		},
		{
			name: "TLS turned TCP",
			record: func(m *Metrics) {
				layer4Listener(m, true)
				layer4Listener(m, false)
				m.DeleteReplacedSeries(addrA, FamilyTLS, FamilyTCP)
			},
			want: []string{
				`mtlslb_new_connections_total{` + a + `} 2`,
				`mtlslb_forwarded_bytes_total{direction="client_to_target",` + a + `} 20`,
				`mtlslb_refused_connections_total{` + a + `,reason="proxy_protocol"} 2`,
			},
			absent: handshake,
		},
		{
			name: "a late drain after the address changed back deletes nothing current",
			record: func(m *Metrics) {
				layer4Listener(m, false) // first TCP listener, drains last
				https(m)
				layer4Listener(m, false) // TCP again
				m.DeleteReplacedSeries(addrA, FamilyHTTP, FamilyTCP)
				m.DeleteReplacedSeries(addrA, FamilyTCP, FamilyTCP)
			},
			want: []string{
				`mtlslb_new_connections_total{` + a + `} 3`,
				`mtlslb_forwarded_bytes_total{direction="client_to_target",` + a + `} 20`,
				`mtlslb_target_connection_errors_total{` + a + `} 2`,
			},
			absent: append(httpOnly, handshake...),
		},
		{
			name: "not a family deletes nothing",
			record: func(m *Metrics) {
				https(m)
				layer4Listener(m, true)
				m.DeleteReplacedSeries(addrA, 0, FamilyTCP)
				m.DeleteReplacedSeries(addrA, FamilyHTTP, 0)
				m.DeleteReplacedSeries(addrA, FamilyTLS, ListenerFamily(200))
			},
			want: []string{
				`mtlslb_requests_total{code="200",` + a + `} 1`,
				`mtlslb_tls_handshake_duration_seconds_count{` + a + `} 2`,
				`mtlslb_forwarded_bytes_total{direction="client_to_target",` + a + `} 10`,
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

// TestDeleteReplacedSeriesRetiresListenerMetrics: once an HTTPS listener's
// request series are gone, a later HTTPS listener at the address must get
// series that are exported (from zero), not the retired ones; a clean-up that
// deletes only layer-4 series must leave the current HTTPS listener's alone.
func TestDeleteReplacedSeriesRetiresListenerMetrics(t *testing.T) {
	m := New()
	first := m.Listener(addrA)
	first.Request(200)
	m.Layer4Listener(addrA, false).ConnAccepted()
	m.DeleteReplacedSeries(addrA, FamilyHTTP, FamilyTCP)

	again := m.Listener(addrA)
	if again == first {
		t.Fatalf("Listener(%q) after its request series were deleted returned the retired *ListenerMetrics", addrA)
	}
	m.DeleteReplacedSeries(addrA, FamilyTCP, FamilyHTTP)
	if got := m.Listener(addrA); got != again {
		t.Errorf("Listener(%q) after deleting only layer-4 series returned a new *ListenerMetrics; the HTTPS listener holding the address must keep its own", addrA)
	}
	again.ConnAccepted()
	again.Request(200)
	again.Request(418) // a code resolved on first use: only a retired listener refuses it
	checkLines(t, scrape(t, m), []string{
		`mtlslb_new_connections_total{listener="127.0.0.1:8443"} 2`,
		`mtlslb_requests_total{code="200",listener="127.0.0.1:8443"} 1`,
		`mtlslb_requests_total{code="418",listener="127.0.0.1:8443"} 1`,
	}, []string{`mtlslb_forwarded_bytes_total{direction="client_to_target",listener="127.0.0.1:8443"}`})
}

func TestNilMetricsRecordNothing(t *testing.T) {
	var m *Metrics
	l := m.Listener(addrA)
	if l != nil {
		t.Fatalf("nil *Metrics returned a non-nil *ListenerMetrics")
	}
	// None of these may panic.
	l.ConnAccepted()
	l.ConnClosed()
	l.ConnRejected()
	l.HandshakeDone("ClientCertExpired", time.Millisecond)
	l.Request(200)
	l.Generated(503)
	m.BlobCollection(true, 1, 1, 1, 1)
	m.DeleteListener(addrA)
	m.DeleteReplacedSeries(addrA, FamilyHTTP, FamilyTCP)
	l4 := m.Layer4Listener(addrA, true)
	if l4 != nil {
		t.Fatalf("nil *Metrics returned a non-nil *Layer4Metrics")
	}
	l4.ConnAccepted()
	l4.HandshakeDone("ClientCertExpired", 0)
	l4.ConnRefused(RefusedNoTargets)
	l4.TargetConnectionError()
	l4.Forwarded(TargetToClient, 1)
	l4.ConnClosed()
	m.SetTargetGroups(func(func(string, TargetStates) bool) {})
	m.SetTrustStore("partners", 1, 1, []CRLInfo{{ID: 1}})
	m.DeleteTrustStore("partners")
	m.SetConfig(1, true, time.Now())
	if mfs, err := m.Gatherer().Gather(); err != nil || len(mfs) != 0 {
		t.Errorf("nil Gatherer().Gather() = %d families, %v; want none, no error", len(mfs), err)
	}

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("nil Handler status = %d, want %d", rec.Code, http.StatusNotFound)
	}
}

// exerciseAll touches every metric so that every family has a series and
// shows up in a Gather.
func exerciseAll(m *Metrics, now time.Time) {
	l := m.Listener(addrA)
	l.ConnAccepted()
	l.ConnRejected()
	l.HandshakeDone("", time.Millisecond)
	l.HandshakeDone("ClientCertCrlHit", 0)
	l.Request(200)
	l.Generated(502)
	l.ConnClosed()
	m.SetTrustStore("partners", 2, 1, []CRLInfo{{ID: 1, ThisUpdate: now, NextUpdate: now.Add(time.Hour)}})
	m.SetConfig(1, true, now)
	l4 := m.Layer4Listener(addrB, true)
	l4.ConnAccepted()
	l4.ConnRefused(RefusedProxyProtocol)
	l4.TargetConnectionError()
	l4.Forwarded(ClientToTarget, 10)
	l4.ConnClosed()
	m.SetTargetGroups(func(yield func(string, TargetStates) bool) { yield("web", TargetStates{Healthy: 1}) })
	m.BlobCollection(true, 2, 1, 1, 100)
}

// mtlslbMetricNames is every metric this package exposes. A new metric must
// be added here and to docs/metrics.md.
func mtlslbMetricNames() []string {
	return []string{
		"mtlslb_active_connections",
		"mtlslb_client_tls_negotiation_errors_total",
		"mtlslb_config_last_reload_success_timestamp_seconds",
		"mtlslb_config_last_reload_successful",
		"mtlslb_config_reloads_total",
		"mtlslb_config_revision",
		"mtlslb_crl_age_seconds",
		"mtlslb_crl_time_to_next_update_seconds",
		"mtlslb_forwarded_bytes_total",
		"mtlslb_generated_responses_total",
		"mtlslb_new_connections_total",
		"mtlslb_refused_connections_total",
		"mtlslb_rejected_connections_total",
		"mtlslb_requests_total",
		"mtlslb_store_blob_collections_total",
		"mtlslb_store_blobs",
		"mtlslb_store_reclaimed_blobs_total",
		"mtlslb_store_reclaimed_bytes_total",
		"mtlslb_target_connection_errors_total",
		"mtlslb_targets",
		"mtlslb_tls_handshake_duration_seconds",
		"mtlslb_trust_store_ca_certificates",
		"mtlslb_trust_store_revoked_entries",
	}
}

func TestEveryMetricIsNamedAndDocumented(t *testing.T) {
	clock := newFakeClock()
	m := New(WithClock(clock.Now))
	exerciseAll(m, clock.Now())

	mfs, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatalf("gathering: %v", err)
	}
	var own []string
	var sawGo, sawProcess bool
	for _, mf := range mfs {
		name := mf.GetName()
		if mf.GetHelp() == "" {
			t.Errorf("%s has no help text", name)
		}
		switch {
		case strings.HasPrefix(name, "mtlslb_"):
			own = append(own, name)
			if !strings.Contains(mf.GetHelp(), "ALB CloudWatch") {
				t.Errorf("%s help %q does not say what its ALB CloudWatch equivalent is (or that it has none)", name, mf.GetHelp())
			}
		case strings.HasPrefix(name, "go_"):
			sawGo = true
		case strings.HasPrefix(name, "process_"):
			sawProcess = true
		default:
			t.Errorf("%s has neither the mtlslb_ prefix nor comes from the Go or process collector", name)
		}
	}
	if !sawGo {
		t.Errorf("no go_ metrics: the Go collector is not registered")
	}
	if !sawProcess && isLinux() {
		t.Errorf("no process_ metrics: the process collector is not registered")
	}
	if diff := cmp.Diff(mtlslbMetricNames(), own); diff != "" {
		t.Errorf("mtlslb metric families (-want +got):\n%s", diff)
	}

	problems, err := testutil.GatherAndLint(m.Gatherer(), mtlslbMetricNames()...)
	if err != nil {
		t.Fatalf("linting: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}

	doc, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatalf("reading the metrics documentation: %v", err)
	}
	for _, name := range mtlslbMetricNames() {
		if !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("docs/metrics.md does not document `%s`", name)
		}
	}
}

func isLinux() bool {
	_, err := os.Stat("/proc/self/stat")
	return err == nil
}

// TestStatusLabelsMatchTrustStore keeps the status label set in step with
// the verification statuses truststore can produce: a code added there and
// not here would be counted as UnmappedConnectionError.
func TestStatusLabelsMatchTrustStore(t *testing.T) {
	fromTrustStore := map[string]bool{}
	for s := range 256 {
		if code := truststore.Status(s).Code(); code != "" {
			fromTrustStore[code] = true
		}
	}
	ours := map[string]bool{}
	for i, code := range failureStatuses() {
		ours[code] = true
		if got := statusIndex(code); got != i {
			t.Errorf("statusIndex(%q) = %d, want %d", code, got, i)
		}
	}
	if diff := cmp.Diff(fromTrustStore, ours); diff != "" {
		t.Errorf("status codes (-truststore +metrics):\n%s", diff)
	}
}

// TestConcurrentUse runs the hot path, lazy series creation, trust-store
// updates, deletes and scrapes at once, for the race detector.
func TestConcurrentUse(t *testing.T) {
	clock := newFakeClock()
	m := New(WithClock(clock.Now))
	const workers, rounds = 4, 200

	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			l := m.Listener(addrA)
			for i := range rounds {
				l.ConnAccepted()
				l.HandshakeDone("", time.Duration(i)*time.Microsecond)
				l.Request(100 + (w*rounds+i)%500)
				l.Generated(400 + i%100)
				l.ConnClosed()
			}
		})
	}
	wg.Go(func() {
		for i := range rounds {
			now := clock.Now()
			m.SetTrustStore("partners", i, i, []CRLInfo{{ID: int64(i), ThisUpdate: now, NextUpdate: now.Add(time.Hour)}})
			m.Listener(addrB).ConnAccepted()
			m.DeleteListener(addrB)
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

	l := m.Listener(addrA)
	if got, want := testutil.ToFloat64(m.newConns.WithLabelValues(addrA)), float64(workers*rounds); got != want {
		t.Errorf("new connections = %v, want %v", got, want)
	}
	if got := testutil.ToFloat64(m.activeConns.WithLabelValues(addrA)); got != 0 {
		t.Errorf("active connections = %v, want 0", got)
	}
	var requests float64
	for code := minCode; code <= maxCode; code++ {
		if p := l.requests.slots[codeSlot(code)].Load(); p != nil {
			requests += testutil.ToFloat64(*p)
		}
	}
	if want := float64(workers * rounds); requests != want {
		t.Errorf("requests across codes = %v, want %v", requests, want)
	}
}

// TestBlobCollection: no store series before the first pass (a server reading
// a file has no store); then passes add up, a failed one counts as such and
// leaves the last good figures.
func TestBlobCollection(t *testing.T) {
	m := New()
	if out := scrape(t, m); strings.Contains(out, "mtlslb_store_") {
		t.Fatalf("store series before any pass:\n%s", out)
	}
	m.BlobCollection(true, 3, 2, 0, 0)
	m.BlobCollection(true, 3, 1, 1, 1500)
	m.BlobCollection(false, 0, 0, 0, 0)
	m.BlobCollection(true, 4, 0, 1, 500)
	out := scrape(t, m)
	for _, want := range []string{
		`mtlslb_store_blob_collections_total{result="success"} 3`,
		`mtlslb_store_blob_collections_total{result="failure"} 1`,
		`mtlslb_store_blobs{state="referenced"} 4`,
		`mtlslb_store_blobs{state="waiting"} 0`,
		`mtlslb_store_reclaimed_blobs_total 2`,
		`mtlslb_store_reclaimed_bytes_total 2000`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("no line %s in:\n%s", want, out)
		}
	}
}
