package engine_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/config"
	"github.com/mtlslb/mtlslb/internal/engine"
	"github.com/mtlslb/mtlslb/internal/metrics"
	"github.com/mtlslb/mtlslb/internal/testpki"
)

// TestLayer4Metrics runs real TCP and TLS connections through the engine's layer-4 listeners — forwarded,
// refused by the TLS listener, and failing at a target that does not listen — and checks the exact counts the
// admin handler serves, the target counts of each group, and that a listener and a group removed by a reload
// leave the metrics while the kept ones keep their counts.
func TestLayer4Metrics(t *testing.T) {
	f := newFixture(t)
	m := metrics.New()
	echo := startEcho(t)
	closed := refusedAddr(t)

	doc := func(withDown bool) *config.Document {
		t.Helper()
		down, downGroup := "", ""
		if withDown {
			down = `
  - port: 3443
    address: 127.0.0.3
    protocol: TCP
    default_actions: [{ type: forward, target_group: down }]`
			downGroup = fmt.Sprintf(`
  - name: down
    protocol: TCP
    targets: [{ id: 127.0.0.1, port: %s }]
    health_check: { protocol: TCP, healthy_threshold_count: 2, unhealthy_threshold_count: 2 }`, portOf(t, closed))
		}
		text := fmt.Sprintf(`name: l4-metrics
trust_stores:
  - name: clients
    ca_certificates_bundle: bundle.pem
listeners:
  - port: 1443
    address: 127.0.0.1
    protocol: TCP
    default_actions: [{ type: forward, target_group: echo }]
  - port: 2443
    address: 127.0.0.2
    protocol: TLS
    certificates: [{ certificate: server.pem, private_key: server-key.pem }]
    mutual_authentication: { mode: verify, trust_store: clients, identity_filters: { subject_cn: ["l4.*"] } }
    default_actions: [{ type: forward, target_group: plain }]%s
target_groups:
  - name: echo
    protocol: TCP
    targets: [{ id: 127.0.0.1, port: %s }]
    health_check: { protocol: TCP, healthy_threshold_count: 2, unhealthy_threshold_count: 2 }
  - name: plain
    protocol: TCP
    targets: [{ id: 127.0.0.1, port: %s }]
    health_check: { enabled: false }%s
`, down, portOf(t, echo), portOf(t, echo), downGroup)
		d, err := config.Load(f.write(t, "l4-metrics.yaml", []byte(text)))
		if err != nil {
			t.Fatalf("config.Load: %v", err)
		}
		for i := range d.Listeners {
			d.Listeners[i].Port = 0 // keyed apart by their addresses
		}
		return d
	}
	eng := engine.New(engine.Options{Metrics: m, HealthCheckInterval: 20 * time.Millisecond, DrainTimeout: 5 * time.Second})
	apply := func(d *config.Document) {
		t.Helper()
		compiled, err := eng.Compile(d)
		if err != nil {
			t.Fatalf("Compile: %v", err)
		}
		if err := eng.Apply(compiled); err != nil {
			t.Fatalf("Apply: %v", err)
		}
	}
	apply(doc(true))
	t.Cleanup(func() { _ = eng.Shutdown(t.Context()) })
	addrs := eng.Addrs()
	tcpAddr, tlsAddr, downAddr := addrs["127.0.0.1:0"].String(), addrs["127.0.0.2:0"].String(), addrs["127.0.0.3:0"].String()

	// TCP: 6 bytes each way.
	if got := echoThrough(t, tcpAddr, nil, "hello\n"); got != "hello\n" {
		t.Errorf("through the TCP listener: %q", got)
	}
	// TLS: a verified client (5 plaintext bytes each way); one the identity filter refuses; one of another CA.
	tlsCfg := func(cert tls.Certificate) *tls.Config {
		return &tls.Config{RootCAs: f.root.Pool(), ServerName: "127.0.0.1", Certificates: []tls.Certificate{cert}}
	}
	if got := echoThrough(t, tlsAddr, tlsCfg(f.issuing.Client(t, "l4.client").TLSCertificate()), "ping\n"); got != "ping\n" {
		t.Errorf("through the TLS listener: %q", got)
	}
	for name, cert := range map[string]tls.Certificate{
		"filtered":   f.issuing.Client(t, "other.client").TLSCertificate(),
		"another CA": testpki.NewCA(t).Client(t, "l4.client").TLSCertificate(),
	} {
		if got := echoThrough(t, tlsAddr, tlsCfg(cert), "ping\n"); got != "" {
			t.Errorf("%s client was forwarded: %q", name, got)
		}
	}
	// A target that does not listen: the client's connection is reset.
	if got := echoThrough(t, downAddr, nil, "hello\n"); got != "" {
		t.Errorf("through the listener of a dead target: %q", got)
	}

	tcpL, tlsL, downL := "127.0.0.1:0", "127.0.0.2:0", "127.0.0.3:0"
	settled := []string{
		// Every connection is counted closed once both its sockets are; the other counts are final by then.
		active(tcpL, 0), active(tlsL, 0), active(downL, 0),
		// Health checks: two passes make the echo target healthy, two failures the dead one unhealthy.
		`mtlslb_targets{state="healthy",target_group="echo"} 1`,
		`mtlslb_targets{state="unhealthy",target_group="down"} 1`,
	}
	lines := waitMetrics(t, m, settled, nil)
	want := []string{
		`mtlslb_new_connections_total{listener="127.0.0.1:0"} 1`,
		`mtlslb_forwarded_bytes_total{direction="client_to_target",listener="127.0.0.1:0"} 6`,
		`mtlslb_forwarded_bytes_total{direction="target_to_client",listener="127.0.0.1:0"} 6`,
		`mtlslb_target_connection_errors_total{listener="127.0.0.1:0"} 0`,
		`mtlslb_refused_connections_total{listener="127.0.0.1:0",reason="proxy_protocol"} 0`,

		`mtlslb_new_connections_total{listener="127.0.0.2:0"} 3`,
		`mtlslb_client_tls_negotiation_errors_total{listener="127.0.0.2:0",status="ClientCertRejected"} 1`,
		`mtlslb_client_tls_negotiation_errors_total{listener="127.0.0.2:0",status="ClientCertUntrusted"} 1`,
		`mtlslb_client_tls_negotiation_errors_total{listener="127.0.0.2:0",status="UnmappedConnectionError"} 0`,
		`mtlslb_tls_handshake_duration_seconds_count{listener="127.0.0.2:0"} 1`,
		`mtlslb_forwarded_bytes_total{direction="client_to_target",listener="127.0.0.2:0"} 5`,
		`mtlslb_forwarded_bytes_total{direction="target_to_client",listener="127.0.0.2:0"} 5`,

		`mtlslb_new_connections_total{listener="127.0.0.3:0"} 1`,
		`mtlslb_target_connection_errors_total{listener="127.0.0.3:0"} 1`,
		`mtlslb_forwarded_bytes_total{direction="client_to_target",listener="127.0.0.3:0"} 0`,

		`mtlslb_targets{state="healthy",target_group="echo"} 1`,
		`mtlslb_targets{state="unhealthy",target_group="echo"} 0`,
		`mtlslb_targets{state="unavailable",target_group="plain"} 1`,
		`mtlslb_targets{state="healthy",target_group="plain"} 0`,
		`mtlslb_targets{state="healthy",target_group="down"} 0`,
	}
	checkMetricLines(t, lines, want, []string{
		`mtlslb_client_tls_negotiation_errors_total{listener="127.0.0.1:0",status="ClientCertUntrusted"}`,
		`mtlslb_requests_total{code="200",listener="127.0.0.1:0"}`,
		`mtlslb_rejected_connections_total{listener="127.0.0.1:0"}`,
	})

	// A reload without the dead target's listener and group: their series go (the listener's once it has
	// drained), the others keep their counts.
	apply(doc(false))
	lines = waitMetrics(t, m, []string{`mtlslb_new_connections_total{listener="127.0.0.1:0"} 1`}, []string{
		`mtlslb_new_connections_total{listener="127.0.0.3:0"}`,
		`mtlslb_target_connection_errors_total{listener="127.0.0.3:0"}`,
		`mtlslb_targets{state="unhealthy",target_group="down"}`,
	})
	checkMetricLines(t, lines, []string{
		`mtlslb_new_connections_total{listener="127.0.0.2:0"} 3`,
		`mtlslb_forwarded_bytes_total{direction="client_to_target",listener="127.0.0.1:0"} 6`,
		`mtlslb_tls_handshake_duration_seconds_count{listener="127.0.0.2:0"} 1`,
	}, nil)
}

