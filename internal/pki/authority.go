package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Default validity periods. notBefore lies in the past so that a certificate
// issued on one machine is already valid on another whose clock is behind.
const (
	backdate       = 5 * time.Minute
	caValidity     = 10 * 365 * 24 * time.Hour
	leafValidity   = 365 * 24 * time.Hour
	crlValidity    = 7 * 24 * time.Hour
	serialBits     = 128
	defaultCAUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
)

// Authority is a certification authority: its certificate, its private key
// and the certificates above it. Its fields are read-only once created.
type Authority struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// Chain holds the CA certificates above Cert, nearest first, ending with
	// the root (for an Authority loaded from files, with whatever the file
	// held); it is empty for a root.
	Chain []*x509.Certificate

	// clock is inherited by the authorities issued below this one; nil means
	// time.Now.
	clock func() time.Time
}

// Leaf is an end-entity certificate with its private key.
type Leaf struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// Chain holds the issuing CA certificates, nearest first, ending with
	// the root when the issuer's Chain does.
	Chain []*x509.Certificate
}

// NewRoot creates a self-signed root CA.
func NewRoot(subject pkix.Name, opts ...Option) (*Authority, error) {
	s, err := newSettings(nil, opts)
	if err != nil {
		return nil, fmt.Errorf("creating root CA %q: %w", subject.CommonName, err)
	}
	a, err := issueCA(nil, subject, nil, s)
	if err != nil {
		return nil, fmt.Errorf("creating root CA %q: %w", subject.CommonName, err)
	}
	return a, nil
}

// NewAuthority returns an Authority for an existing CA certificate and its
// key, for example one read from disk by LoadAuthority. chain holds the
// certificates above cert, nearest first.
func NewAuthority(cert *x509.Certificate, key crypto.Signer, chain []*x509.Certificate) (*Authority, error) {
	if !cert.IsCA {
		return nil, fmt.Errorf("certificate %q is not a CA certificate", cert.Subject.CommonName)
	}
	if err := checkKeyPair(cert, key); err != nil {
		return nil, err
	}
	return &Authority{Cert: cert, Key: key, Chain: chain}, nil
}

// NewIntermediate issues a subordinate CA certificate signed by a.
func (a *Authority) NewIntermediate(subject pkix.Name, opts ...Option) (*Authority, error) {
	s, err := newSettings(a.clock, opts)
	if err != nil {
		return nil, fmt.Errorf("issuing intermediate CA %q: %w", subject.CommonName, err)
	}
	sub, err := issueCA(a, subject, nil, s)
	if err != nil {
		return nil, fmt.Errorf("issuing intermediate CA %q: %w", subject.CommonName, err)
	}
	return sub, nil
}

// CrossSign issues a CA certificate for other's subject and key, signed by a:
// the cross-certificate of a cross-signed hierarchy. The subject is copied
// byte for byte, so certificates issued by other chain to either. The
// returned Authority signs with other's key; its Chain leads to a's root.
func (a *Authority) CrossSign(other *Authority, opts ...Option) (*Authority, error) {
	s, err := newSettings(a.clock, append([]Option{WithSigner(other.Key)}, opts...))
	if err != nil {
		return nil, fmt.Errorf("cross-signing %q: %w", other.Cert.Subject.CommonName, err)
	}
	sub, err := issueCA(a, other.Cert.Subject, other.Cert.RawSubject, s)
	if err != nil {
		return nil, fmt.Errorf("cross-signing %q: %w", other.Cert.Subject.CommonName, err)
	}
	return sub, nil
}

// IssueClient issues a client certificate: extended key usage clientAuth and
// key usage digitalSignature unless options say otherwise.
func (a *Authority) IssueClient(subject pkix.Name, opts ...Option) (*Leaf, error) {
	s, err := newSettings(a.clock, opts)
	if err != nil {
		return nil, fmt.Errorf("issuing client certificate %q: %w", subject.CommonName, err)
	}
	l, err := a.issueLeaf(subject, x509.ExtKeyUsageClientAuth, s)
	if err != nil {
		return nil, fmt.Errorf("issuing client certificate %q: %w", subject.CommonName, err)
	}
	return l, nil
}

// IssueServer issues a server certificate for the given DNS names and IP
// addresses: extended key usage serverAuth and key usage digitalSignature
// (plus keyEncipherment for RSA keys, for TLS 1.2 RSA key exchange) unless
// options say otherwise. The subject's common name is the first name given.
func (a *Authority) IssueServer(dnsNames []string, ips []net.IP, opts ...Option) (*Leaf, error) {
	var cn string
	switch {
	case len(dnsNames) > 0:
		cn = dnsNames[0]
	case len(ips) > 0:
		cn = ips[0].String()
	default:
		return nil, errors.New("issuing server certificate: no DNS name or IP address")
	}
	s, err := newSettings(a.clock, append([]Option{WithSANs(dnsNames, nil, nil), WithIPAddresses(ips...)}, opts...))
	if err != nil {
		return nil, fmt.Errorf("issuing server certificate %q: %w", cn, err)
	}
	l, err := a.issueLeaf(pkix.Name{CommonName: cn}, x509.ExtKeyUsageServerAuth, s)
	if err != nil {
		return nil, fmt.Errorf("issuing server certificate %q: %w", cn, err)
	}
	return l, nil
}

