package l4

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/proxyproto"
)

func TestTCPForwardsBytesUntouched(t *testing.T) {
	checkLeaks(t)
	target := startTarget(t, echo)
	l := newLogs(t)
	s := startServer(t, &Config{Group: newGroup(t, TargetGroupOptions{}, target), ConnLog: l.conn, Logger: l.slog})

	payload := make([]byte, 4<<20)
	rand.Read(payload)
	c := dial(t, s, "127.0.0.2")
	go func() {
		_, _ = c.Write(payload)
		_ = c.CloseWrite() // the echo target sees EOF only if the half-close is passed on
	}()
	got, err := readAll(t, c)
	if err != nil {
		t.Fatalf("reading the echo: %v", err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("echo differs: %d bytes back of %d", len(got), len(payload))
	}

	lines := l.waitConnLines(1)
	f := fields(lines[0])
	if len(f) != 15 {
		t.Fatalf("connection-log line has %d fields: %q", len(f), lines[0])
	}
	lport := fmt.Sprint(s.Addr().(*net.TCPAddr).Port)
	want := []string{1: "127.0.0.2", 3: lport, 4: "-", 5: "-", 6: "-", 7: "-", 8: "-", 9: "-", 10: "-", 12: "-", 13: "test-lb", 14: "127.0.0.1"}
	for i, w := range want {
		if w != "" && f[i] != w {
			t.Errorf("field %d = %q, want %q in %q", i+1, f[i], w, lines[0])
		}
	}
	if !strings.HasPrefix(f[11], "TID_") {
		t.Errorf("conn_trace_id %q", f[11])
	}
	l.waitLog("connection closed", "bytes_up=4194304", "bytes_down=4194304")
}

// TestHalfCloseBothWays: each side may finish sending while the other still sends.
func TestHalfCloseBothWays(t *testing.T) {
	checkLeaks(t)
	tests := []struct {
		name string
		// target reads the client's request to EOF, then answers; or answers first and then reads.
		targetFirst bool
	}{
		{"client closes first, target answers after", false},
		{"target closes first, client sends after", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotReq := make(chan []byte, 1)
			target := startTarget(t, func(c net.Conn) {
				tc := c.(*net.TCPConn)
				if tt.targetFirst {
					_, _ = tc.Write([]byte("banner"))
					_ = tc.CloseWrite()
					b, _ := io.ReadAll(tc)
					gotReq <- b
					return
				}
				b, _ := io.ReadAll(tc)
				gotReq <- b
				_, _ = tc.Write([]byte("answer to " + string(b)))
				_ = tc.CloseWrite()
			})
			s := startServer(t, &Config{Group: newGroup(t, TargetGroupOptions{}, target)})
			c := dial(t, s, "")
			if tt.targetFirst {
				banner := make([]byte, 6)
				if _, err := io.ReadFull(c, banner); err != nil || string(banner) != "banner" {
					t.Fatalf("banner %q, %v", banner, err)
				}
				if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
					t.Fatalf("after the banner: %d, %v; want EOF", n, err)
				}
				_, _ = c.Write([]byte("late request"))
				_ = c.CloseWrite()
				if b := <-gotReq; string(b) != "late request" {
					t.Fatalf("target got %q", b)
				}
				return
			}
			_, _ = c.Write([]byte("request"))
			_ = c.CloseWrite()
			got, err := readAll(t, c)
			if err != nil || string(got) != "answer to request" {
				t.Fatalf("answer %q, %v", got, err)
			}
			if b := <-gotReq; string(b) != "request" {
				t.Fatalf("target got %q", b)
			}
		})
	}
}