func active(listener string, n int) string {
	return fmt.Sprintf(`mtlslb_active_connections{listener=%q} %d`, listener, n)
}

// startEcho is a TCP target that sends back what it reads and closes its write side at the client's EOF.
func startEcho(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(boundedWait))
				_, _ = io.Copy(c, c)
				_ = c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	return ln
}

func portOf(t *testing.T, addr any) string {
	t.Helper()
	var s string
	switch a := addr.(type) {
	case net.Listener:
		s = a.Addr().String()
	case string:
		s = a
	}
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// echoThrough sends msg through the listener at addr (over TLS with cfg, in the clear without), closes its write
// side and returns everything that comes back; "" when the connection failed or was reset.
func echoThrough(t *testing.T, addr string, cfg *tls.Config, msg string) string {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, boundedWait)
	if err != nil {
		return ""
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(boundedWait))
	var c interface {
		io.ReadWriter
		CloseWrite() error
	} = raw.(*net.TCPConn)
	if cfg != nil {
		tc := tls.Client(raw, cfg)
		if err := tc.Handshake(); err != nil {
			return ""
		}
		c = tc
	}
	if _, err := io.WriteString(c, msg); err != nil {
		return ""
	}
	if err := c.CloseWrite(); err != nil {
		return ""
	}
	got, err := io.ReadAll(c)
	if err != nil {
		return ""
	}
	return string(got)
}

