package der

import "encoding/asn1"

// ValidInteger reports whether content is the contents of a DER INTEGER:
// non-empty, minimal two's complement.
func ValidInteger(content []byte) bool {
	switch {
	case len(content) == 0:
		return false
	case len(content) == 1:
		return true
	case content[0] == 0x00 && content[1]&0x80 == 0:
		return false
	case content[0] == 0xff && content[1]&0x80 != 0:
		return false
	}
	return true
}

// ParseBoolean decodes the contents of a DER BOOLEAN, which are one octet,
// 0x00 or 0xff.
func ParseBoolean(content []byte) (bool, error) {
	if len(content) == 1 {
		switch content[0] {
		case 0x00:
			return false, nil
		case 0xff:
			return true, nil
		}
	}
	return false, ErrMalformed
}

// ParseBitString decodes the contents of a DER BIT STRING into its bytes and
// the number of unused bits at the end of the last one, which DER requires
// to be zero.
func ParseBitString(content []byte) (bits []byte, unused int, err error) {
	if len(content) == 0 {
		return nil, 0, ErrMalformed
	}
	unused = int(content[0])
	bits = content[1:]
	if unused > 7 || (len(bits) == 0 && unused != 0) {
		return nil, 0, ErrMalformed
	}
	if len(bits) > 0 && bits[len(bits)-1]&(1<<unused-1) != 0 {
		return nil, 0, ErrMalformed
	}
	return bits, unused, nil
}

// maxArcPrefix bounds an OID arc before its next base-128 digit, so that
// ParseOID's arcs stay below 2^31 + 128 and fit an int on every platform.
const maxArcPrefix = 1 << 24

// ValidOID reports whether content is the contents of a DER OBJECT
// IDENTIFIER: non-empty, every subidentifier minimally encoded and
// terminated. It accepts arcs of any size; CheckOID also bounds them.
func ValidOID(content []byte) bool { return scanOID(content, false) }

// CheckOID reports, without allocating, whether ParseOID accepts content:
// ValidOID, and no arc above 2^31 + 127.
func CheckOID(content []byte) error {
	if !scanOID(content, true) {
		return ErrMalformed
	}
	return nil
}

// scanOID checks the subidentifiers of OID contents and, when bounded, the
// size of each.
func scanOID(content []byte, bounded bool) bool {
	if len(content) == 0 || content[len(content)-1]&0x80 != 0 {
		return false
	}
	start, v := true, 0
	for _, c := range content {
		if start && c == 0x80 {
			return false // a leading zero digit
		}
		if bounded {
			if v > maxArcPrefix {
				return false
			}
			v = v<<7 | int(c&0x7f)
		}
		start = c&0x80 == 0
		if start {
			v = 0
		}
	}
	return true
}

// ParseOID decodes the contents of a DER OBJECT IDENTIFIER.
func ParseOID(content []byte) (asn1.ObjectIdentifier, error) {
	if err := CheckOID(content); err != nil {
		return nil, err
	}
	// The first subidentifier holds the first two arcs.
	n := 1
	for _, c := range content {
		if c&0x80 == 0 {
			n++
		}
	}
	oid := make(asn1.ObjectIdentifier, 0, n)
	v := 0
	for _, c := range content {
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
	}
	return oid, nil
}