func TestIdleTimeout(t *testing.T) {
	checkLeaks(t)
	const idle = 300 * time.Millisecond
	target := startTarget(t, echo)
	l := newLogs(t)
	s := startServer(t, &Config{IdleTimeout: idle, Group: newGroup(t, TargetGroupOptions{}, target), Logger: l.slog})

	t.Run("an idle connection is closed", func(t *testing.T) {
		// Timed from before the dial: the listener may accept and start its idle clock before dial returns here.
		start := time.Now()
		c := dial(t, s, "")
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := c.Read(make([]byte, 1))
		elapsed := time.Since(start)
		if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read on an idle connection: %v; want it closed by the idle timeout", err)
		}
		// Not before the timeout; the upper bound is loose because a shared CI machine under -race can stall
		// the scheduler for hundreds of milliseconds, and the 5 s read deadline above already fails a
		// connection that is never closed.
		if elapsed < idle || elapsed > 10*idle {
			t.Errorf("closed after %v; want the idle timeout, %v (at most 10 times that)", elapsed, idle)
		}
		l.waitLog("connection aborted", "idle timeout")
	})
	t.Run("a connection that trickles stays open", func(t *testing.T) {
		c := dial(t, s, "")
		// Bytes every idle/6 for three idle periods: either direction's activity keeps the connection. (The margin
		// is wide because CI machines are shared: a stalled scheduler must not look like an idle connection.)
		for i := range 18 {
			if _, err := c.Write([]byte{byte(i)}); err != nil {
				t.Fatalf("write %d: %v\n%s", i, err, l.slogW.String())
			}
			b := make([]byte, 1)
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(c, b); err != nil || b[0] != byte(i) {
				t.Fatalf("echo %d: %v", i, err)
			}
			time.Sleep(idle / 6)
		}
	})
	t.Run("one busy direction keeps the other open", func(t *testing.T) {
		// The target streams to the client for two idle periods while the client sends nothing.
		streamer := startTarget(t, func(c net.Conn) {
			for range 16 {
				if _, err := c.Write(bytes.Repeat([]byte("x"), 1024)); err != nil {
					return
				}
				time.Sleep(idle / 8)
			}
			_ = c.(*net.TCPConn).CloseWrite()
		})
		s := startServer(t, &Config{IdleTimeout: idle, Group: newGroup(t, TargetGroupOptions{}, streamer)})
		c := dial(t, s, "")
		got, err := readAll(t, c)
		if err != nil || len(got) != 16*1024 {
			t.Fatalf("got %d bytes, %v; want the whole stream", len(got), err)
		}
	})
}

// proxyEcho is a target that reads a PROXY header, reports it on headers, and echoes the rest.
func proxyEcho(headers chan<- proxyproto.Header) func(net.Conn) {
	return func(c net.Conn) {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		h, rest, err := proxyproto.Read(c)
		_ = c.SetReadDeadline(time.Time{})
		if err != nil {
			headers <- proxyproto.Header{}
			return
		}
		headers <- h
		_, _ = c.Write(rest)
		echo(c)
	}
}

func TestProxyProtocolV2ToTarget(t *testing.T) {
	checkLeaks(t)
	headers := make(chan proxyproto.Header, 1)
	target := startTarget(t, proxyEcho(headers))
	s := startServer(t, &Config{Group: newGroup(t, TargetGroupOptions{ProxyProtocolV2: true}, target)})
	c := dial(t, s, "127.0.0.2")
	_, _ = c.Write([]byte("hello"))
	_ = c.CloseWrite()
	got, err := readAll(t, c)
	if err != nil || string(got) != "hello" {
		t.Fatalf("echo %q, %v", got, err)
	}
	h := <-headers
	if h.Version != 2 || h.Local {
		t.Fatalf("header %+v", h)
	}
	if want := c.LocalAddr().(*net.TCPAddr).AddrPort(); h.Source != want {
		t.Errorf("source %v, want the client's %v", h.Source, want)
	}
	if want := s.Addr().(*net.TCPAddr).AddrPort(); h.Destination != want {
		t.Errorf("destination %v, want the listener's %v", h.Destination, want)
	}
	if len(h.RawTLVs) != 0 {
		t.Errorf("a TCP listener sent TLVs %x: it knows nothing of the TLS inside", h.RawTLVs)
	}
}

