package truststore

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
)

const (
	pemBegin = "-----BEGIN "
	pemCert  = "-----BEGIN CERTIFICATE-----"
	pemEnd   = "-----END CERTIFICATE-----"
)

// parseBundle parses a CA bundle with ALB's rules: PEM CERTIFICATE blocks
// only; a line starting with '#' is a comment and may not contain '-'; no
// blank lines; nothing else outside the blocks (no "openssl x509 -text"
// dumps). Lines may end in "\n" or "\r\n" (decision: bundles written on
// Windows are accepted; a lone "\r" is not a line end), and the last line
// need not end at all. Every certificate must pass checkCACertificate.
//
// The rules are ALB's so that a bundle moves between ALB and mtlslb both
// ways; the '-' ban keeps a comment from ever being mistaken for a PEM
// boundary by a more lenient parser downstream.
func parseBundle(data []byte, source string, limits Limits) ([]*x509.Certificate, error) {
	var (
		certs     []*x509.Certificate
		inBlock   bool
		beginLine int
		b64       []byte
		lineNo    int
	)
	fail := func(position, line int, format string, args ...any) error {
		return &BundleError{Source: source, Position: position, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	for rest := data; len(rest) > 0; {
		var line []byte
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			line, rest = rest, nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		lineNo++
		if len(bytes.TrimSpace(line)) == 0 {
			return nil, fail(0, lineNo, "blank lines are not allowed")
		}
		if !inBlock {
			switch {
			case line[0] == '#':
				if bytes.IndexByte(line, '-') >= 0 {
					return nil, fail(0, lineNo, "comment contains '-' (comments may not contain hyphens)")
				}
			case string(bytes.TrimRight(line, " \t")) == pemCert:
				inBlock, beginLine, b64 = true, lineNo, b64[:0]
			case bytes.HasPrefix(line, []byte(pemBegin)):
				return nil, fail(0, lineNo, "%s block found: only CERTIFICATE blocks are allowed", pemType(line))
			case bytes.HasPrefix(line, []byte("-----END ")):
				return nil, fail(0, lineNo, "END line without a BEGIN CERTIFICATE line")
			default:
				return nil, fail(0, lineNo, "text outside a certificate block (only PEM certificates and '#' comments are allowed, no text dumps)")
			}
			continue
		}
		position := len(certs) + 1
		if string(bytes.TrimRight(line, " \t")) == pemEnd {
			inBlock = false
			cert, err := parseBundleCertificate(b64, limits)
			if err != nil {
				return nil, fail(position, beginLine, "%v", err)
			}
			certs = append(certs, cert)
			if len(certs) > limits.MaxCACertificates {
				return nil, fail(position, beginLine, "more than %d CA certificates (the trust store's limit)", limits.MaxCACertificates)
			}
			continue
		}
		if bytes.HasPrefix(line, []byte("-----")) || line[0] == '#' {
			return nil, fail(position, beginLine, "truncated PEM block: line %d comes before the END CERTIFICATE line", lineNo)
		}
		b64 = append(b64, bytes.TrimRight(line, " \t")...)
	}
	if inBlock {
		return nil, fail(len(certs)+1, beginLine, "truncated PEM block: no END CERTIFICATE line before the end of the file")
	}
	if len(certs) == 0 {
		return nil, fail(0, 0, "the bundle holds no certificate")
	}
	return certs, nil
}

// parseBundleCertificate decodes and checks the base64 body of one block.
func parseBundleCertificate(b64 []byte, limits Limits) (*x509.Certificate, error) {
	der := make([]byte, base64.StdEncoding.DecodedLen(len(b64)))
	n, err := base64.StdEncoding.Decode(der, b64)
	if err != nil {
		return nil, fmt.Errorf("invalid base64 in the PEM block: %v", err)
	}
	der = der[:n]
	if len(der) == 0 {
		return nil, fmt.Errorf("empty PEM block")
	}
	if len(der) > limits.MaxCertificateSize {
		return nil, fmt.Errorf("certificate is %d bytes of DER, more than the limit of %d", len(der), limits.MaxCertificateSize)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("does not parse as an X.509 certificate: %v", err)
	}
	if !cert.BasicConstraintsValid || !cert.IsCA {
		if cert.BasicConstraintsValid {
			return nil, fmt.Errorf("not a CA certificate (basicConstraints cA is false)")
		}
		return nil, fmt.Errorf("not a CA certificate (no basicConstraints extension)")
	}
	if p := checkType(cert); p != typeOK {
		return nil, fmt.Errorf("unsupported certificate type: it %s", p.describe(cert))
	}
	return cert, nil
}

// pemType extracts "PRIVATE KEY" from "-----BEGIN PRIVATE KEY-----" for a
// message; it never echoes more than the label (a bundle line could be a
// secret pasted by mistake).
func pemType(line []byte) string {
	label := bytes.TrimPrefix(line, []byte(pemBegin))
	if i := bytes.Index(label, []byte("-----")); i >= 0 {
		label = label[:i]
	}
	if len(label) > 40 {
		label = label[:40]
	}
	return fmt.Sprintf("%q", label)
}

// typeProblem says why a certificate fails §2 step 3. It is a small value so
// the handshake path can test certificates without building strings.
type typeProblem uint8

const (
	typeOK typeProblem = iota
	typeNotV3
	typeRSASize
	typeECDSACurve
	typeKeyAlgorithm
	typeSignature
)

// checkType applies §2 step 3: X.509 v3; an RSA key of 2048–8192 bits or an
// ECDSA key on P-256, P-384 or P-521; a SHA-2 signature with RSA PKCS#1
// v1.5, RSA-PSS or ECDSA. It does not allocate.
func checkType(c *x509.Certificate) typeProblem {
	if c.Version != 3 {
		return typeNotV3
	}
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n < 2048 || n > 8192 {
			return typeRSASize
		}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
		default:
			return typeECDSACurve
		}
	default:
		return typeKeyAlgorithm
	}
	switch c.SignatureAlgorithm {
	case x509.SHA256WithRSA, x509.SHA384WithRSA, x509.SHA512WithRSA,
		x509.SHA256WithRSAPSS, x509.SHA384WithRSAPSS, x509.SHA512WithRSAPSS,
		x509.ECDSAWithSHA256, x509.ECDSAWithSHA384, x509.ECDSAWithSHA512:
	default:
		return typeSignature
	}
	return typeOK
}

