package der

import "errors"

var (
	// ErrMalformed reports bytes that are not a DER encoding: a truncated
	// element, an indefinite or non-minimal length, a length of more than
	// four octets, or contents that are invalid for their type.
	ErrMalformed = errors.New("malformed DER")
	// ErrUnexpectedTag reports a well-formed element other than the one a
	// Read asked for.
	ErrUnexpectedTag = errors.New("unexpected DER tag")
)

// Tag is an identifier octet of the low-tag-number form: the class in bits
// 8–7, the constructed flag in bit 6 and the tag number, 0 to 30, in bits
// 5–1. The low five bits all set mark the high-tag-number form instead (see
// Element).
type Tag uint8

// The four classes of Tag, and its constructed flag.
const (
	ClassUniversal       Tag = 0x00
	ClassApplication     Tag = 0x40
	ClassContextSpecific Tag = 0x80
	ClassPrivate         Tag = 0xc0

	// Constructed marks an element whose contents are elements.
	Constructed Tag = 0x20
)

// Identifier octets of the universal types that certificates and CRLs use.
const (
	Boolean         Tag = 0x01
	Integer         Tag = 0x02
	BitString       Tag = 0x03
	OctetString     Tag = 0x04
	OID             Tag = 0x06
	Enumerated      Tag = 0x0a
	UTCTime         Tag = 0x17
	GeneralizedTime Tag = 0x18
	Sequence        Tag = 0x30 // SEQUENCE and SEQUENCE OF: always constructed
	Set             Tag = 0x31 // SET and SET OF: always constructed
)

const (
	classMask     = 0xc0
	numberMask    = 0x1f
	highTagMarker = 0x1f // low five bits of the first identifier octet of the high-tag-number form
	// maxHighTagPrefix bounds a high tag number before its next digit, so
	// that numbers stay below 2^31 (far above any in use) and fit an int on
	// every platform.
	maxHighTagPrefix = 1 << 23
	// maxLengthOctets bounds the long form of a length: four octets address
	// 4 GiB, more than any certificate or CRL this program accepts.
	maxLengthOctets = 4
)

// Class returns the class bits of t: ClassUniversal, ClassApplication,
// ClassContextSpecific or ClassPrivate.
func (t Tag) Class() Tag { return t & classMask }

// IsConstructed reports whether t has the constructed flag.
func (t Tag) IsConstructed() bool { return t&Constructed != 0 }

// Number returns the tag number of t, or 31 for the first identifier octet
// of the high-tag-number form.
func (t Tag) Number() int { return int(t & numberMask) }

// Element is one DER element as ReadElement returns it.
type Element struct {
	// Tag is the first identifier octet. For the high-tag-number form its
	// low five bits are all set and only its class and constructed flag
	// mean anything.
	Tag Tag
	// Number is the tag number, in either form.
	Number int
	// Content holds the contents octets.
	Content []byte
	// Full is the whole encoding: identifier, length and contents octets.
	Full []byte
}

// Reader is a cursor over DER bytes: each Read consumes one element from
// the front. Reads return subslices of the bytes, never copies, and a failed
// Read leaves the Reader as it was. The zero Reader is empty.
type Reader []byte

// Empty reports whether every byte has been consumed.
func (r Reader) Empty() bool { return len(r) == 0 }

// Peek returns the first identifier octet of the next element without
// consuming it. ok is false when r is empty.
func (r Reader) Peek() (tag Tag, ok bool) {
	if len(r) == 0 {
		return 0, false
	}
	return Tag(r[0]), true
}

// ReadElement consumes the next element, whose tag number may take the
// high-tag-number form.
func (r *Reader) ReadElement() (Element, error) {
	tag, full, content, err := r.read(0, anyTag)
	if err != nil {
		return Element{}, err
	}
	number := tag.Number()
	if number == highTagMarker {
		// read has checked the digits; decoding them again here, for a
		// rare form, keeps read's results within registers.
		number, _, _ = parseHighTagNumber(full)
	}
	return Element{Tag: tag, Number: number, Content: content, Full: full}, nil
}

// ReadAny consumes the next element, which must have a low tag number, and
// returns its identifier octet, its whole encoding and its contents.
func (r *Reader) ReadAny() (tag Tag, full, content []byte, err error) {
	return r.read(0, anyLowTag)
}

