package l4

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/metrics"
	"github.com/mtlslb/mtlslb/internal/proxyproto"
	"github.com/mtlslb/mtlslb/internal/tlsconfig"
)

// exposition returns the mtlslb lines of m's exposition, as the admin listener serves them.
func exposition(t testing.TB, m *metrics.Metrics) []string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("metrics status %d: %s", rec.Code, rec.Body)
	}
	var lines []string
	for line := range strings.Lines(rec.Body.String()) {
		if strings.HasPrefix(line, "mtlslb_") {
			lines = append(lines, strings.TrimSuffix(line, "\n"))
		}
	}
	return lines
}

// TestMetricsOfEveryOutcome runs real connections through TCP and TLS listeners, one for each way a layer-4
// connection can end, and checks the exact counts the listeners export.
func TestMetricsOfEveryOutcome(t *testing.T) {
	checkLeaks(t)
	f := newPKI(t)
	m := metrics.New()

	// "tcp": a TCP listener that trusts PROXY headers from 127.0.0.3 only, in front of a target that reads the
	// PROXY v2 header mtlslb sends and echoes the rest.
	headers := make(chan proxyproto.Header, 4)
	tcp := startServer(t, &Config{
		ProxyTrusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.3/32")},
		Group:        newGroup(t, TargetGroupOptions{ProxyProtocolV2: true}, startTarget(t, proxyEcho(headers))),
		Metrics:      m.Layer4Listener("tcp", false),
	})
	// "down": its only target does not listen.
	closed := startTarget(t, echo)
	closed.close()
	down := startServer(t, &Config{
		Group:   newGroup(t, TargetGroupOptions{}, closed),
		Metrics: m.Layer4Listener("down", false),
	})
	// "empty": its target group has no target.
	empty := startServer(t, &Config{
		Group:   newGroup(t, TargetGroupOptions{}),
		Metrics: m.Layer4Listener("empty", false),
	})
	// "tls": verify mode, forwarding the plain stream to an echo target.
	tlsSrv := startServer(t, &Config{
		Protocol: ProtocolTLS, TLS: f.listenerTLS(t, tlsconfig.ModeVerify, nil), Mode: tlsconfig.ModeVerify,
		Group:   newGroup(t, TargetGroupOptions{}, startTarget(t, echo)),
		Metrics: m.Layer4Listener("tls", true),
	})

	// Forwarded through "tcp": 5 bytes each way; the PROXY header mtlslb adds is not the client's.
	c := dial(t, tcp, "127.0.0.2")
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	_ = c.CloseWrite()
	if got, err := readAll(t, c); err != nil || string(got) != "hello" {
		t.Fatalf("echo through the TCP listener: %q, %v", got, err)
	}
	if h := <-headers; h.Source.Addr().String() != "127.0.0.2" {
		t.Errorf("PROXY source %v, want 127.0.0.2", h.Source)
	}
	// Refused by "tcp": a PROXY header from an untrusted client, and none from the trusted one.
	c = dial(t, tcp, "127.0.0.2")
	_, _ = c.Write([]byte("PROXY TCP4 192.0.2.1 192.0.2.2 1234 443\r\nhello"))
	expectClosed(t, c)
	c = dial(t, tcp, "127.0.0.3")
	_, _ = c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	_ = c.CloseWrite()
	expectClosed(t, c)
	// Reset by "down" and "empty".
	for _, s := range []*Server{down, empty} {
		if c, err := dialErr(t, s, "127.0.0.2"); err == nil {
			_, _ = c.Write([]byte("x"))
			expectClosed(t, c)
		}
	}
	// Through "tls": a verified client (4 plaintext bytes each way), one of another CA, one revoked.
	if got, err := roundTrip(t, tlsSrv, f.clientTLS(f.good)); err != nil || got != "ping" {
		t.Fatalf("echo through the TLS listener: %q, %v", got, err)
	}
	for _, leaf := range []string{"stranger", "revoked"} {
		cert := map[string]*tls.Config{"stranger": f.clientTLS(f.stranger), "revoked": f.clientTLS(f.revoked)}[leaf]
		if got, err := roundTrip(t, tlsSrv, cert); err == nil {
			t.Errorf("%s client was forwarded: %q", leaf, got)
		}
	}

	// Every connection is counted closed once both its sockets are; the other counts are final by then.
	idle := []string{
		`mtlslb_active_connections{listener="tcp"} 0`,
		`mtlslb_active_connections{listener="down"} 0`,
		`mtlslb_active_connections{listener="empty"} 0`,
		`mtlslb_active_connections{listener="tls"} 0`,
	}
	var lines []string
	if !poll(5*time.Second, func() bool {
		lines = exposition(t, m)
		for _, w := range idle {
			if !slices.Contains(lines, w) {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("connections still counted active:\n%s", strings.Join(lines, "\n"))
	}

	want := []string{
		`mtlslb_new_connections_total{listener="tcp"} 3`,
		`mtlslb_refused_connections_total{listener="tcp",reason="proxy_protocol"} 2`,
		`mtlslb_refused_connections_total{listener="tcp",reason="no_registered_targets"} 0`,
		`mtlslb_target_connection_errors_total{listener="tcp"} 0`,
		`mtlslb_forwarded_bytes_total{direction="client_to_target",listener="tcp"} 5`,
		`mtlslb_forwarded_bytes_total{direction="target_to_client",listener="tcp"} 5`,

		`mtlslb_new_connections_total{listener="down"} 1`,
		`mtlslb_target_connection_errors_total{listener="down"} 1`,
		`mtlslb_refused_connections_total{listener="down",reason="proxy_protocol"} 0`,
		`mtlslb_refused_connections_total{listener="down",reason="no_registered_targets"} 0`,
		`mtlslb_forwarded_bytes_total{direction="client_to_target",listener="down"} 0`,

		`mtlslb_new_connections_total{listener="empty"} 1`,
		`mtlslb_refused_connections_total{listener="empty",reason="no_registered_targets"} 1`,
		`mtlslb_target_connection_errors_total{listener="empty"} 0`,

		`mtlslb_new_connections_total{listener="tls"} 3`,
		`mtlslb_client_tls_negotiation_errors_total{listener="tls",status="ClientCertUntrusted"} 1`,
		`mtlslb_client_tls_negotiation_errors_total{listener="tls",status="ClientCertCrlHit"} 1`,
		`mtlslb_client_tls_negotiation_errors_total{listener="tls",status="UnmappedConnectionError"} 0`,
		`mtlslb_tls_handshake_duration_seconds_count{listener="tls"} 1`,
		`mtlslb_refused_connections_total{listener="tls",reason="proxy_protocol"} 0`,
		`mtlslb_target_connection_errors_total{listener="tls"} 0`,
		`mtlslb_forwarded_bytes_total{direction="client_to_target",listener="tls"} 4`,
		`mtlslb_forwarded_bytes_total{direction="target_to_client",listener="tls"} 4`,
	}
	for _, w := range want {
		if !slices.Contains(lines, w) {
			t.Errorf("exposition lacks %q", w)
		}
	}
	// A TCP listener never handshakes, and no layer-4 listener has HTTP series.
	for _, line := range lines {
		if strings.HasPrefix(line, "mtlslb_client_tls_negotiation_errors_total{listener=\"tcp\"") ||
			strings.HasPrefix(line, "mtlslb_tls_handshake_duration_seconds_count{listener=\"tcp\"") ||
			strings.HasPrefix(line, "mtlslb_requests_total") || strings.HasPrefix(line, "mtlslb_rejected_connections_total") {
			t.Errorf("unexpected series %q", line)
		}
	}
	if t.Failed() {
		t.Logf("exposition:\n%s", strings.Join(lines, "\n"))
	}
}

// TestBytesOfALongConnectionShowWhileOpen: the byte counts move while a connection is still open, at the copy's
// idle-check wake-ups, not only when it closes.
func TestBytesOfALongConnectionShowWhileOpen(t *testing.T) {
	checkLeaks(t)
	m := metrics.New()
	// The copy wakes up every quarter of the idle timeout: within a second here, and the connection is closed for
	// idleness no sooner than 4 s after its last byte, which leaves the poll below three seconds.
	s := startServer(t, &Config{IdleTimeout: 4 * time.Second, Group: newGroup(t, TargetGroupOptions{}, startTarget(t, echo)),
		Metrics: m.Layer4Listener("tcp", false)})
	c := dial(t, s, "")
	payload := strings.Repeat("x", 1000)
	if _, err := c.Write([]byte(payload)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, make([]byte, len(payload))); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`mtlslb_forwarded_bytes_total{direction="client_to_target",listener="tcp"} 1000`,
		`mtlslb_forwarded_bytes_total{direction="target_to_client",listener="tcp"} 1000`,
		`mtlslb_active_connections{listener="tcp"} 1`,
	}
	var lines []string
	ok := poll(3*time.Second, func() bool {
		lines = exposition(t, m)
		for _, w := range want {
			if !slices.Contains(lines, w) {
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("bytes of an open connection not counted:\n%s", strings.Join(lines, "\n"))
	}
}
