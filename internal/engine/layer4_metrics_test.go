package engine_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
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

// switchEngine is an engine with one listener at the configured address 127.0.0.4:0 whose protocol the tests
// change, forwarding to an echo target when it is TCP or TLS.
type switchEngine struct {
	f    *fixture
	m    *metrics.Metrics
	eng  *engine.Engine
	echo net.Listener
}

func newSwitchEngine(t *testing.T, opts engine.Options) *switchEngine {
	t.Helper()
	se := &switchEngine{f: newFixture(t), m: metrics.New(), echo: startEcho(t)}
	opts.Metrics = se.m
	se.eng = engine.New(opts)
	t.Cleanup(func() { _ = se.eng.Shutdown(t.Context()) })
	return se
}

// apply applies the document whose listener has protocol (HTTPS, TCP or TLS) and returns its bound address.
func (se *switchEngine) apply(t *testing.T, protocol string) string {
	t.Helper()
	listener := `
  - port: 4443
    address: 127.0.0.4
    protocol: ` + protocol
	switch protocol {
	case "HTTPS":
		listener += `
    certificates: [{ certificate: server.pem, private_key: server-key.pem }]
    default_actions: ` + fixedYAML("https")
	case "TLS":
		listener += `
    certificates: [{ certificate: server.pem, private_key: server-key.pem }]
    default_actions: [{ type: forward, target_group: echo }]`
	default:
		listener += `
    default_actions: [{ type: forward, target_group: echo }]`
	}
	text := fmt.Sprintf(`name: switch
listeners:%s
target_groups:
  - name: echo
    protocol: TCP
    targets: [{ id: 127.0.0.1, port: %s }]
    health_check: { enabled: false }
`, listener, portOf(t, se.echo))
	d, err := config.Load(se.f.write(t, "switch.yaml", []byte(text)))
	if err != nil {
		t.Fatalf("config.Load: %v", err)
	}
	d.Listeners[0].Port = 0
	compiled, err := se.eng.Compile(d)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	if err := se.eng.Apply(compiled); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return se.eng.Addrs()["127.0.0.4:0"].String()
}

// clientTLS trusts the fixture's server certificate.
func (se *switchEngine) clientTLS() *tls.Config {
	return &tls.Config{RootCAs: se.f.root.Pool(), ServerName: "127.0.0.1"}
}

// httpsGet makes one request to the HTTPS listener at addr on a connection of its own and checks the fixed
// response.
func (se *switchEngine) httpsGet(t *testing.T, addr string) {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: se.clientTLS(), DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: boundedWait}).Get("https://" + addr + "/")
	if err != nil {
		t.Fatalf("GET through the HTTPS listener: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "https" {
		t.Fatalf("GET through the HTTPS listener: %d %q", resp.StatusCode, body)
	}
}

// The series of the listener at 127.0.0.4:0 that only one protocol family records, for waitMetrics and
// checkMetricLines.
var (
	httpOnlySeries = []string{
		`mtlslb_requests_total{code="200",listener="127.0.0.4:0"}`,
		`mtlslb_generated_responses_total{code="503",listener="127.0.0.4:0"}`,
		`mtlslb_rejected_connections_total{listener="127.0.0.4:0"}`,
	}
	handshakeSeries = []string{
		`mtlslb_tls_handshake_duration_seconds_count{listener="127.0.0.4:0"}`,
		`mtlslb_client_tls_negotiation_errors_total{listener="127.0.0.4:0",status="ClientCertUntrusted"}`,
	}
	layer4Series = []string{
		`mtlslb_forwarded_bytes_total{direction="client_to_target",listener="127.0.0.4:0"}`,
		`mtlslb_target_connection_errors_total{listener="127.0.0.4:0"}`,
		`mtlslb_refused_connections_total{listener="127.0.0.4:0",reason="no_registered_targets"}`,
	}
)

