package crl

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/der"
)

// testNow is the time every generated certificate and CRL is built around.
var testNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// testCA is a certification authority for tests, with a real key.
type testCA struct {
	cert   *x509.Certificate
	key    crypto.Signer
	serial int64
}

// certOption adjusts a certificate template before it is signed.
type certOption func(*x509.Certificate)

func withKeyUsage(ku x509.KeyUsage) certOption {
	return func(c *x509.Certificate) { c.KeyUsage = ku }
}

func withSerial(n int64) certOption {
	return func(c *x509.Certificate) { c.SerialNumber = big.NewInt(n) }
}

// withDistributionPoints gives the certificate a cRLDistributionPoints
// extension with one distribution point per URI.
func withDistributionPoints(uris ...string) certOption {
	return func(c *x509.Certificate) { c.CRLDistributionPoints = uris }
}

// withCRLIssuer gives the certificate a distribution point whose CRLs come
// from a separate CRL issuer named dn.
func withCRLIssuer(tb testing.TB, uri string, dn pkix.Name) certOption {
	tb.Helper()
	name, err := asn1.Marshal(dn.ToRDNSequence())
	if err != nil {
		tb.Fatal(err)
	}
	dp := der.Append(nil, tagContextCons0, der.Append(nil, distributionPointFull, der.Append(nil, der.ClassContextSpecific|6, []byte(uri))))
	dp = append(dp, der.Append(nil, tagContextCons2, der.Append(nil, generalNameDirName, name))...)
	value := der.Append(nil, der.Sequence, der.Append(nil, der.Sequence, dp))
	return func(c *x509.Certificate) {
		c.ExtraExtensions = append(c.ExtraExtensions, pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 31}, Value: value})
	}
}

func newKey(tb testing.TB) crypto.Signer {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// newRootCA creates a self-signed CA named cn.
func newRootCA(tb testing.TB, cn string, opts ...certOption) *testCA {
	tb.Helper()
	key := newKey(tb)
	tmpl := caTemplate(cn, 1)
	for _, o := range opts {
		o(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		tb.Fatal(err)
	}
	return &testCA{cert: mustParseCert(tb, der), key: key, serial: 1}
}

func caTemplate(cn string, serial int64) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             testNow.Add(-365 * 24 * time.Hour),
		NotAfter:              testNow.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
}

func (ca *testCA) nextSerial() int64 {
	ca.serial++
	return ca.serial
}

// issueCA issues a subordinate CA named cn.
func (ca *testCA) issueCA(tb testing.TB, cn string, opts ...certOption) *testCA {
	tb.Helper()
	key := newKey(tb)
	tmpl := caTemplate(cn, ca.nextSerial())
	for _, o := range opts {
		o(tmpl)
	}
	return &testCA{cert: ca.sign(tb, tmpl, key.Public()), key: key, serial: 1}
}

// issueLeaf issues an end-entity certificate named cn.
func (ca *testCA) issueLeaf(tb testing.TB, cn string, opts ...certOption) *x509.Certificate {
	tb.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(ca.nextSerial()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    testNow.Add(-24 * time.Hour),
		NotAfter:     testNow.Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	for _, o := range opts {
		o(tmpl)
	}
	return ca.sign(tb, tmpl, newKey(tb).Public())
}

func (ca *testCA) sign(tb testing.TB, tmpl *x509.Certificate, pub crypto.PublicKey) *x509.Certificate {
	tb.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		tb.Fatal(err)
	}
	return mustParseCert(tb, der)
}

func mustParseCert(tb testing.TB, der []byte) *x509.Certificate {
	tb.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// withNegativeSerial re-signs cert (issued by ca) with serial n, which may be
// negative: crypto/x509 refuses to create such certificates, but CAs in the
// wild did, and the debug_test.go directive lets crypto/x509 parse them.
func (ca *testCA) withNegativeSerial(tb testing.TB, cert *x509.Certificate, n int64) *x509.Certificate {
	tb.Helper()
	d := der.Reader(cert.RawTBSCertificate)
	content, err := d.Read(der.Sequence)
	if err != nil {
		tb.Fatal("malformed TBSCertificate")
	}
	tbs := der.Reader(content)
	version, _, _ := tbs.ReadFull(tagContextCons0)
	if _, err := tbs.Read(der.Integer); err != nil {
		tb.Fatal("malformed serial")
	}
	serial, err := asn1.Marshal(big.NewInt(n))
	if err != nil {
		tb.Fatal(err)
	}
	body := append(append(append([]byte(nil), version...), serial...), tbs...)
	newTBS := der.Append(nil, der.Sequence, body)
	digest := sha256.Sum256(newTBS)
	sig, err := ca.key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		tb.Fatal(err)
	}
	outer := der.Reader(cert.Raw)
	certContent, _ := outer.Read(der.Sequence)
	parts := der.Reader(certContent)
	parts.ReadAny() // the old TBS
	sigAlg, _, _ := parts.ReadFull(der.Sequence)
	body = append(append([]byte(nil), newTBS...), sigAlg...)
	body = der.Append(body, der.BitString, append([]byte{0}, sig...))
	return mustParseCert(tb, der.Append(nil, der.Sequence, body))
}

// crlOption adjusts a CRL template before it is signed.
type crlOption func(*x509.RevocationList)

func withTimes(thisUpdate, nextUpdate time.Time) crlOption {
	return func(rl *x509.RevocationList) { rl.ThisUpdate, rl.NextUpdate = thisUpdate, nextUpdate }
}

func withNumber(n int64) crlOption {
	return func(rl *x509.RevocationList) { rl.Number = big.NewInt(n) }
}

func withExtension(id asn1.ObjectIdentifier, critical bool, value []byte) crlOption {
	return func(rl *x509.RevocationList) {
		rl.ExtraExtensions = append(rl.ExtraExtensions, pkix.Extension{Id: id, Critical: critical, Value: value})
	}
}

// withDelta makes the CRL a delta CRL on base.
func withDelta(tb testing.TB, base int64) crlOption {
	tb.Helper()
	v, err := asn1.Marshal(big.NewInt(base))
	if err != nil {
		tb.Fatal(err)
	}
	return withExtension(asn1.ObjectIdentifier{2, 5, 29, 27}, true, v)
}

// idp describes an issuingDistributionPoint for withIDP.
type idp struct {
	uris                          []string
	onlyUser, onlyCA              bool
	reasons                       []int // onlySomeReasons bit numbers
	indirect, onlyAttr, falseFlag bool  // falseFlag encodes onlyContainsUserCerts as an explicit FALSE
}

func (p idp) encode() []byte {
	var body []byte
	if len(p.uris) > 0 {
		var names []byte
		for _, u := range p.uris {
			names = der.Append(names, der.ClassContextSpecific|6, []byte(u))
		}
		body = der.Append(body, tagContextCons0, der.Append(nil, distributionPointFull, names))
	}
	flag := func(tag der.Tag, on bool) {
		if on {
			body = der.Append(body, tag, []byte{0xff})
		}
	}
	flag(der.ClassContextSpecific|1, p.onlyUser)
	if p.falseFlag {
		body = der.Append(body, der.ClassContextSpecific|1, []byte{0x00})
	}
	flag(der.ClassContextSpecific|2, p.onlyCA)
	if len(p.reasons) > 0 {
		bits := make([]byte, 2)
		for _, r := range p.reasons {
			bits[r/8] |= 0x80 >> (r % 8)
		}
		body = der.Append(body, der.ClassContextSpecific|3, append([]byte{0}, bits...))
	}
	flag(der.ClassContextSpecific|4, p.indirect)
	flag(der.ClassContextSpecific|5, p.onlyAttr)
	return der.Append(nil, der.Sequence, body)
}

func withIDP(p idp) crlOption {
	return withExtension(asn1.ObjectIdentifier{2, 5, 29, 28}, true, p.encode())
}

// revoke is an entry for the certificate with serial n.
func revoke(n int64, reason int) x509.RevocationListEntry {
	return x509.RevocationListEntry{SerialNumber: big.NewInt(n), RevocationTime: testNow.Add(-48 * time.Hour), ReasonCode: reason}
}

func revokeCert(c *x509.Certificate, reason int) x509.RevocationListEntry {
	return x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: testNow.Add(-48 * time.Hour), ReasonCode: reason}
}

