// Package httpproxy forwards the requests of an HTTPS listener to a target group with
// httputil.ReverseProxy's Rewrite hook, and is the only place identity headers are written.
//
// Security rules (alb-compat §3.2): every inbound copy of a header name this listener owns, default or
// renamed, is deleted case-insensitively in every mode, including off; the identity headers are then set on
// the outgoing request inside Rewrite, which runs after hop-by-hop processing, so a client can neither inject
// an identity nor strip one by naming it in Connection. Header values are computed once per connection, when
// the handshake completes, so a request costs a few map writes.
package httpproxy
