package clientcert

import (
	"crypto/x509"
	"encoding/base64"

	"github.com/mtlslb/mtlslb/internal/x509name"
)

// Values holds the header values of one client certificate chain. It is
// computed once per connection by Compute; the zero value stands for "no
// certificate presented".
type Values struct {
	// Chain is X-Amzn-Mtls-Clientcert (passthrough mode): every presented
	// certificate, leaf first, as URL-encoded PEM.
	Chain string
	// Leaf is X-Amzn-Mtls-Clientcert-Leaf: the leaf as URL-encoded PEM.
	Leaf string
	// Serial is X-Amzn-Mtls-Clientcert-Serial-Number.
	Serial string
	// Issuer is X-Amzn-Mtls-Clientcert-Issuer.
	Issuer string
	// Subject is X-Amzn-Mtls-Clientcert-Subject.
	Subject string
	// Validity is X-Amzn-Mtls-Clientcert-Validity.
	Validity string
}

// Compute returns the header values of chain, the certificates the client
// presented, leaf first. An empty chain gives the zero Values.
func Compute(chain []*x509.Certificate) Values {
	if len(chain) == 0 {
		return Values{}
	}
	leaf := chain[0]
	// URL-encoding works byte by byte, so the encoding of the leaf's PEM is a
	// prefix of the encoding of the whole chain's PEM: Leaf shares Chain's
	// memory instead of being encoded a second time.
	encoded, leafLen := encodeChain(chain)
	return Values{
		Chain:    encoded,
		Leaf:     encoded[:leafLen],
		Serial:   Serial(leaf),
		Issuer:   Issuer(leaf),
		Subject:  Subject(leaf),
		Validity: Validity(leaf),
	}
}

// Serial returns the serial number of cert as upper-case hex of its
// big-endian magnitude bytes, two digits per byte, no separators:
// 0x3A5B1 → "03A5B1", 0 → "00". The DER sign byte is not part of the
// magnitude, so 0x80 is "80", not "0080".
//
// A negative serial (which crypto/x509 parses only under
// GODEBUG=x509negativeserial=1, and which CRLs may list) is written as "-"
// followed by the hex of its magnitude: ALB documents nothing for it, and
// this keeps it distinct from the positive serial of the same magnitude.
func Serial(cert *x509.Certificate) string {
	var buf [2*20 + 1]byte // RFC 5280 caps serials at 20 octets; longer ones just grow
	return string(AppendSerial(buf[:0], cert))
}

// AppendSerial appends Serial(cert) to dst.
func AppendSerial(dst []byte, cert *x509.Certificate) []byte {
	const hexDigits = "0123456789ABCDEF"
	n := cert.SerialNumber
	if n == nil || n.Sign() == 0 {
		return append(dst, "00"...)
	}
	if n.Sign() < 0 {
		dst = append(dst, '-')
	}
	// FillBytes would need a second buffer; Bits gives the magnitude's words
	// without allocating, least significant first.
	words := n.Bits()
	started := false
	for i := len(words) - 1; i >= 0; i-- {
		w := uint64(words[i])
		for shift := wordBits - 8; shift >= 0; shift -= 8 {
			b := byte(w >> uint(shift))
			if !started && b == 0 {
				continue
			}
			started = true
			dst = append(dst, hexDigits[b>>4], hexDigits[b&0x0f])
		}
	}
	return dst
}

// wordBits is the size of a big.Word in bits.
const wordBits = 32 << (^uint(0) >> 63)

// Issuer returns the issuer of cert as an RFC 2253 string, written from the
// certificate's own encoding (RDN order, multi-valued RDNs and string types
// as the CA wrote them). A name that internal/x509name cannot parse, which
// crypto/x509 accepted anyway (an empty RDN), gives "".
func Issuer(cert *x509.Certificate) string {
	s, err := x509name.RFC2253(cert.RawIssuer)
	if err != nil {
		return ""
	}
	return s
}

// Subject returns the subject of cert as an RFC 2253 string, as Issuer does
// for the issuer.
func Subject(cert *x509.Certificate) string {
	s, err := x509name.RFC2253(cert.RawSubject)
	if err != nil {
		return ""
	}
	return s
}

// validityLayout is ALB's: UTC, whole seconds.
const validityLayout = "2006-01-02T15:04:05Z"

// Validity returns "NotBefore=<time>;NotAfter=<time>" in UTC with seconds.
func Validity(cert *x509.Certificate) string {
	var buf [len("NotBefore=;NotAfter=") + 2*len(validityLayout)]byte
	return string(AppendValidity(buf[:0], cert))
}

// AppendValidity appends Validity(cert) to dst.
func AppendValidity(dst []byte, cert *x509.Certificate) []byte {
	dst = append(dst, "NotBefore="...)
	dst = cert.NotBefore.UTC().AppendFormat(dst, validityLayout)
	dst = append(dst, ";NotAfter="...)
	return cert.NotAfter.UTC().AppendFormat(dst, validityLayout)
}

// Leaf returns the leaf as URL-encoded PEM (X-Amzn-Mtls-Clientcert-Leaf).
func Leaf(cert *x509.Certificate) string {
	s, _ := encodeChain([]*x509.Certificate{cert})
	return s
}

// Chain returns every certificate of chain, in order, as PEM, concatenated
// and URL-encoded (X-Amzn-Mtls-Clientcert).
func Chain(chain []*x509.Certificate) string {
	s, _ := encodeChain(chain)
	return s
}

// encodeChain returns the URL-encoded PEM of chain and the length of the
// part that encodes chain[0].
func encodeChain(chain []*x509.Certificate) (encoded string, firstLen int) {
	pemSize, outSize := 0, 0
	for _, c := range chain {
		pemSize = max(pemSize, pemLen(len(c.Raw)))
		outSize += encodedPEMLen(len(c.Raw))
	}
	pem := make([]byte, 0, pemSize)
	out := make([]byte, 0, outSize)
	for i, c := range chain {
		pem = appendPEM(pem[:0], c.Raw)
		out = URLEncode(out, pem)
		if i == 0 {
			firstLen = len(out)
		}
	}
	return string(out), firstLen
}

const (
	pemHeader = "-----BEGIN CERTIFICATE-----\n"
	pemFooter = "-----END CERTIFICATE-----\n"
	// pemLineBytes DER bytes make one 64-character base64 line, the line
	// length of encoding/pem and of RFC 7468.
	pemLineBytes = 48
)

func pemLines(derLen int) int {
	return (derLen + pemLineBytes - 1) / pemLineBytes
}

// pemLen is the length of appendPEM's output for derLen bytes of DER.
func pemLen(derLen int) int {
	return len(pemHeader) + base64.StdEncoding.EncodedLen(derLen) + pemLines(derLen) + len(pemFooter)
}

// encodedPEMLen is the length of the URL-encoded PEM of derLen bytes of
// DER. The base64 alphabet is all literal, so only the header's and footer's
// space and newline (four bytes) and each line's newline grow, by two bytes.
func encodedPEMLen(derLen int) int {
	return pemLen(derLen) + 2*(4+pemLines(derLen))
}

// appendPEM appends der as a CERTIFICATE PEM block, formatted exactly as
// encoding/pem formats it, without encoding/pem's allocations.
func appendPEM(dst, der []byte) []byte {
	dst = append(dst, pemHeader...)
	for len(der) > 0 {
		n := min(len(der), pemLineBytes)
		dst = base64.StdEncoding.AppendEncode(dst, der[:n])
		dst = append(dst, '\n')
		der = der[n:]
	}
	return append(dst, pemFooter...)
}