// describe explains p for c in a phrase ("has a 1024-bit RSA key (2048–8192 bits are supported)").
func (p typeProblem) describe(c *x509.Certificate) string {
	switch p {
	case typeNotV3:
		return fmt.Sprintf("is X.509 version %d (only version 3 is supported)", c.Version)
	case typeRSASize:
		return fmt.Sprintf("has a %d-bit RSA key (2048–8192 bits are supported)", c.PublicKey.(*rsa.PublicKey).N.BitLen())
	case typeECDSACurve:
		name := "an unknown curve"
		if k, ok := c.PublicKey.(*ecdsa.PublicKey); ok && k.Curve != nil && k.Curve.Params() != nil {
			name = k.Curve.Params().Name
		}
		return fmt.Sprintf("has an ECDSA key on %s (P-256, P-384 and P-521 are supported)", name)
	case typeKeyAlgorithm:
		return fmt.Sprintf("has a %s key (RSA and ECDSA are supported)", keyAlgorithmName(c))
	case typeSignature:
		return fmt.Sprintf("is signed with %s (SHA-256, SHA-384 or SHA-512 with RSA, RSA-PSS or ECDSA is supported)", c.SignatureAlgorithm)
	}
	return "is supported"
}

func keyAlgorithmName(c *x509.Certificate) string {
	if c.PublicKeyAlgorithm == x509.UnknownPublicKeyAlgorithm {
		return "unknown algorithm"
	}
	return c.PublicKeyAlgorithm.String()
}