// TestListenerSwitchKeepsSeries replaces an HTTPS listener that served a request with a TCP one at the same
// configured address, and then the TCP one with an HTTPS one again. Once the replaced listener has drained, the
// series only its protocol records are gone (a TCP listener showing frozen request counts would mislead), while
// the new listener keeps its own and the connection series carry on (the drain deletes all the series of an
// address only when no listener has it any more).
func TestListenerSwitchKeepsSeries(t *testing.T) {
	se := newSwitchEngine(t, engine.Options{DrainTimeout: 5 * time.Second})
	httpsAddr := se.apply(t, "HTTPS")
	se.httpsGet(t, httpsAddr)
	waitMetrics(t, se.m, []string{
		`mtlslb_requests_total{code="200",listener="127.0.0.4:0"} 1`,
		`mtlslb_tls_handshake_duration_seconds_count{listener="127.0.0.4:0"} 1`,
	}, nil)

	tcpAddr := se.apply(t, "TCP")
	if tcpAddr == httpsAddr {
		t.Fatalf("the TCP listener has the HTTPS listener's socket %s", tcpAddr)
	}
	if got := echoThrough(t, tcpAddr, nil, "hello\n"); got != "hello\n" {
		t.Fatalf("through the TCP listener: %q", got)
	}
	// The HTTPS series go when the HTTPS listener has drained; the TCP listener's must be there then.
	lines := waitMetrics(t, se.m, []string{active("127.0.0.4:0", 0)}, append(httpOnlySeries, handshakeSeries...))
	checkMetricLines(t, lines, []string{
		`mtlslb_new_connections_total{listener="127.0.0.4:0"} 2`,
		`mtlslb_forwarded_bytes_total{direction="client_to_target",listener="127.0.0.4:0"} 6`,
		`mtlslb_forwarded_bytes_total{direction="target_to_client",listener="127.0.0.4:0"} 6`,
		`mtlslb_target_connection_errors_total{listener="127.0.0.4:0"} 0`,
		`mtlslb_refused_connections_total{listener="127.0.0.4:0",reason="no_registered_targets"} 0`,
	}, nil)
	if t.Failed() {
		return
	}

	// Back to HTTPS: once the TCP listener has drained its series go, and the HTTPS listener's request and
	// handshake series start again from zero and count (they must not be the ones deleted above).
	httpsAddr = se.apply(t, "HTTPS")
	waitMetrics(t, se.m, nil, layer4Series)
	se.httpsGet(t, httpsAddr)
	lines = waitMetrics(t, se.m, []string{
		`mtlslb_requests_total{code="200",listener="127.0.0.4:0"} 1`,
		active("127.0.0.4:0", 0),
	}, nil)
	checkMetricLines(t, lines, []string{
		`mtlslb_new_connections_total{listener="127.0.0.4:0"} 3`,
		`mtlslb_tls_handshake_duration_seconds_count{listener="127.0.0.4:0"} 1`,
		`mtlslb_generated_responses_total{code="503",listener="127.0.0.4:0"} 0`,
		`mtlslb_rejected_connections_total{listener="127.0.0.4:0"} 0`,
	}, layer4Series)
}

