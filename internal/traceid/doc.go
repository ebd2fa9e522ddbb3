// Package traceid implements the X-Amzn-Trace-Id request header as an
// Application Load Balancer handles it (alb-compat.md §3.4).
//
// A request that arrives without the header is forwarded with a new one,
// "Root=1-<8 hex digits of epoch seconds>-<24 hex digits>". A request that
// carries a valid one keeps it, every field in its order, and gets a
// "Self=" field naming this load balancer's hop: an existing Self is
// replaced where it stands, otherwise Self is put first, as ALB does
// ("Self=1-…;Root=1-…;CalledFrom=app"). An inbound value that is malformed
// or longer than MaxLen is not forwarded: it is replaced by a new Root,
// which is what ALB does with a value it cannot use. The request itself is
// never refused over its trace header; the header is diagnostic, and
// failing a request because of it would turn a tracing bug into an outage.
//
// Parse validates without copying: a Header refers to the inbound string,
// and its accessors and the Append methods allocate nothing.
package traceid
