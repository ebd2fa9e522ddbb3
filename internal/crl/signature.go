package crl

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	_ "crypto/sha256" // the hashes of the supported signature algorithms
	_ "crypto/sha512"
	"crypto/x509"
	"errors"
	"fmt"
	"runtime"

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

// verifyWith verifies only the signature. It uses the digest Parse computed, so checking a large CRL's
// signature on the handshake path costs one public-key operation, not a hash of the whole list (a 37 MB CRL
// takes ~20 ms to hash, and each concurrent handshake would hash it again). Keys and algorithms it does not
// handle itself go to crypto/x509, which hashes.
func (c *CRL) verifyWith(issuer *x509.Certificate) error {
	h, pss, ok := signatureHash(c.sigAlg)
	if !ok || c.digest == nil {
		return issuer.CheckSignature(c.sigAlg, c.rawTBS, c.signature)
	}
	switch pub := issuer.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if !isECDSA(c.sigAlg) {
			return errKeyMismatch
		}
		if !ecdsa.VerifyASN1(pub, c.digest, c.signature) {
			return errBadSignature
		}
		return nil
	case *rsa.PublicKey:
		if isECDSA(c.sigAlg) {
			return errKeyMismatch
		}
		if pub.N.BitLen() < 2048 {
			// Leave small keys to crypto/x509's own rules rather than restate them here.
			return issuer.CheckSignature(c.sigAlg, c.rawTBS, c.signature)
		}
		var err error
		if pss {
			err = rsa.VerifyPSS(pub, h, c.digest, c.signature, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h})
		} else {
			err = rsa.VerifyPKCS1v15(pub, h, c.digest, c.signature)
		}
		if err != nil {
			return errBadSignature
		}
		return nil
	}
	return issuer.CheckSignature(c.sigAlg, c.rawTBS, c.signature)
}

var (
	errBadSignature = errors.New("the signature does not verify with the issuer's public key")
	errKeyMismatch  = errors.New("the signature algorithm does not match the issuer's key type")
)

// signatureHash returns the hash of a supported signature algorithm and whether it is RSA-PSS.
func signatureHash(a x509.SignatureAlgorithm) (crypto.Hash, bool, bool) {
	switch a {
	case x509.SHA256WithRSA, x509.ECDSAWithSHA256:
		return crypto.SHA256, false, true
	case x509.SHA384WithRSA, x509.ECDSAWithSHA384:
		return crypto.SHA384, false, true
	case x509.SHA512WithRSA, x509.ECDSAWithSHA512:
		return crypto.SHA512, false, true
	case x509.SHA256WithRSAPSS:
		return crypto.SHA256, true, true
	case x509.SHA384WithRSAPSS:
		return crypto.SHA384, true, true
	case x509.SHA512WithRSAPSS:
		return crypto.SHA512, true, true
	}
	return 0, false, false
}

func isECDSA(a x509.SignatureAlgorithm) bool {
	return a == x509.ECDSAWithSHA256 || a == x509.ECDSAWithSHA384 || a == x509.ECDSAWithSHA512
}

// tbsDigest hashes the signed part of a CRL for its signature algorithm; nil for an algorithm verifyWith
// leaves to crypto/x509. Large inputs are hashed in chunks with a yield between them, so a garbage collection
// never waits for one long hash (see decodeInput).
func tbsDigest(a x509.SignatureAlgorithm, tbs []byte) []byte {
	h, _, ok := signatureHash(a)
	if !ok {
		return nil
	}
	hh := h.New()
	for len(tbs) > 0 {
		n := min(len(tbs), inputChunk)
		hh.Write(tbs[:n])
		tbs = tbs[n:]
		if len(tbs) > 0 {
			runtime.Gosched()
		}
	}
	return hh.Sum(nil)
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
