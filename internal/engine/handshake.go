package engine

import (
	"crypto/tls"
	"net"
	"net/netip"
	"strconv"

	"github.com/mtlslb/mtlslb/internal/accesslog"
	"github.com/mtlslb/mtlslb/internal/clientcert"
	"github.com/mtlslb/mtlslb/internal/httpproxy"
	"github.com/mtlslb/mtlslb/internal/listen"
	"github.com/mtlslb/mtlslb/internal/route"
	"github.com/mtlslb/mtlslb/internal/tlsconfig"
)

// handshakeDone runs once per accepted connection: it writes the connection-log line and, on success,
// computes the headers every request of the connection will carry.
func (e *Engine) handshakeDone(rt *listenerRuntime, h listen.Handshake) bool {
	g := h.Conn.State.(*listenerGen)
	if h.TLS == nil {
		// A plain HTTP listener: no handshake, no identity, no connection-log line (ALB logs TLS connections).
		ci := httpproxy.NewConnInfo(h.Conn.TraceID, nil)
		e.fillConnInfo(ci, g, h.Conn, tls.ConnectionState{})
		h.Conn.Values = ci
		return true
	}
	cs := h.TLS.ConnectionState()
	status, leaf := tlsconfig.HandshakeStatus(h.Err, cs)
	rt.m.HandshakeDone(status.Code(), h.Latency)
	if h.Err != nil {
		rt.m.ConnClosed()
	}
	// The header values are computed once, here, and the connection-log line reuses them.
	var values *clientcert.Values
	if h.Err == nil && len(cs.PeerCertificates) > 0 {
		v := clientcert.Compute(cs.PeerCertificates)
		values = &v
	}
	if g.connLog != nil {
		rec := e.connRecord(g, h, cs, status, leaf)
		rec.LeafValues = values
		g.connLog.w.WriteConn(&rec)
	}
	if h.Err != nil {
		e.log.Debug("handshake failed", "client", h.Conn.RemoteAddr().String(), "status", status.String(), "err", h.Err)
		return false
	}
	ci := httpproxy.NewConnInfo(h.Conn.TraceID, connFields(g, cs, values))
	e.fillConnInfo(ci, g, h.Conn, cs)
	if g.trustStore != nil && len(cs.PeerCertificates) > 0 && values != nil {
		ci.Identity = route.NewClient(cs.PeerCertificates[0], values.Issuer)
	}
	h.Conn.Values = ci
	if g.trustStore != nil && len(cs.PeerCertificates) > 0 {
		// Optional mode lets clients without a certificate in: there is nothing of theirs to revoke.
		rt.live.add(h.Conn, h.TLS, cs.PeerCertificates)
		if e.recheckStraddling(rt, g, h.Conn, h.TLS, cs.PeerCertificates) {
			// net/http never sees this connection, so its ConnState cannot count it closed.
			rt.m.ConnClosed()
			return false
		}
	}
	return true
}

// connFields computes, once per connection, the headers of alb-compat §3.1 for the listener's mode.
func connFields(g *listenerGen, cs tls.ConnectionState, v *clientcert.Values) []httpproxy.Field {
	var f []httpproxy.Field
	n := g.names
	switch {
	case v == nil:
		// No certificate: no identity headers, in any mode.
	case g.mode == tlsconfig.ModePassthrough:
		f = append(f, httpproxy.Field{Name: n.Clientcert, Value: v.Chain})
	case g.mode == tlsconfig.ModeVerify || g.mode == tlsconfig.ModeOptional:
		f = append(f,
			httpproxy.Field{Name: n.Serial, Value: v.Serial},
			httpproxy.Field{Name: n.Issuer, Value: v.Issuer},
			httpproxy.Field{Name: n.Subject, Value: v.Subject},
			httpproxy.Field{Name: n.Validity, Value: v.Validity},
			httpproxy.Field{Name: n.Leaf, Value: v.Leaf},
		)
	}
	if g.tlsHdrs {
		f = append(f,
			httpproxy.Field{Name: n.TLSVersion, Value: accesslog.TLSVersionName(cs.Version)},
			httpproxy.Field{Name: n.TLSCipherSuite, Value: accesslog.CipherSuiteName(cs.CipherSuite)},
		)
	}
	return f
}

// fillConnInfo records what every request of the connection needs besides its headers.
func (e *Engine) fillConnInfo(ci *httpproxy.ConnInfo, g *listenerGen, c *listen.Conn, cs tls.ConnectionState) {
	if ap, ok := addrPort(c.RemoteAddr()); ok {
		ci.SetClient(ap)
	}
	// The bound port, which is the document's except when it asked for port 0.
	if ap, ok := addrPort(c.LocalAddr()); ok {
		ci.SetPort(strconv.Itoa(int(ap.Port())))
	} else {
		ci.SetPort(strconv.Itoa(g.port))
	}
	ci.ChosenCert = g.chosenCertName(cs.ServerName)
	ci.ServerName = cs.ServerName
	ci.TLSVersion, ci.TLSCipher = cs.Version, cs.CipherSuite
}

// addrPort reads a socket address without formatting and parsing it again (it runs on every connection).
func addrPort(a net.Addr) (netip.AddrPort, bool) {
	if t, ok := a.(*net.TCPAddr); ok {
		ap := t.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
	}
	ap, err := netip.ParseAddrPort(a.String())
	return ap, err == nil
}
