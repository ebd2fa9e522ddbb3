package upstream_test

import (
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"

	"github.com/mtlslb/mtlslb/internal/upstream"
)

// A configuration reload: every snapshot asks the pool for its target groups' transports, then the
// pool is told which ones the new snapshot uses. Equal configurations keep their transport, and with
// it their pooled connections.
func ExamplePool() {
	pool := upstream.NewPool()
	defer pool.Close()

	compile := func(cfgs []upstream.Config) ([]http.RoundTripper, error) {
		rts := make([]http.RoundTripper, len(cfgs))
		keys := make([]upstream.Key, len(cfgs))
		for i, cfg := range cfgs {
			rt, err := pool.Transport(cfg)
			if err != nil {
				return nil, fmt.Errorf("target group %d: %w", i, err)
			}
			rts[i], keys[i] = rt, cfg.Key()
		}
		// In mtlslb: after the new snapshot is swapped in.
		pool.Retain(keys...)
		return rts, nil
	}

	grpcTG := upstream.Config{Protocol: upstream.ProtocolHTTPS, Version: upstream.VersionGRPC}
	first, _ := compile([]upstream.Config{grpcTG})
	second, _ := compile([]upstream.Config{grpcTG})
	fmt.Println("transport kept across the reload:", first[0] == second[0])

	// Forwarding: the request's scheme must be the target group's.
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(&url.URL{Scheme: grpcTG.Scheme(), Host: "10.0.0.7:50051"})
		},
		Transport: second[0],
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			status, reason := upstream.ErrorReason(err)
			_ = reason // the access log's error_reason
			w.WriteHeader(status)
		},
	}
	_ = proxy
	// Output: transport kept across the reload: true
}
