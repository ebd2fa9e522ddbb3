package pki

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// PEM block types.
const (
	pemCertificate = "CERTIFICATE"
	pemPrivateKey  = "PRIVATE KEY"
	pemCRL         = "X509 CRL"
)

// EncodeCertsPEM returns the certificates as concatenated PEM blocks, in
// order.
func EncodeCertsPEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: pemCertificate, Bytes: c.Raw})...)
	}
	return out
}

// EncodeKeyPEM returns key as an unencrypted PKCS #8 "PRIVATE KEY" PEM block.
func EncodeKeyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPrivateKey, Bytes: der}), nil
}

// EncodeCRLPEM returns a DER CRL as an "X509 CRL" PEM block.
func EncodeCRLPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pemCRL, Bytes: der})
}

// Presented returns the certificates a TLS peer sends for l: the leaf and
// the intermediate CAs, without a self-signed root at the end of Chain,
// which the other side must already hold (RFC 8446 §4.4.2 lets a sender
// leave it out).
func (l *Leaf) Presented() []*x509.Certificate {
	chain := l.Chain
	if n := len(chain); n > 0 && isSelfSigned(chain[n-1]) {
		chain = chain[:n-1]
	}
	return append([]*x509.Certificate{l.Cert}, chain...)
}

// isSelfSigned reports whether c is a root: issued by its own name and key.
// Chain usually ends with one, but not when it was loaded from a file that
// stops at an intermediate.
func isSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

// ChainPEM returns the certificates of Presented as PEM, leaf first: the
// content of a certificate file for a server or client.
func (l *Leaf) ChainPEM() []byte {
	return EncodeCertsPEM(l.Presented()...)
}

// TLSCertificate returns l as a tls.Certificate presenting the certificates
// of Presented.
func (l *Leaf) TLSCertificate() tls.Certificate {
	presented := l.Presented()
	c := tls.Certificate{PrivateKey: l.Key, Leaf: l.Cert}
	for _, p := range presented {
		c.Certificate = append(c.Certificate, p.Raw)
	}
	return c
}

// ParseCertsPEM parses every CERTIFICATE block of data, in order. Text
// around the blocks is ignored; a block of another type is an error, so a
// key pasted by mistake into a certificate file does not go unnoticed.
func ParseCertsPEM(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != pemCertificate {
			return nil, fmt.Errorf("PEM block %d: type %q, want %q", len(certs)+1, block.Type, pemCertificate)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no CERTIFICATE PEM block found")
	}
	return certs, nil
}

// ParseKeyPEM parses the first private key PEM block of data: PKCS #8
// ("PRIVATE KEY"), PKCS #1 ("RSA PRIVATE KEY") or SEC 1 ("EC PRIVATE KEY").
// Encrypted keys are not supported.
func ParseKeyPEM(data []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no private key PEM block found")
		}
		switch block.Type {
		case "PRIVATE KEY":
			key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parsing PKCS #8 private key: %w", err)
			}
			// X25519 keys (crypto/ecdh) parse as PKCS #8 too but cannot sign.
			if signer, ok := key.(crypto.Signer); ok {
				return signer, nil
			}
			return nil, fmt.Errorf("parsing PKCS #8 private key: unsupported key type %T", key)
		case "RSA PRIVATE KEY":
			key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parsing PKCS #1 private key: %w", err)
			}
			return key, nil
		case "EC PRIVATE KEY":
			key, err := x509.ParseECPrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parsing SEC 1 private key: %w", err)
			}
			return key, nil
		}
	}
}

// LoadAuthority returns the Authority of a CA certificate file and its key
// file: certPEM holds the CA certificate first, then optionally the
// certificates above it, nearest first.
func LoadAuthority(certPEM, keyPEM []byte) (*Authority, error) {
	certs, err := ParseCertsPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("loading CA certificate: %w", err)
	}
	key, err := ParseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("loading CA key: %w", err)
	}
	a, err := NewAuthority(certs[0], key, certs[1:])
	if err != nil {
		return nil, fmt.Errorf("loading CA: %w", err)
	}
	return a, nil
}
