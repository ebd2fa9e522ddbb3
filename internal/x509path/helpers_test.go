package x509path

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"net"
	"net/url"
	"testing"
	"time"
)

// testCert is a certificate of the in-memory test PKI with its private key.
type testCert struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// certConfig is what a certOption may change before a certificate is made.
type certConfig struct {
	template *x509.Certificate
	key      crypto.Signer
	// issuerName, if set, replaces the issuer's subject encoding in the issuer
	// field, to test name matching of different encodings.
	issuerName []byte
	// signer, if set, signs instead of the issuer's key (a bad signature).
	signer crypto.Signer
}

type certOption func(tb testing.TB, c *certConfig)

func newECKey(tb testing.TB) crypto.Signer {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatalf("generating key: %v", err)
	}
	return key
}

// newRoot makes a self-signed CA certificate named cn.
func newRoot(tb testing.TB, cn string, opts ...certOption) *testCert {
	tb.Helper()
	return makeCert(tb, nil, cn, append([]certOption{asCA()}, opts...)...)
}

// issue makes a certificate named cn signed by ca; it is an end entity unless
// an option says otherwise.
func (ca *testCert) issue(tb testing.TB, cn string, opts ...certOption) *testCert {
	tb.Helper()
	return makeCert(tb, ca, cn, opts...)
}

func makeCert(tb testing.TB, issuer *testCert, cn string, opts ...certOption) *testCert {
	tb.Helper()
	now := time.Now()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		tb.Fatalf("serial number: %v", err)
	}
	cfg := &certConfig{
		template: &x509.Certificate{
			SerialNumber: serial,
			Subject:      pkix.Name{CommonName: cn, Organization: []string{"mtlslb test"}},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
		},
	}
	for _, opt := range opts {
		opt(tb, cfg)
	}
	if cfg.key == nil {
		cfg.key = newECKey(tb)
	}
	parent, signer := cfg.template, cfg.key
	if issuer != nil {
		p := *issuer.cert
		parent, signer = &p, issuer.key
	}
	if cfg.issuerName != nil {
		p := *parent
		p.RawSubject = cfg.issuerName
		parent = &p
	}
	if cfg.signer != nil {
		// crypto/x509 refuses a key that does not match the parent's; the
		// parent copy claims the wrong key so the signature comes out bad.
		p := *parent
		p.PublicKey = cfg.signer.Public()
		parent, signer = &p, cfg.signer
	}
	der, err := x509.CreateCertificate(rand.Reader, cfg.template, parent, cfg.key.Public(), signer)
	if err != nil {
		tb.Fatalf("creating certificate %q: %v", cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatalf("parsing certificate %q: %v", cn, err)
	}
	return &testCert{cert: cert, key: cfg.key}
}

// asCA makes the certificate a CA without a path length constraint.
func asCA() certOption {
	return func(_ testing.TB, c *certConfig) {
		c.template.IsCA = true
		c.template.BasicConstraintsValid = true
		c.template.MaxPathLen = -1
		c.template.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	}
}

func withPathLen(n int) certOption {
	return func(_ testing.TB, c *certConfig) {
		c.template.MaxPathLen = n
		c.template.MaxPathLenZero = n == 0
	}
}

func withKeyUsage(ku x509.KeyUsage) certOption {
	return func(_ testing.TB, c *certConfig) { c.template.KeyUsage = ku }
}

// withBasicConstraints sets basicConstraints explicitly (valid=false omits it).
func withBasicConstraints(valid, isCA bool) certOption {
	return func(_ testing.TB, c *certConfig) {
		c.template.BasicConstraintsValid = valid
		c.template.IsCA = isCA
	}
}

// withKeyOf reuses another certificate's key pair (cross-signing, rollover).
func withKeyOf(other *testCert) certOption {
	return func(_ testing.TB, c *certConfig) { c.key = other.key }
}

func withRSAKey(bits int) certOption {
	return func(tb testing.TB, c *certConfig) {
		key, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			tb.Fatalf("generating RSA key: %v", err)
		}
		c.key = key
	}
}

