package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

var fixedNow = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return fixedNow }

func mustRoot(t testing.TB, opts ...Option) *Authority {
	t.Helper()
	root, err := NewRoot(pkix.Name{CommonName: "Test Root", Organization: []string{"mtlslb"}}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func mustIntermediate(t testing.TB, parent *Authority, cn string, opts ...Option) *Authority {
	t.Helper()
	a, err := parent.NewIntermediate(pkix.Name{CommonName: cn}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func pool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

func TestNewRootDefaults(t *testing.T) {
	root := mustRoot(t, WithClock(fixedClock))
	c := root.Cert
	if !c.IsCA || !c.BasicConstraintsValid {
		t.Error("root is not a CA")
	}
	if c.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
		t.Errorf("KeyUsage = %v", c.KeyUsage)
	}
	if c.MaxPathLen != -1 {
		t.Errorf("MaxPathLen = %d, want -1 (no constraint)", c.MaxPathLen)
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Errorf("root is not self-signed: %v", err)
	}
	if !bytes.Equal(c.RawIssuer, c.RawSubject) {
		t.Error("issuer differs from subject")
	}
	if len(c.SubjectKeyId) != 20 || !bytes.Equal(c.AuthorityKeyId, c.SubjectKeyId) {
		t.Errorf("SubjectKeyId %x, AuthorityKeyId %x", c.SubjectKeyId, c.AuthorityKeyId)
	}
	if want := fixedNow.Add(-backdate); !c.NotBefore.Equal(want) {
		t.Errorf("NotBefore = %v, want %v", c.NotBefore, want)
	}
	if want := fixedNow.Add(caValidity); !c.NotAfter.Equal(want) {
		t.Errorf("NotAfter = %v, want %v", c.NotAfter, want)
	}
	if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > serialBits {
		t.Errorf("serial %v is not positive 128-bit", c.SerialNumber)
	}
	if k, ok := root.Key.(*ecdsa.PrivateKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("default key is %T, want ECDSA P-256", root.Key)
	}
	if len(root.Chain) != 0 {
		t.Errorf("root has a chain of %d", len(root.Chain))
	}
}

func TestSerialsDiffer(t *testing.T) {
	root := mustRoot(t)
	seen := map[string]bool{root.Cert.SerialNumber.String(): true}
	for range 20 {
		l, err := root.IssueClient(pkix.Name{CommonName: "c"})
		if err != nil {
			t.Fatal(err)
		}
		s := l.Cert.SerialNumber.String()
		if seen[s] {
			t.Fatalf("serial %s issued twice", s)
		}
		seen[s] = true
	}
}

func TestKeyTypes(t *testing.T) {
	tests := []struct {
		name string
		kt   KeyType
		ok   func(any) bool
	}{
		{"p256", P256, func(k any) bool { e, ok := k.(*ecdsa.PrivateKey); return ok && e.Curve == elliptic.P256() }},
		{"p384", P384, func(k any) bool { e, ok := k.(*ecdsa.PrivateKey); return ok && e.Curve == elliptic.P384() }},
		{"p521", P521, func(k any) bool { e, ok := k.(*ecdsa.PrivateKey); return ok && e.Curve == elliptic.P521() }},
		{"ed25519", Ed25519, func(k any) bool { _, ok := k.(ed25519.PrivateKey); return ok }},
		{"rsa2048", RSA(2048), func(k any) bool { r, ok := k.(*rsa.PrivateKey); return ok && r.N.BitLen() == 2048 }},
	}
	root := mustRoot(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := root.IssueClient(pkix.Name{CommonName: tt.name}, WithKey(tt.kt))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.ok(l.Key) {
				t.Errorf("key is %T", l.Key)
			}
			if err := l.Cert.CheckSignatureFrom(root.Cert); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestGenerateKeyErrors(t *testing.T) {
	for _, kt := range []KeyType{"", "dsa", "rsa-", "rsa-abc", "rsa-16", "ecdsa-p224"} {
		if _, err := GenerateKey(kt); err == nil {
			t.Errorf("GenerateKey(%q) succeeded", kt)
		}
	}
}

func TestChainVerifies(t *testing.T) {
	root := mustRoot(t)
	inter := mustIntermediate(t, root, "Issuing CA 1", WithPathLen(0))
	client, err := inter.IssueClient(pkix.Name{CommonName: "client.example"})
	if err != nil {
		t.Fatal(err)
	}
	server, err := inter.IssueServer([]string{"lb.example"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}

	if !slices.Equal(inter.Chain, []*x509.Certificate{root.Cert}) {
		t.Errorf("intermediate chain = %v", inter.Chain)
	}
	if !slices.Equal(client.Chain, []*x509.Certificate{inter.Cert, root.Cert}) {
		t.Errorf("leaf chain = %v", client.Chain)
	}
	if !bytes.Equal(client.Cert.AuthorityKeyId, inter.Cert.SubjectKeyId) || len(client.Cert.SubjectKeyId) == 0 {
		t.Error("leaf key identifiers are not set from the issuer")
	}
	if !inter.Cert.MaxPathLenZero || inter.Cert.MaxPathLen != 0 {
		t.Error("WithPathLen(0) not applied")
	}

	opts := x509.VerifyOptions{Roots: pool(root.Cert), Intermediates: pool(inter.Cert)}
	opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	if _, err := client.Cert.Verify(opts); err != nil {
		t.Errorf("client: %v", err)
	}
	if client.Cert.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("client KeyUsage = %v", client.Cert.KeyUsage)
	}
	opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	opts.DNSName = "lb.example"
	if _, err := server.Cert.Verify(opts); err != nil {
		t.Errorf("server: %v", err)
	}
	if err := server.Cert.VerifyHostname("127.0.0.1"); err != nil {
		t.Error(err)
	}
	if server.Cert.Subject.CommonName != "lb.example" {
		t.Errorf("server CN = %q", server.Cert.Subject.CommonName)
	}
}

// TestMutualTLS uses the issued certificates for a real handshake on a
// loopback socket, which is what the package exists for.
func TestMutualTLS(t *testing.T) {
	root := mustRoot(t)
	inter := mustIntermediate(t, root, "Issuing CA")
	server, err := inter.IssueServer(nil, []net.IP{net.IPv4(127, 0, 0, 1)}, WithKey(RSA(2048)))
	if err != nil {
		t.Fatal(err)
	}
	if server.Cert.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment {
		t.Errorf("RSA server KeyUsage = %v", server.Cert.KeyUsage)
	}
	client, err := inter.IssueClient(pkix.Name{CommonName: "client"})
	if err != nil {
		t.Fatal(err)
	}

	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{server.TLSCertificate()},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool(root.Cert),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	peer := make(chan []*x509.Certificate, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			peer <- nil
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			peer <- nil
			return
		}
		peer <- tc.ConnectionState().PeerCertificates
		io.Copy(io.Discard, c)
	}()

	cert := client.TLSCertificate()
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{
		RootCAs:      pool(root.Cert),
		Certificates: []tls.Certificate{cert},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	got := <-peer
	if len(got) != 2 || !got[0].Equal(client.Cert) || !got[1].Equal(inter.Cert) {
		t.Fatalf("server saw %d certificates, want leaf and intermediate", len(got))
	}
}

func TestOptions(t *testing.T) {
	root := mustRoot(t, WithClock(fixedClock))
	nb, na := fixedNow.Add(-48*time.Hour), fixedNow.Add(-time.Hour)
	unknownCritical := pkix.Extension{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}, Critical: true, Value: []byte{0x05, 0x00}}
	tests := []struct {
		name  string
		opts  []Option
		check func(t *testing.T, c *x509.Certificate)
	}{
		{"default validity from clock", nil, func(t *testing.T, c *x509.Certificate) {
			if !c.NotBefore.Equal(fixedNow.Add(-backdate)) || !c.NotAfter.Equal(fixedNow.Add(leafValidity)) {
				t.Errorf("validity %v – %v", c.NotBefore, c.NotAfter)
			}
		}},
		{"validity", []Option{WithValidity(nb, na)}, func(t *testing.T, c *x509.Certificate) {
			if !c.NotBefore.Equal(nb) || !c.NotAfter.Equal(na) {
				t.Errorf("validity %v – %v", c.NotBefore, c.NotAfter)
			}
		}},
		{"serial", []Option{WithSerial(big.NewInt(0x3A5B1))}, func(t *testing.T, c *x509.Certificate) {
			if c.SerialNumber.Int64() != 0x3A5B1 {
				t.Errorf("serial %v", c.SerialNumber)
			}
		}},
		{"no eku", []Option{WithEKU()}, func(t *testing.T, c *x509.Certificate) {
			if len(c.ExtKeyUsage) != 0 {
				t.Errorf("EKU %v", c.ExtKeyUsage)
			}
		}},
		{"server eku", []Option{WithEKU(x509.ExtKeyUsageServerAuth)}, func(t *testing.T, c *x509.Certificate) {
			if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
				t.Errorf("EKU %v", c.ExtKeyUsage)
			}
		}},
		{"no key usage", []Option{WithKeyUsage(0)}, func(t *testing.T, c *x509.Certificate) {
			if c.KeyUsage != 0 {
				t.Errorf("KeyUsage %v", c.KeyUsage)
			}
		}},
		{"sans", []Option{WithSANs([]string{"a.example"}, []string{"spiffe://example.org/ns/default/sa/web"}, []string{"ops@example.org"}), WithIPAddresses(net.ParseIP("2001:db8::1"))}, func(t *testing.T, c *x509.Certificate) {
			if !slices.Equal(c.DNSNames, []string{"a.example"}) || len(c.URIs) != 1 || c.URIs[0].String() != "spiffe://example.org/ns/default/sa/web" ||
				!slices.Equal(c.EmailAddresses, []string{"ops@example.org"}) || len(c.IPAddresses) != 1 {
				t.Errorf("SANs %v %v %v %v", c.DNSNames, c.URIs, c.EmailAddresses, c.IPAddresses)
			}
		}},
		{"subject key id", []Option{WithSubjectKeyID([]byte{1, 2, 3})}, func(t *testing.T, c *x509.Certificate) {
			if !bytes.Equal(c.SubjectKeyId, []byte{1, 2, 3}) {
				t.Errorf("SubjectKeyId %x", c.SubjectKeyId)
			}
		}},
		{"crl distribution points", []Option{WithCRLDistributionPoints("http://crl.example/a.crl")}, func(t *testing.T, c *x509.Certificate) {
			if !slices.Equal(c.CRLDistributionPoints, []string{"http://crl.example/a.crl"}) {
				t.Errorf("CRLDistributionPoints %v", c.CRLDistributionPoints)
			}
		}},
		{"signature algorithm", []Option{WithSignatureAlgorithm(x509.ECDSAWithSHA384)}, func(t *testing.T, c *x509.Certificate) {
			if c.SignatureAlgorithm != x509.ECDSAWithSHA384 {
				t.Errorf("SignatureAlgorithm %v", c.SignatureAlgorithm)
			}
		}},
		{"unknown critical extension", []Option{WithExtraExtensions(unknownCritical)}, func(t *testing.T, c *x509.Certificate) {
			if len(c.UnhandledCriticalExtensions) != 1 || !c.UnhandledCriticalExtensions[0].Equal(unknownCritical.Id) {
				t.Errorf("UnhandledCriticalExtensions %v", c.UnhandledCriticalExtensions)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := root.IssueClient(pkix.Name{CommonName: tt.name}, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, l.Cert)
		})
	}
}

func TestIssueErrors(t *testing.T) {
	root := mustRoot(t)
	tests := []struct {
		name  string
		issue func(t *testing.T) error
	}{
		{"bad URI", func(t *testing.T) error {
			_, err := root.IssueClient(pkix.Name{CommonName: "x"}, WithSANs(nil, []string{"http://[::1"}, nil))
			return err
		}},
		{"negative serial", func(t *testing.T) error {
			_, err := root.IssueClient(pkix.Name{CommonName: "x"}, WithSerial(big.NewInt(-5)))
			return err
		}},
		{"server without names", func(t *testing.T) error {
			_, err := root.IssueServer(nil, nil)
			return err
		}},
		{"bad key type", func(t *testing.T) error {
			_, err := root.NewIntermediate(pkix.Name{CommonName: "x"}, WithKey("dsa-1024"))
			return err
		}},
		{"empty name constraints", func(t *testing.T) error {
			_, err := root.NewIntermediate(pkix.Name{CommonName: "x"}, WithNameConstraints(NameConstraints{}))
			return err
		}},
		{"non-ASCII DNS constraint", func(t *testing.T) error {
			_, err := root.NewIntermediate(pkix.Name{CommonName: "x"}, WithNameConstraints(NameConstraints{Permitted: Subtrees{DNSDomains: []string{"bücher.example"}}}))
			return err
		}},
		{"CRL entry without serial", func(t *testing.T) error {
			_, err := root.CRL([]Revocation{{}})
			return err
		}},
		{"CRL signed by a CA without cRLSign", func(t *testing.T) error {
			a, err := root.NewIntermediate(pkix.Name{CommonName: "x"}, WithKeyUsage(x509.KeyUsageCertSign))
			if err != nil {
				t.Fatal(err)
			}
			_, err = a.CRL(nil)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.issue(t); err == nil {
				t.Fatal("succeeded, want an error")
			}
		})
	}
}

func TestNameConstraints(t *testing.T) {
	root := mustRoot(t)
	nc := NameConstraints{
		Permitted: Subtrees{
			DNSDomains:     []string{".example.com"},
			EmailAddresses: []string{"example.com"},
			URIDomains:     []string{".example.org"},
			IPRanges:       []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("2001:db8::/32")},
			DirectoryNames: []pkix.Name{{Country: []string{"US"}, Organization: []string{"Example"}}},
		},
		Excluded: Subtrees{DNSDomains: []string{"bad.example.com"}},
	}
	inter := mustIntermediate(t, root, "Constrained CA", WithNameConstraints(nc))
	c := inter.Cert
	if !c.PermittedDNSDomainsCritical {
		t.Error("name constraints not critical")
	}
	if !slices.Equal(c.PermittedDNSDomains, []string{".example.com"}) || !slices.Equal(c.ExcludedDNSDomains, []string{"bad.example.com"}) ||
		!slices.Equal(c.PermittedEmailAddresses, []string{"example.com"}) || !slices.Equal(c.PermittedURIDomains, []string{".example.org"}) {
		t.Errorf("parsed constraints: %v %v %v %v", c.PermittedDNSDomains, c.ExcludedDNSDomains, c.PermittedEmailAddresses, c.PermittedURIDomains)
	}
	if len(c.PermittedIPRanges) != 2 || c.PermittedIPRanges[0].String() != "10.1.0.0/16" || c.PermittedIPRanges[1].String() != "2001:db8::/32" {
		t.Errorf("IP ranges %v", c.PermittedIPRanges)
	}
	// crypto/x509 does not handle directoryName constraints, so a critical
	// extension carrying one is left unhandled: proof that it was encoded.
	if !slices.ContainsFunc(c.UnhandledCriticalExtensions, oidExtensionNameConstraints.Equal) {
		t.Error("directoryName constraint missing")
	}

	plain := mustIntermediate(t, root, "DNS-only CA", WithNameConstraints(NameConstraints{
		Permitted: Subtrees{DNSDomains: []string{"example.com"}}, NonCritical: true,
	}))
	if plain.Cert.PermittedDNSDomainsCritical || len(plain.Cert.UnhandledCriticalExtensions) != 0 {
		t.Error("NonCritical not honoured")
	}
	for _, tt := range []struct {
		name string
		dns  string
		ok   bool
	}{{"inside", "a.example.com", true}, {"outside", "a.example.net", false}} {
		t.Run(tt.name, func(t *testing.T) {
			l, err := plain.IssueServer([]string{tt.dns}, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = l.Cert.Verify(x509.VerifyOptions{Roots: pool(root.Cert), Intermediates: pool(plain.Cert)})
			if (err == nil) != tt.ok {
				t.Errorf("Verify = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestCrossSign(t *testing.T) {
	oldRoot := mustRoot(t)
	newRoot, err := NewRoot(pkix.Name{CommonName: "New Root"})
	if err != nil {
		t.Fatal(err)
	}
	cross, err := oldRoot.CrossSign(newRoot)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cross.Cert.RawSubject, newRoot.Cert.RawSubject) || !cross.Cert.PublicKey.(*ecdsa.PublicKey).Equal(newRoot.Cert.PublicKey) {
		t.Fatal("cross certificate does not carry the new root's name and key")
	}
	if !slices.Equal(cross.Chain, []*x509.Certificate{oldRoot.Cert}) {
		t.Error("cross certificate chain does not lead to the old root")
	}
	leaf, err := newRoot.IssueClient(pkix.Name{CommonName: "client"})
	if err != nil {
		t.Fatal(err)
	}
	// A client of the new root is trusted by a verifier that only knows the old one.
	_, err = leaf.Cert.Verify(x509.VerifyOptions{Roots: pool(oldRoot.Cert), Intermediates: pool(cross.Cert), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCRL(t *testing.T) {
	root := mustRoot(t, WithClock(fixedClock))
	a, err := root.IssueClient(pkix.Name{CommonName: "a"})
	if err != nil {
		t.Fatal(err)
	}
	revokedAt := fixedNow.Add(-time.Hour)

	t.Run("defaults", func(t *testing.T) {
		der, err := root.CRL([]Revocation{Revoke(a.Cert), {Serial: big.NewInt(7), RevokedAt: revokedAt, Reason: 1}})
		if err != nil {
			t.Fatal(err)
		}
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			t.Fatal(err)
		}
		if err := crl.CheckSignatureFrom(root.Cert); err != nil {
			t.Error(err)
		}
		if !crl.ThisUpdate.Equal(fixedNow) || !crl.NextUpdate.Equal(fixedNow.Add(crlValidity)) {
			t.Errorf("update times %v %v", crl.ThisUpdate, crl.NextUpdate)
		}
		if crl.Number.Int64() != fixedNow.UnixNano() {
			t.Errorf("Number %v", crl.Number)
		}
		if !bytes.Equal(crl.RawIssuer, root.Cert.RawSubject) || !bytes.Equal(crl.AuthorityKeyId, root.Cert.SubjectKeyId) {
			t.Error("issuer or authority key id wrong")
		}
		e := crl.RevokedCertificateEntries
		if len(e) != 2 || e[0].SerialNumber.Cmp(a.Cert.SerialNumber) != 0 || !e[0].RevocationTime.Equal(fixedNow) ||
			e[1].SerialNumber.Int64() != 7 || !e[1].RevocationTime.Equal(revokedAt) || e[1].ReasonCode != 1 {
			t.Errorf("entries %+v", e)
		}
	})
	t.Run("options", func(t *testing.T) {
		this, next := fixedNow.Add(-30*24*time.Hour), fixedNow.Add(-24*time.Hour)
		ext := pkix.Extension{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 2}, Critical: true, Value: []byte{0x05, 0x00}}
		der, err := root.CRL(nil, WithThisUpdate(this), WithNextUpdate(next), WithCRLNumber(big.NewInt(42)), WithExtraExtensions(ext))
		if err != nil {
			t.Fatal(err)
		}
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			t.Fatal(err)
		}
		if !crl.ThisUpdate.Equal(this) || !crl.NextUpdate.Equal(next) || crl.Number.Int64() != 42 || len(crl.RevokedCertificateEntries) != 0 {
			t.Errorf("CRL %v %v %v %d", crl.ThisUpdate, crl.NextUpdate, crl.Number, len(crl.RevokedCertificateEntries))
		}
		if !slices.ContainsFunc(crl.Extensions, func(e pkix.Extension) bool { return e.Id.Equal(ext.Id) && e.Critical }) {
			t.Error("extra extension missing")
		}
	})
}

func TestPEMRoundTrip(t *testing.T) {
	root := mustRoot(t)
	inter := mustIntermediate(t, root, "Issuing")
	for _, kt := range []KeyType{P256, P384, Ed25519, RSA(2048)} {
		t.Run(string(kt), func(t *testing.T) {
			l, err := inter.IssueClient(pkix.Name{CommonName: "c"}, WithKey(kt))
			if err != nil {
				t.Fatal(err)
			}
			certs, err := ParseCertsPEM(l.ChainPEM())
			if err != nil {
				t.Fatal(err)
			}
			if len(certs) != 2 || !certs[0].Equal(l.Cert) || !certs[1].Equal(inter.Cert) {
				t.Fatal("ChainPEM is not leaf then intermediate")
			}
			keyPEM, err := EncodeKeyPEM(l.Key)
			if err != nil {
				t.Fatal(err)
			}
			key, err := ParseKeyPEM(keyPEM)
			if err != nil {
				t.Fatal(err)
			}
			if err := checkKeyPair(l.Cert, key); err != nil {
				t.Fatal(err)
			}
			// The pair must also load the way a listener loads it.
			if _, err := tls.X509KeyPair(l.ChainPEM(), keyPEM); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestParseKeyPEMLegacyFormats(t *testing.T) {
	ec, err := GenerateKey(P256)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(ec.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	rk, err := GenerateKey(RSA(2048))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		pem  []byte
	}{
		{"sec1", pemBlock("EC PRIVATE KEY", sec1)},
		{"pkcs1 after a parameters block", append(pemBlock("EC PARAMETERS", []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}), pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rk.(*rsa.PrivateKey)))...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseKeyPEM(tt.pem); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestParseErrors(t *testing.T) {
	root := mustRoot(t)
	rootPEM := EncodeCertsPEM(root.Cert)
	keyPEM, err := EncodeKeyPEM(root.Key)
	if err != nil {
		t.Fatal(err)
	}
	other := mustRoot(t)
	otherKey, err := EncodeKeyPEM(other.Key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := root.IssueClient(pkix.Name{CommonName: "c"})
	if err != nil {
		t.Fatal(err)
	}
	leafKey, err := EncodeKeyPEM(leaf.Key)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		certPEM, key []byte
	}{
		{"empty cert", nil, keyPEM},
		{"garbage cert", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), keyPEM},
		{"key in cert file", keyPEM, keyPEM},
		{"empty key", rootPEM, nil},
		{"cert in key file", rootPEM, rootPEM},
		{"garbage key", rootPEM, pemBlock("PRIVATE KEY", []byte{1, 2, 3})},
		{"garbage pkcs1", rootPEM, pemBlock("RSA PRIVATE KEY", []byte{1, 2, 3})},
		{"garbage sec1", rootPEM, pemBlock("EC PRIVATE KEY", []byte{1, 2, 3})},
		{"mismatched key", rootPEM, otherKey},
		{"not a CA", EncodeCertsPEM(leaf.Cert), leafKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := LoadAuthority(tt.certPEM, tt.key); err == nil {
				t.Fatal("LoadAuthority succeeded")
			}
		})
	}
}

func TestWriteFilesLoadAuthority(t *testing.T) {
	dir := t.TempDir()
	root := mustRoot(t)
	inter := mustIntermediate(t, root, "Issuing")
	files, err := inter.WriteFiles(dir, "issuing-ca")
	if err != nil {
		t.Fatal(err)
	}
	if files.Cert != filepath.Join(dir, "issuing-ca.pem") || files.Key != filepath.Join(dir, "issuing-ca-key.pem") {
		t.Errorf("files %+v", files)
	}
	st, err := os.Stat(files.Key)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v", st.Mode().Perm())
	}
	certPEM, err := os.ReadFile(files.Cert)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(files.Key)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadAuthority(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !loaded.Cert.Equal(inter.Cert) || len(loaded.Chain) != 1 || !loaded.Chain[0].Equal(root.Cert) {
		t.Fatal("loaded authority differs")
	}
	// The loaded authority issues leaves that chain to the original root.
	leaf, err := loaded.IssueClient(pkix.Name{CommonName: "after reload"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: pool(root.Cert), Intermediates: pool(inter.Cert), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatal(err)
	}

	lf, err := leaf.WriteFiles(dir, "client")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.LoadX509KeyPair(lf.Cert, lf.Key); err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.WriteFiles(filepath.Join(dir, "missing"), "client"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("writing into a missing directory: %v", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 4 {
		t.Errorf("%d files in dir, want 4 (no temporary files left)", len(entries))
	}
}

func FuzzParseCertsPEM(f *testing.F) {
	root := mustRoot(f)
	f.Add(EncodeCertsPEM(root.Cert))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := ParseCertsPEM(data)
		if err == nil && len(certs) == 0 {
			t.Fatal("no error and no certificates")
		}
	})
}

func FuzzParseKeyPEM(f *testing.F) {
	key, err := GenerateKey(P256)
	if err != nil {
		f.Fatal(err)
	}
	keyPEM, err := EncodeKeyPEM(key)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(keyPEM)
	f.Add([]byte("-----BEGIN EC PRIVATE KEY-----\nMAA=\n-----END EC PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParseKeyPEM(data)
		if err == nil && k == nil {
			t.Fatal("no error and no key")
		}
	})
}

// TestSelfIssuedRollover checks the key identifiers of a self-issued
// certificate (same name, new key), the link of a CA key rollover.
func TestSelfIssuedRollover(t *testing.T) {
	root := mustRoot(t)
	newKey, err := GenerateKey(P256)
	if err != nil {
		t.Fatal(err)
	}
	link, err := root.NewIntermediate(root.Cert.Subject, WithSigner(newKey))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(link.Cert.RawIssuer, link.Cert.RawSubject) {
		t.Fatal("link is not self-issued")
	}
	if !bytes.Equal(link.Cert.AuthorityKeyId, root.Cert.SubjectKeyId) || bytes.Equal(link.Cert.SubjectKeyId, root.Cert.SubjectKeyId) {
		t.Errorf("AuthorityKeyId %x SubjectKeyId %x, root SubjectKeyId %x", link.Cert.AuthorityKeyId, link.Cert.SubjectKeyId, root.Cert.SubjectKeyId)
	}
	if err := link.Cert.CheckSignatureFrom(root.Cert); err != nil {
		t.Error(err)
	}
}

func TestPresented(t *testing.T) {
	root := mustRoot(t)
	inter := mustIntermediate(t, root, "Issuing")
	// An authority loaded from a file that holds no root.
	loaded, err := NewAuthority(inter.Cert, inter.Key, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		issuer *Authority
		want   int
	}{
		{"issued by the root", root, 1},
		{"issued by an intermediate", inter, 2},
		{"chain without root", loaded, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := tt.issuer.IssueClient(pkix.Name{CommonName: "c"})
			if err != nil {
				t.Fatal(err)
			}
			got := l.Presented()
			if len(got) != tt.want || !got[0].Equal(l.Cert) {
				t.Fatalf("presented %d certificates, want %d, leaf first", len(got), tt.want)
			}
			if n := len(l.TLSCertificate().Certificate); n != tt.want {
				t.Errorf("TLSCertificate holds %d certificates", n)
			}
		})
	}
}
