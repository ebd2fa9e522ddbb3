// Package x509name parses X.501 distinguished names from their DER encoding and gives the whole program one
// answer to two questions: are two names the same (RFC 5280 §7.1), and how is a name written down (RFC 4514,
// the RFC 2253 form that ALB puts in the X-Amzn-Mtls-Clientcert-Subject and -Issuer headers).
//
// It works on the raw DER rather than on crypto/x509's pkix.Name because pkix.Name regroups attributes by type:
// the order of the certificate's own RDNs, multi-valued RDNs and the original string types are lost, and both
// matters for comparison and for byte-exact headers.
package x509name

import (
	"bytes"
	"encoding/asn1"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/mtlslb/mtlslb/internal/der"
)

// Attribute is one attribute type and value of a distinguished name, as encoded.
type Attribute struct {
	Type      asn1.ObjectIdentifier
	Tag       int    // ASN.1 universal tag of the value (asn1.TagUTF8String, …); -1 if not a universal primitive
	Bytes     []byte // the value's content octets
	FullBytes []byte // the value's whole DER TLV
}

// RDN is one relative distinguished name: its attributes in DER order.
type RDN []Attribute

// Name is a distinguished name: its RDNs in DER order (most significant first, usually C first).
type Name []RDN

// ASN.1 universal tags of the string types a DirectoryString or an IA5String attribute may use.
const (
	tagTeletexString   = 20
	tagUniversalString = 28
	tagBMPString       = 30
)

var (
	errTrailing = errors.New("trailing data")
	errNotSet   = errors.New("not a SET")
)

// Parse parses the DER encoding of a Name (for example cert.RawSubject).
func Parse(b []byte) (Name, error) {
	rdns, err := readName(b)
	if err != nil {
		return nil, err
	}
	var name Name
	for !rdns.Empty() {
		set, err := readRDN(&rdns)
		if err != nil {
			return nil, fmt.Errorf("parsing name: RDN %d: %w", len(name)+1, err)
		}
		rdn, err := parseRDN(set)
		if err != nil {
			return nil, fmt.Errorf("parsing name: RDN %d: %w", len(name)+1, err)
		}
		name = append(name, rdn)
	}
	return name, nil
}

// readName reads the DER name b, which must be one SEQUENCE, and returns a
// Reader over its RDNs.
func readName(b []byte) (der.Reader, error) {
	r := der.Reader(b)
	seq, err := r.ReadElement()
	if err != nil {
		return nil, fmt.Errorf("parsing name: %w", err)
	}
	if !r.Empty() {
		return nil, fmt.Errorf("parsing name: %w", errTrailing)
	}
	if seq.Tag != der.Sequence {
		return nil, errors.New("parsing name: not a SEQUENCE")
	}
	return der.Reader(seq.Content), nil
}

// readRDN reads the next RDN of a name and returns the contents of its SET.
func readRDN(rdns *der.Reader) ([]byte, error) {
	set, err := rdns.ReadElement()
	if err != nil {
		return nil, err
	}
	if set.Tag != der.Set {
		return nil, errNotSet
	}
	return set.Content, nil
}

func parseRDN(set []byte) (RDN, error) {
	var rdn RDN
	for r := der.Reader(set); !r.Empty(); {
		oid, v, err := readAttribute(&r)
		if err != nil {
			return nil, err
		}
		a := Attribute{Tag: valueTag(v), Bytes: v.Content, FullBytes: v.Full}
		if a.Type, err = der.ParseOID(oid); err != nil {
			return nil, fmt.Errorf("attribute type: %w", err)
		}
		rdn = append(rdn, a)
	}
	if len(rdn) == 0 {
		return nil, errors.New("empty RDN")
	}
	return rdn, nil
}

// readAttribute reads one AttributeTypeAndValue: the contents of its type OID
// and its value element.
func readAttribute(r *der.Reader) (oid []byte, value der.Element, err error) {
	atv, err := r.ReadElement()
	if err != nil {
		return nil, der.Element{}, err
	}
	if atv.Tag != der.Sequence {
		return nil, der.Element{}, errors.New("attribute is not a SEQUENCE")
	}
	fields := der.Reader(atv.Content)
	id, err := fields.ReadElement()
	if err != nil {
		return nil, der.Element{}, err
	}
	if id.Tag != der.OID {
		return nil, der.Element{}, errors.New("attribute type is not an OBJECT IDENTIFIER")
	}
	if value, err = fields.ReadElement(); err != nil {
		return nil, der.Element{}, err
	}
	if !fields.Empty() {
		return nil, der.Element{}, fmt.Errorf("attribute: %w", errTrailing)
	}
	return id.Content, value, nil
}

