// Package proxyproto reads and writes PROXY protocol headers (HAProxy's proxy-protocol.txt, versions 1 and 2):
// the few bytes a proxy sends before a forwarded connection's data to tell the next hop who the client is.
//
// mtlslb writes version 2 headers to targets of target groups with proxy_protocol_v2, and on TLS listeners adds
// the TLVs HAProxy's send-proxy-v2-ssl uses (PP2_TYPE_SSL with its version, common name and client-certificate
// subtypes, and PP2_TYPE_AUTHORITY for SNI). It reads version 1 and 2 headers on listeners, but only from the
// networks an operator trusts: whether a header is expected is configuration, never guessed from the bytes
// (proxy-protocol.txt §5), because a header is a claim about the client's address that anyone can forge.
//
// Why not github.com/pires/go-proxyproto, the library the style guide names: its current release needs a newer
// Go toolchain than this module's, its Conn hides the socket behind a bufio.Reader (and mtlslb wants the bare
// *net.TCPConn so that io.Copy uses splice), its header encoding allocates per connection, and mtlslb needs only
// a strict decoder and an allocation-free encoder, about three hundred lines with a fuzz target.
package proxyproto
