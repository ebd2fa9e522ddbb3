package engine

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"sync"
	"time"

	"github.com/mtlslb/mtlslb/internal/accesslog"
	"github.com/mtlslb/mtlslb/internal/clientcert"
	"github.com/mtlslb/mtlslb/internal/listen"
	"github.com/mtlslb/mtlslb/internal/truststore"
)

// liveConns is the set of a listener's connections whose client certificate was verified (verify mode), kept
// so that a trust-store change with revoke_live_connections can re-verify them. It lives in the
// listenerRuntime, so it spans configuration generations as the connections do.
//
// The registry works on connections, not requests: closing the *tls.Conn ends an HTTP/1.1 keep-alive
// connection and every stream of an HTTP/2 one alike. A hijacked connection (an upgrade to WebSocket)
// leaves net/http's bookkeeping, so it leaves the registry too: nothing would tell us when it closes.
type liveConns struct {
	mu    sync.Mutex
	conns map[*listen.Conn]liveConn
}

// liveConn is what re-verifying one connection needs.
type liveConn struct {
	tls   *tls.Conn
	certs []*x509.Certificate // as the client presented them, leaf first
}

// liveEntry is one registry entry, copied out so a re-verification pass runs without the lock.
type liveEntry struct {
	conn *listen.Conn
	liveConn
}

func newLiveConns() *liveConns { return &liveConns{conns: map[*listen.Conn]liveConn{}} }

// add records a connection whose handshake verified certs. It is on the handshake path: one lock and one
// map insert, no allocation beyond the map's growth.
func (l *liveConns) add(c *listen.Conn, tc *tls.Conn, certs []*x509.Certificate) {
	l.mu.Lock()
	l.conns[c] = liveConn{tls: tc, certs: certs}
	l.mu.Unlock()
}

// remove forgets c and reports whether it was there. Whoever removes a connection is the one that closes it
// for revocation, so a connection found by two checks is closed and logged once.
func (l *liveConns) remove(c *listen.Conn) bool {
	if c == nil {
		return false
	}
	l.mu.Lock()
	_, ok := l.conns[c]
	delete(l.conns, c)
	l.mu.Unlock()
	return ok
}

// list returns the connections registered now.
func (l *liveConns) list() []liveEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]liveEntry, 0, len(l.conns))
	for c, lc := range l.conns {
		out = append(out, liveEntry{conn: c, liveConn: lc})
	}
	return out
}

// revokeLive re-verifies against g's trust store every live connection of rt that an earlier generation
// authenticated with a trust store of the same name, and closes those that g's trust store would now refuse.
//
// It runs in its own goroutine, so Apply does not wait for it, bound to the context of the snapshot that
// installed g: a later Apply cancels it, and starts a pass of its own if its trust store asks for one, which
// covers the connections this pass did not reach.
//
// Connections authenticated under another trust store name are left alone: the new trust store is not the
// one that admitted them (they are still retired after their next response, as any connection of a replaced
// generation).
func (e *Engine) revokeLive(ctx context.Context, rt *listenerRuntime, g *listenerGen) {
	now := e.opts.Now()
	checked, closed := 0, 0
	for _, lc := range rt.live.list() {
		if ctx.Err() != nil {
			e.log.Info("re-verification of live connections stopped: the configuration was replaced or the engine stopped",
				"address", rt.addr, "trust_store", g.trustStoreName, "checked", checked, "closed", closed)
			return
		}
		old := lc.conn.State.(*listenerGen)
		if old == g || old.trustStoreName != g.trustStoreName {
			continue
		}
		checked++
		if e.closeIfRefused(rt, g, lc, now) {
			closed++
		}
	}
	e.log.Info("live connections re-verified", "address", rt.addr, "trust_store", g.trustStoreName,
		"checked", checked, "closed", closed)
}

// closeIfRefused verifies one live connection's certificates against g's trust store and, if they fail, closes
// the connection and logs it. It reports whether it closed the connection.
//
// Any failure closes, not only ClientCertCrlHit: the connection would be refused if it connected now, whether
// because a CRL revokes its certificate, its CA left the bundle, or a CRL of its issuer cannot be used (fail
// closed, as a handshake would). The logged status says which.
func (e *Engine) closeIfRefused(rt *listenerRuntime, g *listenerGen, lc liveEntry, now time.Time) bool {
	res := g.trustStore.VerifyCertificates(lc.certs, truststore.VerifyOptions{Now: now, IgnoreExpiry: g.ignoreExpiry})
	if res.Status == truststore.StatusSuccess {
		return false
	}
	if !rt.live.remove(lc.conn) {
		return false // closed meanwhile, or already closed by another check
	}
	// tls.Conn.Close sends close_notify when no write is in flight and otherwise just closes the socket, so a
	// connection busy writing a response is cut rather than waited for. net/http then reports StateClosed,
	// which keeps the connection gauge right.
	_ = lc.tls.Close()
	subject := "-"
	if leaf := res.Leaf; leaf != nil {
		subject = clientcert.Subject(leaf)
	} else if len(lc.certs) > 0 {
		subject = clientcert.Subject(lc.certs[0])
	}
	e.log.Info("live connection closed: its client certificate no longer verifies",
		"address", rt.addr, "conn_trace_id", accesslog.TraceID(lc.conn.TraceID).String(), "subject", subject,
		"status", res.Status.String(), "trust_store", g.trustStoreName, "detail", res.Detail)
	return true
}

// recheckStraddling closes a connection whose handshake began under a generation that an Apply has since
// replaced. That handshake was verified against the replaced trust store and may have registered after the
// Apply's pass listed the live connections, so no pass would see it. It reports whether it closed the
// connection.
//
// The ordering argument: Apply swaps rt.gen, then marks the old generation retired, then starts the pass,
// which lists the registry under its lock. add takes the same lock before this check reads retired, so a
// connection registered too late for the pass's list always sees retired set and the new generation.
func (e *Engine) recheckStraddling(rt *listenerRuntime, g *listenerGen, c *listen.Conn, tc *tls.Conn, certs []*x509.Certificate) bool {
	if !g.retired.Load() {
		return false
	}
	cur := rt.gen.Load()
	if cur == g || !cur.revokeLive || cur.trustStoreName != g.trustStoreName {
		return false
	}
	return e.closeIfRefused(rt, cur, liveEntry{conn: c, liveConn: liveConn{tls: tc, certs: certs}}, e.opts.Now())
}
