package testpki

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"net"
	"testing"

	"github.com/mtlslb/mtlslb/internal/pki"
)

// CA is a certification authority for tests. The embedded Authority gives
// access to everything internal/pki offers.
type CA struct {
	*pki.Authority
}

// NewCA creates a self-signed root CA. Its common name is "Test Root CA"
// followed by a random suffix, so that CAs of one test never share a name
// by accident (names, not keys, are what path building matches first).
func NewCA(t testing.TB, opts ...pki.Option) *CA {
	t.Helper()
	a, err := pki.NewRoot(pkix.Name{CommonName: "Test Root CA " + randomSuffix(t)}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{a}
}

// Intermediate issues a subordinate CA named cn.
func (ca *CA) Intermediate(t testing.TB, cn string, opts ...pki.Option) *CA {
	t.Helper()
	a, err := ca.NewIntermediate(pkix.Name{CommonName: cn}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{a}
}

// Client issues a client certificate with common name cn.
func (ca *CA) Client(t testing.TB, cn string, opts ...pki.Option) *pki.Leaf {
	t.Helper()
	l, err := ca.IssueClient(pkix.Name{CommonName: cn}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Server issues a server certificate for host, an IP address ("127.0.0.1")
// or a DNS name ("localhost").
func (ca *CA) Server(t testing.TB, host string, opts ...pki.Option) *pki.Leaf {
	t.Helper()
	var dnsNames []string
	var ips []net.IP
	if ip := net.ParseIP(host); ip != nil {
		ips = []net.IP{ip}
	} else {
		dnsNames = []string{host}
	}
	l, err := ca.IssueServer(dnsNames, ips, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// CRL returns a DER CRL of ca revoking the given certificates.
func (ca *CA) CRL(t testing.TB, revoked ...*x509.Certificate) []byte {
	t.Helper()
	entries := make([]pki.Revocation, len(revoked))
	for i, c := range revoked {
		entries[i] = pki.Revoke(c)
	}
	return ca.CRLWith(t, entries)
}

// CRLWith returns a DER CRL of ca with the given entries and options
// (pki.WithThisUpdate, pki.WithNextUpdate, …).
func (ca *CA) CRLWith(t testing.TB, revoked []pki.Revocation, opts ...pki.Option) []byte {
	t.Helper()
	der, err := ca.Authority.CRL(revoked, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// Pool returns a certificate pool holding ca's certificate, for
// tls.Config.RootCAs or ClientCAs.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// BundlePEM returns ca's certificate as PEM: a trust store CA bundle.
func (ca *CA) BundlePEM() []byte {
	return pki.EncodeCertsPEM(ca.Cert)
}

func randomSuffix(t testing.TB) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
