package upstream

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// Conn is an HTTP/1.1 connection to one target, lent by a transport's connection source (Acquire) to a caller
// that writes one request on it and reads its response on its own goroutine, then gives it back (Release).
//
// This is the proxy's direct path for plain HTTP/1.1 exchanges: net/http's Transport runs two goroutines per
// connection and hands every request and response between them and the caller through channels, with a
// context, a timer and a cloned header map per request, which cost more CPU per keep-alive request than the
// proxying itself. Everything else (HTTP/2, gRPC, upgrades, request bodies of unknown length) still goes
// through the Transport.
type Conn struct {
	nc net.Conn
	// R and W buffer the connection; R may hold the start of a response only while the conn is lent.
	R *bufio.Reader
	W *bufio.Writer
	// raw is the TCP connection under nc, for the liveness check.
	raw       syscall.RawConn
	addr      string
	idleSince time.Time
	reused    bool
}

// NetConn returns the connection (a *tls.Conn for HTTPS targets), for deadlines and Close.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Reused reports whether the connection carried an earlier exchange: a request that fails on it before any
// byte of response may be retried on a new one.
func (c *Conn) Reused() bool { return c.reused }

// ConnSource lends HTTP/1.1 connections to targets, keeping idle ones per target address (most recently used
// first, at most maxIdleConnsPerHost, none idle longer than idleConnTimeout).
type ConnSource struct {
	d       *dialer
	useTLS  bool
	timeout time.Duration // response header timeout, for callers

	mu        sync.Mutex
	idle      map[string][]*Conn
	lastSweep time.Time
	closed    bool
}

// bufferSize is the size of each direction's buffer: a request head with the client-certificate headers
// (the URL-encoded leaf alone is about 1.5 KiB for an ECDSA certificate) fits in one write.
const bufferSize = 8 << 10

// recentlyUsed is how long after its last exchange an idle connection is lent without a liveness check to a
// request that can be retried.
const recentlyUsed = time.Second

var (
	readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, bufferSize) }}
	writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, bufferSize) }}
)

// ResponseHeaderTimeout is how long a caller should wait for a response's head once the request is written.
func (s *ConnSource) ResponseHeaderTimeout() time.Duration { return s.timeout }

// Acquire returns a connection to addr: an idle one that is still open, or a new one. Dial and TLS errors are
// the transport's (ErrorReason maps them).
//
// An idle connection is checked with a non-blocking peek at its socket before it is lent, unless the request
// is replayable (the caller sends it again on a new connection if this one turns out closed) and the
// connection was idle for less than a second: busy connections skip the system call.
func (s *ConnSource) Acquire(ctx context.Context, addr string, replayable bool) (*Conn, error) {
	for {
		c := s.popIdle(addr)
		if c == nil {
			break
		}
		if (replayable && time.Since(c.idleSince) < recentlyUsed) || c.alive() {
			c.reused = true
			return c, nil
		}
		c.close()
	}
	var nc net.Conn
	var err error
	if s.useTLS {
		nc, err = s.d.dialTLS(ctx, "tcp", addr)
	} else {
		nc, err = s.d.dial(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	c := &Conn{nc: nc, addr: addr}
	tcp := nc
	if tc, ok := nc.(*tls.Conn); ok {
		tcp = tc.NetConn()
	}
	if sc, ok := tcp.(syscall.Conn); ok {
		c.raw, _ = sc.SyscallConn()
	}
	r := readers.Get().(*bufio.Reader)
	r.Reset(nc)
	w := writers.Get().(*bufio.Writer)
	w.Reset(nc)
	c.R, c.W = r, w
	return c, nil
}

// Release gives c back: kept for the next request when reuse is true (the whole response was read, neither
// side asked to close), closed otherwise.
func (s *ConnSource) Release(c *Conn, reuse bool) {
	if !reuse || c.R.Buffered() > 0 || c.W.Buffered() > 0 {
		c.close()
		return
	}
	now := time.Now()
	c.idleSince = now
	var expired []*Conn
	s.mu.Lock()
	if s.closed || len(s.idle[c.addr]) >= maxIdleConnsPerHost {
		s.mu.Unlock()
		c.close()
		return
	}
	if s.idle == nil {
		s.idle = make(map[string][]*Conn)
	}
	s.idle[c.addr] = append(s.idle[c.addr], c)
	if now.Sub(s.lastSweep) > idleConnTimeout/4 {
		s.lastSweep = now
		expired = s.sweepLocked(now)
	}
	s.mu.Unlock()
	for _, e := range expired {
		e.close()
	}
}

// popIdle takes the most recently used idle connection to addr, or nil.
func (s *ConnSource) popIdle(addr string) *Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	stack := s.idle[addr]
	if len(stack) == 0 {
		return nil
	}
	c := stack[len(stack)-1]
	stack[len(stack)-1] = nil
	s.idle[addr] = stack[:len(stack)-1]
	return c
}

// sweepLocked removes the connections idle longer than idleConnTimeout and returns them to be closed. The
// oldest are at the bottom of each stack.
func (s *ConnSource) sweepLocked(now time.Time) []*Conn {
	var expired []*Conn
	for addr, stack := range s.idle {
		n := 0
		for n < len(stack) && now.Sub(stack[n].idleSince) > idleConnTimeout {
			n++
		}
		if n == 0 {
			continue
		}
		expired = append(expired, stack[:n]...)
		rest := copy(stack, stack[n:])
		clear(stack[rest:])
		if rest == 0 {
			delete(s.idle, addr)
		} else {
			s.idle[addr] = stack[:rest]
		}
	}
	return expired
}

// closeIdle closes every idle connection; with final, connections released later are closed too.
func (s *ConnSource) closeIdle(final bool) {
	s.mu.Lock()
	all := s.idle
	s.idle = nil
	if final {
		s.closed = true
	}
	s.mu.Unlock()
	for _, stack := range all {
		for _, c := range stack {
			c.close()
		}
	}
}

// alive reports whether an idle connection is still worth a request: the target has not closed it (or reset
// it) and has sent nothing since the last response. One non-blocking peek at the socket; a TLS record
// waiting there (a session ticket, a close_notify) also retires the connection, which costs a new handshake
// at worst, never a request sent into a closing connection.
func (c *Conn) alive() bool {
	if time.Since(c.idleSince) > idleConnTimeout {
		return false
	}
	if c.raw == nil {
		return true
	}
	var buf [1]byte
	var err error
	if ctrl := c.raw.Read(func(fd uintptr) bool {
		_, _, err = syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true
	}); ctrl != nil {
		return false
	}
	// Nothing to read and no EOF: EAGAIN. Data, EOF (err nil) or any other error retire the connection.
	return errors.Is(err, syscall.EAGAIN)
}

func (c *Conn) close() {
	c.nc.Close()
	if c.R != nil {
		c.R.Reset(nil)
		readers.Put(c.R)
		c.W.Reset(nil)
		writers.Put(c.W)
		c.R, c.W = nil, nil
	}
}

// Direct returns the HTTP/1.1 connection source of rt, a transport of a Pool for an HTTP1 target group, or
// nil when rt has none (HTTP/2 and gRPC target groups, or another RoundTripper).
func Direct(rt http.RoundTripper) *ConnSource {
	if t, ok := rt.(*transport); ok {
		return t.h1
	}
	return nil
}

// Discard closes a lent connection that will not be released (an exchange that failed or was abandoned).
func (c *Conn) Discard() { c.close() }
