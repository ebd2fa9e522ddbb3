package pki

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"time"
)

// Option changes one setting of an issuing call (NewRoot, NewIntermediate,
// IssueClient, IssueServer, CRL, CrossSign). Options that do not apply to a
// call are ignored.
type Option func(*settings)

// settings collects the options of one call. The zero value means "use the
// defaults"; the *Set flags tell an explicit empty value (no EKU extension at
// all) from an absent one.
type settings struct {
	clock func() time.Time

	keyType KeyType
	signer  crypto.Signer

	notBefore, notAfter time.Time
	serial              *big.Int
	sigAlg              x509.SignatureAlgorithm
	subjectKeyID        []byte

	ekus        []x509.ExtKeyUsage
	ekusSet     bool
	keyUsage    x509.KeyUsage
	keyUsageSet bool

	dnsNames []string
	uris     []*url.URL
	emails   []string
	ips      []net.IP

	pathLen         int
	pathLenSet      bool
	nameConstraints *NameConstraints
	crlDPs          []string
	extraExtensions []pkix.Extension

	thisUpdate, nextUpdate time.Time
	crlNumber              *big.Int

	// err is the first error an option met (a URI that does not parse); the
	// issuing call returns it, so options themselves stay error-free.
	err error
}

func newSettings(clock func() time.Time, opts []Option) (*settings, error) {
	s := &settings{clock: clock}
	for _, o := range opts {
		o(s)
	}
	if s.err != nil {
		return nil, s.err
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	return s, nil
}

// WithClock sets the clock that default validity periods and CRL update
// times are computed from. Set on NewRoot, it becomes the clock of the root
// and of every authority issued below it.
func WithClock(now func() time.Time) Option {
	return func(s *settings) { s.clock = now }
}

// WithKey sets the type of the key pair generated for the new certificate
// (ECDSA P-256 by default).
func WithKey(kt KeyType) Option {
	return func(s *settings) { s.keyType = kt }
}

// WithSigner makes the new certificate certify an existing key instead of a
// new one: for key reuse across a CA renewal, cross-signing and key rollover
// tests. It takes precedence over WithKey.
func WithSigner(key crypto.Signer) Option {
	return func(s *settings) { s.signer = key }
}

// WithValidity sets the certificate's notBefore and notAfter.
func WithValidity(notBefore, notAfter time.Time) Option {
	return func(s *settings) { s.notBefore, s.notAfter = notBefore, notAfter }
}

// WithSerial sets the serial number instead of a random one. It must be
// positive: crypto/x509 refuses to sign anything else.
func WithSerial(serial *big.Int) Option {
	return func(s *settings) { s.serial = serial }
}

// WithSignatureAlgorithm sets the signature algorithm of the new certificate
// or CRL (by default the issuer key's usual one: ECDSA with SHA-256 for P-256,
// SHA256WithRSA for RSA).
func WithSignatureAlgorithm(alg x509.SignatureAlgorithm) Option {
	return func(s *settings) { s.sigAlg = alg }
}

// WithSubjectKeyID sets the subject key identifier instead of the SHA-1 hash
// of the public key (RFC 5280 §4.2.1.2 method 1).
func WithSubjectKeyID(id []byte) Option {
	return func(s *settings) { s.subjectKeyID = id }
}

// WithEKU sets the extended key usages, replacing the default of the call
// (clientAuth for IssueClient, serverAuth for IssueServer, none for CAs).
// WithEKU() with no arguments leaves the extension out.
func WithEKU(ekus ...x509.ExtKeyUsage) Option {
	return func(s *settings) { s.ekus, s.ekusSet = ekus, true }
}

// WithKeyUsage sets the key usage bits, replacing the default of the call
// (certSign|cRLSign for CAs, digitalSignature for leaves). WithKeyUsage(0)
// leaves the extension out.
func WithKeyUsage(ku x509.KeyUsage) Option {
	return func(s *settings) { s.keyUsage, s.keyUsageSet = ku, true }
}

// WithSANs adds subject alternative names: DNS names, URIs (for example
// SPIFFE IDs) and email addresses.
func WithSANs(dnsNames, uris, emails []string) Option {
	return func(s *settings) {
		s.dnsNames = append(s.dnsNames, dnsNames...)
		s.emails = append(s.emails, emails...)
		for _, raw := range uris {
			u, err := url.Parse(raw)
			if err != nil {
				if s.err == nil {
					s.err = fmt.Errorf("URI SAN %q: %w", raw, err)
				}
				continue
			}
			s.uris = append(s.uris, u)
		}
	}
}

// WithIPAddresses adds IP address subject alternative names.
func WithIPAddresses(ips ...net.IP) Option {
	return func(s *settings) { s.ips = append(s.ips, ips...) }
}

// WithPathLen sets the pathLenConstraint of a CA certificate: the most
// intermediate CAs that may follow it in a path. A negative n leaves the
// constraint out (unlimited), which is also the default.
func WithPathLen(n int) Option {
	return func(s *settings) { s.pathLen, s.pathLenSet = n, n >= 0 }
}

// WithNameConstraints adds a name constraints extension to a CA certificate.
func WithNameConstraints(nc NameConstraints) Option {
	return func(s *settings) { s.nameConstraints = &nc }
}

// WithCRLDistributionPoints adds a CRL distribution points extension with the
// given URLs.
func WithCRLDistributionPoints(urls ...string) Option {
	return func(s *settings) { s.crlDPs = append(s.crlDPs, urls...) }
}

// WithExtraExtensions adds extensions verbatim to the certificate or CRL, for
// example an unknown critical extension that a verifier must refuse. On a
// certificate, an extension with the OID of one the call generates replaces
// it (crypto/x509 behaviour); on a CRL it is appended.
func WithExtraExtensions(exts ...pkix.Extension) Option {
	return func(s *settings) { s.extraExtensions = append(s.extraExtensions, exts...) }
}

// WithThisUpdate sets a CRL's thisUpdate (default: now).
func WithThisUpdate(t time.Time) Option {
	return func(s *settings) { s.thisUpdate = t }
}

// WithNextUpdate sets a CRL's nextUpdate (default: thisUpdate plus seven days).
func WithNextUpdate(t time.Time) Option {
	return func(s *settings) { s.nextUpdate = t }
}

// WithCRLNumber sets a CRL's cRLNumber (default: thisUpdate in nanoseconds
// since the Unix epoch, which increases from one CRL to the next as RFC 5280
// §5.2.3 asks without the issuer having to remember anything).
func WithCRLNumber(n *big.Int) Option {
	return func(s *settings) { s.crlNumber = n }
}
