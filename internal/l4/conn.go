package l4

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mtlslb/mtlslb/internal/accesslog"
	"github.com/mtlslb/mtlslb/internal/metrics"
	"github.com/mtlslb/mtlslb/internal/proxyproto"
	"github.com/mtlslb/mtlslb/internal/truststore"
)

// Why a connection was closed before both sides finished, for the logs.
const (
	reasonShutdown     = "listener shutting down"
	reasonDeregistered = "target deregistered: its deregistration delay is over"
)

var (
	errIdle    = errors.New("idle timeout: no byte moved in either direction")
	errStalled = errors.New("a peer stopped reading for the whole idle timeout")
)

// The two copy directions.
const (
	up   = 0 // client to target
	down = 1 // target to client
)

// conn is one accepted connection, from accept to close. It is allocated once and carries every buffer its
// forwarding needs, so that the copy loop allocates nothing.
type conn struct {
	s   *Server
	g   *generation // the generation it was accepted under, for its whole life
	raw net.Conn    // the accepted socket
	tcp *net.TCPConn
	// front is where the client's bytes are read and written: raw on TCP listeners, the *tls.Conn on TLS ones.
	front net.Conn
	tc    *tls.Conn

	id       accesslog.TraceID
	accepted time.Time // Config.Now at accept, for the handshake latency
	born     time.Time // the runtime clock at accept, for idle accounting
	peer     netip.AddrPort
	client   netip.AddrPort // the client: peer, or the source of a PROXY header
	local    netip.AddrPort // the listener's socket address
	proxyDst netip.AddrPort // the destination of a PROXY header, when one named it
	info     proxyproto.TLS // the TLS facts sent in a PROXY v2 header, on TLS listeners

	// prefix holds client bytes read before forwarding began (behind a PROXY header, or read to check that an
	// untrusted client is not sending one); they go to the target first.
	prefix []byte
	sniff  [16]byte
	hdr    [512]byte // room for a PROXY v2 header without a client certificate

	forwarding atomic.Bool  // past the handshake: Shutdown lets it finish
	last       atomic.Int64 // nanoseconds after born when a byte last moved
	bytes      [2]int64     // payload bytes forwarded per direction (no PROXY header), read after wg.Wait
	ro         [2]readerOnly
	wo         [2]writerOnly
	wg         sync.WaitGroup

	mu     sync.Mutex
	target *net.TCPConn
	closed bool
	why    string // the first abort's reason
}

func newConn(s *Server, g *generation, raw net.Conn) *conn {
	c := &conn{s: s, g: g, raw: raw, front: raw, id: g.cfg.NewTraceID(), accepted: g.cfg.Now(), born: time.Now()}
	c.tcp, _ = raw.(*net.TCPConn)
	c.peer, c.local = addrPort(raw.RemoteAddr()), addrPort(raw.LocalAddr())
	c.client = c.peer
	return c
}

func addrPort(a net.Addr) netip.AddrPort {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.AddrPort{}
	}
	ap := ta.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

func (c *conn) run() {
	if c.handshake() {
		c.forward()
	}
}

// handshake reads a PROXY header or checks that none is forged, runs the TLS handshake on TLS listeners, and
// writes the connection-log line. It reports whether the connection may be forwarded; if not, it is closed.
func (c *conn) handshake() bool {
	g := c.g
	if len(g.trusted) == 0 && g.cfg.Protocol == ProtocolTCP {
		c.logTCP() // nothing to read before forwarding
		return true
	}
	_ = c.raw.SetDeadline(time.Now().Add(g.cfg.HandshakeTimeout))
	if len(g.trusted) > 0 {
		if g.trusts(c.peer.Addr()) {
			h, rest, err := proxyproto.Read(c.raw)
			if err != nil {
				c.refuse(fmt.Sprintf("no valid PROXY header from trusted peer %v: %v", c.peer, c.closedOr(err)), true)
				return false
			}
			if !h.Local {
				c.client = netip.AddrPortFrom(h.Source.Addr().Unmap(), h.Source.Port())
				c.proxyDst = netip.AddrPortFrom(h.Destination.Addr().Unmap(), h.Destination.Port())
			}
			c.prefix = rest
		} else if g.cfg.Protocol == ProtocolTCP {
			if why, proxy := c.checkNoProxyHeader(); why != "" {
				c.refuse(why, proxy)
				return false
			}
		}
	}
	if g.cfg.Protocol == ProtocolTLS {
		return c.tlsHandshake()
	}
	_ = c.raw.SetDeadline(time.Time{})
	c.logTCP()
	return true
}

