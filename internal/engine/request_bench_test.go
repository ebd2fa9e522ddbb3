package engine_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkKeepAliveRequest measures requests on kept-alive mTLS connections through a verify listener with
// 100 rules (path_pattern /svcN/*, the request matching the last), and through the bare baseline (crypto/tls
// verifying clients, httputil.ReverseProxy): same PKI, target and client, same process. allocs/op counts the
// whole process, client and target included, so the difference between the two is mtlslb's own.
//
//	go test -run '^$' -bench KeepAliveRequest -benchmem -count 6 ./internal/engine/
func BenchmarkKeepAliveRequest(b *testing.B) {
	f := newFixture(b)
	var rules strings.Builder
	rules.WriteString("    rules:\n")
	for i := range 100 {
		fmt.Fprintf(&rules, "      - priority: %d\n        conditions: [{ path_pattern: { values: [\"/svc%d/*\"] } }]\n        actions: [{ type: forward, target_group: app }]\n", i+1, i)
	}
	r := f.start(b, listenerYAML{mode: "verify", extra: rules.String(), attributes: "  idle_timeout_seconds: 60"})
	bare := startBare(b, f)
	cert := f.issuing.Client(b, "bench.client").TLSCertificate()

	for _, tc := range []struct{ name, addr string }{{"mtlslb", r.addr}, {"bare", bare}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				conn, err := tls.Dial("tcp", tc.addr, &tls.Config{RootCAs: f.root.Pool(), ServerName: "127.0.0.1", Certificates: []tls.Certificate{cert}})
				if err != nil {
					b.Error(err)
					return
				}
				defer conn.Close()
				br := bufio.NewReader(conn)
				for pb.Next() {
					if _, err := io.WriteString(conn, "GET /svc99/orders HTTP/1.1\r\nHost: bench\r\n\r\n"); err != nil {
						b.Error(err)
						return
					}
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
		})
	}
}
