package testpki_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"testing"

	"github.com/mtlslb/mtlslb/internal/pki"
	"github.com/mtlslb/mtlslb/internal/testpki"
)

// TestHandshake runs a mutual TLS handshake on a loopback socket with a
// server certificate of one root and a client certificate of an
// intermediate of another, the shape of most tests that use this package.
func TestHandshake(t *testing.T) {
	serverCA := testpki.NewCA(t)
	clientRoot := testpki.NewCA(t)
	clientCA := clientRoot.Intermediate(t, "Client Issuing CA", pki.WithPathLen(0))
	client := clientCA.Client(t, "client.example")
	server := serverCA.Server(t, "127.0.0.1")

	if serverCA.Cert.Subject.CommonName == clientRoot.Cert.Subject.CommonName {
		t.Fatal("two CAs share a name")
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{server.TLSCertificate()},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clientRoot.Pool(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		done <- c.(*tls.Conn).Handshake()
		io.Copy(io.Discard, c)
	}()

	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{
		RootCAs:      serverCA.Pool(),
		Certificates: []tls.Certificate{client.TLSCertificate()},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := <-done; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
}

func TestServerHostKinds(t *testing.T) {
	ca := testpki.NewCA(t)
	tests := []struct {
		name, host string
	}{
		{"ipv4", "127.0.0.1"},
		{"ipv6", "::1"},
		{"dns", "localhost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := ca.Server(t, tt.host)
			if err := l.Cert.VerifyHostname(tt.host); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCRLAndBundle(t *testing.T) {
	ca := testpki.NewCA(t)
	a, b := ca.Client(t, "a"), ca.Client(t, "b")
	crl, err := x509.ParseRevocationList(ca.CRL(t, a.Cert, b.Cert))
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(ca.Cert); err != nil {
		t.Fatal(err)
	}
	if n := len(crl.RevokedCertificateEntries); n != 2 {
		t.Fatalf("%d entries, want 2", n)
	}
	certs, err := pki.ParseCertsPEM(ca.BundlePEM())
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) != 1 || !certs[0].Equal(ca.Cert) {
		t.Fatal("BundlePEM is not the CA certificate")
	}
}
