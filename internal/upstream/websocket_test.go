package upstream

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/upstream/upstreamtest"
)

// TestWebSocketThroughReverseProxy upgrades a connection through httputil.ReverseProxy and an HTTP1
// transport of the pool: the transport must hand the 101 response's connection to the proxy.
func TestWebSocketThroughReverseProxy(t *testing.T) {
	t.Parallel()
	target := upstreamtest.NewWebSocketEcho(t)
	pool := NewPool()
	t.Cleanup(pool.Close)
	cfg := Config{Protocol: ProtocolHTTP, Version: VersionHTTP1}
	rt, err := pool.Transport(cfg)
	if err != nil {
		t.Fatal(err)
	}
	front := newTestProxy(t, nil, rt, cfg.Scheme(), target)
	conn, err := net.Dial("tcp", front)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	msg := bytes.Repeat([]byte("ws"), 100)
	got, err := upstreamtest.WebSocketRoundTrip(conn, "app.example", "/chat", msg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Errorf("echo %q, want %q", got, msg)
	}
}
