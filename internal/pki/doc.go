// Package pki issues X.509 certificates and revocation lists: self-signed
// roots, intermediates, client and server leaves, and CRLs. It serves the
// demo, the `mtlslb pki` command and tests (through internal/testpki), so it
// depends on nothing but the standard library and never on package testing.
//
// Every issuing call takes functional options (WithKey, WithValidity,
// WithEKU, …). An option that does not apply to a call (WithNextUpdate on a
// certificate, WithPathLen on a leaf) is ignored, so one option list can be
// shared between calls.
//
// Defaults are chosen for tests and demos, not for a production CA: ECDSA
// P-256 keys, random positive 128-bit serial numbers, notBefore five minutes
// in the past (clock skew between machines), CAs valid ten years and leaves
// one year, and subject and authority key identifiers on every certificate.
package pki