func TestInboundProxyProtocol(t *testing.T) {
	checkLeaks(t)
	v1 := []byte("PROXY TCP4 192.0.2.10 198.51.100.1 40000 443\r\n")
	v2, _ := proxyproto.AppendV2(nil, netip.MustParseAddrPort("[2001:db8::7]:40001"), netip.MustParseAddrPort("[2001:db8::1]:443"), nil)
	local := proxyproto.AppendV2Local(nil)
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	elsewhere := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::ffff:192.168.0.0/112")}
	tests := []struct {
		name       string
		trusted    []netip.Prefix
		send       []byte
		wantSource string // what the target's PROXY header names; "" when the connection must be refused
		wantLog    string // connection-log client field
		wantReason string // in the warning of a refused connection
		wantEcho   string // what comes back through the echoing target
	}{
		{name: "v1 from a trusted peer", trusted: loopback, send: append(v1, "abc"...),
			wantSource: "192.0.2.10:40000", wantLog: "192.0.2.10", wantEcho: "abc"},
		{name: "v2 from a trusted peer", trusted: loopback, send: v2,
			wantSource: "[2001:db8::7]:40001", wantLog: "2001:db8::7"},
		{name: "LOCAL from a trusted peer keeps the real address", trusted: loopback, send: local,
			wantSource: "127.0.0.2:", wantLog: "127.0.0.2"},
		{name: "no header from a trusted peer", trusted: loopback, send: []byte("\x16\x03\x01\x00\x05hello"),
			wantLog: "127.0.0.2", wantReason: "no valid PROXY header from trusted peer 127.0.0.2"},
		{name: "broken header from a trusted peer", trusted: loopback, send: []byte("PROXY TCP4 1.2.3.4\r\n"),
			wantLog: "127.0.0.2", wantReason: "single spaces"},
		{name: "v1 from an untrusted peer", trusted: elsewhere, send: v1,
			wantLog: "127.0.0.2", wantReason: "PROXY v1 header from 127.0.0.2"},
		{name: "v2 from an untrusted peer", trusted: elsewhere, send: v2,
			wantLog: "127.0.0.2", wantReason: "PROXY v2 header from 127.0.0.2"},
		{name: "a header cut short from an untrusted peer", trusted: elsewhere, send: []byte("PRO"),
			wantLog: "127.0.0.2", wantReason: "start like a PROXY header"},
		{name: "data from an untrusted peer passes", trusted: elsewhere, send: []byte("\x16\x03\x01\x00\x05hello"),
			wantSource: "127.0.0.2:", wantLog: "127.0.0.2", wantEcho: "\x16\x03\x01\x00\x05hello"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			headers := make(chan proxyproto.Header, 1)
			target := startTarget(t, proxyEcho(headers))
			l := newLogs(t)
			s := startServer(t, &Config{ProxyTrusted: tt.trusted, HandshakeTimeout: time.Second, ConnLog: l.conn, Logger: l.slog,
				Group: newGroup(t, TargetGroupOptions{ProxyProtocolV2: true}, target)})
			c := dial(t, s, "127.0.0.2")
			_, _ = c.Write(tt.send)
			_ = c.CloseWrite()
			got, err := readAll(t, c)
			line := l.waitConnLines(1)[0]
			if f := fields(line); f[1] != tt.wantLog {
				t.Errorf("connection-log client %q, want %q: %q", f[1], tt.wantLog, line)
			}
			if tt.wantSource == "" {
				if err == nil && len(got) > 0 {
					t.Fatalf("refused connection answered %q", got)
				}
				if f := fields(line); f[10] != "Failed:UnmappedConnectionError" {
					t.Errorf("tls_verify_status %q, want Failed:UnmappedConnectionError", f[10])
				}
				l.waitLog("level=WARN", "connection refused", tt.wantReason)
				if target.accepted() != 0 {
					t.Errorf("a refused connection reached the target")
				}
				return
			}
			h := <-headers
			if !strings.HasPrefix(h.Source.String(), tt.wantSource) {
				t.Errorf("target saw source %v, want %s", h.Source, tt.wantSource)
			}
			if err != nil || string(got) != tt.wantEcho {
				t.Errorf("echo %q, %v; want %q", got, err, tt.wantEcho)
			}
		})
	}
}

