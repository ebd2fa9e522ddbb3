package x509path

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"

	"github.com/mtlslb/mtlslb/internal/x509name"
)

// certInfo caches what path building derives from one certificate.
//
// Anchors' infos are filled completely by NewAnchors and then only read, so
// concurrent Builds may share them. Infos of presented certificates belong to
// one Build and fill their fields lazily, because most handshakes need few of
// them: a chain whose names are byte-identical never needs a name key.
type certInfo struct {
	cert   *x509.Certificate
	anchor bool

	// Fingerprints (see nameFingerprint) settle most name comparisons
	// without parsing; the keys are computed only when they cannot.
	subjectFP, issuerFP     uint64
	subjectFPOK, issuerFPOK bool

	subjectKey, issuerKey         string
	subjectKeyOK, issuerKeyOK     bool // the name parsed
	haveSubjectKey, haveIssuerKey bool

	selfIssued, haveSelfIssued bool

	// caErr says why the certificate cannot issue certificates (nil: it can).
	caErr   error
	haveCA  bool
	nc      *nameConstraints
	ncErr   error
	haveNC  bool
	names   *certNames
	namesEr error
	haveNms bool

	rawHash, spkiHash         [sha256.Size]byte
	haveRawHash, haveSPKIHash bool
}

func newCertInfo(cert *x509.Certificate) certInfo {
	info := certInfo{cert: cert}
	info.subjectFP, info.subjectFPOK = nameFingerprint(cert.RawSubject)
	info.issuerFP, info.issuerFPOK = nameFingerprint(cert.RawIssuer)
	return info
}

// newAnchorInfo computes every field an anchor will ever be asked for.
func newAnchorInfo(cert *x509.Certificate) certInfo {
	info := newCertInfo(cert)
	info.anchor = true
	info.subjectKeyOf()
	info.issuerKeyOf()
	info.isSelfIssued()
	info.constraints()
	info.caError()
	info.spkiHashOf()
	return info
}

func (c *certInfo) subjectKeyOf() (string, bool) {
	if !c.haveSubjectKey {
		key, err := x509name.Key(c.cert.RawSubject)
		c.subjectKey, c.subjectKeyOK, c.haveSubjectKey = key, err == nil, true
	}
	return c.subjectKey, c.subjectKeyOK
}

func (c *certInfo) issuerKeyOf() (string, bool) {
	if !c.haveIssuerKey {
		key, err := x509name.Key(c.cert.RawIssuer)
		c.issuerKey, c.issuerKeyOK, c.haveIssuerKey = key, err == nil, true
	}
	return c.issuerKey, c.issuerKeyOK
}

// isSelfIssued reports whether subject and issuer are the same name (RFC 5280
// §6.1: such certificates are key rollovers and are not counted against
// pathLenConstraint, nor checked against name constraints unless they are
// the leaf).
func (c *certInfo) isSelfIssued() bool {
	if !c.haveSelfIssued {
		switch {
		case bytes.Equal(c.cert.RawIssuer, c.cert.RawSubject):
			c.selfIssued = true
		case c.issuerFPOK && c.subjectFPOK && c.issuerFP != c.subjectFP:
			c.selfIssued = false
		default:
			ik, iok := c.issuerKeyOf()
			sk, sok := c.subjectKeyOf()
			c.selfIssued = iok && sok && ik == sk
		}
		c.haveSelfIssued = true
	}
	return c.selfIssued
}

// sameSubject reports whether two certificates have matching subject names.
func sameSubject(a, b *certInfo) bool {
	if bytes.Equal(a.cert.RawSubject, b.cert.RawSubject) {
		return true
	}
	if a.subjectFPOK && b.subjectFPOK && a.subjectFP != b.subjectFP {
		return false
	}
	ak, aok := a.subjectKeyOf()
	bk, bok := b.subjectKeyOf()
	return aok && bok && ak == bk
}

// issuedBy reports whether parent's subject matches child's issuer. Identical
// encodings match without parsing (RFC 5280 §7.1; crypto/x509 has already
// parsed both); others are compared by their x509name keys.
func issuedBy(child, parent *certInfo) bool {
	if bytes.Equal(child.cert.RawIssuer, parent.cert.RawSubject) {
		return true
	}
	if child.issuerFPOK && parent.subjectFPOK && child.issuerFP != parent.subjectFP {
		return false
	}
	ik, iok := child.issuerKeyOf()
	sk, sok := parent.subjectKeyOf()
	return iok && sok && ik == sk
}

