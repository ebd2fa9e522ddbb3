package l4

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/accesslog"
	"github.com/mtlslb/mtlslb/internal/health"
)

// syncBuffer is a bytes.Buffer for writers on other goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// logs captures a listener's connection log and its slog output (at debug level).
type logs struct {
	conn   *accesslog.Writer
	connW  *syncBuffer
	slog   *slog.Logger
	slogW  *syncBuffer
	testTB testing.TB
}

func newLogs(t testing.TB) *logs {
	t.Helper()
	l := &logs{connW: &syncBuffer{}, slogW: &syncBuffer{}, testTB: t}
	w, err := accesslog.NewWriter(accesslog.WriterOptions{Path: "-", Stdout: l.connW})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	l.conn = w
	l.slog = slog.New(slog.NewTextHandler(l.slogW, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return l
}

// connLines returns the connection-log lines written so far.
func (l *logs) connLines() []string {
	l.testTB.Helper()
	if err := l.conn.Flush(); err != nil {
		l.testTB.Fatal(err)
	}
	s := strings.TrimSpace(l.connW.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// waitConnLines waits until n connection-log lines were written and returns them.
func (l *logs) waitConnLines(n int) []string {
	l.testTB.Helper()
	var lines []string
	eventually(l.testTB, func() bool { lines = l.connLines(); return len(lines) >= n })
	return lines
}

// waitLog waits until the slog output contains every one of parts on one line, and returns that line.
func (l *logs) waitLog(parts ...string) string {
	l.testTB.Helper()
	var found string
	ok := poll(5*time.Second, func() bool {
		for _, line := range strings.Split(l.slogW.String(), "\n") {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				found = line
				return true
			}
		}
		return false
	})
	if !ok {
		l.testTB.Fatalf("no log line contains all of %q; the log:\n%s", parts, l.slogW.String())
	}
	return found
}

// poll calls cond until it holds or d passes; for effects that happen on other goroutines with no event to wait for
// (a socket closed by the kernel, a goroutine exiting).
func poll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func eventually(t testing.TB, cond func() bool) {
	t.Helper()
	if !poll(5*time.Second, cond) {
		t.Fatal("condition not reached within 5s")
	}
}

// checkLeaks registers a check, run after every later cleanup, that the goroutines and file descriptors of the
// process are back to what they were when it was called.
func checkLeaks(t testing.TB) {
	t.Helper()
	g0, fd0 := runtime.NumGoroutine(), countFDs(t)
	t.Cleanup(func() {
		var g, fd int
		ok := poll(5*time.Second, func() bool {
			// The runtime keeps the pipes of splice(2) in a sync.Pool and closes them when the pool drops them:
			// collecting lets them go, so that only descriptors something still holds are counted.
			runtime.GC()
			g, fd = runtime.NumGoroutine(), countFDs(t)
			return g <= g0 && fd <= fd0
		})
		if !ok {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Errorf("leak: %d goroutines (was %d), %d file descriptors (was %d)\n%s", g, g0, fd, fd0, buf[:n])
		}
	})
}

func countFDs(t testing.TB) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count file descriptors: %v", err)
	}
	return len(ents)
}

// targetServer is a TCP target on 127.0.0.1 running handle for each connection.
type targetServer struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	count int
}

func startTarget(t testing.TB, handle func(net.Conn)) *targetServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &targetServer{ln: ln, conns: map[net.Conn]struct{}{}}
	ts.wg.Add(1)
	go func() {
		defer ts.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ts.mu.Lock()
			ts.conns[c] = struct{}{}
			ts.count++
			ts.mu.Unlock()
			ts.wg.Add(1)
			go func() {
				defer ts.wg.Done()
				handle(c)
				_ = c.Close()
				ts.mu.Lock()
				delete(ts.conns, c)
				ts.mu.Unlock()
			}()
		}
	}()
	t.Cleanup(ts.close)
	return ts
}

func (ts *targetServer) addr() string { return ts.ln.Addr().String() }

func (ts *targetServer) accepted() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.count
}

func (ts *targetServer) close() {
	_ = ts.ln.Close()
	ts.mu.Lock()
	for c := range ts.conns {
		_ = c.Close()
	}
	ts.mu.Unlock()
	ts.wg.Wait()
}

func (ts *targetServer) healthTarget(t testing.TB) health.Target {
	t.Helper()
	host, port, err := net.SplitHostPort(ts.addr())
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	return health.Target{Host: host, Port: p}
}

// echo copies what it reads back, then closes its write side when the client closes its own.
func echo(c net.Conn) {
	_, _ = io.Copy(c, c)
	_ = c.(*net.TCPConn).CloseWrite()
	_, _ = io.Copy(io.Discard, c)
}

func newGroup(t testing.TB, opts TargetGroupOptions, targets ...*targetServer) *TargetGroup {
	t.Helper()
	for _, ts := range targets {
		opts.Targets = append(opts.Targets, ts.healthTarget(t))
	}
	if opts.Name == "" {
		opts.Name = "tg"
	}
	g, err := NewTargetGroup(opts)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// startServer serves cfg on 127.0.0.1:0 until the test ends.
func startServer(t testing.TB, cfg *Config) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ELB == "" {
		cfg.ELB = "test-lb"
	}
	s, err := New(ln, cfg)
	if err != nil {
		_ = ln.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s
}

// dial connects to s from source address src ("" for the default), so that tests can tell the client's address
// from the load balancer's.
func dial(t testing.TB, s *Server, src string) *net.TCPConn {
	t.Helper()
	c, err := dialErr(t, s, src)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// dialErr is dial for connections the load balancer may reset before connect returns: on loopback, a refusal can
// arrive before the client's goroutine sees its connection established.
func dialErr(t testing.TB, s *Server, src string) (*net.TCPConn, error) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c, err := d.Dial("tcp", s.Addr().String())
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = c.Close() })
	return c.(*net.TCPConn), nil
}

// readAll reads c to EOF within 5 s.
func readAll(t testing.TB, c net.Conn) ([]byte, error) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	return io.ReadAll(c)
}

// fields splits a connection-log line on spaces outside the quoted subject.
func fields(line string) []string {
	var out []string
	for line != "" {
		if line[0] == '"' {
			end := strings.Index(line[1:], "\"")
			out = append(out, line[:end+2])
			line = strings.TrimPrefix(line[end+2:], " ")
			continue
		}
		f, rest, _ := strings.Cut(line, " ")
		out = append(out, f)
		line = rest
	}
	return out
}
