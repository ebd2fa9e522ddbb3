package health_test

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/health"
	"github.com/mtlslb/mtlslb/internal/upstream/upstreamtest"
)

// TestGRPCHealthCheck checks a real gRPC server (h2c) as ALB checks GRPC target groups: a call to a method no
// service has answers Unimplemented (12), healthy under the default matcher; a matcher of 0 makes it
// unhealthy, with the code in ALB's description.
func TestGRPCHealthCheck(t *testing.T) {
	addr := upstreamtest.NewGRPCServer(t, nil)
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	for _, c := range []struct {
		matcher string
		want    health.State
		desc    string
	}{
		{"12", health.StateHealthy, ""},
		{"0", health.StateUnhealthy, "Health checks failed with these codes: [12]"},
	} {
		t.Run("matcher "+c.matcher, func(t *testing.T) {
			m, err := health.ParseGRPCMatcher(c.matcher)
			if err != nil {
				t.Fatal(err)
			}
			cfg := health.Config{Protocol: health.ProtocolHTTP, GRPC: true, Path: "/AWS.ALB/healthcheck", Interval: 20 * time.Millisecond,
				Timeout: time.Second, HealthyThreshold: 2, UnhealthyThreshold: 2, Matcher: m}
			ch, err := health.New(cfg, []health.Target{{Host: host, Port: p}}, health.Options{})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer func() { cancel(); <-ch.Done() }()
			ch.Start(ctx)
			deadline := time.Now().Add(5 * time.Second)
			for {
				h := ch.Describe()[0]
				if h.State == c.want {
					if h.Description != c.desc {
						t.Errorf("description %q, want %q", h.Description, c.desc)
					}
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("state %s (%s: %s), want %s", h.State, h.Reason, h.LastError, c.want)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}
