package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
	"math/big"
	"math/bits"
	mrand "math/rand/v2"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/der"
)

// Serial numbers of generated entries are random, positive and 16 to 20
// octets long: what CAs issue today (at least 64 random bits, at most 20
// octets, RFC 5280 §4.1.2.2 and the CA/Browser Forum).
const (
	LargeCRLSerialMin = 16
	LargeCRLSerialMax = 20
)

// LargeCRLOptions adjusts LargeCRL. The zero value asks for a CRL issued
// now, with random serials only.
type LargeCRLOptions struct {
	// Listed are serial numbers the CRL must list, such as those of the
	// certificates a test expects revoked. They are spread evenly through
	// the list, so a lookup does not find them at one end. Each must be
	// positive.
	Listed []*big.Int
	// Now is the time the CRL is built around: thisUpdate an hour before,
	// nextUpdate seven days after, every revocationDate two hours before.
	// The zero value means time.Now().
	Now time.Time
	// Rand draws the other serials; nil seeds a generator from crypto/rand.
	// A fixed seed gives the same entries every run (the signature still
	// differs when the key's algorithm is randomised, as ECDSA is).
	Rand *mrand.ChaCha8
}

// LargeCRL returns the DER of a v2 CRL of issuer, signed with key, with n
// entries: opts.Listed and random serials (see LargeCRLSerialMin) for the
// rest. It carries a cRLNumber of 1 and no other extension.
//
// It writes the DER in place in one buffer, headers last, and signs the
// real tbsCertList once: x509.CreateRevocationList spends a big.Int and
// several copies per entry and needs minutes and gigabytes at 10 million
// entries, where LargeCRL needs about a second and the CRL's own size.
// key may be ECDSA (P-256, P-384, P-521, hashed as crypto/x509 does), RSA
// (PKCS #1 v1.5 with SHA-256) or Ed25519.
func LargeCRL(tb testing.TB, issuer *x509.Certificate, key crypto.Signer, n int, opts LargeCRLOptions) []byte {
	tb.Helper()
	if n < len(opts.Listed) {
		tb.Fatalf("LargeCRL: %d entries cannot hold %d listed serials", n, len(opts.Listed))
	}
	alg, hash, err := crlSignatureAlgorithm(key.Public())
	if err != nil {
		tb.Fatalf("LargeCRL: %v", err)
	}
	listed := make([][]byte, len(opts.Listed))
	for i, s := range opts.Listed {
		if s == nil || s.Sign() <= 0 {
			tb.Fatalf("LargeCRL: listed serial %d is %v, want a positive number", i, s)
		}
		listed[i] = integerContents(s)
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	rng := opts.Rand
	if rng == nil {
		var seed [32]byte
		_, _ = rand.Read(seed[:]) // crypto/rand.Read never fails
		rng = mrand.NewChaCha8(seed)
	}

	date := crlTime(now.Add(-2 * time.Hour))
	number := der.Append(nil, der.Integer, []byte{1})
	crlNumber := der.Append(der.Append(nil, der.OID, []byte{0x55, 0x1d, 0x14}), der.OctetString, number)
	const tagExtensions = der.ClassContextSpecific | der.Constructed | 0
	extensions := der.Append(nil, tagExtensions, der.Append(nil, der.Sequence, der.Append(nil, der.Sequence, crlNumber)))
	prefix := der.Append(nil, der.Integer, []byte{1}) // version v2
	prefix = append(prefix, alg...)
	prefix = append(prefix, issuer.RawSubject...)
	prefix = append(prefix, crlTime(now.Add(-time.Hour))...)
	prefix = append(prefix, crlTime(now.Add(7*24*time.Hour))...)

	// The headers of the CertificateList, the tbsCertList and
	// revokedCertificates are at most 6 octets each and are written, once
	// their lengths are known, into room left before the entries. The room
	// after them fits the AlgorithmIdentifier and a signature of any key up
	// to RSA 8192; a larger one costs a copy, not correctness.
	const maxHeader, signatureRoom = 6, 2048
	head := 3*maxHeader + len(prefix)
	maxEntry := 2 + 2 + LargeCRLSerialMax + len(date)
	buf := make([]byte, head, head+n*maxEntry+len(extensions)+signatureRoom)

	next := 0 // the next listed serial
	for i := range n {
		if next < len(listed) && i == (next+1)*n/(len(listed)+1) {
			s := listed[next]
			next++
			buf = append(buf, byte(der.Sequence))
			buf = appendLength(buf, 1+lengthSize(len(s))+len(s)+len(date))
			buf = der.Append(buf, der.Integer, s)
			buf = append(buf, date...)
			continue
		}
		size := LargeCRLSerialMin + int(rng.Uint64()%(LargeCRLSerialMax-LargeCRLSerialMin+1))
		// Every random entry is shorter than 128 octets: short-form lengths.
		buf = append(buf, byte(der.Sequence), byte(2+size+len(date)), byte(der.Integer), byte(size))
		at := len(buf)
		buf = buf[:at+size]
		_, _ = rng.Read(buf[at:]) // ChaCha8.Read never fails
		// A clear top bit makes the serial positive, a non-zero first octet
		// keeps its encoding minimal.
		buf[at] &= 0x7f
		if buf[at] == 0 {
			buf[at] = 1
		}
		buf = append(buf, date...)
	}
	if next != len(listed) {
		tb.Fatalf("LargeCRL: placed %d of %d listed serials", next, len(listed))
	}
	revokedStart := putHeader(buf, head, der.Sequence, len(buf)-head)
	buf = append(buf, extensions...)
	prefixStart := revokedStart - len(prefix)
	copy(buf[prefixStart:], prefix)
	tbsStart := putHeader(buf, prefixStart, der.Sequence, len(buf)-prefixStart)

	signed := buf[tbsStart:]
	if hash != 0 {
		h := hash.New()
		h.Write(signed)
		signed = h.Sum(nil)
	}
	sig, err := key.Sign(rand.Reader, signed, hash)
	if err != nil {
		tb.Fatalf("LargeCRL: signing: %v", err)
	}
	buf = append(buf, alg...)
	buf = append(buf, byte(der.BitString))
	buf = appendLength(buf, 1+len(sig))
	buf = append(buf, 0) // no unused bits
	buf = append(buf, sig...)
	start := putHeader(buf, tbsStart, der.Sequence, len(buf)-tbsStart)
	return buf[start:len(buf):len(buf)]
}

// crlSignatureAlgorithm returns the DER AlgorithmIdentifier with which a key
// of pub signs, and the hash it signs (0: the message itself, Ed25519). The
// ECDSA hash follows the curve, as crypto/x509 chooses it.
func crlSignatureAlgorithm(pub crypto.PublicKey) (alg []byte, hash crypto.Hash, err error) {
	var id pkix.AlgorithmIdentifier
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			id.Algorithm, hash = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}, crypto.SHA256
		case elliptic.P384():
			id.Algorithm, hash = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}, crypto.SHA384
		case elliptic.P521():
			id.Algorithm, hash = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}, crypto.SHA512
		default:
			return nil, 0, fmt.Errorf("unsupported ECDSA curve %s", k.Curve.Params().Name)
		}
	case *rsa.PublicKey:
		// RFC 4055 §5: the parameters of sha256WithRSAEncryption are NULL.
		id.Algorithm, id.Parameters, hash = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}, asn1.NullRawValue, crypto.SHA256
	case ed25519.PublicKey:
		id.Algorithm = asn1.ObjectIdentifier{1, 3, 101, 112}
	default:
		return nil, 0, fmt.Errorf("unsupported key type %T", pub)
	}
	alg, err = asn1.Marshal(id)
	return alg, hash, err
}

