package pki

import (
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"math/big"
	"time"
)

// Revocation is one entry of a CRL.
type Revocation struct {
	Serial *big.Int
	// RevokedAt is the revocation date; zero means the CRL's thisUpdate.
	RevokedAt time.Time
	// Reason is the RFC 5280 §5.3.1 reason code; 0 leaves the extension out.
	Reason int
}

// Revoke returns the revocation of cert at the CRL's thisUpdate.
func Revoke(cert *x509.Certificate) Revocation {
	return Revocation{Serial: cert.SerialNumber}
}

// CRL issues a certificate revocation list signed by a and returns its DER
// encoding. WithThisUpdate, WithNextUpdate, WithCRLNumber,
// WithSignatureAlgorithm and WithExtraExtensions apply.
func (a *Authority) CRL(revoked []Revocation, opts ...Option) ([]byte, error) {
	s, err := newSettings(a.clock, opts)
	if err != nil {
		return nil, fmt.Errorf("issuing CRL of %q: %w", a.Cert.Subject.CommonName, err)
	}
	tmpl := &x509.RevocationList{
		ThisUpdate:         s.thisUpdate,
		NextUpdate:         s.nextUpdate,
		Number:             s.crlNumber,
		SignatureAlgorithm: s.sigAlg,
		ExtraExtensions:    s.extraExtensions,
	}
	if tmpl.ThisUpdate.IsZero() {
		tmpl.ThisUpdate = s.clock()
	}
	if tmpl.NextUpdate.IsZero() {
		tmpl.NextUpdate = tmpl.ThisUpdate.Add(crlValidity)
	}
	if tmpl.Number == nil {
		tmpl.Number = big.NewInt(tmpl.ThisUpdate.UnixNano())
	}
	for i, r := range revoked {
		if r.Serial == nil {
			return nil, fmt.Errorf("issuing CRL of %q: revocation %d has no serial number", a.Cert.Subject.CommonName, i)
		}
		at := r.RevokedAt
		if at.IsZero() {
			at = tmpl.ThisUpdate
		}
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{
			SerialNumber:   r.Serial,
			RevocationTime: at,
			ReasonCode:     r.Reason,
		})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, a.Cert, a.Key)
	if err != nil {
		return nil, fmt.Errorf("issuing CRL of %q: %w", a.Cert.Subject.CommonName, err)
	}
	return der, nil
}