// logTCP writes the connection-log line of a TCP listener's connection: no TLS fields, no status.
func (c *conn) logTCP() {
	if w := c.g.cfg.ConnLog; w != nil {
		// Declared here, the record is only allocated when the log is on.
		rec := c.record()
		w.WriteConn(&rec)
	}
}

// checkNoProxyHeader reads the first bytes of a connection from an untrusted peer on a TCP listener that accepts
// the PROXY protocol, and returns why it must be refused when they are a PROXY header (proxy true), or why it
// cannot go on when reading failed before any byte arrived (proxy false: the client went away, nothing was
// forged). The bytes read are kept for the target. A client that sends nothing within the handshake timeout (a
// protocol where the server speaks first) is let through.
func (c *conn) checkNoProxyHeader() (why string, proxy bool) {
	n := 0
	for {
		m, err := c.raw.Read(c.sniff[n:])
		n += m
		v, serr := proxyproto.Sniff(c.sniff[:n])
		switch {
		case serr == nil:
			return fmt.Sprintf("PROXY v%d header from %v, which is not in the listener's trusted networks", v, c.peer), true
		case errors.Is(serr, proxyproto.ErrNotProxy):
			c.prefix = c.sniff[:n]
			return "", false
		case err == nil:
			continue
		case n == 0 && (errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, io.EOF)):
			return "", false
		case n == 0:
			return fmt.Sprintf("reading from %v: %v", c.peer, c.closedOr(err)), false
		}
		return fmt.Sprintf("%d bytes from %v start like a PROXY header (%q), then: %v; %v is not in the listener's trusted networks",
			n, c.peer, c.sniff[:n], c.closedOr(err), c.peer), true
	}
}

func (c *conn) tlsHandshake() bool {
	g := c.g
	var nc net.Conn = c.raw
	if len(c.prefix) > 0 {
		nc = &prefixConn{Conn: c.raw, prefix: c.prefix}
		c.prefix = nil
	}
	tc := tls.Server(nc, g.cfg.TLS)
	err := tc.Handshake()
	cs := tc.ConnectionState()
	status, leaf := verifyStatus(err, cs)
	if err != nil {
		g.cfg.Metrics.HandshakeDone(status.Code(), 0)
	}
	rec := c.record()
	rec.TLSVersion, rec.CipherSuite, rec.KeyExchange = cs.Version, cs.CipherSuite, cs.CurveID
	rec.Leaf, rec.Status = leaf, status.String()
	if err != nil {
		c.writeLog(&rec)
		why, proxy := handshakeReason(c.closedOr(err), g, c.peer)
		level := slog.LevelDebug
		if proxy {
			level = slog.LevelWarn
		}
		c.abort(why)
		c.logEnd(level, "TLS handshake failed", why, "tls_verify_status", rec.Status)
		return false
	}
	rec.HandshakeLatency = max(g.cfg.Now().Sub(c.accepted), 0)
	g.cfg.Metrics.HandshakeDone(status.Code(), rec.HandshakeLatency)
	c.writeLog(&rec)
	_ = c.raw.SetDeadline(time.Time{})
	c.tc, c.front = tc, tc
	c.info = proxyproto.TLS{
		Version:    accesslog.TLSVersionName(cs.Version),
		Cipher:     accesslog.CipherSuiteName(cs.CipherSuite),
		ServerName: cs.ServerName,
		ALPN:       cs.NegotiatedProtocol,
	}
	if leaf != nil {
		c.info.CN, c.info.ClientCert, c.info.Verified = leaf.Subject.CommonName, leaf.Raw, g.verifies
	}
	return true
}

// refuse ends a connection whose PROXY protocol use is wrong, before any handshake: one connection-log line, one
// warning with the reason. proxy says whether it counts as a PROXY protocol refusal in the metrics: not when the
// client went away before sending a byte, nor when Shutdown aborted the connection first.
func (c *conn) refuse(why string, proxy bool) {
	rec := c.record()
	rec.Status = truststore.StatusUnmappedConnectionError.String()
	c.writeLog(&rec)
	if c.abort(why) && proxy {
		c.g.cfg.Metrics.ConnRefused(metrics.RefusedProxyProtocol)
	}
	c.logEnd(slog.LevelWarn, "connection refused", why)
}

