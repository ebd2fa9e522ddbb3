// Package x509name parses X.501 distinguished names from their DER encoding and gives the whole program one
// answer to two questions: are two names the same (RFC 5280 §7.1), and how is a name written down (RFC 4514,
// the RFC 2253 form that ALB puts in the X-Amzn-Mtls-Clientcert-Subject and -Issuer headers).
//
// It works on the raw DER rather than on crypto/x509's pkix.Name because pkix.Name regroups attributes by type:
// the order of the certificate's own RDNs, multi-valued RDNs and the original string types are lost, and both
// matters for comparison and for byte-exact headers.
package x509name

import (
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Attribute is one attribute type and value of a distinguished name, as encoded.
type Attribute struct {
	Type      asn1.ObjectIdentifier
	Tag       int    // ASN.1 universal tag of the value (asn1.TagUTF8String, asn1.TagPrintableString, …)
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

var errTrailing = errors.New("trailing data")

// Parse parses the DER encoding of a Name (for example cert.RawSubject).
func Parse(der []byte) (Name, error) {
	var seq asn1.RawValue
	rest, err := asn1.Unmarshal(der, &seq)
	if err != nil {
		return nil, fmt.Errorf("parsing name: %w", err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("parsing name: %w", errTrailing)
	}
	if seq.Class != asn1.ClassUniversal || seq.Tag != asn1.TagSequence || !seq.IsCompound {
		return nil, errors.New("parsing name: not a SEQUENCE")
	}
	var name Name
	data := seq.Bytes
	for len(data) > 0 {
		var set asn1.RawValue
		if data, err = asn1.Unmarshal(data, &set); err != nil {
			return nil, fmt.Errorf("parsing name: RDN %d: %w", len(name)+1, err)
		}
		if set.Class != asn1.ClassUniversal || set.Tag != asn1.TagSet || !set.IsCompound {
			return nil, fmt.Errorf("parsing name: RDN %d: not a SET", len(name)+1)
		}
		rdn, err := parseRDN(set.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing name: RDN %d: %w", len(name)+1, err)
		}
		name = append(name, rdn)
	}
	return name, nil
}

func parseRDN(data []byte) (RDN, error) {
	var rdn RDN
	for len(data) > 0 {
		var atv asn1.RawValue
		var err error
		if data, err = asn1.Unmarshal(data, &atv); err != nil {
			return nil, err
		}
		if atv.Class != asn1.ClassUniversal || atv.Tag != asn1.TagSequence || !atv.IsCompound {
			return nil, errors.New("attribute is not a SEQUENCE")
		}
		var a Attribute
		rest, err := asn1.Unmarshal(atv.Bytes, &a.Type)
		if err != nil {
			return nil, fmt.Errorf("attribute type: %w", err)
		}
		var v asn1.RawValue
		if rest, err = asn1.Unmarshal(rest, &v); err != nil {
			return nil, fmt.Errorf("attribute %s value: %w", a.Type, err)
		}
		if len(rest) != 0 {
			return nil, fmt.Errorf("attribute %s: %w", a.Type, errTrailing)
		}
		a.Tag, a.Bytes, a.FullBytes = v.Tag, v.Bytes, v.FullBytes
		if v.Class != asn1.ClassUniversal {
			a.Tag = -1 // never a string type
		}
		rdn = append(rdn, a)
	}
	if len(rdn) == 0 {
		return nil, errors.New("empty RDN")
	}
	return rdn, nil
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

// key is the attribute's comparison form. Character strings of any type compare by content after the
// simplified RFC 4518 preparation of RFC 5280 §7.1: case folded, leading and trailing space removed, inner runs
// of white space collapsed to one space. This is what lets a CA roll its name over from PrintableString to
// UTF8String, or an issuer field differ from the CA's subject only in capitalisation, and still chain.
// Every other value compares byte for byte.
func (a Attribute) key() string {
	var b strings.Builder
	b.WriteString(a.Type.String())
	if s, ok := a.text(); ok {
		b.WriteString("=s")
		s = prepare(s)
		b.WriteString(strconv.Itoa(len(s)))
		b.WriteByte(':')
		b.WriteString(s)
		return b.String()
	}
	b.WriteString("=b")
	b.WriteString(hex.EncodeToString(a.FullBytes))
	return b.String()
}

func prepare(s string) string {
	var b strings.Builder
	space := false
	for _, r := range strings.TrimFunc(s, unicode.IsSpace) {
		if unicode.IsSpace(r) {
			space = true
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(unicode.ToLower(unicode.ToUpper(r)))
	}
	return b.String()
}

// Key returns the RDN's comparison key: its attributes' keys, sorted, so that attribute order within a
// multi-valued RDN does not matter.
func (r RDN) Key() string {
	keys := make([]string, len(r))
	for i, a := range r {
		keys[i] = a.key()
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(strconv.Itoa(len(k)))
		b.WriteByte('+')
		b.WriteString(k)
	}
	return b.String()
}

// Key returns the name's comparison key per RFC 5280 §7.1: two names match exactly when their keys are equal.
func (n Name) Key() string {
	var b strings.Builder
	for _, r := range n {
		k := r.Key()
		b.WriteString(strconv.Itoa(len(k)))
		b.WriteByte(',')
		b.WriteString(k)
	}
	return b.String()
}

// Key parses der and returns its comparison key.
func Key(der []byte) (string, error) {
	n, err := Parse(der)
	if err != nil {
		return "", err
	}
	return n.Key(), nil
}

// Equal reports whether two DER-encoded names match per RFC 5280 §7.1. Identical encodings match without
// parsing; a name that does not parse matches nothing, so a malformed issuer can never chain.
func Equal(a, b []byte) bool {
	if string(a) == string(b) {
		_, err := Parse(a)
		return err == nil
	}
	ka, err := Key(a)
	if err != nil {
		return false
	}
	kb, err := Key(b)
	return err == nil && ka == kb
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

// shortNames are the attribute types RFC 4514 §3 gives a name; all others are written as dotted OIDs with a
// #hex value, as RFC 4514 §2.4 requires.
var shortNames = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.6":                    "C",
	"2.5.4.9":                    "STREET",
	"0.9.2342.19200300.100.1.25": "DC",
	"0.9.2342.19200300.100.1.1":  "UID",
}

// String returns the name as an RFC 4514 (RFC 2253) string: RDNs from last to first, separated by ',',
// attributes of a multi-valued RDN joined by '+' in their encoded order, for example
// "CN=client.example,OU=devices,O=Example,C=US".
//
// Besides the escapes RFC 4514 requires, every control character and every byte of invalid UTF-8 is written
// as a \XX hex pair, so the result is always a safe HTTP header value (never CR or LF).
func (n Name) String() string {
	var b strings.Builder
	for i := len(n) - 1; i >= 0; i-- {
		if i != len(n)-1 {
			b.WriteByte(',')
		}
		for j, a := range n[i] {
			if j > 0 {
				b.WriteByte('+')
			}
			writeAttribute(&b, a)
		}
	}
	return b.String()
}

func writeAttribute(b *strings.Builder, a Attribute) {
	oid := a.Type.String()
	short, known := shortNames[oid]
	s, isText := a.text()
	if !known || !isText {
		// RFC 4514 §2.4: a type without a short name, or a value that is not a character string, is written
		// as #hex of the value's whole BER (here DER) encoding.
		if known {
			b.WriteString(short)
		} else {
			b.WriteString(oid)
		}
		b.WriteString("=#")
		b.WriteString(strings.ToUpper(hex.EncodeToString(a.FullBytes)))
		return
	}
	b.WriteString(short)
	b.WriteByte('=')
	escapeValue(b, s)
}

func escapeValue(b *strings.Builder, s string) {
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		c := s[i]
		switch {
		case r == utf8.RuneError && size == 1, c < 0x20, c == 0x7f:
			b.WriteByte('\\')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&0xf])
		case c == '"' || c == '+' || c == ',' || c == ';' || c == '<' || c == '>' || c == '\\',
			c == '#' && i == 0,
			c == ' ' && (i == 0 || i == len(s)-1):
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
}

// RFC2253 parses der and returns its RFC 4514 string form (see Name.String).
func RFC2253(der []byte) (string, error) {
	n, err := Parse(der)
	if err != nil {
		return "", err
	}
	return n.String(), nil
}
