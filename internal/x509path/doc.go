// Package x509path builds and structurally validates X.509 certification paths
// from a client's leaf certificate to a trust anchor, following RFC 5280 §6.1.
//
// "Structurally" means everything of the RFC 5280 path validation algorithm
// except validity dates, extended key usage and revocation: callers check
// those per returned path, because their outcome maps to distinct mTLS
// verification statuses and because dates on an untrusted path mean nothing.
//
// crypto/x509's Verify is not used: it checks dates and extended key usage
// while it builds paths, refuses directoryName name constraints as an
// unhandled critical extension, and cannot tell callers why a path failed.
package x509path
