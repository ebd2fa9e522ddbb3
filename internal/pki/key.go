package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"strconv"
	"strings"
)

// KeyType names a kind of key pair. Its string form is what the `mtlslb pki`
// command accepts: "ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "ed25519" and
// "rsa-<bits>".
type KeyType string

// Key types. Ed25519 exists so tests can issue certificates that mTLS
// verification must refuse (ALB supports RSA and ECDSA only).
const (
	P256    KeyType = "ecdsa-p256"
	P384    KeyType = "ecdsa-p384"
	P521    KeyType = "ecdsa-p521"
	Ed25519 KeyType = "ed25519"
)

// RSA returns the key type of an RSA key of the given modulus size.
func RSA(bits int) KeyType {
	return KeyType("rsa-" + strconv.Itoa(bits))
}

// GenerateKey generates a new private key of type kt from crypto/rand.
func GenerateKey(kt KeyType) (crypto.Signer, error) {
	switch kt {
	case P256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case P384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case P521:
		return ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case Ed25519:
		_, key, err := ed25519.GenerateKey(rand.Reader)
		return key, err
	}
	if s, ok := strings.CutPrefix(string(kt), "rsa-"); ok {
		bits, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("generating key: bad RSA size in key type %q", kt)
		}
		key, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			return nil, fmt.Errorf("generating %d-bit RSA key: %w", bits, err)
		}
		return key, nil
	}
	return nil, fmt.Errorf("generating key: unknown key type %q", kt)
}
