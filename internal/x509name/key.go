package x509name

import (
	"bytes"
	"encoding/asn1"
	"errors"
	"fmt"
	"sort"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// The comparison key. It is opaque; only its equality means anything. Layout, with every length a 4-byte
// big-endian prefix written after the fact:
//
//	name = { len rdn }*        rdn = { len attribute }* (sorted)
//	attribute = len(oid) oid ( 's' prepared-UTF-8 | 'b' whole-DER-value )
//
// Building it walks the DER directly into one buffer, so a key costs one allocation (the string) or none
// (comparisons use stack buffers).

// appendKey appends the comparison key of the DER name der to dst.
func appendKey(dst, der []byte) ([]byte, error) {
	seq, rest, err := readTLV(der)
	if err != nil {
		return dst, fmt.Errorf("parsing name: %w", err)
	}
	if len(rest) != 0 {
		return dst, fmt.Errorf("parsing name: %w", errTrailing)
	}
	if seq.class != asn1.ClassUniversal || seq.tag != asn1.TagSequence || !seq.compound {
		return dst, errors.New("parsing name: not a SEQUENCE")
	}
	data := seq.content
	for n := 1; len(data) > 0; n++ {
		var set tlv
		if set, data, err = readTLV(data); err != nil {
			return dst, fmt.Errorf("parsing name: RDN %d: %w", n, err)
		}
		if set.class != asn1.ClassUniversal || set.tag != asn1.TagSet || !set.compound {
			return dst, fmt.Errorf("parsing name: RDN %d: not a SET", n)
		}
		at := len(dst)
		dst = append(dst, 0, 0, 0, 0)
		if dst, err = appendRDNKey(dst, set.content); err != nil {
			return dst, fmt.Errorf("parsing name: RDN %d: %w", n, err)
		}
		putLen(dst[at:], len(dst)-at-4)
	}
	return dst, nil
}

func appendRDNKey(dst, data []byte) ([]byte, error) {
	start := len(dst)
	count := 0
	for len(data) > 0 {
		oid, v, rest, err := readAttribute(data)
		if err != nil {
			return dst, err
		}
		if _, err := parseOIDCheck(oid.content); err != nil {
			return dst, fmt.Errorf("attribute type: %w", err)
		}
		data = rest
		at := len(dst)
		dst = append(dst, 0, 0, 0, 0)
		dst = appendAttributeKey(dst, oid.content, v)
		putLen(dst[at:], len(dst)-at-4)
		count++
	}
	if count == 0 {
		return dst, errors.New("empty RDN")
	}
	if count > 1 {
		sortAttributeKeys(dst[start:])
	}
	return dst, nil
}

// sortAttributeKeys sorts, in place, the length-prefixed attribute keys of a multi-valued RDN, so the order
// of a SET's members does not matter. Multi-valued RDNs are rare; this path may allocate.
func sortAttributeKeys(b []byte) {
	var items [][]byte
	for rest := b; len(rest) >= 4; {
		n := getLen(rest)
		items = append(items, append([]byte(nil), rest[:4+n]...))
		rest = rest[4+n:]
	}
	sort.Slice(items, func(i, j int) bool { return bytes.Compare(items[i], items[j]) < 0 })
	out := b[:0]
	for _, it := range items {
		out = append(out, it...)
	}
}

func appendAttributeKey(dst, oid []byte, v tlv) []byte {
	dst = append(dst, byte(len(oid)))
	dst = append(dst, oid...)
	if v.class == asn1.ClassUniversal && !v.compound {
		mark := len(dst)
		dst = append(dst, 's')
		if out, ok := appendPrepared(dst, v.tag, v.content); ok {
			return out
		}
		dst = dst[:mark]
	}
	dst = append(dst, 'b')
	return append(dst, v.full...)
}

// appendPrepared appends the simplified RFC 4518 preparation of a character string of ASN.1 type tag: case
// folded, leading and trailing white space removed, inner runs of white space collapsed to one space. ok is
// false when tag is not a character-string type or content is malformed for it.
func appendPrepared(dst []byte, tag int, content []byte) (_ []byte, ok bool) {
	p := preparer{dst: dst, start: true}
	switch tag {
	case asn1.TagUTF8String:
		for i := 0; i < len(content); {
			c := content[i]
			if c < utf8.RuneSelf {
				p = p.ascii(c)
				i++
				continue
			}
			r, size := utf8.DecodeRune(content[i:])
			if r == utf8.RuneError && size == 1 {
				return dst, false
			}
			p = p.rune(r)
			i += size
		}
	case asn1.TagPrintableString, asn1.TagIA5String, asn1.TagNumericString:
		for _, c := range content {
			if c >= utf8.RuneSelf {
				return dst, false
			}
			p = p.ascii(c)
		}
	case tagTeletexString:
		// T.61 in practice carries Latin-1; decoding it that way is what every mainstream verifier does.
		for _, c := range content {
			p = p.rune(rune(c))
		}
	case tagBMPString:
		if len(content)%2 != 0 {
			return dst, false
		}
		for i := 0; i < len(content); i += 2 {
			r := rune(content[i])<<8 | rune(content[i+1])
			if utf16.IsSurrogate(r) {
				if i+3 >= len(content) {
					return dst, false
				}
				r = utf16.DecodeRune(r, rune(content[i+2])<<8|rune(content[i+3]))
				if r == utf8.RuneError {
					return dst, false
				}
				i += 2
			}
			p = p.rune(r)
		}
	case tagUniversalString:
		if len(content)%4 != 0 {
			return dst, false
		}
		for i := 0; i < len(content); i += 4 {
			r := rune(content[i])<<24 | rune(content[i+1])<<16 | rune(content[i+2])<<8 | rune(content[i+3])
			if !utf8.ValidRune(r) {
				return dst, false
			}
			p = p.rune(r)
		}
	default:
		return dst, false
	}
	return p.dst, true
}

// preparer folds case and white space as it appends. Its methods take and return it by value so that the
// destination slice, usually a stack buffer, does not escape to the heap.
type preparer struct {
	dst          []byte
	start, space bool
}

func (p preparer) ascii(c byte) preparer {
	switch {
	case c == ' ' || (c >= '\t' && c <= '\r'):
		p.space = !p.start
		return p
	case 'A' <= c && c <= 'Z':
		c += 'a' - 'A'
	}
	p = p.flush()
	p.dst = append(p.dst, c)
	return p
}

func (p preparer) rune(r rune) preparer {
	if r < utf8.RuneSelf {
		return p.ascii(byte(r))
	}
	if unicode.IsSpace(r) {
		p.space = !p.start
		return p
	}
	p = p.flush()
	p.dst = utf8.AppendRune(p.dst, unicode.ToLower(unicode.ToUpper(r)))
	return p
}

func (p preparer) flush() preparer {
	if p.space {
		p.dst = append(p.dst, ' ')
		p.space = false
	}
	p.start = false
	return p
}

func putLen(b []byte, n int) {
	b[0], b[1], b[2], b[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
}

func getLen(b []byte) int {
	return int(b[0])<<24 | int(b[1])<<16 | int(b[2])<<8 | int(b[3])
}

// parseOIDCheck validates OID content octets without allocating.
func parseOIDCheck(b []byte) (int, error) {
	if len(b) == 0 || b[len(b)-1]&0x80 != 0 {
		return 0, errDER
	}
	n, start, v := 0, true, 0
	for _, c := range b {
		if start && c == 0x80 {
			return 0, errDER
		}
		start = false
		if v > 1<<24 {
			return 0, errDER
		}
		v = v<<7 | int(c&0x7f)
		if c&0x80 == 0 {
			n++
			v, start = 0, true
		}
	}
	return n, nil
}