// crlTime encodes t as RFC 5280 §5.1.2.4 requires: UTCTime through 2049,
// GeneralizedTime from 2050.
func crlTime(t time.Time) []byte {
	t = t.UTC()
	if t.Year() < 2050 {
		return der.Append(nil, der.UTCTime, []byte(t.Format("060102150405Z")))
	}
	return der.Append(nil, der.GeneralizedTime, []byte(t.Format("20060102150405Z")))
}

// integerContents returns the DER INTEGER contents of a positive number.
func integerContents(n *big.Int) []byte {
	b := n.Bytes()
	if b[0]&0x80 != 0 {
		b = append([]byte{0}, b...)
	}
	return b
}

// lengthSize returns how many octets the DER length n takes.
func lengthSize(n int) int {
	if n < 0x80 {
		return 1
	}
	return 1 + (bits.Len32(uint32(n))+7)/8
}

// appendLength appends a DER length in its shortest form.
func appendLength(dst []byte, n int) []byte {
	if n < 0x80 {
		return append(dst, byte(n))
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(n))
	skip := bits.LeadingZeros32(uint32(n)) / 8
	dst = append(dst, 0x80|byte(4-skip))
	return append(dst, b[skip:]...)
}

// putHeader writes the identifier and length octets of an element of tag
// with n content octets so that they end at buf[end], and returns where they
// start.
func putHeader(buf []byte, end int, tag der.Tag, n int) int {
	var room [6]byte
	h := appendLength(append(room[:0], byte(tag)), n)
	start := end - len(h)
	copy(buf[start:], h)
	return start
}
