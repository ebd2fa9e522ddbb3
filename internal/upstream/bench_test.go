package upstream

import (
	"crypto/tls"
	"io"
	"net/http"
	"testing"

	"github.com/mtlslb/mtlslb/internal/upstream/upstreamtest"
)

// BenchmarkRoundTrip measures one request through a pooled transport to a loopback target: after
// the first iteration every request reuses a pooled connection, so this is the per-request cost of
// the transport, not of dialling.
func BenchmarkRoundTrip(b *testing.B) {
	f := newFixture(b)
	var h1, h2c, h2 http.Protocols
	h1.SetHTTP1(true)
	h2c.SetUnencryptedHTTP2(true)
	h2.SetHTTP2(true)
	benchmarks := []struct {
		name      string
		targetTLS *tls.Config
		protos    http.Protocols
		cfg       Config
	}{
		{"HTTP HTTP1", nil, h1, Config{Protocol: ProtocolHTTP}},
		{"HTTPS HTTP1", f.serverTLS(false), h1, Config{Protocol: ProtocolHTTPS}},
		{"HTTP HTTP2 h2c", nil, h2c, Config{Protocol: ProtocolHTTP, Version: VersionHTTP2}},
		{"HTTPS HTTP2 mTLS", f.serverTLS(true), h2, Config{Protocol: ProtocolHTTPS, Version: VersionHTTP2, ClientCertificate: &f.client}},
	}
	for _, bm := range benchmarks {
		b.Run(bm.name, func(b *testing.B) {
			addr := upstreamtest.NewHTTPServer(b, bm.targetTLS, bm.protos)
			pool := NewPool()
			b.Cleanup(pool.Close)
			rt, err := pool.Transport(bm.cfg)
			if err != nil {
				b.Fatal(err)
			}
			req, err := http.NewRequest(http.MethodGet, bm.cfg.Scheme()+"://"+addr+"/", nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				resp, err := rt.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}
