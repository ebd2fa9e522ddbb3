package clientcert_test

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log"
	"os"

	"github.com/mtlslb/mtlslb/internal/clientcert"
)

func ExampleCompute() {
	data, err := os.ReadFile("testdata/alb-example.pem")
	if err != nil {
		log.Fatal(err)
	}
	var chain []*x509.Certificate
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			log.Fatal(err)
		}
		chain = append(chain, c)
	}

	v := clientcert.Compute(chain) // once per connection
	fmt.Println("X-Amzn-Mtls-Clientcert-Serial-Number:", v.Serial)
	fmt.Println("X-Amzn-Mtls-Clientcert-Issuer:", v.Issuer)
	fmt.Println("X-Amzn-Mtls-Clientcert-Subject:", v.Subject)
	fmt.Println("X-Amzn-Mtls-Clientcert-Validity:", v.Validity)
	fmt.Println("X-Amzn-Mtls-Clientcert-Leaf:", v.Leaf[:44]+"…")
	// Output:
	// X-Amzn-Mtls-Clientcert-Serial-Number: 03A5B1
	// X-Amzn-Mtls-Clientcert-Issuer: CN=rootcamtls.com,OU=rootCA,O=mTLS,L=Seattle,ST=Washington,C=US
	// X-Amzn-Mtls-Clientcert-Subject: CN=client.mtls.example,OU=client,O=mTLS,L=Seattle,ST=Washington,C=US
	// X-Amzn-Mtls-Clientcert-Validity: NotBefore=2023-09-21T01:50:17Z;NotAfter=2024-09-20T01:50:17Z
	// X-Amzn-Mtls-Clientcert-Leaf: -----BEGIN%20CERTIFICATE-----%0AMIICGDCCAb6g…
}
