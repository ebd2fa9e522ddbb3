package metrics_test

import (
	"bufio"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/mtlslb/mtlslb/internal/metrics"
)

func Example() {
	m := metrics.New()

	// Once per listener generation, when the listener is (re)built:
	l := m.Listener("0.0.0.0:443")

	// Per connection and per request, on the hot path:
	l.ConnAccepted()
	l.HandshakeDone("ClientCertCrlHit", 0) // truststore.Status.Code(); "" for success
	l.ConnClosed()
	l.ConnAccepted()
	l.HandshakeDone("", 4*time.Millisecond)
	l.Request(200)
	l.ConnClosed()

	// The admin listener serves m.Handler() at /metrics.
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "mtlslb_new_connections_total") ||
			strings.HasPrefix(line, `mtlslb_client_tls_negotiation_errors_total{listener="0.0.0.0:443",status="ClientCertCrlHit"}`) ||
			strings.HasPrefix(line, `mtlslb_requests_total{code="200"`) {
			fmt.Println(line)
		}
	}
	// Output:
	// mtlslb_client_tls_negotiation_errors_total{listener="0.0.0.0:443",status="ClientCertCrlHit"} 1
	// mtlslb_new_connections_total{listener="0.0.0.0:443"} 2
	// mtlslb_requests_total{code="200",listener="0.0.0.0:443"} 1
}

func ExampleMetrics_SetTrustStore() {
	m := metrics.New()
	thisUpdate := time.Now().Add(-time.Hour)
	// When a configuration is compiled and applied, for each trust store:
	m.SetTrustStore("partners", 12, 3400, []metrics.CRLInfo{
		{ID: 1, ThisUpdate: thisUpdate, NextUpdate: thisUpdate.Add(7 * 24 * time.Hour)},
	})
	// When a trust store leaves the configuration:
	m.DeleteTrustStore("partners")
	// After every load or reload attempt:
	m.SetConfig(42, true, time.Now())
}

func ExampleMetrics_Layer4Listener() {
	m := metrics.New()

	// Once per generation of a TLS listener (tls false for a TCP listener):
	l := m.Layer4Listener("0.0.0.0:5671", true)

	// Per connection: accepted, handshake, bytes as each copy returns, closed.
	l.ConnAccepted()
	l.HandshakeDone("", 3*time.Millisecond)
	l.Forwarded(metrics.ClientToTarget, 512)
	l.Forwarded(metrics.TargetToClient, 2048)
	l.ConnClosed()
	// A connection whose target refused it:
	l.ConnAccepted()
	l.HandshakeDone("", 2*time.Millisecond)
	l.TargetConnectionError()
	l.ConnClosed()

	// Target counts are read at each scrape from a source the engine registers once.
	m.SetTargetGroups(func(yield func(string, metrics.TargetStates) bool) {
		yield("brokers", metrics.TargetStates{Healthy: 2, Unhealthy: 1})
	})

	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "mtlslb_forwarded_bytes_total") ||
			strings.HasPrefix(line, "mtlslb_target_connection_errors_total") ||
			strings.HasPrefix(line, `mtlslb_targets{state="healthy"`) {
			fmt.Println(line)
		}
	}
	// Output:
	// mtlslb_forwarded_bytes_total{direction="client_to_target",listener="0.0.0.0:5671"} 512
	// mtlslb_forwarded_bytes_total{direction="target_to_client",listener="0.0.0.0:5671"} 2048
	// mtlslb_target_connection_errors_total{listener="0.0.0.0:5671"} 1
	// mtlslb_targets{state="healthy",target_group="brokers"} 2
}
