package l4

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/health"
	"github.com/mtlslb/mtlslb/internal/tlsconfig"
)

// TestBadInput runs what hostile or broken peers do against a listener: each case must end with a clear reason in
// the log, and, over the whole test, leave no goroutine or file descriptor behind.
func TestBadInput(t *testing.T) {
	checkLeaks(t)
	f := newPKI(t)
	const idle = 200 * time.Millisecond
	tests := []struct {
		name     string
		protocol Protocol
		trusted  []netip.Prefix
		target   func(t *testing.T) string // returns the target's address
		connect  time.Duration             // connect timeout
		client   func(t *testing.T, c *net.TCPConn)
		want     []string // all on one log line
	}{
		{
			name: "garbage instead of TLS", protocol: ProtocolTLS,
			client: func(t *testing.T, c *net.TCPConn) {
				_, _ = c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
				expectClosed(t, c)
			},
			want: []string{"TLS handshake failed", `not TLS: the first bytes are \"GET /\"`, "tls_verify_status=Failed:UnmappedConnectionError"},
		},
		{
			name: "PROXY header to a TLS listener without the PROXY protocol", protocol: ProtocolTLS,
			client: func(t *testing.T, c *net.TCPConn) {
				_, _ = c.Write([]byte("PROXY TCP4 10.1.1.1 10.2.2.2 1 2\r\n"))
				expectClosed(t, c)
			},
			want: []string{"level=WARN", "PROXY header from 127.0.0.2", "does not accept the PROXY protocol"},
		},
		{
			name: "spoofed PROXY v2 header to a TLS listener", protocol: ProtocolTLS,
			trusted: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
			client: func(t *testing.T, c *net.TCPConn) {
				_, _ = c.Write([]byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c"))
				expectClosed(t, c)
			},
			want: []string{"level=WARN", "PROXY header from 127.0.0.2", "not in the listener's trusted networks"},
		},
		{
			name: "silent client on a TLS listener", protocol: ProtocolTLS,
			client: func(t *testing.T, c *net.TCPConn) { expectClosed(t, c) },
			want:   []string{"TLS handshake failed", "i/o timeout"},
		},
		{
			name: "target resets",
			target: func(t *testing.T) string {
				return startTarget(t, func(c net.Conn) {
					_, _ = c.Read(make([]byte, 1))
					_ = c.(*net.TCPConn).SetLinger(0)
				}).addr()
			},
			client: func(t *testing.T, c *net.TCPConn) {
				_, _ = c.Write([]byte("x"))
				expectClosed(t, c)
			},
			want: []string{"connection aborted", "connection reset by peer"},
		},
		{
			name: "target accepts and never answers",
			target: func(t *testing.T) string {
				return startTarget(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) }).addr()
			},
			client: func(t *testing.T, c *net.TCPConn) {
				_, _ = c.Write([]byte("hello?"))
				expectClosed(t, c)
			},
			want: []string{"connection aborted", "idle timeout", "bytes_up=6"},
		},
		{
			name:    "target never completes the TCP handshake",
			target:  func(t *testing.T) string { return unresponsiveAddr(t) },
			connect: 100 * time.Millisecond,
			client:  func(t *testing.T, c *net.TCPConn) { expectClosed(t, c) },
			want:    []string{"level=WARN", "target unreachable", "i/o timeout"},
		},
		{
			name: "nothing listens on the target's port",
			target: func(t *testing.T) string {
				ts := startTarget(t, echo)
				ts.close()
				return ts.addr()
			},
			client: func(t *testing.T, c *net.TCPConn) { expectClosed(t, c) },
			want:   []string{"level=WARN", "target unreachable", "connection refused"},
		},
		{
			name: "half-open client",
			target: func(t *testing.T) string {
				// Reads the request to its end and then neither answers nor closes until the test ends.
				stop := make(chan struct{})
				ts := startTarget(t, func(c net.Conn) {
					_, _ = io.Copy(io.Discard, c)
					<-stop
				})
				t.Cleanup(func() { close(stop) })
				return ts.addr()
			},
			client: func(t *testing.T, c *net.TCPConn) {
				_, _ = c.Write([]byte("request"))
				_ = c.CloseWrite()
				expectClosed(t, c)
			},
			want: []string{"connection aborted", "idle timeout", "bytes_up=7"},
		},
		{
			name: "client resets mid-stream",
			target: func(t *testing.T) string {
				return startTarget(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) }).addr()
			},
			client: func(t *testing.T, c *net.TCPConn) {
				_, _ = c.Write([]byte("partial"))
				time.Sleep(20 * time.Millisecond) // let the bytes reach the target before the reset
				_ = c.SetLinger(0)
				_ = c.Close()
			},
			want: []string{"connection aborted", "connection reset by peer"},
		},
		{
			name: "spoofed PROXY header on a TCP listener", trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
			client: func(t *testing.T, c *net.TCPConn) {
				_, _ = c.Write([]byte("PROXY TCP4 10.1.1.1 10.2.2.2 1 2\r\n"))
				expectClosed(t, c)
			},
			want: []string{"level=WARN", "connection refused", "PROXY v1 header from 127.0.0.2", "not in the listener's trusted networks"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var addr string
			if tt.target != nil {
				addr = tt.target(t)
			} else {
				addr = startTarget(t, echo).addr()
			}
			host, port, _ := net.SplitHostPort(addr)
			p, _ := strconv.Atoi(port)
			g, err := NewTargetGroup(TargetGroupOptions{Name: "tg", Targets: []health.Target{{Host: host, Port: p}}})
			if err != nil {
				t.Fatal(err)
			}
			l := newLogs(t)
			cfg := &Config{Protocol: tt.protocol, ProxyTrusted: tt.trusted, IdleTimeout: idle, HandshakeTimeout: idle,
				ConnectTimeout: tt.connect, Group: g, ConnLog: l.conn, Logger: l.slog}
			if tt.protocol == ProtocolTLS {
				cfg.TLS, cfg.Mode = f.listenerTLS(t, tlsconfig.ModeOff, nil), tlsconfig.ModeOff
			}
			s := startServer(t, cfg)
			c, err := dialErr(t, s, "127.0.0.2")
			switch {
			case err == nil:
				tt.client(t, c)
			case !errors.Is(err, syscall.ECONNRESET):
				t.Fatal(err)
			}
			l.waitLog(tt.want...)
			if n := len(l.connLines()); n != 1 {
				t.Errorf("%d connection-log lines, want 1", n)
			}
		})
	}
}

// expectClosed waits for the load balancer to close c, with a reset or in order.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.Copy(io.Discard, c)
	if errors.Is(err, syscall.ETIMEDOUT) || isTimeout(err) {
		t.Fatalf("the connection was not closed: %v", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// unresponsiveAddr returns the address of a socket that listens with a full accept queue, so that a new connection
// attempt is never answered: the kernel drops its SYN, and the connect waits for its timeout.
func unresponsiveAddr(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := (&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sa.(*syscall.SockaddrInet4).Port}).String()
	// Fill the accept queue (backlog 0 holds one connection) until a connect hangs.
	for range 8 {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			if isTimeout(err) {
				return addr
			}
			t.Fatalf("filling the accept queue: %v", err)
		}
		t.Cleanup(func() { _ = c.Close() })
	}
	t.Skip("this kernel answers connections beyond a full accept queue; cannot make a target that never answers")
	return ""
}