// TestTLSListenerTurnedTCPDropsHandshakeSeries changes a TLS listener into a TCP one, which keeps its socket and
// drains nothing: its handshake series go with the Apply, the byte counts carry on, and they come back from zero
// when it turns TLS again.
func TestTLSListenerTurnedTCPDropsHandshakeSeries(t *testing.T) {
	se := newSwitchEngine(t, engine.Options{})
	addr := se.apply(t, "TLS")
	if got := echoThrough(t, addr, se.clientTLS(), "ping\n"); got != "ping\n" {
		t.Fatalf("through the TLS listener: %q", got)
	}
	waitMetrics(t, se.m, []string{
		`mtlslb_tls_handshake_duration_seconds_count{listener="127.0.0.4:0"} 1`,
		`mtlslb_client_tls_negotiation_errors_total{listener="127.0.0.4:0",status="ClientCertUntrusted"} 0`,
		`mtlslb_forwarded_bytes_total{direction="client_to_target",listener="127.0.0.4:0"} 5`,
	}, nil)

	if got := se.apply(t, "TCP"); got != addr {
		t.Fatalf("the TCP listener is at %s, the TLS listener was at %s; want the socket kept", got, addr)
	}
	checkMetricLines(t, metricLines(se.m), nil, handshakeSeries)
	if got := echoThrough(t, addr, nil, "hello\n"); got != "hello\n" {
		t.Fatalf("through the TCP listener: %q", got)
	}
	lines := waitMetrics(t, se.m, []string{
		`mtlslb_forwarded_bytes_total{direction="client_to_target",listener="127.0.0.4:0"} 11`,
		active("127.0.0.4:0", 0),
	}, nil)
	checkMetricLines(t, lines, []string{`mtlslb_new_connections_total{listener="127.0.0.4:0"} 2`}, handshakeSeries)

	se.apply(t, "TLS")
	checkMetricLines(t, metricLines(se.m), []string{
		`mtlslb_tls_handshake_duration_seconds_count{listener="127.0.0.4:0"} 0`,
		`mtlslb_client_tls_negotiation_errors_total{listener="127.0.0.4:0",status="ClientCertUntrusted"} 0`,
	}, nil)
	if got := echoThrough(t, addr, se.clientTLS(), "ping\n"); got != "ping\n" {
		t.Fatalf("through the TLS listener again: %q", got)
	}
	waitMetrics(t, se.m, []string{
		`mtlslb_tls_handshake_duration_seconds_count{listener="127.0.0.4:0"} 1`,
		`mtlslb_forwarded_bytes_total{direction="client_to_target",listener="127.0.0.4:0"} 16`,
	}, nil)
}

// TestListenerSwitchBackKeepsCurrentSeries switches TCP to HTTPS and back to TCP while the first TCP listener
// still drains a connection, so that it finishes last: its clean-up must delete nothing the TCP listener serving
// now records, while the HTTPS listener's clean-up removes the HTTPS series.
func TestListenerSwitchBackKeepsCurrentSeries(t *testing.T) {
	logs := newLogRecorder()
	se := newSwitchEngine(t, engine.Options{Logger: slog.New(logs), DrainTimeout: boundedWait})
	firstTCP := se.apply(t, "TCP")
	held, err := net.DialTimeout("tcp", firstTCP, boundedWait)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	_ = held.SetDeadline(time.Now().Add(boundedWait))
	// A byte echoed back means the connection is forwarding: the listener's drain waits for it to end.
	if _, err := io.WriteString(held, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(held, make([]byte, 1)); err != nil {
		t.Fatalf("reading the echo through the first TCP listener: %v", err)
	}

	se.httpsGet(t, se.apply(t, "HTTPS"))
	waitMetrics(t, se.m, []string{`mtlslb_requests_total{code="200",listener="127.0.0.4:0"} 1`}, nil)
	secondTCP := se.apply(t, "TCP")
	if got := echoThrough(t, secondTCP, nil, "hello\n"); got != "hello\n" {
		t.Fatalf("through the second TCP listener: %q", got)
	}
	waitMetrics(t, se.m, nil, append(httpOnlySeries, handshakeSeries...))
	logs.waitFor(t, "listener closed", 1)
	if n := len(logs.with("listener closed")); n != 1 {
		t.Fatalf("%d listeners closed before the held connection ended; want the HTTPS one only", n)
	}

	// The first TCP listener drains last.
	if err := held.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(held); err != nil {
		t.Fatalf("reading to the end through the first TCP listener: %v", err)
	}
	logs.waitFor(t, "listener closed", 2)
	lines := waitMetrics(t, se.m, []string{active("127.0.0.4:0", 0)}, nil)
	checkMetricLines(t, lines, []string{
		`mtlslb_new_connections_total{listener="127.0.0.4:0"} 3`,
		`mtlslb_forwarded_bytes_total{direction="client_to_target",listener="127.0.0.4:0"} 7`,
		`mtlslb_forwarded_bytes_total{direction="target_to_client",listener="127.0.0.4:0"} 7`,
		`mtlslb_target_connection_errors_total{listener="127.0.0.4:0"} 0`,
		`mtlslb_refused_connections_total{listener="127.0.0.4:0",reason="no_registered_targets"} 0`,
	}, append(httpOnlySeries, handshakeSeries...))
}
