package pki_test

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"log"

	"github.com/mtlslb/mtlslb/internal/pki"
)

func Example() {
	root, err := pki.NewRoot(pkix.Name{CommonName: "Example Root CA"})
	if err != nil {
		log.Fatal(err)
	}
	issuing, err := root.NewIntermediate(pkix.Name{CommonName: "Example Issuing CA"}, pki.WithPathLen(0))
	if err != nil {
		log.Fatal(err)
	}
	client, err := issuing.IssueClient(pkix.Name{CommonName: "device-42", Organization: []string{"Example"}},
		pki.WithKey(pki.P384), pki.WithSANs(nil, []string{"spiffe://example.org/device/42"}, nil))
	if err != nil {
		log.Fatal(err)
	}
	crl, err := issuing.CRL([]pki.Revocation{pki.Revoke(client.Cert)})
	if err != nil {
		log.Fatal(err)
	}

	parsed, err := x509.ParseRevocationList(crl)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(client.Cert.Subject, "issued by", client.Cert.Issuer.CommonName)
	fmt.Println("presented:", len(client.Presented()), "certificates")
	fmt.Println("revoked:", parsed.RevokedCertificateEntries[0].SerialNumber.Cmp(client.Cert.SerialNumber) == 0)
	// Output:
	// CN=device-42,O=Example issued by Example Issuing CA
	// presented: 2 certificates
	// revoked: true
}