// crl signs a CRL listing entries, by default number 1, issued an hour
// before testNow and due a day after it.
func (ca *testCA) crl(tb testing.TB, entries []x509.RevocationListEntry, opts ...crlOption) []byte {
	tb.Helper()
	rl := &x509.RevocationList{
		Number:                    big.NewInt(1),
		ThisUpdate:                testNow.Add(-time.Hour),
		NextUpdate:                testNow.Add(24 * time.Hour),
		RevokedCertificateEntries: entries,
	}
	for _, o := range opts {
		o(rl)
	}
	der, err := x509.CreateRevocationList(rand.Reader, rl, ca.cert, ca.key)
	if err != nil {
		tb.Fatal(err)
	}
	return der
}

func mustParse(tb testing.TB, der []byte) *CRL {
	tb.Helper()
	c, err := Parse(der)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func mustSet(tb testing.TB, srcs []Source, bundle ...*x509.Certificate) *Set {
	tb.Helper()
	s, err := NewSet(srcs, bundle)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// chain is a root CA in the bundle, an intermediate the client presents,
// and helpers to check the intermediate's leaves.
type chain struct {
	root, inter *testCA
}

func newChain(tb testing.TB, interOpts ...certOption) chain {
	tb.Helper()
	root := newRootCA(tb, "Test Root CA")
	return chain{root: root, inter: root.issueCA(tb, "Test Issuing CA", interOpts...)}
}

// input is the CheckInput for leaf, issued by the chain's intermediate, at
// testNow.
func (c chain) input(leaf *x509.Certificate, policy Policy) CheckInput {
	path := []*x509.Certificate{leaf, c.inter.cert, c.root.cert}
	return CheckInput{Cert: leaf, Issuer: c.inter.cert, Path: path, Presented: path[:2], Now: testNow, Policy: policy}
}