// metricLines returns the mtlslb lines the admin handler serves.
func metricLines(m *metrics.Metrics) []string {
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	var lines []string
	for line := range strings.Lines(rec.Body.String()) {
		if strings.HasPrefix(line, "mtlslb_") {
			lines = append(lines, strings.TrimSuffix(line, "\n"))
		}
	}
	return lines
}

// waitMetrics waits until the exposition has every line of want and no series of gone, and returns it.
func waitMetrics(t *testing.T, m *metrics.Metrics, want, gone []string) []string {
	t.Helper()
	deadline := time.Now().Add(boundedWait)
	for {
		lines := metricLines(m)
		ok := true
		for _, w := range want {
			ok = ok && slices.Contains(lines, w)
		}
		for _, g := range gone {
			ok = ok && !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, g+" ") })
		}
		if ok {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics not settled: want %q, gone %q; exposition:\n%s", want, gone, strings.Join(lines, "\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func checkMetricLines(t *testing.T, lines, want, absent []string) {
	t.Helper()
	for _, w := range want {
		if !slices.Contains(lines, w) {
			t.Errorf("exposition lacks %q", w)
		}
	}
	for _, a := range absent {
		if slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, a+" ") }) {
			t.Errorf("exposition has %q, want it absent", a)
		}
	}
	if t.Failed() {
		t.Logf("exposition:\n%s", strings.Join(lines, "\n"))
	}
}

// TestListenerSwitchKeepsSeries replaces an HTTPS listener with a TCP one at the same configured address: once
// the HTTPS listener has drained, the TCP listener's series must still be there (the drain deletes the series
// of an address only when no listener has it any more).
func TestListenerSwitchKeepsSeries(t *testing.T) {
	f := newFixture(t)
	m := metrics.New()
	echo := startEcho(t)
	doc := func(protocol string) *config.Document {
		t.Helper()
		listener := `
  - port: 4443
    address: 127.0.0.4
    protocol: HTTPS
    certificates: [{ certificate: server.pem, private_key: server-key.pem }]
    default_actions: ` + fixedYAML("https")
		if protocol == "TCP" {
			listener = `
  - port: 4443
    address: 127.0.0.4
    protocol: TCP
    default_actions: [{ type: forward, target_group: echo }]`
		}
		text := fmt.Sprintf(`name: switch
listeners:%s
target_groups:
  - name: echo
    protocol: TCP
    targets: [{ id: 127.0.0.1, port: %s }]
    health_check: { enabled: false }
`, listener, portOf(t, echo))
		d, err := config.Load(f.write(t, "switch.yaml", []byte(text)))
		if err != nil {
			t.Fatalf("config.Load: %v", err)
		}
		d.Listeners[0].Port = 0
		return d
	}
	eng := engine.New(engine.Options{Metrics: m, DrainTimeout: 5 * time.Second})
	t.Cleanup(func() { _ = eng.Shutdown(t.Context()) })
	apply := func(d *config.Document) {
		t.Helper()
		compiled, err := eng.Compile(d)
		if err != nil {
			t.Fatalf("Compile: %v", err)
		}
		if err := eng.Apply(compiled); err != nil {
			t.Fatalf("Apply: %v", err)
		}
	}
	apply(doc("HTTPS"))
	httpsAddr := eng.Addrs()["127.0.0.4:0"].String()
	apply(doc("TCP"))
	tcpAddr := eng.Addrs()["127.0.0.4:0"].String()
	if tcpAddr == httpsAddr {
		t.Fatalf("the TCP listener has the HTTPS listener's socket %s", tcpAddr)
	}
	if got := echoThrough(t, tcpAddr, nil, "hello\n"); got != "hello\n" {
		t.Fatalf("through the TCP listener: %q", got)
	}
	series := `mtlslb_new_connections_total{listener="127.0.0.4:0"} 1`
	waitMetrics(t, m, []string{series}, nil)
	// The HTTPS listener has drained once its socket refuses; its clean-up runs right after.
	deadline := time.Now().Add(boundedWait)
	for {
		c, err := net.DialTimeout("tcp", httpsAddr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("the HTTPS listener at %s still accepts", httpsAddr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for range 50 {
		time.Sleep(10 * time.Millisecond)
		checkMetricLines(t, metricLines(m), []string{series}, nil)
		if t.Failed() {
			return
		}
	}
}
