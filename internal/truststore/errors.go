package truststore

import (
	"fmt"
	"strconv"
	"strings"
)

// The ALB error names returned by Code, for the admin API.
const (
	CodeInvalidCaCertificatesBundle        = "InvalidCaCertificatesBundle"
	CodeInvalidRevocationContent           = "InvalidRevocationContent"
	CodeTooManyTrustStoreRevocationEntries = "TooManyTrustStoreRevocationEntries"
)

// BundleError reports a CA bundle that breaks ALB's bundle rules or holds a
// certificate the trust store cannot use.
type BundleError struct {
	Source   string // the bundle's file path, or "" when it has none
	Position int    // 1-based position of the certificate concerned, 0 if none
	Line     int    // 1-based line of the certificate's BEGIN line or of the offending line, 0 if none
	Msg      string
}

// Error reads like "pki/bundle.pem: certificate 2 (line 31): not a CA certificate (basicConstraints cA is false)".
func (e *BundleError) Error() string {
	var b strings.Builder
	b.WriteString(sourceOr(e.Source, "CA bundle"))
	switch {
	case e.Position > 0 && e.Line > 0:
		fmt.Fprintf(&b, ": certificate %d (line %d)", e.Position, e.Line)
	case e.Position > 0:
		fmt.Fprintf(&b, ": certificate %d", e.Position)
	case e.Line > 0:
		fmt.Fprintf(&b, ": line %d", e.Line)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Code returns ALB's error name, InvalidCaCertificatesBundle.
func (e *BundleError) Code() string { return CodeInvalidCaCertificatesBundle }

// RevocationError reports a revocation list the trust store refuses: it does
// not parse, carries an unknown critical extension, its signature does not
// verify with its issuer in the bundle, or it would exceed a limit.
type RevocationError struct {
	ID     int64  // the revocation id of the list concerned
	Source string // the list's file path, or "" when it has none
	Msg    string
	// TooMany is set when the list is refused only because the trust store
	// would exceed its limit of lists or of revoked entries.
	TooMany bool
}

// Error reads like "pki/ca.crl: revocation 3: signature does not verify with CA "CN=Root"".
func (e *RevocationError) Error() string {
	var b strings.Builder
	if e.Source != "" {
		b.WriteString(e.Source)
		b.WriteString(": ")
	}
	b.WriteString("revocation ")
	b.WriteString(strconv.FormatInt(e.ID, 10))
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Code returns ALB's error name: TooManyTrustStoreRevocationEntries for a
// limit, InvalidRevocationContent otherwise.
func (e *RevocationError) Code() string {
	if e.TooMany {
		return CodeTooManyTrustStoreRevocationEntries
	}
	return CodeInvalidRevocationContent
}

// VerifyError is the error form of a failed Result.
type VerifyError struct {
	Result Result
}

// Error reads like "Failed:ClientCertExpired: certificate 0 (CN=client) expired at …".
func (e *VerifyError) Error() string {
	if e.Result.Detail == "" {
		return e.Result.Status.String()
	}
	return e.Result.Status.String() + ": " + e.Result.Detail
}

func sourceOr(source, fallback string) string {
	if source == "" {
		return fallback
	}
	return source
}