// valueTag returns the tag of an attribute value as Attribute.Tag holds it:
// its universal tag number, or -1 when it is not a universal primitive, and
// so never a character string.
func valueTag(v der.Element) int {
	if v.Tag.Class() != der.ClassUniversal || v.Tag.IsConstructed() {
		return -1
	}
	return v.Number
}

// text decodes a string-typed attribute value to UTF-8. ok is false for values that are not character
// strings, or that are malformed for their type.
func (a Attribute) text() (s string, ok bool) {
	switch a.Tag {
	case asn1.TagUTF8String:
		return string(a.Bytes), utf8.Valid(a.Bytes)
	case asn1.TagPrintableString, asn1.TagIA5String, asn1.TagNumericString:
		for _, b := range a.Bytes {
			if b >= utf8.RuneSelf {
				return "", false
			}
		}
		return string(a.Bytes), true
	case tagTeletexString:
		// T.61 in practice carries Latin-1; decoding it that way is what every mainstream verifier does.
		var b strings.Builder
		for _, c := range a.Bytes {
			b.WriteRune(rune(c))
		}
		return b.String(), true
	case tagBMPString:
		if len(a.Bytes)%2 != 0 {
			return "", false
		}
		u := make([]uint16, len(a.Bytes)/2)
		for i := range u {
			u[i] = uint16(a.Bytes[2*i])<<8 | uint16(a.Bytes[2*i+1])
		}
		return string(utf16.Decode(u)), true
	case tagUniversalString:
		if len(a.Bytes)%4 != 0 {
			return "", false
		}
		var b strings.Builder
		for i := 0; i < len(a.Bytes); i += 4 {
			r := rune(a.Bytes[i])<<24 | rune(a.Bytes[i+1])<<16 | rune(a.Bytes[i+2])<<8 | rune(a.Bytes[i+3])
			if !utf8.ValidRune(r) {
				return "", false
			}
			b.WriteRune(r)
		}
		return b.String(), true
	}
	return "", false
}

// Key returns the RDN's comparison key: attribute order within a multi-valued RDN does not matter.
func (r RDN) Key() string {
	var buf [256]byte
	return string(r.appendKey(buf[:0]))
}

func (r RDN) appendKey(dst []byte) []byte {
	start := len(dst)
	for _, a := range r {
		at := len(dst)
		dst = append(dst, 0, 0, 0, 0)
		dst = appendAttributeKey(dst, a.oidContent(), a.Tag, a.Bytes, a.FullBytes)
		putLen(dst[at:], len(dst)-at-4)
	}
	if len(r) > 1 {
		sortAttributeKeys(dst[start:])
	}
	return dst
}

// oidContent returns the content octets of the attribute's type.
func (a Attribute) oidContent() []byte {
	enc, err := asn1.Marshal(a.Type)
	if err != nil || len(enc) < 2 {
		return nil
	}
	return enc[2:] // OIDs of attribute types are far shorter than 128 bytes: one length byte
}

// Key returns the name's comparison key per RFC 5280 §7.1: two names match exactly when their keys are equal.
func (n Name) Key() string {
	var buf [512]byte
	dst := buf[:0]
	for _, r := range n {
		at := len(dst)
		dst = append(dst, 0, 0, 0, 0)
		dst = r.appendKey(dst)
		putLen(dst[at:], len(dst)-at-4)
	}
	return string(dst)
}

// Key parses the DER name b and returns its comparison key: Key(b) equals Parse(b).Key().
func Key(b []byte) (string, error) {
	var buf [512]byte
	k, err := appendKey(buf[:0], b)
	if err != nil {
		return "", err
	}
	return string(k), nil
}

// Equal reports whether two DER-encoded names match per RFC 5280 §7.1. A name that does not parse matches
// nothing, so a malformed issuer can never chain.
func Equal(a, b []byte) bool {
	var bufA, bufB [512]byte
	ka, err := appendKey(bufA[:0], a)
	if err != nil {
		return false
	}
	if string(a) == string(b) {
		return true
	}
	kb, err := appendKey(bufB[:0], b)
	return err == nil && bytes.Equal(ka, kb)
}

// WithinSubtree reports whether n lies in the directoryName subtree rooted at base: base's RDNs are the first
// RDNs of n, matched as by Key. An empty base contains every name.
func (n Name) WithinSubtree(base Name) bool {
	if len(base) > len(n) {
		return false
	}
	for i := range base {
		if n[i].Key() != base[i].Key() {
			return false
		}
	}
	return true
}

// shortName returns the RFC 4514 §3 name of an attribute type given as OID content octets. All other types
// are written as dotted OIDs with a #hex value, as RFC 4514 §2.4 requires.
func shortName(oid []byte) (string, bool) {
	switch string(oid) {
	case "\x55\x04\x03":
		return "CN", true
	case "\x55\x04\x07":
		return "L", true
	case "\x55\x04\x08":
		return "ST", true
	case "\x55\x04\x0a":
		return "O", true
	case "\x55\x04\x0b":
		return "OU", true
	case "\x55\x04\x06":
		return "C", true
	case "\x55\x04\x09":
		return "STREET", true
	case "\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x19":
		return "DC", true
	case "\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x01":
		return "UID", true
	}
	return "", false
}

