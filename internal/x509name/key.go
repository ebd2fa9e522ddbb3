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

	"github.com/mtlslb/mtlslb/internal/der"
)

// The comparison key. It is opaque; only its equality means anything. Layout, with every length a 4-byte
// big-endian prefix written after the fact:
//
//	name = { len rdn }*        rdn = { len attribute }* (sorted)
//	attribute = len(oid) oid ( 's' prepared-UTF-8 | 'b' whole-DER-value )
//
// Building it walks the DER directly into one buffer, so a key costs one allocation (the string) or none
// (comparisons use stack buffers).

// appendKey appends the comparison key of the DER name b to dst.
func appendKey(dst, b []byte) ([]byte, error) {
	rdns, err := readName(b)
	if err != nil {
		return dst, err
	}
	for n := 1; !rdns.Empty(); n++ {
		set, err := readRDN(&rdns)
		if err != nil {
			return dst, fmt.Errorf("parsing name: RDN %d: %w", n, err)
		}
		at := len(dst)
		dst = append(dst, 0, 0, 0, 0)
		if dst, err = appendRDNKey(dst, set); err != nil {
			return dst, fmt.Errorf("parsing name: RDN %d: %w", n, err)
		}
		putLen(dst[at:], len(dst)-at-4)
	}
	return dst, nil
}

func appendRDNKey(dst, set []byte) ([]byte, error) {
	start := len(dst)
	count := 0
	for r := der.Reader(set); !r.Empty(); {
		oid, v, err := readAttribute(&r)
		if err != nil {
			return dst, err
		}
		if err := der.CheckOID(oid); err != nil {
			return dst, fmt.Errorf("attribute type: %w", err)
		}
		at := len(dst)
		dst = append(dst, 0, 0, 0, 0)
		dst = appendAttributeKey(dst, oid, valueTag(v), v.Content, v.Full)
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

// appendAttributeKey appends the key of one attribute: its type's OID
// contents, and its value, of universal tag number tag (-1 when not a
// universal primitive) with contents content and whole encoding full.
func appendAttributeKey(dst, oid []byte, tag int, content, full []byte) []byte {
	dst = append(dst, byte(len(oid)))
	dst = append(dst, oid...)
	if tag >= 0 {
		mark := len(dst)
		dst = append(dst, 's')
		if out, ok := appendPrepared(dst, tag, content); ok {
			return out
		}
		dst = dst[:mark]
	}
	dst = append(dst, 'b')
	return append(dst, full...)
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
