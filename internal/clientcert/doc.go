// Package clientcert turns a client certificate chain into the values of the
// X-Amzn-Mtls-Clientcert* headers, byte for byte as AWS Application Load
// Balancer writes them (alb-compat.md §3.1).
//
// It is pure: no I/O, no clock, no configuration. The proxy calls Compute
// once per connection, when the handshake completes, and copies the
// resulting strings onto every request of that connection; the connection
// log reuses them too.
//
// The encodings, in short:
//
//   - serial number: upper-case hex of the big-endian magnitude bytes, two
//     digits per byte (0x3A5B1 → "03A5B1");
//   - issuer and subject: RFC 4514 (RFC 2253) strings from the certificate's
//     raw DER names, through internal/x509name;
//   - validity: "NotBefore=2023-09-21T01:50:17Z;NotAfter=2024-09-20T01:50:17Z";
//   - leaf and chain: PEM, URL-encoded with only A–Z a–z 0–9 - _ . ~ + = /
//     left literal, so consumers must decode with path unescaping.
//
// Every value is safe as an HTTP header value: none contains CR, LF or any
// other control character.
package clientcert