// String returns the name as an RFC 4514 (RFC 2253) string: RDNs from last to first, separated by ',',
// attributes of a multi-valued RDN joined by '+' in their encoded order, for example
// "CN=client.example,OU=devices,O=Example,C=US".
//
// Besides the escapes RFC 4514 requires, every control character and every byte of invalid UTF-8 is written
// as a \XX hex pair, so the result is always a safe HTTP header value (never CR or LF).
func (n Name) String() string {
	var dst []byte
	for i := len(n) - 1; i >= 0; i-- {
		if i != len(n)-1 {
			dst = append(dst, ',')
		}
		for j, a := range n[i] {
			if j > 0 {
				dst = append(dst, '+')
			}
			dst = appendAttribute(dst, a.oidContent(), a.Tag, a.Bytes, a.FullBytes)
		}
	}
	return string(dst)
}

// appendAttribute appends one attribute in RFC 4514 form: its type's OID
// contents, and its value, of universal tag number tag (-1 when not a
// universal primitive) with contents content and whole encoding full.
func appendAttribute(dst, oid []byte, tag int, content, full []byte) []byte {
	short, known := shortName(oid)
	if known && tag >= 0 {
		switch tag {
		case asn1.TagUTF8String, asn1.TagPrintableString, asn1.TagIA5String, asn1.TagNumericString:
			// Already UTF-8 (or ASCII) when valid: escape straight from the encoding.
			if (tag == asn1.TagUTF8String && utf8.Valid(content)) || isASCII(content) {
				dst = append(dst, short...)
				dst = append(dst, '=')
				return appendEscaped(dst, content)
			}
		default:
			if s, ok := (Attribute{Tag: tag, Bytes: content}).text(); ok {
				dst = append(dst, short...)
				dst = append(dst, '=')
				return appendEscaped(dst, []byte(s))
			}
		}
	}
	// RFC 4514 §2.4: a type without a short name, or a value that is not a character string, is written as
	// #hex of the value's whole BER (here DER) encoding.
	if known {
		dst = append(dst, short...)
	} else if o, err := der.ParseOID(oid); err == nil {
		dst = append(dst, o.String()...)
	}
	dst = append(dst, '=', '#')
	const hexDigits = "0123456789ABCDEF"
	for _, c := range full {
		dst = append(dst, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return dst
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func appendEscaped(dst, s []byte) []byte {
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRune(s[i:])
		c := s[i]
		switch {
		case r == utf8.RuneError && size == 1, c < 0x20, c == 0x7f:
			dst = append(dst, '\\', hexDigits[c>>4], hexDigits[c&0xf])
		case c == '"' || c == '+' || c == ',' || c == ';' || c == '<' || c == '>' || c == '\\',
			c == '#' && i == 0,
			c == ' ' && (i == 0 || i == len(s)-1):
			dst = append(dst, '\\', c)
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return dst
}

// RFC2253 returns the RFC 4514 string form of the DER name b (see Name.String), walking the encoding
// directly: this runs for the subject and issuer headers of every verified connection.
func RFC2253(b []byte) (string, error) {
	rdns, err := readName(b)
	if err != nil {
		return "", err
	}
	var stack [16][]byte
	sets := stack[:0]
	for !rdns.Empty() {
		set, err := readRDN(&rdns)
		switch {
		case errors.Is(err, errNotSet), err == nil && len(set) == 0:
			return "", fmt.Errorf("parsing name: RDN %d: not a non-empty SET", len(sets)+1)
		case err != nil:
			return "", fmt.Errorf("parsing name: RDN %d: %w", len(sets)+1, err)
		}
		sets = append(sets, set)
	}
	var buf [512]byte
	dst := buf[:0]
	for i := len(sets) - 1; i >= 0; i-- {
		if i != len(sets)-1 {
			dst = append(dst, ',')
		}
		r := der.Reader(sets[i])
		for j := 0; !r.Empty(); j++ {
			oid, v, err := readAttribute(&r)
			if err != nil {
				return "", fmt.Errorf("parsing name: RDN %d: %w", i+1, err)
			}
			if err := der.CheckOID(oid); err != nil {
				return "", fmt.Errorf("parsing name: RDN %d: attribute type: %w", i+1, err)
			}
			if j > 0 {
				dst = append(dst, '+')
			}
			dst = appendAttribute(dst, oid, valueTag(v), v.Content, v.Full)
		}
	}
	return string(dst), nil
}