func withSubject(name pkix.Name) certOption {
	return func(_ testing.TB, c *certConfig) { c.template.Subject = name }
}

func withRawSubject(der []byte) certOption {
	return func(_ testing.TB, c *certConfig) { c.template.RawSubject = der }
}

func withIssuerName(der []byte) certOption {
	return func(_ testing.TB, c *certConfig) { c.issuerName = der }
}

func signedBy(key crypto.Signer) certOption {
	return func(_ testing.TB, c *certConfig) { c.signer = key }
}

func withDNS(names ...string) certOption {
	return func(_ testing.TB, c *certConfig) { c.template.DNSNames = append(c.template.DNSNames, names...) }
}

func withEmail(addrs ...string) certOption {
	return func(_ testing.TB, c *certConfig) {
		c.template.EmailAddresses = append(c.template.EmailAddresses, addrs...)
	}
}

func withIP(ips ...string) certOption {
	return func(tb testing.TB, c *certConfig) {
		for _, s := range ips {
			ip := net.ParseIP(s)
			if ip == nil {
				tb.Fatalf("bad IP %q", s)
			}
			if v4 := ip.To4(); v4 != nil {
				ip = v4
			}
			c.template.IPAddresses = append(c.template.IPAddresses, ip)
		}
	}
}

func withURI(uris ...string) certOption {
	return func(tb testing.TB, c *certConfig) {
		for _, s := range uris {
			u := mustParseURL(tb, s)
			c.template.URIs = append(c.template.URIs, u)
		}
	}
}

func withExtension(oid asn1.ObjectIdentifier, critical bool, value []byte) certOption {
	return func(_ testing.TB, c *certConfig) {
		c.template.ExtraExtensions = append(c.template.ExtraExtensions, pkix.Extension{Id: oid, Critical: critical, Value: value})
	}
}

// General names for hand-made extensions (crypto/x509 cannot write
// directoryName constraints or otherName SANs).
func gnDNS(s string) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: gnDNSName, Bytes: []byte(s)}
}
func gnEmail(s string) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: gnRFC822Name, Bytes: []byte(s)}
}
func gnURIName(s string) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: gnURI, Bytes: []byte(s)}
}
func gnIPNet(tb testing.TB, cidr string) asn1.RawValue {
	tb.Helper()
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		tb.Fatalf("bad CIDR %q: %v", cidr, err)
	}
	ip := n.IP
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: gnIPAddress, Bytes: append(append([]byte{}, ip...), n.Mask...)}
}
func gnDir(tb testing.TB, name pkix.Name) asn1.RawValue {
	tb.Helper()
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: gnDirectoryName, IsCompound: true, Bytes: rawName(tb, name)}
}
func gnOther(tb testing.TB) asn1.RawValue {
	tb.Helper()
	// otherName { type-id 1.3.6.1.4.1.311.20.2.3 (UPN), [0] UTF8String }
	typeID, err := asn1.Marshal(asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 20, 2, 3})
	if err != nil {
		tb.Fatal(err)
	}
	value, err := asn1.MarshalWithParams("user@example.com", "utf8")
	if err != nil {
		tb.Fatal(err)
	}
	explicit, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: value})
	if err != nil {
		tb.Fatal(err)
	}
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: gnOtherName, IsCompound: true, Bytes: append(typeID, explicit...)}
}

func rawName(tb testing.TB, name pkix.Name) []byte {
	tb.Helper()
	der, err := asn1.Marshal(name.ToRDNSequence())
	if err != nil {
		tb.Fatalf("marshalling name: %v", err)
	}
	return der
}

