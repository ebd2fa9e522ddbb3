package engine_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
	"testing"
)

// TestHTTPSTargetGroupWithUpstreamMTLS: an HTTPS target group whose document names a client certificate and
// a CA bundle presents the certificate to a target that requires one and verifies the target; without the
// certificate the target refuses the TLS connection and the client gets 502 with the reason logged.
func TestHTTPSTargetGroupWithUpstreamMTLS(t *testing.T) {
	p := newL7PKI(t)
	p.writePair(t, "lb-client", p.issuing.Client(t, "lb.client"))
	target := p.root.Server(t, "127.0.0.1")
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{target.TLSCertificate()},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    p.root.Pool(),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ErrorLog: log.New(io.Discard, "", 0), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "target saw %s", r.TLS.PeerCertificates[0].Subject.CommonName)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	for _, c := range []struct {
		name, tlsKeys string
		status        int
		body          string
	}{
		{"with the certificate", "tls: { certificate: lb-client.pem, private_key: lb-client-key.pem, ca_certificates_bundle: bundle.pem, server_name: 127.0.0.1 }", 200, "target saw lb.client"},
		{"without it", "tls: { ca_certificates_bundle: bundle.pem, server_name: 127.0.0.1 }", 502, "TargetTLSNegotiationError"},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := startLBWith(t, p, lbSpec{
				listeners: []lbListener{{}},
				groups:    []lbGroup{{name: "secure", targets: []string{ln.Addr().String()}, extra: "protocol: HTTPS\n" + c.tlsKeys}},
			})
			resp, err := l.client(t, clientOptions{}).Get(l.url(0, "/"))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status || !strings.Contains(string(body), c.body) {
				t.Errorf("status %d body %q; want %d with %q", resp.StatusCode, body, c.status, c.body)
			}
		})
	}
}
