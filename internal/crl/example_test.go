package crl_test

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"time"

	"github.com/mtlslb/mtlslb/internal/crl"
)

// Example checks a leaf against its intermediate's CRL, with the intermediate
// in the trust store's bundle.
func Example() {
	data, err := os.ReadFile("../../../shared/testdata/crl-vectors/revoked.pem")
	if err != nil {
		fmt.Println(err)
		return
	}
	blocks := map[string][]byte{}
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			break
		}
		blocks[b.Type] = b.Bytes
	}
	list, err := crl.Parse(blocks["CRL"])
	if err != nil {
		fmt.Println(err)
		return
	}
	ca, _ := x509.ParseCertificate(blocks["CA CERTIFICATE"])
	leaf, _ := x509.ParseCertificate(blocks["CERTIFICATE"])

	set, err := crl.NewSet([]crl.Source{{ID: 3, CRL: list}}, []*x509.Certificate{ca})
	if err != nil {
		fmt.Println(err)
		return
	}
	r := set.Check(crl.CheckInput{
		Cert:   leaf,
		Issuer: ca,
		Path:   []*x509.Certificate{leaf, ca},
		Now:    time.Date(2017, 3, 9, 0, 0, 0, 0, time.UTC),
		Policy: crl.Policy{Stale: crl.StaleReject},
	})
	fmt.Println(r.Status)
	fmt.Println(r.Reason)
	// Output:
	// Revoked
	// revoked by CRL 3 (issuer "CN=Test Intermediate CA") on 2017-02-01T00:11:22Z, no reason given
}

func ExampleParseStalePolicy() {
	for _, s := range []string{"use", "reject", "72h"} {
		policy, grace, err := crl.ParseStalePolicy(s)
		fmt.Println(policy, grace, err)
	}
	// Output:
	// use 0s <nil>
	// reject 0s <nil>
	// grace 72h0m0s <nil>
}
