package crl

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"
)

// TestDigestVerificationAgreesWithX509: verifying with the digest computed at Parse gives exactly crypto/x509's
// answer for every supported signature algorithm, for the right issuer, another key, and a tampered signature.
func TestDigestVerificationAgreesWithX509(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherRSA, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		key  crypto.Signer
		alg  x509.SignatureAlgorithm
	}{
		{"RSA PKCS1 SHA-256", rsaKey, x509.SHA256WithRSA},
		{"RSA PKCS1 SHA-512", rsaKey, x509.SHA512WithRSA},
		{"RSA-PSS SHA-256", rsaKey, x509.SHA256WithRSAPSS},
		{"RSA-PSS SHA-384", rsaKey, x509.SHA384WithRSAPSS},
		{"ECDSA P-256 SHA-256", p256, x509.ECDSAWithSHA256},
		{"ECDSA P-384 SHA-384", p384, x509.ECDSAWithSHA384},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			issuer := selfSigned(t, tt.key, "Digest CA")
			der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
				Number: big.NewInt(1), ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour),
				SignatureAlgorithm:        tt.alg,
				RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: big.NewInt(7), RevocationTime: time.Now()}},
			}, issuer, tt.key)
			if err != nil {
				t.Fatal(err)
			}
			c, err := Parse(der)
			if err != nil {
				t.Fatal(err)
			}
			if c.digest == nil {
				t.Fatal("Parse computed no digest for a supported algorithm")
			}
			if err := c.verifyWith(issuer); err != nil {
				t.Errorf("right issuer: %v", err)
			}
			var wrong crypto.Signer = other
			if _, ok := tt.key.(*rsa.PrivateKey); ok {
				wrong = otherRSA
			}
			impostor := selfSigned(t, wrong, "Digest CA")
			if err := c.verifyWith(impostor); err == nil {
				t.Error("another key of the same type verified the CRL")
			}
			if err := impostor.CheckSignature(c.sigAlg, c.rawTBS, c.signature); err == nil {
				t.Error("crypto/x509 disagrees: it accepts the other key")
			}
			crossType := selfSigned(t, map[bool]crypto.Signer{true: p256, false: rsaKey}[isECDSA(tt.alg) == false], "Digest CA")
			if err := c.verifyWith(crossType); err == nil {
				t.Error("a key of the other type verified the CRL")
			}
			tampered := *c
			tampered.signature = append([]byte(nil), c.signature...)
			tampered.signature[len(tampered.signature)/2] ^= 0x01
			if err := tampered.verifyWith(issuer); err == nil {
				t.Error("a tampered signature verified")
			}
		})
	}
}

func selfSigned(t *testing.T, key crypto.Signer, cn string) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
