package crl

import (
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/mtlslb/mtlslb/internal/x509name"
)

// errNoCRLSign says that a certificate's keyUsage forbids signing CRLs.
var errNoCRLSign = errors.New("the certificate's keyUsage does not include cRLSign")

// CheckSignatureFrom checks that issuer issued c: the certificate's subject
// matches c's issuer name (RFC 5280 §7.1, as x509name compares names), it may
// sign CRLs (its keyUsage includes cRLSign when it has a keyUsage
// extension), and c's signature verifies with its public key.
//
// Unlike crypto/x509's RevocationList.CheckSignatureFrom it does not require
// basicConstraints: a dedicated CRL signing certificate (RFC 5280 §5, PKITS
// 4.4.19) and v3 CAs without basicConstraints exist in the wild.
func (c *CRL) CheckSignatureFrom(issuer *x509.Certificate) error {
	if issuer == nil {
		return errors.New("checking CRL signature: no issuer certificate")
	}
	if !x509name.Equal(issuer.RawSubject, c.rawIssuer) {
		subject, _ := x509name.RFC2253(issuer.RawSubject)
		return fmt.Errorf("checking CRL signature: the CRL's issuer %q is not the certificate's subject %q", c.issuerName, subject)
	}
	if !mayIssueCRLs(issuer) {
		return fmt.Errorf("checking CRL signature: %w", errNoCRLSign)
	}
	if err := c.verifyWith(issuer); err != nil {
		return fmt.Errorf("checking CRL signature: %w", err)
	}
	return nil
}

// verifyWith verifies only the signature.
func (c *CRL) verifyWith(issuer *x509.Certificate) error {
	return issuer.CheckSignature(c.sigAlg, c.rawTBS, c.signature)
}

// mayIssueCRLs applies RFC 5280 §4.2.1.3: a certificate with a keyUsage
// extension may sign CRLs only with cRLSign. A keyUsage extension with no
// bit set allows nothing, which crypto/x509 reports as KeyUsage 0, the same
// as no extension, so the extension itself is looked for.
func mayIssueCRLs(cert *x509.Certificate) bool {
	if cert.KeyUsage&x509.KeyUsageCRLSign != 0 {
		return true
	}
	return !hasKeyUsage(cert)
}

// hasKeyUsage reports whether cert carries a keyUsage extension.
func hasKeyUsage(cert *x509.Certificate) bool {
	for i := range cert.Extensions {
		id := cert.Extensions[i].Id
		if len(id) == 4 && id[0] == 2 && id[1] == 5 && id[2] == 29 && id[3] == 15 {
			return true
		}
	}
	return false
}
