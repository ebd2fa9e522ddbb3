// Package upstream builds the HTTP transports that carry requests from mtlslb to the targets of a
// target group, keeps them in a Pool across configuration reloads, and names round-trip failures in
// ALB's terms.
//
// A target group speaks HTTP or HTTPS, with protocol version HTTP1, HTTP2 or GRPC, as on AWS ALB:
//
//   - HTTP1 over TLS offers only "http/1.1" in ALPN, so a target that also speaks h2 is never switched
//     to it behind the operator's back.
//   - HTTP2 and GRPC over TLS offer only "h2" and fail the connection, with ErrHTTP2NotNegotiated, when
//     the target does not select it: ALB answers 502 there too, rather than downgrading a gRPC call.
//   - HTTP2 and GRPC over plain TCP use h2c with prior knowledge (RFC 9113 §3.3); there is no upgrade
//     dance, so a target that only speaks HTTP/1 fails the request.
//
// Beyond ALB, an HTTPS target group may present a client certificate to its targets (upstream mutual
// TLS) and may verify the targets' certificates against a CA bundle. ALB verifies nothing, so neither
// is on by default.
//
// Transports are shared: Pool.Transport returns the same transport for two Configs whose Keys are
// equal, and a Key depends on certificate contents, not pointers, so a reload that parses the same
// files again keeps its pooled connections. After a reload the caller names the Keys still in use with
// Pool.Retain; the others lose their idle connections and stop being shared, but keep working for the
// requests of the previous snapshot that are still in flight.
//
// HTTP/2 transports also rewrite gRPC's trailers-only responses (a status with no messages, sent in
// one HEADERS frame) into headers followed by trailers, an equivalent form that survives
// httputil.ReverseProxy's early flushes; forwarded as they come, such statuses reach gRPC clients as
// "server closed the stream without sending trailers".
//
// Every connection is dialled by this package, so ErrorReason can tell a failed connect from a failed
// TLS handshake from a failed response without reading error strings.
package upstream
