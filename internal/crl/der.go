package crl

// A minimal, strict DER reader. The standard library's cryptobyte is not
// importable, and encoding/asn1 allocates and tolerates too much; this reader
// never allocates, so the same code serves Parse (strictness) and Check (the
// per-handshake path, which reads certificate serials and CRL distribution
// points out of raw certificate bytes).

// ASN.1 tags used by CRLs and certificates, as single DER identifier octets.
const (
	tagBoolean          = 0x01
	tagInteger          = 0x02
	tagBitString        = 0x03
	tagOctetString      = 0x04
	tagOID              = 0x06
	tagEnumerated       = 0x0a
	tagUTCTime          = 0x17
	tagGeneralizedTime  = 0x18
	tagSequence         = 0x30
	tagSet              = 0x31
	classContext        = 0x80
	flagConstructed     = 0x20
	tagContextCons0     = classContext | flagConstructed | 0
	tagContextCons2     = classContext | flagConstructed | 2
	generalNameDirName  = classContext | flagConstructed | 4
	maxDERLengthOctets  = 4
	highTagNumberMarker = 0x1f
)

// derInput is a cursor over DER bytes.
type derInput []byte

// empty reports whether every byte has been consumed.
func (d derInput) empty() bool { return len(d) == 0 }

// peek returns the tag of the next element without consuming it.
func (d derInput) peek() (byte, bool) {
	if len(d) == 0 {
		return 0, false
	}
	return d[0], true
}

// next consumes one element and returns its tag, its whole encoding and its
// contents. Only definite, minimally encoded lengths and low tag numbers are
// accepted, as DER requires.
func (d *derInput) next() (tag byte, full, content []byte, ok bool) {
	b := *d
	if len(b) < 2 {
		return 0, nil, nil, false
	}
	tag = b[0]
	if tag&highTagNumberMarker == highTagNumberMarker {
		return 0, nil, nil, false
	}
	header := 2
	length := int(b[1])
	if length >= 0x80 {
		n := length & 0x7f
		// 0x80 is BER's indefinite length; DER forbids it.
		if n == 0 || n > maxDERLengthOctets || len(b) < 2+n || b[2] == 0 {
			return 0, nil, nil, false
		}
		length = 0
		for _, c := range b[2 : 2+n] {
			length = length<<8 | int(c)
		}
		// DER uses the short form whenever it fits.
		if length < 0x80 {
			return 0, nil, nil, false
		}
		header += n
	}
	if length > len(b)-header {
		return 0, nil, nil, false
	}
	full = b[:header+length]
	content = b[header : header+length]
	*d = b[header+length:]
	return tag, full, content, true
}

// read consumes one element that must carry tag and returns its contents.
func (d *derInput) read(tag byte) ([]byte, bool) {
	_, content, ok := d.readFull(tag)
	return content, ok
}

// readFull consumes one element that must carry tag and returns its whole
// encoding and its contents.
func (d *derInput) readFull(tag byte) (full, content []byte, ok bool) {
	if t, present := d.peek(); !present || t != tag {
		return nil, nil, false
	}
	_, full, content, ok = d.next()
	return full, content, ok
}

// readOptional consumes the next element if it carries tag. ok is false only
// when the element is present but malformed.
func (d *derInput) readOptional(tag byte) (content []byte, present, ok bool) {
	if t, has := d.peek(); !has || t != tag {
		return nil, false, true
	}
	content, ok = d.read(tag)
	return content, true, ok
}

// validInteger reports whether content is a minimal two's-complement INTEGER
// encoding, as DER requires.
func validInteger(content []byte) bool {
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

// parseBoolean decodes DER BOOLEAN contents.
func parseBoolean(content []byte) (value, ok bool) {
	if len(content) != 1 {
		return false, false
	}
	switch content[0] {
	case 0x00:
		return false, true
	case 0xff:
		return true, true
	}
	return false, false
}

// parseBitString decodes DER BIT STRING contents into its bytes and the
// number of unused bits in the last byte.
func parseBitString(content []byte) (bits []byte, unused int, ok bool) {
	if len(content) == 0 {
		return nil, 0, false
	}
	unused = int(content[0])
	bits = content[1:]
	if unused > 7 || (len(bits) == 0 && unused != 0) {
		return nil, 0, false
	}
	// DER requires the unused bits to be zero.
	if len(bits) > 0 && bits[len(bits)-1]&(1<<unused-1) != 0 {
		return nil, 0, false
	}
	return bits, unused, true
}

// oidEqual compares DER OBJECT IDENTIFIER contents with a known encoding.
func oidEqual(content []byte, known string) bool { return string(content) == known }