// issueCA issues a CA certificate signed by parent, or a self-signed one
// when parent is nil. rawSubject, when set, replaces the encoding of subject.
func issueCA(parent *Authority, subject pkix.Name, rawSubject []byte, s *settings) (*Authority, error) {
	tmpl := &x509.Certificate{
		Subject:               subject,
		RawSubject:            rawSubject,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            -1,
		KeyUsage:              defaultCAUsage,
	}
	if s.pathLenSet {
		tmpl.MaxPathLen = s.pathLen
		tmpl.MaxPathLenZero = s.pathLen == 0
	}
	if s.nameConstraints != nil {
		ext, err := s.nameConstraints.extension()
		if err != nil {
			return nil, err
		}
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, ext)
	}
	key, err := s.key()
	if err != nil {
		return nil, err
	}
	cert, err := sign(parent, tmpl, key, caValidity, s)
	if err != nil {
		return nil, err
	}
	a := &Authority{Cert: cert, Key: key, clock: s.clock}
	if parent != nil {
		a.Chain = append([]*x509.Certificate{parent.Cert}, parent.Chain...)
	}
	return a, nil
}

func (a *Authority) issueLeaf(subject pkix.Name, eku x509.ExtKeyUsage, s *settings) (*Leaf, error) {
	key, err := s.key()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		Subject:     subject,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{eku},
	}
	if _, ok := key.(*rsa.PrivateKey); ok && eku == x509.ExtKeyUsageServerAuth {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	cert, err := sign(a, tmpl, key, leafValidity, s)
	if err != nil {
		return nil, err
	}
	return &Leaf{Cert: cert, Key: key, Chain: append([]*x509.Certificate{a.Cert}, a.Chain...)}, nil
}

// key returns the key the new certificate certifies: the one given with
// WithSigner, or a new one of the requested type.
func (s *settings) key() (crypto.Signer, error) {
	if s.signer != nil {
		return s.signer, nil
	}
	kt := s.keyType
	if kt == "" {
		kt = P256
	}
	return GenerateKey(kt)
}

// sign fills tmpl from the settings and signs the certificate for key with
// parent's key, or with key itself when parent is nil (a self-signed root).
func sign(parent *Authority, tmpl *x509.Certificate, key crypto.Signer, validity time.Duration, s *settings) (*x509.Certificate, error) {
	now := s.clock()
	tmpl.NotBefore, tmpl.NotAfter = now.Add(-backdate), now.Add(validity)
	if !s.notBefore.IsZero() {
		tmpl.NotBefore = s.notBefore
	}
	if !s.notAfter.IsZero() {
		tmpl.NotAfter = s.notAfter
	}
	tmpl.SerialNumber = s.serial
	if tmpl.SerialNumber == nil {
		var err error
		if tmpl.SerialNumber, err = randomSerial(); err != nil {
			return nil, err
		}
	}
	if s.ekusSet {
		tmpl.ExtKeyUsage = s.ekus
	}
	if s.keyUsageSet {
		tmpl.KeyUsage = s.keyUsage
	}
	tmpl.SignatureAlgorithm = s.sigAlg
	tmpl.DNSNames, tmpl.URIs, tmpl.EmailAddresses, tmpl.IPAddresses = s.dnsNames, s.uris, s.emails, s.ips
	tmpl.CRLDistributionPoints = s.crlDPs
	tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, s.extraExtensions...)
	tmpl.SubjectKeyId = s.subjectKeyID
	if tmpl.SubjectKeyId == nil {
		var err error
		if tmpl.SubjectKeyId, err = keyID(key.Public()); err != nil {
			return nil, err
		}
	}

	// crypto/x509 takes the issuer name from the parent's RawSubject. It takes
	// the authority key identifier from the parent only when issuer and
	// subject differ, so it is set here for self-signed roots and for
	// self-issued certificates (a CA key rollover), where path building
	// needs it most.
	parentCert, signer := tmpl, key
	if parent != nil {
		parentCert, signer = parent.Cert, parent.Key
	}
	tmpl.AuthorityKeyId = parentCert.SubjectKeyId
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, key.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("signing certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing the certificate just signed: %w", err)
	}
	return cert, nil
}

// randomSerial returns a uniformly random serial number in [1, 2^128): as
// RFC 5280 §4.1.2.2 asks, positive, unique in practice, and at most 20 octets
// once DER adds a sign byte.
func randomSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), serialBits)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("generating serial number: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

// keyID returns the subject key identifier of pub: the SHA-1 hash of the
// subjectPublicKey bits (RFC 5280 §4.2.1.2 method 1). SHA-1 is what the RFC
// names; the identifier is a lookup hint, not a security property.
func keyID(pub crypto.PublicKey) ([]byte, error) {
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("computing subject key identifier: %w", err)
	}
	var info struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(spki, &info); err != nil {
		return nil, fmt.Errorf("computing subject key identifier: %w", err)
	}
	sum := sha1.Sum(info.PublicKey.Bytes)
	return sum[:], nil
}

// checkKeyPair reports whether key is the private key of cert.
func checkKeyPair(cert *x509.Certificate, key crypto.Signer) error {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	pub, ok := key.Public().(equaler)
	if !ok || !pub.Equal(cert.PublicKey) {
		return fmt.Errorf("private key does not match certificate %q", cert.Subject.CommonName)
	}
	return nil
}
