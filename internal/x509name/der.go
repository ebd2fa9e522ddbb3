package x509name

import (
	"encoding/asn1"
	"errors"
)

// A minimal DER reader. Names are parsed on every handshake (chaining, CRL issuers, headers), and
// encoding/asn1's reflection costs dozens of allocations per name; this reads the same strict DER with none.

var errDER = errors.New("malformed DER")

// tlv is one DER element.
type tlv struct {
	class    int
	tag      int
	compound bool
	content  []byte
	full     []byte
}

// readTLV reads one element from b and returns it and the rest of b. It accepts DER only: definite, minimal
// lengths.
func readTLV(b []byte) (tlv, []byte, error) {
	var e tlv
	if len(b) < 2 {
		return e, nil, errDER
	}
	id := b[0]
	e.class = int(id >> 6)
	e.compound = id&0x20 != 0
	e.tag = int(id & 0x1f)
	i := 1
	if e.tag == 0x1f {
		// High tag number form: base-128 digits; no leading 0x80, and it must be needed (≥ 31).
		e.tag = 0
		for {
			if i >= len(b) || e.tag > 1<<23 {
				return e, nil, errDER
			}
			c := b[i]
			i++
			if e.tag == 0 && c == 0x80 {
				return e, nil, errDER
			}
			e.tag = e.tag<<7 | int(c&0x7f)
			if c&0x80 == 0 {
				break
			}
		}
		if e.tag < 0x1f {
			return e, nil, errDER
		}
	}
	if i >= len(b) {
		return e, nil, errDER
	}
	l := int(b[i])
	i++
	if l&0x80 != 0 {
		n := l & 0x7f
		if n == 0 || n > 4 || i+n > len(b) {
			return e, nil, errDER // indefinite length, or absurd
		}
		l = 0
		for j := range n {
			l = l<<8 | int(b[i+j])
		}
		if l < 0x80 || (n > 1 && b[i] == 0) {
			return e, nil, errDER // not minimal
		}
		i += n
	}
	if l > len(b)-i {
		return e, nil, errDER
	}
	e.content = b[i : i+l]
	e.full = b[:i+l]
	return e, b[i+l:], nil
}

// parseOID decodes the content octets of an OBJECT IDENTIFIER.
func parseOID(b []byte) (asn1.ObjectIdentifier, error) {
	if len(b) == 0 || b[len(b)-1]&0x80 != 0 {
		return nil, errDER
	}
	n := 1
	for _, c := range b {
		if c&0x80 == 0 {
			n++
		}
	}
	oid := make(asn1.ObjectIdentifier, 0, n)
	v := 0
	start := true
	for _, c := range b {
		if start && c == 0x80 {
			return nil, errDER // non-minimal subidentifier
		}
		start = false
		if v > 1<<24 {
			return nil, errDER
		}
		v = v<<7 | int(c&0x7f)
		if c&0x80 != 0 {
			continue
		}
		if len(oid) == 0 {
			switch {
			case v < 40:
				oid = append(oid, 0, v)
			case v < 80:
				oid = append(oid, 1, v-40)
			default:
				oid = append(oid, 2, v-80)
			}
		} else {
			oid = append(oid, v)
		}
		v = 0
		start = true
	}
	return oid, nil
}
