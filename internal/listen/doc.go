// Package listen owns the accepting side of a listener: it accepts TCP connections, gives each one an identity
// (a trace id, the time it arrived, its addresses), runs the TLS handshake under a deadline on a goroutine of its
// own so that a slow or hostile client never holds up the next one, reports every handshake outcome exactly once
// (the source of the connection log), and hands only completed *tls.Conn values to the HTTP server.
//
// The HTTP server sees a *tls.Conn, so net/http fills Request.TLS as usual; the Conn beneath it (reachable with
// tls.Conn.NetConn) carries what mtlslb learnt about the connection.
package listen
