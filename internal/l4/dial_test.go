package l4

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/health"
	"github.com/mtlslb/mtlslb/internal/proxyproto"
)

// TestProxyHealthDial: an HTTP health check of a target that requires the PROXY protocol passes when its
// connections start with a LOCAL header.
func TestProxyHealthDial(t *testing.T) {
	checkLeaks(t)
	headers := make(chan proxyproto.Header, 8)
	target := startTarget(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		h, rest, err := proxyproto.Read(c)
		if err != nil {
			return // a connection without a header is refused, as nginx with proxy_protocol does
		}
		headers <- h
		req, err := http.ReadRequest(bufio.NewReader(io.MultiReader(bytes.NewReader(rest), c)))
		if err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		_ = req.Body.Close()
	})
	states := make(chan health.State, 8)
	checker, err := health.New(health.Config{Protocol: health.ProtocolHTTP, Path: "/health", Matcher: mustMatcher(t, "200"),
		Interval: 20 * time.Millisecond, Timeout: time.Second, HealthyThreshold: 1, UnhealthyThreshold: 1},
		[]health.Target{target.healthTarget(t)},
		health.Options{Dial: ProxyHealthDial(&net.Dialer{}), OnChange: func(_ int, _, h health.TargetHealth) { states <- h.State }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	checker.Start(ctx)
	t.Cleanup(func() { cancel(); <-checker.Done() })
	if st := <-states; st != health.StateHealthy {
		t.Fatalf("target %s: %+v", st, checker.Describe())
	}
	if h := <-headers; h.Version != 2 || !h.Local {
		t.Errorf("health check header %+v, want a version 2 LOCAL header", h)
	}
}

func mustMatcher(t *testing.T, s string) health.Matcher {
	t.Helper()
	m, err := health.ParseMatcher(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
