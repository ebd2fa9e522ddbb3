package engine_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/pki"
)

// BenchmarkFullHandshake measures full mTLS handshakes (no resumption), each followed by one request
// forwarded to a target, through mtlslb's verify listener and through a bare crypto/tls server with
// RequireAndVerifyClientCert in front of httputil.ReverseProxy: the same PKI, the same target, the same load
// generator, in the same process. The ratio of the two ns/op is mtlslb's cost over the bare minimum; the
// CRL check (a 1000-entry CRL from the issuing CA), the headers and the connection log are all included.
//
//	go test -run '^$' -bench FullHandshake -benchmem -count 6 ./internal/engine/
func BenchmarkFullHandshake(b *testing.B) {
	f := newFixture(b)
	// A realistic CRL: a thousand revoked certificates of the issuing CA.
	var revoked []pki.Revocation
	for i := range 1000 {
		c := f.issuing.Client(b, fmt.Sprintf("revoked-%d", i))
		revoked = append(revoked, pki.Revoke(c.Cert))
	}
	der, err := f.issuing.Authority.CRL(revoked)
	if err != nil {
		b.Fatal(err)
	}
	f.write(b, "issuing.crl", pki.EncodeCRLPEM(der))
	client := f.issuing.Client(b, "bench.client")
	cert := client.TLSCertificate()

	r := f.start(b, listenerYAML{mode: "verify"})
	bare := startBare(b, f)

	for _, tc := range []struct{ name, addr string }{{"mtlslb", r.addr}, {"bare", bare}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(4) // 4×GOMAXPROCS clients keep both sides busy
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := handshakeAndGet(tc.addr, f, cert); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
		})
	}
}

func handshakeAndGet(addr string, f *fixture, cert tls.Certificate) error {
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: f.root.Pool(), ServerName: "127.0.0.1", Certificates: []tls.Certificate{cert}})
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"); err != nil {
		return err
	}
	buf := make([]byte, 512)
	n, err := io.ReadAtLeast(conn, buf, 12)
	if err != nil {
		return err
	}
	if string(buf[9:12]) != "200" {
		return fmt.Errorf("status line %q", buf[:n])
	}
	return nil
}

// startBare starts the baseline: crypto/tls verifying client certificates itself, and a ReverseProxy.
func startBare(b *testing.B, f *fixture) string {
	b.Helper()
	target, _ := url.Parse("http://" + f.backend.addr)
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) }}
	proxy.Transport = &http.Transport{MaxIdleConnsPerHost: 1024}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{f.server.TLSCertificate()},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    f.root.Pool(),
		MinVersion:   tls.VersionTLS12,
		// The same key-exchange groups as mtlslb's default policy, so both sides do the same key exchange
		// (Go's default would pick the costlier X25519MLKEM768 hybrid).
		CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP384},
	})
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}
