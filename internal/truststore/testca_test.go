package truststore

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"sync/atomic"
	"testing"
	"time"
)

// testNow is the verification time of the generated PKI.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testCA is an in-memory certificate authority.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// certOption adjusts a certificate template before it is signed.
type certOption func(*x509.Certificate)

func withValidity(notBefore, notAfter time.Time) certOption {
	return func(t *x509.Certificate) { t.NotBefore, t.NotAfter = notBefore, notAfter }
}

func withEKU(usages ...x509.ExtKeyUsage) certOption {
	return func(t *x509.Certificate) { t.ExtKeyUsage = usages }
}

func withKeyUsage(ku x509.KeyUsage) certOption {
	return func(t *x509.Certificate) { t.KeyUsage = ku }
}

func withSerial(n int64) certOption {
	return func(t *x509.Certificate) { t.SerialNumber = big.NewInt(n) }
}

var serialCounter atomic.Int64

func newKey(tb testing.TB) crypto.Signer {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// sign creates a certificate for key from tmpl, issued by parent (nil:
// self-signed).
func sign(tb testing.TB, tmpl *x509.Certificate, key crypto.Signer, parent *testCA) *x509.Certificate {
	tb.Helper()
	issuerCert, issuerKey := tmpl, key
	if parent != nil {
		issuerCert, issuerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuerCert, key.Public(), issuerKey)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func caTemplate(name string, opts []certOption) *x509.Certificate {
	t := &x509.Certificate{
		SerialNumber:          big.NewInt(serialCounter.Add(1)),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"mtlslb test"}},
		NotBefore:             testNow.Add(-365 * 24 * time.Hour),
		NotAfter:              testNow.Add(5 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, o := range opts {
		o(t)
	}
	return t
}

// newRootCA returns a self-signed root with a fresh P-256 key.
func newRootCA(tb testing.TB, name string, opts ...certOption) *testCA {
	tb.Helper()
	return newRootCAWithKey(tb, name, newKey(tb), opts...)
}

func newRootCAWithKey(tb testing.TB, name string, key crypto.Signer, opts ...certOption) *testCA {
	tb.Helper()
	return &testCA{cert: sign(tb, caTemplate(name, opts), key, nil), key: key}
}

// issueCA returns an intermediate CA issued by ca.
func (ca *testCA) issueCA(tb testing.TB, name string, opts ...certOption) *testCA {
	tb.Helper()
	key := newKey(tb)
	return &testCA{cert: sign(tb, caTemplate(name, opts), key, ca), key: key}
}

// issueLeaf returns a client certificate issued by ca.
func (ca *testCA) issueLeaf(tb testing.TB, name string, opts ...certOption) *x509.Certificate {
	tb.Helper()
	t := &x509.Certificate{
		SerialNumber: big.NewInt(serialCounter.Add(1)),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    testNow.Add(-24 * time.Hour),
		NotAfter:     testNow.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		// An explicit cA=false, as most issuing CAs write it.
		BasicConstraintsValid: true,
	}
	for _, o := range opts {
		o(t)
	}
	return sign(tb, t, newKey(tb), ca)
}

// crl returns a DER CRL issued by ca revoking the given serials.
func (ca *testCA) crl(tb testing.TB, number int64, thisUpdate, nextUpdate time.Time, revoked ...*big.Int) []byte {
	tb.Helper()
	entries := make([]x509.RevocationListEntry, len(revoked))
	for i, s := range revoked {
		entries[i] = x509.RevocationListEntry{SerialNumber: s, RevocationTime: thisUpdate.Add(-time.Hour)}
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    big.NewInt(number),
		ThisUpdate:                thisUpdate,
		NextUpdate:                nextUpdate,
		RevokedCertificateEntries: entries,
	}, ca.cert, ca.key)
	if err != nil {
		tb.Fatal(err)
	}
	return der
}

// freshCRL returns a CRL valid around testNow.
func (ca *testCA) freshCRL(tb testing.TB, revoked ...*big.Int) []byte {
	tb.Helper()
	return ca.crl(tb, 1, testNow.Add(-time.Hour), testNow.Add(7*24*time.Hour), revoked...)
}

func pemBundle(certs ...*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

func rawChain(certs ...*x509.Certificate) [][]byte {
	raw := make([][]byte, len(certs))
	for i, c := range certs {
		raw[i] = c.Raw
	}
	return raw
}

// mustNew compiles cfg or fails the test.
func mustNew(tb testing.TB, cfg Config) *Store {
	tb.Helper()
	s, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return s
}

// crossSign issues a certificate for subject's name and key signed by issuer:
// a cross-certificate (or, with the same issuer name, a rollover certificate).
func crossSign(tb testing.TB, subject, issuer *testCA, opts ...certOption) *x509.Certificate {
	tb.Helper()
	t := caTemplate(subject.cert.Subject.CommonName, opts)
	t.Subject = subject.cert.Subject
	return sign(tb, t, subject.key, issuer)
}
