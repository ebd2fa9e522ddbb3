package l4

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/config"
	"github.com/mtlslb/mtlslb/internal/pki"
	"github.com/mtlslb/mtlslb/internal/proxyproto"
	"github.com/mtlslb/mtlslb/internal/route"
	"github.com/mtlslb/mtlslb/internal/testpki"
	"github.com/mtlslb/mtlslb/internal/tlsconfig"
	"github.com/mtlslb/mtlslb/internal/truststore"
)

// pkiFixture is a CA with a server certificate and clients in every situation a listener must tell apart.
type pkiFixture struct {
	ca, other *testpki.CA
	server    *pki.Leaf // for "lb.example" and 127.0.0.1
	good      *pki.Leaf // CN partner-1, OU payments, SAN URI spiffe://example.org/partner/1
	filtered  *pki.Leaf // trusted, but matches no identity filter
	revoked   *pki.Leaf // CN partner-2, on the CA's CRL
	stranger  *pki.Leaf // from another CA
	crl       []byte    // DER
}

func newPKI(t testing.TB) *pkiFixture {
	t.Helper()
	f := &pkiFixture{ca: testpki.NewCA(t), other: testpki.NewCA(t)}
	var err error
	f.server, err = f.ca.IssueServer([]string{"lb.example", "localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	f.good, err = f.ca.IssueClient(pkix.Name{CommonName: "partner-1", OrganizationalUnit: []string{"payments"}},
		pki.WithSANs(nil, []string{"spiffe://example.org/partner/1"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	f.filtered = f.ca.Client(t, "intruder")
	f.revoked = f.ca.Client(t, "partner-2")
	f.stranger = f.other.Client(t, "partner-3")
	f.crl = f.ca.CRL(t, f.revoked.Cert)
	return f
}

// listenerTLS builds a TLS listener's configuration the way the engine does: tlsconfig.Build with the trust store
// and the identity filter of the listener's mutual_authentication.
func (f *pkiFixture) listenerTLS(t testing.TB, mode tlsconfig.Mode, filters *config.IdentityFilters) *tls.Config {
	t.Helper()
	l := tlsconfig.Listener{Certificates: []tls.Certificate{f.server.TLSCertificate()}, Mode: mode}
	if mode == tlsconfig.ModeVerify {
		store, err := truststore.New(truststore.Config{Name: "partners", Bundle: f.ca.BundlePEM(),
			CRLs: []truststore.CRLSource{{ID: 1, Data: f.crl}}})
		if err != nil {
			t.Fatal(err)
		}
		l.TrustStore = store
	}
	if filters != nil {
		filter, err := route.CompileIdentityFilter("listeners[0].mutual_authentication.identity_filters", filters)
		if err != nil {
			t.Fatal(err)
		}
		l.Identity = func(leaf *x509.Certificate) bool { return filter.Allows(route.NewClient(leaf, "")) }
	}
	cfg, err := tlsconfig.Build(l)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func (f *pkiFixture) clientTLS(leaf *pki.Leaf) *tls.Config {
	cfg := &tls.Config{RootCAs: f.ca.Pool(), ServerName: "lb.example", NextProtos: []string{"http/1.1"}}
	if leaf != nil {
		cfg.Certificates = []tls.Certificate{leaf.TLSCertificate()}
	}
	return cfg
}

// roundTrip sends ping over a TLS connection to s and returns what comes back, or the error that ended it.
func roundTrip(t testing.TB, s *Server, cfg *tls.Config) (string, error) {
	t.Helper()
	c := tls.Client(dial(t, s, "127.0.0.2"), cfg)
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := c.Handshake(); err != nil {
		return "", err
	}
	if _, err := c.Write([]byte("ping")); err != nil {
		return "", err
	}
	if err := c.CloseWrite(); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	return string(b), err
}

func TestTLSListener(t *testing.T) {
	checkLeaks(t)
	f := newPKI(t)
	filters := &config.IdentityFilters{SubjectCN: []string{"partner-?"}, SANURI: []string{"spiffe://example.org/partner/*"}}
	tests := []struct {
		name       string
		mode       tlsconfig.Mode
		client     *pki.Leaf
		wantStatus string
		wantCN     string // in the PROXY SSL TLV; "" with wantStatus Success means no certificate
	}{
		{name: "verified and allowed", mode: tlsconfig.ModeVerify, client: f.good, wantStatus: "Success", wantCN: "partner-1"},
		{name: "trusted but no identity filter matches", mode: tlsconfig.ModeVerify, client: f.filtered, wantStatus: "Failed:ClientCertRejected"},
		{name: "revoked", mode: tlsconfig.ModeVerify, client: f.revoked, wantStatus: "Failed:ClientCertCrlHit"},
		{name: "another CA", mode: tlsconfig.ModeVerify, client: f.stranger, wantStatus: "Failed:ClientCertUntrusted"},
		{name: "no certificate in verify mode", mode: tlsconfig.ModeVerify, wantStatus: "Failed:UnmappedConnectionError"},
		{name: "mode off", mode: tlsconfig.ModeOff, wantStatus: "Success"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			headers := make(chan proxyproto.Header, 1)
			target := startTarget(t, proxyEcho(headers))
			l := newLogs(t)
			var fl *config.IdentityFilters
			if tt.mode == tlsconfig.ModeVerify {
				fl = filters
			}
			s := startServer(t, &Config{Protocol: ProtocolTLS, TLS: f.listenerTLS(t, tt.mode, fl), Mode: tt.mode,
				ConnLog: l.conn, Logger: l.slog, Group: newGroup(t, TargetGroupOptions{ProxyProtocolV2: true}, target)})

			got, err := roundTrip(t, s, f.clientTLS(tt.client))
			line := l.waitConnLines(1)[0]
			fs := fields(line)
			if fs[10] != tt.wantStatus {
				t.Errorf("tls_verify_status %q, want %q: %s", fs[10], tt.wantStatus, line)
			}
			if fs[4] != "TLSv1.3" || fs[5] != "TLS_AES_128_GCM_SHA256" && fs[5] != "TLS_AES_256_GCM_SHA384" && fs[5] != "TLS_CHACHA20_POLY1305_SHA256" {
				t.Errorf("TLS fields %q %q", fs[4], fs[5])
			}
			if tt.wantStatus != "Success" {
				if err == nil {
					t.Fatalf("refused client got %q", got)
				}
				l.waitLog("TLS handshake failed", "tls_verify_status="+tt.wantStatus)
				if target.accepted() != 0 {
					t.Error("a refused connection reached the target")
				}
				return
			}
			if err != nil || got != "ping" {
				t.Fatalf("echo %q, %v", got, err)
			}
			if fs[6] == "-" {
				t.Errorf("no handshake latency on a successful handshake: %s", line)
			}
			h := <-headers
			if h.Source.Addr().String() != "127.0.0.2" {
				t.Errorf("PROXY source %v, want the client's 127.0.0.2", h.Source)
			}
			if sni, _ := h.TLV(proxyproto.TypeAuthority); string(sni) != "lb.example" {
				t.Errorf("authority TLV %q, want the SNI lb.example", sni)
			}
			if alpn, _ := h.TLV(proxyproto.TypeALPN); string(alpn) != "http/1.1" {
				t.Errorf("ALPN TLV %q", alpn)
			}
			v, ok := h.TLV(proxyproto.TypeSSL)
			if !ok {
				t.Fatal("no SSL TLV")
			}
			ssl, err := proxyproto.ParseSSL(v)
			if err != nil {
				t.Fatal(err)
			}
			if ssl.Version != "TLSv1.3" || ssl.Cipher != fs[5] || ssl.Client&proxyproto.ClientSSL == 0 {
				t.Errorf("SSL TLV %+v", ssl)
			}
			if tt.wantCN == "" {
				if ssl.ClientCert != nil || ssl.Verified() || ssl.Verify == 0 {
					t.Errorf("SSL TLV without a client certificate: %+v", ssl)
				}
				return
			}
			if ssl.CN != tt.wantCN || !ssl.Verified() || !bytes.Equal(ssl.ClientCert, tt.client.Cert.Raw) {
				t.Errorf("SSL TLV: CN %q verified %v, certificate equal %v", ssl.CN, ssl.Verified(), bytes.Equal(ssl.ClientCert, tt.client.Cert.Raw))
			}
		})
	}
}

// TestTLSPassthroughToGoBackend is the end-to-end test for machines without nginx: a TCP listener in front of a Go
// backend that does mTLS itself (RequireAndVerifyClientCert) and reads the PROXY v2 header for the client's
// address.
func TestTLSPassthroughToGoBackend(t *testing.T) {
	checkLeaks(t)
	f := newPKI(t)
	backendTLS := &tls.Config{
		Certificates: []tls.Certificate{f.server.TLSCertificate()},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    f.ca.Pool(),
	}
	backend := startTarget(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		h, rest, err := proxyproto.Read(c)
		if err != nil {
			return
		}
		tc := tls.Server(&prefixConn{Conn: c, prefix: rest}, backendTLS)
		if err := tc.Handshake(); err != nil {
			return
		}
		line, _ := bufio.NewReader(tc).ReadString('\n')
		cn := tc.ConnectionState().PeerCertificates[0].Subject.CommonName
		fmt.Fprintf(tc, "hello %s from %s, you said %s", cn, h.Source.Addr(), line)
		_ = tc.Close()
	})
	l := newLogs(t)
	s := startServer(t, &Config{ConnLog: l.conn, Group: newGroup(t, TargetGroupOptions{ProxyProtocolV2: true}, backend)})

	tests := []struct {
		name    string
		client  *pki.Leaf
		want    string
		wantErr string
	}{
		{name: "trusted client", client: f.good, want: "hello partner-1 from 127.0.0.2, you said hi\n"},
		{name: "client of another CA", client: f.stranger, wantErr: "certificate"},
		{name: "no client certificate", wantErr: "certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tls.Client(dial(t, s, "127.0.0.2"), f.clientTLS(tt.client))
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			_, err := c.Write([]byte("hi\n"))
			var got []byte
			if err == nil {
				got, err = io.ReadAll(c)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %q, %v; want the backend to refuse with an error about %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	// The load balancer saw none of the TLS: every line has "-" for the TLS fields and the status.
	for _, line := range l.waitConnLines(len(tests)) {
		if fs := fields(line); fs[4] != "-" || fs[7] != "-" || fs[10] != "-" {
			t.Errorf("TCP listener logged TLS details: %s", line)
		}
	}
}
