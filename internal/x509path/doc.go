// Package x509path builds and structurally validates X.509 certification
// paths from a client's leaf certificate to a trust anchor, following RFC 5280
// §6.1, for mutual TLS handshakes.
//
// "Structurally" means everything of the RFC 5280 path validation algorithm
// except validity dates, extended key usage and revocation: callers check
// those per returned path, because their outcomes map to distinct mTLS
// verification statuses and because dates on an untrusted path mean nothing.
// Build therefore returns every candidate path it finds (up to a limit), best
// first, so that a caller can fall back to a longer path when the shortest
// one holds an expired cross-certificate.
//
// crypto/x509's Verify is not used: it checks dates and extended key usage
// while it builds paths, refuses directoryName name constraints as an
// unhandled critical extension, and cannot tell callers why a path failed.
// crypto/x509 still parses certificates and verifies signatures; names are
// compared with internal/x509name so that the whole program agrees on what
// "the same name" means.
//
// Build runs on every handshake with certificates a client chose, so its
// search is bounded and it allocates little: Anchors is indexed once per trust
// store, is safe for concurrent use, and remembers the signatures of valid
// paths so that a known intermediate's signature is not verified again.
package x509path
