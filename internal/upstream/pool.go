package upstream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// ErrPoolClosed is returned by Pool.Transport after Pool.Close.
var ErrPoolClosed = errors.New("upstream pool closed")

// Pool hands out shared transports, one per Key. Its zero value is not usable; call NewPool. It is
// safe for concurrent use.
type Pool struct {
	mu         sync.Mutex
	transports map[Key]*transport
	closed     bool
}

// NewPool returns an empty Pool.
func NewPool() *Pool {
	return &Pool{transports: make(map[Key]*transport)}
}

// Transport returns the transport for cfg, creating it on first use. Configs with equal Keys get the
// same transport, so the connections it pools outlive the configuration snapshot that asked for it.
//
// Requests sent through it must carry cfg.Scheme() as their URL scheme; any other scheme is refused,
// so that a request meant for an HTTPS target group is never sent in clear text.
func (p *Pool) Transport(cfg Config) (http.RoundTripper, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("building target transport: %w", err)
	}
	key := cfg.Key()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrPoolClosed
	}
	if t, ok := p.transports[key]; ok {
		return t, nil
	}
	t := newTransport(cfg.withDefaults())
	p.transports[key] = t
	return t, nil
}

// Retain keeps the transports of the given keys shared and retires every other one: its idle
// connections are closed now and the next Transport call for its key builds a new one. A retired
// transport keeps working for requests still in flight, or started late, on the snapshot that holds
// it; connections those requests leave idle close after the idle timeout.
//
// Call it after swapping in a new snapshot, with the Keys of every target group the snapshot uses.
// A snapshot that fails to compile needs no call: the transports it created stay shared until the
// next successful reload's Retain drops those it does not use.
func (p *Pool) Retain(keys ...Key) {
	keep := make(map[Key]struct{}, len(keys))
	for _, k := range keys {
		keep[k] = struct{}{}
	}
	var retired []*transport
	p.mu.Lock()
	for k, t := range p.transports {
		if _, ok := keep[k]; !ok {
			delete(p.transports, k)
			retired = append(retired, t)
		}
	}
	p.mu.Unlock()
	// Outside the lock: closing connections does I/O.
	for _, t := range retired {
		t.retire()
	}
}

// Close retires every transport and makes later Transport calls fail with ErrPoolClosed.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	all := p.transports
	p.transports = nil
	p.mu.Unlock()
	for _, t := range all {
		t.retire()
	}
}

// transport is the http.RoundTripper Pool hands out: an http.Transport set up for one Config, and the
// scheme it accepts.
type transport struct {
	scheme string
	rt     *http.Transport
	h1     *ConnSource // HTTP1 target groups only: the direct path's connections
}

// RoundTrip implements http.RoundTripper.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != t.scheme {
		// A RoundTripper must close the body, even on error.
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("sending %s request through a transport for %s targets: scheme mismatch", req.URL.Scheme, t.scheme)
	}
	resp, err := t.rt.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	splitTrailersOnly(resp)
	return resp, nil
}

// CloseIdleConnections closes the transport's idle connections; http.Client calls it too.
// retire closes the idle connections of a transport no snapshot uses any more, and those its last requests
// give back later.
func (t *transport) retire() {
	t.rt.CloseIdleConnections()
	if t.h1 != nil {
		t.h1.closeIdle(true)
	}
}

func (t *transport) CloseIdleConnections() {
	t.rt.CloseIdleConnections()
	if t.h1 != nil {
		t.h1.closeIdle(false)
	}
}

// splitTrailersOnly turns a gRPC trailers-only response (the status in the only HEADERS frame, which
// ends the stream) into headers followed by trailers, which gRPC allows as well.
//
// A proxy cannot forward the trailers-only form reliably: net/http's server sends the headers of a
// response in their own frame as soon as they are flushed, and httputil.ReverseProxy flushes
// immediately when FlushInterval is negative. The status then travels in a HEADERS frame that does
// not end the stream, which gRPC clients ignore before failing the call with "server closed the
// stream without sending trailers". As trailers the status always comes last, however the proxy
// flushes.
func splitTrailersOnly(resp *http.Response) {
	if resp.ProtoMajor != 2 || resp.ContentLength != 0 || resp.Header["Grpc-Status"] == nil {
		return
	}
	if resp.Trailer == nil {
		resp.Trailer = make(http.Header, 3)
	}
	// The fields of a gRPC status.
	for _, k := range [...]string{"Grpc-Status", "Grpc-Message", "Grpc-Status-Details-Bin"} {
		if v, ok := resp.Header[k]; ok {
			resp.Trailer[k] = v
			delete(resp.Header, k)
		}
	}
}

// MaxResponseHeaderBytes bounds a target response's head: 64 KiB, as for the headers of a request
// (alb-compat §7).
const MaxResponseHeaderBytes = 64 << 10