// caError says why the certificate cannot act as an issuer on a path, or nil.
func (c *certInfo) caError() error {
	if !c.haveCA {
		c.caErr = c.computeCAError()
		c.haveCA = true
	}
	return c.caErr
}

func (c *certInfo) computeCAError() error {
	cert := c.cert
	if oid := unhandledCritical(cert); oid != nil {
		return fmt.Errorf("unsupported critical extension %s", oid)
	}
	if _, err := c.constraints(); err != nil {
		return err
	}
	if hasExtension(cert, oidKeyUsage) && cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return errors.New("keyUsage does not include keyCertSign")
	}
	if c.anchor {
		// A trust anchor is trusted as configured (RFC 5280 §6.1.1 (d)): a
		// version 1 root or one without basicConstraints still anchors paths,
		// but one that says it is not a CA does not.
		if cert.BasicConstraintsValid && !cert.IsCA {
			return errors.New("basicConstraints cA is false")
		}
		return nil
	}
	// RFC 5280 §6.1.4 (k): version 1 and 2 intermediates cannot be shown to be
	// CAs, and mtlslb has no out-of-band way to do so.
	if cert.Version < 3 {
		return fmt.Errorf("version %d certificate cannot be a CA", cert.Version)
	}
	if !cert.BasicConstraintsValid {
		return errors.New("no basicConstraints extension")
	}
	if !cert.IsCA {
		return errors.New("basicConstraints cA is false")
	}
	return nil
}

// constraints returns the certificate's name constraints, or nil if it has
// none.
func (c *certInfo) constraints() (*nameConstraints, error) {
	if !c.haveNC {
		c.haveNC = true
		if ext := extensionValue(c.cert, oidNameConstraints); ext != nil {
			c.nc, c.ncErr = parseNameConstraints(ext)
		}
	}
	return c.nc, c.ncErr
}

// namesOf returns the names that name constraints apply to.
func (c *certInfo) namesOf() (*certNames, error) {
	if !c.haveNms {
		c.haveNms = true
		c.names, c.namesEr = parseCertNames(c.cert.RawSubject, extensionValue(c.cert, oidSubjectAltName))
	}
	return c.names, c.namesEr
}

func (c *certInfo) rawHashOf() *[sha256.Size]byte {
	if !c.haveRawHash {
		c.rawHash, c.haveRawHash = sha256.Sum256(c.cert.Raw), true
	}
	return &c.rawHash
}

func (c *certInfo) spkiHashOf() *[sha256.Size]byte {
	if !c.haveSPKIHash {
		c.spkiHash, c.haveSPKIHash = sha256.Sum256(c.cert.RawSubjectPublicKeyInfo), true
	}
	return &c.spkiHash
}

// unhandledCritical returns the first critical extension that neither
// crypto/x509 nor this package processes. Name constraints and
// subjectAltName are parsed here in full (crypto/x509 flags them when they
// hold name forms it skips, such as directoryName subtrees or an otherName).
func unhandledCritical(cert *x509.Certificate) asn1.ObjectIdentifier {
	for _, oid := range cert.UnhandledCriticalExtensions {
		if oid.Equal(oidNameConstraints) || oid.Equal(oidSubjectAltName) {
			continue
		}
		return oid
	}
	return nil
}

func hasExtension(cert *x509.Certificate, oid asn1.ObjectIdentifier) bool {
	return extensionValue(cert, oid) != nil
}

// extensionValue returns the value of the extension, or nil if absent.
func extensionValue(cert *x509.Certificate, oid asn1.ObjectIdentifier) []byte {
	for i := range cert.Extensions {
		if cert.Extensions[i].Id.Equal(oid) {
			if cert.Extensions[i].Value == nil {
				return []byte{}
			}
			return cert.Extensions[i].Value
		}
	}
	return nil
}

// describe names a certificate in messages: its subject as ALB writes it.
func describe(cert *x509.Certificate) string {
	if s, err := x509name.RFC2253(cert.RawSubject); err == nil && s != "" {
		return s
	}
	if s := cert.Subject.String(); s != "" {
		return s
	}
	return "serial " + cert.SerialNumber.String()
}
