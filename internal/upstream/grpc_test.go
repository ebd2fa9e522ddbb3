package upstream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/mtlslb/mtlslb/internal/upstream/upstreamtest"
)

// reasonHeader carries ErrorReason's reason on the test proxy's generated responses.
const reasonHeader = "X-Test-Error-Reason"

// newTestProxy starts a front server on 127.0.0.1 that forwards everything to target through rt
// with httputil.ReverseProxy, as internal/httpproxy does: Rewrite, FlushInterval -1, and ErrorReason
// for failures. With frontTLS it serves h2 (and HTTP/1.1) over TLS, otherwise h2c with prior
// knowledge (and HTTP/1.1). It returns the front address.
func newTestProxy(t testing.TB, frontTLS *tls.Config, rt http.RoundTripper, scheme, target string) string {
	t.Helper()
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(&url.URL{Scheme: scheme, Host: target})
		},
		Transport:     rt,
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			status, reason := ErrorReason(err)
			w.Header().Set(reasonHeader, reason)
			w.WriteHeader(status)
		},
		ErrorLog: log.New(io.Discard, "", 0),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	srv := &http.Server{Handler: proxy, Protocols: &protos, ErrorLog: log.New(io.Discard, "", 0)}
	if frontTLS != nil {
		protos.SetHTTP2(true)
		srv.TLSConfig = frontTLS.Clone() // the server adds its ALPN protocols to it
		go srv.ServeTLS(ln, "", "")
	} else {
		protos.SetUnencryptedHTTP2(true)
		go srv.Serve(ln)
	}
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// TestGRPCThroughReverseProxy runs real gRPC calls, unary, server-streaming and bidi-streaming, from a
// grpc-go client through an httputil.ReverseProxy using a GRPC transport of the pool to a grpc-go
// server, and checks that statuses, headers and trailers arrive intact.
func TestGRPCThroughReverseProxy(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	frontCA := f.targetCA
	frontTLS := &tls.Config{Certificates: []tls.Certificate{f.server}}

	tests := []struct {
		name      string
		frontTLS  *tls.Config
		targetTLS *tls.Config
		cfg       Config
		wantCN    string
	}{
		{
			name:      "h2 front, HTTPS GRPC target",
			frontTLS:  frontTLS,
			targetTLS: f.serverTLS(false),
			cfg:       Config{Protocol: ProtocolHTTPS, Version: VersionGRPC, RootCAs: []*x509.Certificate{f.targetCA.Cert}},
		},
		{
			name:      "h2 front, HTTPS GRPC target with upstream mTLS",
			frontTLS:  frontTLS,
			targetTLS: f.serverTLS(true),
			cfg:       Config{Protocol: ProtocolHTTPS, Version: VersionGRPC, ClientCertificate: &f.client},
			wantCN:    clientCN,
		},
		{
			name: "h2c front, HTTP GRPC target (h2c)",
			cfg:  Config{Protocol: ProtocolHTTP, Version: VersionGRPC},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			target := upstreamtest.NewGRPCServer(t, tt.targetTLS)
			pool := NewPool()
			t.Cleanup(pool.Close)
			rt, err := pool.Transport(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			front := newTestProxy(t, tt.frontTLS, rt, tt.cfg.Scheme(), target)
			creds := insecure.NewCredentials()
			if tt.frontTLS != nil {
				creds = credentials.NewTLS(&tls.Config{RootCAs: frontCA.Pool()})
			}
			cc, err := grpc.NewClient("passthrough:///"+front, grpc.WithTransportCredentials(creds))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cc.Close() })
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()

			t.Run("unary", func(t *testing.T) {
				var header, trailer metadata.MD
				got, err := upstreamtest.EchoUnary(ctx, cc, "hello", grpc.Header(&header), grpc.Trailer(&trailer))
				if err != nil {
					t.Fatal(err)
				}
				if got != "hello" {
					t.Errorf("answer %q, want %q", got, "hello")
				}
				if cn := first(header, upstreamtest.ClientCNKey); cn != tt.wantCN {
					t.Errorf("target saw client certificate %q, want %q", cn, tt.wantCN)
				}
				if tr := first(trailer, upstreamtest.TrailerKey); tr != "hello" {
					t.Errorf("trailer %q = %q, want %q", upstreamtest.TrailerKey, tr, "hello")
				}
			})
			t.Run("unary error in a trailers-only response", func(t *testing.T) {
				// Whether a proxy breaks this form depends on when it flushes, so try it often.
				for range 50 {
					_, err := upstreamtest.EchoUnary(ctx, cc, upstreamtest.FailValue)
					if code := status.Code(err); code != codes.NotFound {
						t.Fatalf("status %v (%v), want NotFound", code, err)
					}
				}
			})
			t.Run("server streaming", func(t *testing.T) {
				var trailer metadata.MD
				got, err := upstreamtest.EchoServerStream(ctx, cc, "s", grpc.Trailer(&trailer))
				if err != nil {
					t.Fatal(err)
				}
				if want := []string{"s 0", "s 1", "s 2"}; !slices.Equal(got, want) {
					t.Errorf("answers %q, want %q", got, want)
				}
				if tr := first(trailer, upstreamtest.TrailerKey); tr != "s" {
					t.Errorf("trailer %q = %q, want %q", upstreamtest.TrailerKey, tr, "s")
				}
			})
			t.Run("bidi streaming", func(t *testing.T) {
				msgs := []string{"a", "b", "c", "d"}
				var trailer metadata.MD
				got, err := upstreamtest.EchoBidi(ctx, cc, msgs, grpc.Trailer(&trailer))
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, msgs) {
					t.Errorf("answers %q, want %q", got, msgs)
				}
				if tr := first(trailer, upstreamtest.TrailerKey); tr != "d" {
					t.Errorf("trailer %q = %q, want %q", upstreamtest.TrailerKey, tr, "d")
				}
			})
			t.Run("health check and watch", func(t *testing.T) {
				hc := healthpb.NewHealthClient(cc)
				resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: upstreamtest.EchoService})
				if err != nil {
					t.Fatal(err)
				}
				if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
					t.Errorf("Check: %v, want SERVING", resp.GetStatus())
				}
				if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "unknown"}); status.Code(err) != codes.NotFound {
					t.Errorf("Check(unknown): %v, want NotFound", err)
				}
				wctx, wcancel := context.WithCancel(ctx)
				defer wcancel()
				w, err := hc.Watch(wctx, &healthpb.HealthCheckRequest{Service: upstreamtest.EchoService})
				if err != nil {
					t.Fatal(err)
				}
				m, err := w.Recv()
				if err != nil {
					t.Fatal(err)
				}
				if m.GetStatus() != healthpb.HealthCheckResponse_SERVING {
					t.Errorf("Watch: %v, want SERVING", m.GetStatus())
				}
			})
		})
	}
}

// TestGRPCTargetDown checks what a gRPC client sees when the proxy cannot reach the target: the 502
// mtlslb generates becomes codes.Unavailable, the status gRPC clients retry on.
func TestGRPCTargetDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := ln.Addr().String()
	ln.Close()
	pool := NewPool()
	t.Cleanup(pool.Close)
	cfg := Config{Protocol: ProtocolHTTP, Version: VersionGRPC}
	rt, err := pool.Transport(cfg)
	if err != nil {
		t.Fatal(err)
	}
	front := newTestProxy(t, nil, rt, cfg.Scheme(), target)
	cc, err := grpc.NewClient("passthrough:///"+front, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err = upstreamtest.EchoUnary(ctx, cc, "x")
	if code := status.Code(err); code != codes.Unavailable {
		t.Errorf("status %v (%v), want Unavailable", code, err)
	}
}

func first(md metadata.MD, key string) string {
	if v := md.Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}
