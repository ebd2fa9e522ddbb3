package truststore_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"

	"github.com/mtlslb/mtlslb/internal/truststore"
)

func ExampleStore_Verify() {
	// A CA and a client certificate it issued, expired since yesterday.
	now := time.Now()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Partner CA"},
		NotBefore: now.Add(-time.Hour * 48), NotAfter: now.Add(time.Hour * 24 * 365),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	ca, _ := x509.ParseCertificate(caDER)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafDER, _ := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "client.partner.example"},
		NotBefore: now.Add(-time.Hour * 47), NotAfter: now.Add(-time.Hour * 24),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca, leafKey.Public(), caKey)

	store, err := truststore.New(truststore.Config{
		Name:         "partners",
		Bundle:       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		BundleSource: "partners.pem",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	r := store.Verify([][]byte{leafDER}, truststore.VerifyOptions{Now: now})
	fmt.Println(r.Status, r.Cert)
	r = store.Verify([][]byte{leafDER}, truststore.VerifyOptions{Now: now, IgnoreExpiry: true})
	fmt.Println(r.Status)
	// Output:
	// Failed:ClientCertExpired 0
	// Success
}
