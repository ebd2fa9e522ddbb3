// Package crl parses certificate revocation lists strictly, checks their
// signatures and validity windows, and compiles a trust store's CRLs into an
// immutable index that answers "is this certificate revoked?" on every
// handshake without allocating.
package crl