func TestShutdown(t *testing.T) {
	checkLeaks(t)
	t.Run("waits for connections that end in time", func(t *testing.T) {
		target := startTarget(t, echo)
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		s, err := New(ln, &Config{Group: newGroup(t, TargetGroupOptions{}, target)})
		if err != nil {
			t.Fatal(err)
		}
		c := dial(t, s, "")
		_, _ = c.Write([]byte("x"))
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- s.Shutdown(context.Background()) }()
		// New connections are refused once Shutdown has begun.
		eventually(t, func() bool {
			c2, err := net.DialTimeout("tcp", s.Addr().String(), time.Second)
			if err == nil {
				c2.Close()
			}
			return err != nil
		})
		_, _ = c.Write([]byte("y")) // the connection in flight still works
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Fatalf("connection in flight during Shutdown: %v", err)
		}
		_ = c.CloseWrite()
		_, _ = readAll(t, c)
		if err := <-done; err != nil {
			t.Fatalf("Shutdown = %v, want nil once the connection ended", err)
		}
	})
	t.Run("closes connections still open at the deadline", func(t *testing.T) {
		target := startTarget(t, echo)
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		s, err := New(ln, &Config{Group: newGroup(t, TargetGroupOptions{}, target)})
		if err != nil {
			t.Fatal(err)
		}
		c := dial(t, s, "")
		_, _ = c.Write([]byte("x"))
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown = %v, want the context's deadline", err)
		}
		if _, err := readAll(t, c); err == nil {
			t.Error("the connection was closed in order; want a reset")
		}
	})
	t.Run("aborts handshakes at once", func(t *testing.T) {
		target := startTarget(t, echo)
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		s, err := New(ln, &Config{Protocol: ProtocolTCP, ProxyTrusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
			Group: newGroup(t, TargetGroupOptions{}, target)})
		if err != nil {
			t.Fatal(err)
		}
		dial(t, s, "") // trusted, and never sends its PROXY header
		start := time.Now()
		eventually(t, func() bool { s.mu.Lock(); defer s.mu.Unlock(); return len(s.conns) == 1 })
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Shutdown took %v with a connection waiting for its PROXY header", d)
		}
	})
}

// TestSplice checks that TCP-to-TCP forwarding moves bytes with splice(2): the runtime's splice path takes pipes
// from a pool, so a transfer through the listener creates pipe file descriptors that a copy through user space
// would not.
func TestSplice(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("splice is Linux's")
	}
	target := startTarget(t, echo)
	s := startServer(t, &Config{Group: newGroup(t, TargetGroupOptions{}, target)})
	before := pipes(t)
	c := dial(t, s, "")
	payload := make([]byte, 8<<20)
	duringc := make(chan map[string]bool, 1)
	go func() {
		_, _ = c.Write(payload[:len(payload)/2])
		duringc <- pipes(t)
		_, _ = c.Write(payload[len(payload)/2:])
		_ = c.CloseWrite()
	}()
	got, err := readAll(t, c)
	if err != nil || len(got) != len(payload) {
		t.Fatalf("echo: %d bytes, %v", len(got), err)
	}
	during, after := <-duringc, pipes(t)
	fresh := 0
	for p := range after {
		if !before[p] {
			fresh++
		}
	}
	for p := range during {
		if !before[p] {
			fresh++
		}
	}
	if fresh == 0 {
		t.Fatalf("no pipe appeared during the transfer (before %d, after %d): the copy did not splice", len(before), len(after))
	}
}

// pipes returns the pipe inodes the process holds open.
func pipes(t testing.TB) map[string]bool {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot list file descriptors: %v", err)
	}
	out := map[string]bool{}
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(l, "pipe:") {
			out[l] = true
		}
	}
	return out
}
