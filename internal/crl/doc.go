// Package crl parses certificate revocation lists strictly, checks their
// signatures and validity windows, and compiles a trust store's CRLs into an
// immutable Set that answers "is this certificate revoked?" on every
// handshake without allocating.
//
// Parse accepts one CRL, PEM or DER, and refuses what RFC 5280 forbids or
// mtlslb cannot honour safely: trailing data at any level, v1 CRLs with
// extensions, unknown critical CRL or entry extensions, differing inner and
// outer signature algorithms, a malformed issuingDistributionPoint, a serial
// listed twice, and signatures other than SHA-256/384/512 with RSA PKCS #1
// v1.5, RSA-PSS or ECDSA (the algorithms alb-compat.md §2 step 3 allows for
// certificates). Entries with negative serial numbers are kept: serials are
// compared as their DER encoding, so -1 (FF) and 255 (00 FF) differ.
//
// NewSet groups CRLs by issuer name, compared as internal/x509name compares
// names (RFC 5280 §7.1), and checks at once the signature of every CRL whose
// issuer is a bundle certificate. Other CRLs are checked at Check time
// against the certificate's issuer, then against the other certificates of
// that name above it on the verified path (key rollover), then against a
// certificate the client presented that says it signs CRLs, that a
// certificate above it on the path or in the bundle issued, and that is
// itself valid and not revoked (a separate CRL signing key, PKITS 4.4.19–21).
// Verdicts are cached in the Set, bounded.
//
// Check applies the RFC 5280 §6.3.3 scope rules: onlyContainsUserCerts,
// onlyContainsCACerts (a v1 certificate counts as neither), distribution
// point names, and onlySomeReasons, where a certificate is Good only when
// the usable CRLs covering it together cover every reason. Delta CRLs are
// supported: a delta applies to a complete CRL of the same issuer and scope
// whose number is at least the delta's BaseCRLNumber and below the delta's
// own; the newest such delta is read first, removeFromCRL takes a serial off,
// and a usable delta makes the complete CRL's staleness irrelevant. Indirect
// CRLs and certificates whose distribution points name a separate cRLIssuer
// are not supported, and Check fails closed on them (Unusable).
package crl
