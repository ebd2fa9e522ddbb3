package x509path

import "errors"

// DER tag bytes used by the extensions this package parses itself.
const (
	tagInteger       = 0x02
	tagSequence      = 0x30
	classContext     = 0x80
	classMask        = 0xc0
	constructedBit   = 0x20
	tagNumberMask    = 0x1f
	multiByteTagMark = 0x1f
)

var errDER = errors.New("malformed DER")

// readTLV splits one DER element off the front of data. It accepts only
// single-byte tags and definite lengths of up to four octets, which covers
// every field of the extensions parsed here; anything else is an error rather
// than a guess.
func readTLV(data []byte) (tag byte, content, rest []byte, err error) {
	if len(data) < 2 {
		return 0, nil, nil, errDER
	}
	tag = data[0]
	if tag&tagNumberMask == multiByteTagMark {
		return 0, nil, nil, errDER
	}
	length := int(data[1])
	header := 2
	if length&0x80 != 0 {
		n := length & 0x7f
		if n == 0 || n > 4 || len(data) < 2+n {
			return 0, nil, nil, errDER
		}
		length = 0
		for _, b := range data[2 : 2+n] {
			length = length<<8 | int(b)
		}
		// DER demands the shortest length encoding.
		if length < 0x80 || data[2] == 0 {
			return 0, nil, nil, errDER
		}
		header += n
	}
	if length < 0 || len(data)-header < length {
		return 0, nil, nil, errDER
	}
	return tag, data[header : header+length], data[header+length:], nil
}