func (c *conn) record() accesslog.ConnRecord {
	return accesslog.ConnRecord{
		Time:             c.g.cfg.Now(),
		Client:           c.client,
		ListenerPort:     c.local.Port(),
		Local:            c.local.Addr(),
		TraceID:          c.id,
		ELB:              c.g.cfg.ELB,
		HandshakeLatency: accesslog.NoLatency,
	}
}

func (c *conn) writeLog(rec *accesslog.ConnRecord) {
	if w := c.g.cfg.ConnLog; w != nil {
		w.WriteConn(rec)
	}
}

// forward picks and dials a target, sends what must precede the client's bytes, and copies both ways.
func (c *conn) forward() {
	c.forwarding.Store(true)
	g := c.g
	grp := g.cfg.Group
	t := grp.pick()
	if t == nil {
		if c.abort("target group " + grp.name + " has no targets") {
			g.cfg.Metrics.ConnRefused(metrics.RefusedNoTargets)
		}
		c.logEnd(slog.LevelWarn, "connection refused", c.why)
		return
	}
	defer t.active.Add(-1)
	target, err := t.dial(c.s.ctx, &g.dialer)
	if err != nil {
		// A dial that Shutdown cancelled is no fault of the target's.
		if c.abort("connecting to target "+t.addr+": "+err.Error()) && c.s.ctx.Err() == nil {
			g.cfg.Metrics.TargetConnectionError()
		}
		c.logEnd(slog.LevelWarn, "target unreachable", c.why)
		return
	}
	if !c.setTarget(target) {
		_ = target.Close()
		return // aborted meanwhile (shutdown)
	}
	if !t.add(c) {
		c.abort(reasonDeregistered)
		c.logEnd(slog.LevelDebug, "connection aborted", c.why, "target", t.addr)
		return
	}
	defer t.remove(c)

	out := c.hdr[:0]
	if grp.proxyV2 {
		dst := c.local
		if c.proxyDst.IsValid() {
			dst = c.proxyDst // relay what the upstream proxy said, as HAProxy does
		}
		var info *proxyproto.TLS
		if c.tc != nil {
			info = &c.info
		}
		if out, err = proxyproto.AppendV2(out, c.client, dst, info); err != nil {
			c.abort("writing PROXY header: " + err.Error())
			c.logEnd(slog.LevelWarn, "connection refused", c.why)
			return
		}
	}
	out = append(out, c.prefix...)
	early := int64(len(c.prefix)) // client bytes among out; the rest is the PROXY header
	c.prefix = nil
	if len(out) > 0 {
		_ = target.SetWriteDeadline(time.Now().Add(g.cfg.IdleTimeout))
		if _, err := target.Write(out); err != nil {
			c.abort("writing to target " + t.addr + ": " + err.Error())
			c.logEnd(slog.LevelDebug, "connection aborted", c.why, "target", t.addr)
			return
		}
		c.counted(up, early)
	}
	c.touch()
	c.wg.Add(1)
	go c.pump(up)
	c.pump(down)
	c.wg.Wait()
	c.finish(t.addr)
}

func (c *conn) setTarget(t *net.TCPConn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.target = t
	return true
}

// pump copies one direction until its source ends, then passes the half-close on; a failure aborts both.
func (c *conn) pump(dir int) {
	if dir == up {
		defer c.wg.Done()
	}
	if err := c.copy(dir); err != nil {
		c.abort(err.Error())
		return
	}
	if dir == up {
		_ = c.target.CloseWrite()
		return
	}
	if c.tc != nil {
		_ = c.tc.CloseWrite() // close_notify; it does not shut the socket's write side
	}
	if c.tcp != nil {
		_ = c.tcp.CloseWrite()
	}
}

// copy moves bytes from one side to the other until EOF (nil), the idle timeout, or an error.
//
// Deadlines carry the idle timeout without a timer goroutine per connection: the read waits at most a quarter of
// the timeout, and on each wake-up the direction checks when a byte last moved in either direction. A busy
// transfer wakes up the same way, since the runtime checks the deadline between the splice calls of one ReadFrom.
// The write deadline is the whole timeout, because a write that times out may have lost bytes (those already in
// splice's pipe, or a TLS record): it ends the connection.
func (c *conn) copy(dir int) error {
	src, dst := c.front, net.Conn(c.target)
	if dir == down {
		src, dst = dst, src
	}
	idle := c.g.cfg.IdleTimeout
	splice := c.tc == nil && c.tcp != nil
	var buf *[]byte
	if !splice {
		buf = c.s.buffer()
		defer c.s.bufs.Put(buf)
		c.ro[dir].r, c.wo[dir].w = src, dst
	}
	for {
		t0 := time.Now()
		_ = src.SetReadDeadline(t0.Add(c.g.idleStep))
		_ = dst.SetWriteDeadline(t0.Add(idle))
		var n int64
		var err error
		if splice {
			// Both ends are *net.TCPConn: ReadFrom splices on Linux.
			n, err = dst.(*net.TCPConn).ReadFrom(src)
		} else {
			// readerOnly and writerOnly hide ReadFrom and WriteTo, which would copy through a buffer of their own
			// (32 KiB, allocated per call) instead of the pooled one.
			n, err = io.CopyBuffer(&c.wo[dir], &c.ro[dir], *buf)
		}
		if n > 0 {
			c.counted(dir, n)
			c.touch()
		}
		switch {
		case err == nil:
			return nil // EOF
		case !errors.Is(err, os.ErrDeadlineExceeded):
			return err
		case time.Since(t0) >= idle:
			return errStalled
		case c.idleFor() >= idle:
			return errIdle
		}
	}
}

