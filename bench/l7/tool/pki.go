package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// PKI file names written by `tool pki`.
const (
	fileServerCA   = "server-ca.pem"  // what clients trust for the listener's certificate
	fileServer     = "server.pem"     // the listener's certificate
	fileServerKey  = "server-key.pem" // its key (PKCS #8)
	fileServerBoth = "server-crt-key.pem"
	fileClientCA   = "client-ca.pem"  // the trust store of every proxy under test
	fileClient     = "client.pem"     // the load generator's certificate
	fileClientKey  = "client-key.pem" // its key (PKCS #8)
)

func runPKI(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("pki", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "directory to write the PEM files into (created if missing)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *dir == "" {
		fmt.Fprintln(stderr, "tool pki: -dir is required")
		return errUsage
	}
	if err := writePKI(*dir, time.Now()); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "pki: wrote %s, %s, %s, %s, %s, %s, %s in %s\n",
		fileServerCA, fileServer, fileServerKey, fileServerBoth, fileClientCA, fileClient, fileClientKey, *dir)
	return nil
}

// issued is a certificate and its key.
type issued struct {
	cert *x509.Certificate
	der  []byte
	key  *ecdsa.PrivateKey
}

// writePKI writes two independent hierarchies: a server CA with a certificate for 127.0.0.1, ::1 and
// localhost, and a client CA with one client certificate. All keys are ECDSA P-256, which every proxy under
// test supports and which keeps the few handshakes of a keep-alive run cheap. Certificates are valid from an
// hour before now for 30 days.
func writePKI(dir string, now time.Time) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	serverCA, err := issue(&x509.Certificate{
		Subject:               pkix.Name{CommonName: "bench server CA", Organization: []string{"mtlslb bench"}},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, nil, now)
	if err != nil {
		return err
	}
	server, err := issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost", Organization: []string{"mtlslb bench"}},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, serverCA, now)
	if err != nil {
		return err
	}
	clientCA, err := issue(&x509.Certificate{
		Subject:               pkix.Name{CommonName: "bench client CA", Organization: []string{"mtlslb bench"}},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, nil, now)
	if err != nil {
		return err
	}
	client, err := issue(&x509.Certificate{
		Subject: pkix.Name{
			CommonName:         "loadgen.client.bench",
			OrganizationalUnit: []string{"devices"},
			Organization:       []string{"mtlslb bench"},
		},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, clientCA, now)
	if err != nil {
		return err
	}
	serverKey, err := keyPEM(server.key)
	if err != nil {
		return err
	}
	clientKey, err := keyPEM(client.key)
	if err != nil {
		return err
	}
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{fileServerCA, certPEM(serverCA), 0o644},
		{fileServer, certPEM(server), 0o644},
		{fileServerKey, serverKey, 0o600},
		// HAProxy's crt wants the certificate and its key in one file.
		{fileServerBoth, append(certPEM(server), serverKey...), 0o600},
		{fileClientCA, certPEM(clientCA), 0o644},
		{fileClient, certPEM(client), 0o644},
		{fileClientKey, clientKey, 0o600},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return fmt.Errorf("write %s: %w", f.name, err)
		}
	}
	return nil
}

// issue signs tmpl with parent's key, or self-signs it when parent is nil, filling in the serial number,
// validity and a fresh key.
func issue(tmpl *x509.Certificate, parent *issued, now time.Time) (*issued, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key for %s: %w", tmpl.Subject.CommonName, err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	tmpl.SerialNumber = serial.Add(serial, big.NewInt(1)) // positive, never zero
	tmpl.NotBefore = now.Add(-time.Hour)
	tmpl.NotAfter = now.Add(30 * 24 * time.Hour)
	signerCert, signerKey := tmpl, key
	if parent != nil {
		signerCert, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, &key.PublicKey, signerKey)
	if err != nil {
		return nil, fmt.Errorf("sign certificate %s: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse certificate %s: %w", tmpl.Subject.CommonName, err)
	}
	return &issued{cert: cert, der: der, key: key}, nil
}

func certPEM(c *issued) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.der})
}

func keyPEM(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
