package x509path_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/mtlslb/mtlslb/internal/x509path"
)

// exampleCert makes a certificate for the example; parent nil means
// self-signed.
func exampleCert(cn string, isCA bool, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  isCA,
		BasicConstraintsValid: true,
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		panic(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	return cert, key
}

func ExampleBuild() {
	root, rootKey := exampleCert("Example Root", true, nil, nil)
	inter, interKey := exampleCert("Example Intermediate", true, root, rootKey)
	leaf, _ := exampleCert("client.example", false, inter, interKey)

	// Once per trust store:
	anchors := x509path.NewAnchors([]*x509.Certificate{root})

	// Per handshake, with what the client presented after its leaf:
	paths, err := x509path.Build(leaf, []*x509.Certificate{inter}, anchors, x509path.Options{MaxDepth: 4})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, cert := range paths[0] {
		fmt.Println(cert.Subject.CommonName)
	}

	// Too long for a stricter limit:
	_, err = x509path.Build(leaf, []*x509.Certificate{inter}, anchors, x509path.Options{MaxDepth: 2})
	fmt.Println(errors.Is(err, x509path.ErrTooDeep))
	// Output:
	// client.example
	// Example Intermediate
	// Example Root
	// true
}