// counted adds n bytes forwarded in direction dir, for the log and the metrics. It runs once per copy call (each
// splice loop's return), never per read or write.
func (c *conn) counted(dir int, n int64) {
	c.bytes[dir] += n
	md := metrics.ClientToTarget
	if dir == down {
		md = metrics.TargetToClient
	}
	c.g.cfg.Metrics.Forwarded(md, n)
}

func (c *conn) touch() { c.last.Store(int64(time.Since(c.born))) }

func (c *conn) idleFor() time.Duration { return time.Since(c.born) - time.Duration(c.last.Load()) }

// abort closes both sides at once, with a reset rather than an orderly close: the stream did not end as its peers
// sent it, and neither must take what it received for the whole of it. The first reason is kept for the log; abort
// reports whether it was this call's, so that a connection is counted once, under the cause that ended it.
func (c *conn) abort(why string) bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	c.closed, c.why = true, why
	target := c.target
	c.mu.Unlock()
	if c.tcp != nil {
		_ = c.tcp.SetLinger(0)
	}
	_ = c.raw.Close()
	if target != nil {
		_ = target.SetLinger(0)
		_ = target.Close()
	}
	return true
}

// finish closes a connection whose two directions have ended, and logs how.
func (c *conn) finish(target string) {
	c.mu.Lock()
	aborted, why := c.closed, c.why
	c.closed = true
	c.mu.Unlock()
	if !aborted {
		_ = c.raw.Close()
		_ = c.target.Close()
	}
	if !c.g.log.Enabled(c.s.ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{slog.String("conn_trace_id", c.id.String()), slog.String("client", c.client.String()),
		slog.String("target", target), slog.Int64("bytes_up", c.bytes[up]), slog.Int64("bytes_down", c.bytes[down]),
		slog.Duration("duration", time.Since(c.born))}
	msg := "connection closed"
	if aborted {
		msg = "connection aborted"
		attrs = append(attrs, slog.String("reason", why))
	}
	c.g.log.LogAttrs(c.s.ctx, slog.LevelDebug, msg, attrs...)
}

// logEnd logs a connection that ended before forwarding.
func (c *conn) logEnd(level slog.Level, msg, why string, attrs ...any) {
	if !c.g.log.Enabled(c.s.ctx, level) {
		return
	}
	args := append([]any{"conn_trace_id", c.id.String(), "client", c.client.String(), "peer", c.peer.String(),
		"reason", why}, attrs...)
	c.g.log.Log(c.s.ctx, level, msg, args...)
}

// closedOr replaces the error of an operation on a socket that an abort closed with the abort's reason.
func (c *conn) closedOr(err error) error {
	c.mu.Lock()
	why := c.why
	c.mu.Unlock()
	if why != "" && errors.Is(err, net.ErrClosed) {
		return errors.New(why)
	}
	return err
}

// prefixConn returns bytes read ahead of a TLS handshake before reading the socket again.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.prefix) > 0 {
		n := copy(b, p.prefix)
		p.prefix = p.prefix[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

type readerOnly struct{ r io.Reader }

func (r *readerOnly) Read(b []byte) (int, error) { return r.r.Read(b) }

type writerOnly struct{ w io.Writer }

func (w *writerOnly) Write(b []byte) (int, error) { return w.w.Write(b) }

// copyBufferSize is one TLS record's plaintext: a TLS side reads and writes at most that much at a time.
const copyBufferSize = 16 << 10

func (s *Server) buffer() *[]byte {
	if b, ok := s.bufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, copyBufferSize)
	return &b
}
