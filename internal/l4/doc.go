// Package l4 is mtlslb's layer-4 forwarding, the Network Load Balancer pattern: TCP listeners that pass the byte
// stream to a target untouched (the target terminates TLS and authenticates clients itself), and TLS listeners
// that terminate TLS, optionally verify client certificates, and forward the plain stream.
//
// A Server serves one listening socket. Each accepted connection goes through the same steps:
//
//  1. From a trusted network (Config.ProxyTrusted), a PROXY header (v1 or v2) is required and names the client;
//     from anywhere else on such a listener, a PROXY header is refused as a forgery.
//  2. On a TLS listener, the TLS handshake under a deadline, with the caller's *tls.Config (client-certificate
//     verification and identity filters live there, see internal/tlsconfig).
//  3. One connection-log line (internal/accesslog): the handshake's outcome on TLS listeners, "-" for the TLS
//     fields of TCP listeners.
//  4. A target of the target group, picked round robin or by least connections among those the health checks
//     allow (all of them when none is healthy: fail open, as NLB), is dialled; with proxy_protocol_v2 a PROXY v2
//     header goes first, on TLS listeners with HAProxy's SSL TLVs.
//  5. Bytes are copied both ways until both sides have closed their write side (half-close is passed on) or no
//     byte moved in either direction for the idle timeout. Between two TCP sockets io.Copy reaches
//     (*net.TCPConn).ReadFrom, which on Linux moves the bytes with splice(2) without copying them to user space.
//
// Metrics (Config.Metrics) are resolved once per generation: per connection the listener counts the accept and the
// close, the handshake's outcome on TLS listeners, a refusal or a failed target dial, and the bytes of each direction
// each time a copy call returns (at the end of the stream or at an idle check), never per read or write.
//
// Configuration generations follow the engine's snapshot model: Update swaps in a new Config for new connections;
// connections in flight keep the generation they started with. Targets live longer than generations: a target
// kept by the next TargetGroup (see TargetGroupOptions.Previous) keeps its connections and their count, and a
// target left out drains: it gets no new connections, and the ones it has are closed when its deregistration
// delay runs out.
package l4