// newTransport compiles cfg, which has its defaults applied and has been validated.
func newTransport(cfg Config) *transport {
	d := &dialer{
		net: net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: tcpKeepAlive},
	}
	var protocols http.Protocols
	rt := &http.Transport{
		// No Proxy: targets are dialled directly, whatever HTTP_PROXY says.
		DialContext:         d.dial,
		MaxIdleConnsPerHost: maxIdleConnsPerHost,
		IdleConnTimeout:     idleConnTimeout,
		// Responses pass through as the target sent them: without this the transport would ask for
		// gzip on the client's behalf and hand back a decompressed body.
		DisableCompression:    true,
		ResponseHeaderTimeout: cfg.ResponseHeaderTimeout,
		// The bound the direct path's reader applies too (httpproxy/response.go), instead of net/http's
		// 10 MB: a target's response head larger than a request's may be is refused, 502.
		MaxResponseHeaderBytes: MaxResponseHeaderBytes,
		ExpectContinueTimeout:  time.Second,
		HTTP2: &http.HTTP2Config{
			SendPingTimeout: h2SendPingTimeout,
			PingTimeout:     h2PingTimeout,
		},
		Protocols: &protocols,
	}
	h2 := cfg.Version == VersionHTTP2 || cfg.Version == VersionGRPC
	switch {
	case cfg.Protocol == ProtocolHTTPS:
		d.tls = tlsConfig(cfg, h2)
		d.handshakeTimeout = cfg.TLSHandshakeTimeout
		d.requireH2 = h2
		// The handshake happens in our dialer, not in net/http's, so that ALPN is checked and TLS
		// failures are told apart from connect failures.
		rt.DialTLSContext = d.dialTLS
		protocols.SetHTTP1(!h2)
		protocols.SetHTTP2(h2)
	case h2:
		// h2c with prior knowledge: net/http speaks HTTP/2 on a plain connection only when HTTP/1 is
		// off.
		protocols.SetUnencryptedHTTP2(true)
	default:
		protocols.SetHTTP1(true)
	}
	t := &transport{scheme: cfg.Scheme(), rt: rt}
	if !h2 {
		t.h1 = &ConnSource{d: d, useTLS: cfg.Protocol == ProtocolHTTPS, timeout: cfg.ResponseHeaderTimeout}
	}
	return t
}

// tlsConfig is the client TLS configuration of cfg's targets; it is never modified after this.
func tlsConfig(cfg Config, h2 bool) *tls.Config {
	c := &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: cfg.ServerName,
		// Resumption spares targets a full handshake (and a client certificate check) per new
		// connection; one entry per target. The cache belongs to this transport, whose Key covers
		// the root CAs, so a session verified under other trust is never resumed.
		ClientSessionCache: tls.NewLRUClientSessionCache(sessionCacheSize),
		// ALB does not verify target certificates; RootCAs turn verification on.
		InsecureSkipVerify: len(cfg.RootCAs) == 0,
	}
	if h2 {
		c.NextProtos = []string{"h2"}
	} else {
		c.NextProtos = []string{"http/1.1"}
	}
	if len(cfg.RootCAs) > 0 {
		c.RootCAs = x509.NewCertPool()
		for _, ca := range cfg.RootCAs {
			c.RootCAs.AddCert(ca)
		}
	}
	if cc := cfg.ClientCertificate; cc != nil {
		// Presented whatever CAs the target names in its request: a target that asks for a
		// certificate gets the one it was configured for, and says no itself if it dislikes it.
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cc, nil }
	}
	return c
}

// dialer opens the connections of one transport.
type dialer struct {
	net              net.Dialer
	tls              *tls.Config
	handshakeTimeout time.Duration
	requireH2        bool
}

// dial opens a TCP connection to a target.
func (d *dialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := d.net.DialContext(ctx, network, addr)
	if err != nil {
		return nil, &dialError{err: err}
	}
	return conn, nil
}

// dialTLS opens a TLS connection to a target and checks that it speaks what the target group
// needs.
func (d *dialer) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := d.dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	cfg := d.tls
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			conn.Close()
			return nil, &handshakeError{addr: addr, err: err}
		}
		// One clone per new connection, never per request: connections are pooled.
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	tc := tls.Client(conn, cfg)
	hctx, cancel := context.WithTimeout(ctx, d.handshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		conn.Close()
		if hctx.Err() != nil && ctx.Err() == nil {
			// Our own deadline, not the request's: say which.
			err = fmt.Errorf("no handshake within %v: %w", d.handshakeTimeout, err)
		}
		return nil, &handshakeError{addr: addr, err: err}
	}
	if p := tc.ConnectionState().NegotiatedProtocol; d.requireH2 && p != "h2" {
		// net/http would otherwise fall back to HTTP/1 on this connection and send a gRPC call to a
		// server that cannot answer it.
		conn.Close()
		return nil, &handshakeError{addr: addr, err: fmt.Errorf("%w: negotiated %q", ErrHTTP2NotNegotiated, p)}
	}
	return tc, nil
}