// Read consumes the next element, which must carry tag, and returns its
// contents.
func (r *Reader) Read(tag Tag) (content []byte, err error) {
	_, _, content, err = r.read(tag, givenTag)
	return content, err
}

// ReadFull consumes the next element, which must carry tag, and returns its
// whole encoding and its contents.
func (r *Reader) ReadFull(tag Tag) (full, content []byte, err error) {
	_, full, content, err = r.read(tag, givenTag)
	return full, content, err
}

// ReadOptional consumes the next element if it carries tag, for an OPTIONAL
// or DEFAULT field. present reports whether it did; err is not nil only when
// the element is there but malformed.
func (r *Reader) ReadOptional(tag Tag) (content []byte, present bool, err error) {
	if next, ok := r.Peek(); !ok || next != tag {
		return nil, false, nil
	}
	content, err = r.Read(tag)
	return content, true, err
}

// readMode says which elements read accepts.
type readMode uint8

const (
	anyLowTag readMode = iota // any element with a low tag number
	givenTag                  // only an element whose identifier octet is the given tag
	anyTag                    // any element, also of the high-tag-number form
)

// read is every Read method in one body, so that each read on the
// per-handshake paths costs one call: the exported methods are inlined
// around it. It consumes the next element, as mode allows, and returns its
// first identifier octet, its whole encoding and its contents.
func (r *Reader) read(want Tag, mode readMode) (tag Tag, full, content []byte, err error) {
	b := *r
	if len(b) == 0 {
		return 0, nil, nil, ErrMalformed
	}
	tag = Tag(b[0])
	if mode == givenTag && tag != want {
		return 0, nil, nil, ErrUnexpectedTag
	}
	i := 1
	if tag.Number() == highTagMarker {
		if mode != anyTag {
			return 0, nil, nil, ErrMalformed
		}
		if _, i, err = parseHighTagNumber(b); err != nil {
			return 0, nil, nil, err
		}
	}
	if i >= len(b) {
		return 0, nil, nil, ErrMalformed
	}
	length := int(b[i])
	i++
	if length&0x80 != 0 {
		// 0x80 alone is BER's indefinite length, which DER forbids.
		n := length & 0x7f
		if n == 0 || n > maxLengthOctets || n > len(b)-i {
			return 0, nil, nil, ErrMalformed
		}
		length = 0
		for _, c := range b[i : i+n] {
			length = length<<8 | int(c)
		}
		// DER uses the short form whenever it fits, and no leading zero.
		if length < 0x80 || b[i] == 0 {
			return 0, nil, nil, ErrMalformed
		}
		i += n
	}
	if length > len(b)-i {
		return 0, nil, nil, ErrMalformed
	}
	end := i + length
	*r = b[end:]
	return tag, b[:end], b[i:end], nil
}

// parseHighTagNumber decodes the base-128 tag number that follows a first
// identifier octet with the high-tag marker, and returns it and the offset
// of the length octets.
func parseHighTagNumber(b []byte) (number, idLen int, err error) {
	for i := 1; i < len(b); i++ {
		c := b[i]
		// The digits are minimal: no leading zero digit.
		if number == 0 && c == 0x80 {
			return 0, 0, ErrMalformed
		}
		number = number<<7 | int(c&0x7f)
		if c&0x80 == 0 {
			// The form is only for numbers that the low form cannot hold.
			if number < highTagMarker {
				return 0, 0, ErrMalformed
			}
			return number, i + 1, nil
		}
		if number > maxHighTagPrefix {
			return 0, 0, ErrMalformed
		}
	}
	return 0, 0, ErrMalformed
}

// Append appends to dst the encoding of one element with a low tag number,
// its length in the shortest form. content must be shorter than 4 GiB.
func Append(dst []byte, tag Tag, content []byte) []byte {
	dst = append(dst, byte(tag))
	n := len(content)
	switch {
	case n < 0x80:
		dst = append(dst, byte(n))
	case n <= 0xff:
		dst = append(dst, 0x81, byte(n))
	case n <= 0xffff:
		dst = append(dst, 0x82, byte(n>>8), byte(n))
	case n <= 0xffffff:
		dst = append(dst, 0x83, byte(n>>16), byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, content...)
}