// withNameConstraints adds a hand-made name constraints extension.
func withNameConstraints(tb testing.TB, critical bool, permitted, excluded []asn1.RawValue) certOption {
	tb.Helper()
	subtrees := func(tag int, names []asn1.RawValue) []byte {
		var body []byte
		for _, n := range names {
			gn, err := asn1.Marshal(n)
			if err != nil {
				tb.Fatal(err)
			}
			seq, err := asn1.Marshal(asn1.RawValue{Tag: asn1.TagSequence, IsCompound: true, Bytes: gn})
			if err != nil {
				tb.Fatal(err)
			}
			body = append(body, seq...)
		}
		out, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: tag, IsCompound: true, Bytes: body})
		if err != nil {
			tb.Fatal(err)
		}
		return out
	}
	var body []byte
	if len(permitted) > 0 {
		body = append(body, subtrees(0, permitted)...)
	}
	if len(excluded) > 0 {
		body = append(body, subtrees(1, excluded)...)
	}
	value, err := asn1.Marshal(asn1.RawValue{Tag: asn1.TagSequence, IsCompound: true, Bytes: body})
	if err != nil {
		tb.Fatal(err)
	}
	return withExtension(oidNameConstraints, critical, value)
}

// withSAN adds a hand-made subjectAltName extension.
func withSAN(tb testing.TB, critical bool, names ...asn1.RawValue) certOption {
	tb.Helper()
	var body []byte
	for _, n := range names {
		gn, err := asn1.Marshal(n)
		if err != nil {
			tb.Fatal(err)
		}
		body = append(body, gn...)
	}
	value, err := asn1.Marshal(asn1.RawValue{Tag: asn1.TagSequence, IsCompound: true, Bytes: body})
	if err != nil {
		tb.Fatal(err)
	}
	return withExtension(oidSubjectAltName, critical, value)
}

// Policy extensions, hand-made because crypto/x509 does not write the
// constraint and mapping extensions.
var (
	oidCertificatePolicies = asn1.ObjectIdentifier{2, 5, 29, 32}
	oidPolicyConstraints   = asn1.ObjectIdentifier{2, 5, 29, 36}
	oidInhibitAnyPolicy    = asn1.ObjectIdentifier{2, 5, 29, 54}
	oidPolicyMappings      = asn1.ObjectIdentifier{2, 5, 29, 33}
	testPolicy1            = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}
	testPolicy2            = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 2}
	anyPolicyASN1          = asn1.ObjectIdentifier{2, 5, 29, 32, 0}
)

func withPolicies(tb testing.TB, oids ...asn1.ObjectIdentifier) certOption {
	tb.Helper()
	type policyInformation struct{ Policy asn1.ObjectIdentifier }
	infos := make([]policyInformation, len(oids))
	for i, oid := range oids {
		infos[i].Policy = oid
	}
	value, err := asn1.Marshal(infos)
	if err != nil {
		tb.Fatal(err)
	}
	return withExtension(oidCertificatePolicies, false, value)
}

// withRequireExplicitPolicy adds policyConstraints requireExplicitPolicy n.
func withRequireExplicitPolicy(tb testing.TB, n int) certOption {
	tb.Helper()
	value, err := asn1.Marshal(struct {
		Require int `asn1:"tag:0"`
	}{n})
	if err != nil {
		tb.Fatal(err)
	}
	return withExtension(oidPolicyConstraints, true, value)
}

func withInhibitAnyPolicy(tb testing.TB, n int) certOption {
	tb.Helper()
	value, err := asn1.Marshal(n)
	if err != nil {
		tb.Fatal(err)
	}
	return withExtension(oidInhibitAnyPolicy, true, value)
}

func withPolicyMapping(tb testing.TB, issuerPolicy, subjectPolicy asn1.ObjectIdentifier) certOption {
	tb.Helper()
	value, err := asn1.Marshal([]struct{ Issuer, Subject asn1.ObjectIdentifier }{{issuerPolicy, subjectPolicy}})
	if err != nil {
		tb.Fatal(err)
	}
	return withExtension(oidPolicyMappings, true, value)
}

func certs(tcs ...*testCert) []*x509.Certificate {
	out := make([]*x509.Certificate, len(tcs))
	for i, tc := range tcs {
		out[i] = tc.cert
	}
	return out
}

func mustParseURL(tb testing.TB, s string) *url.URL {
	tb.Helper()
	u, err := url.Parse(s)
	if err != nil {
		tb.Fatalf("bad URL %q: %v", s, err)
	}
	return u
}
