package der

import (
	"bytes"
	"encoding/asn1"
	"testing"
)

// FuzzReader reads arbitrary bytes element by element. No read may panic,
// and every element read must encode again to exactly the bytes it was read
// from: DER has one encoding per value, so a reader that accepted a second
// one would let two encodings of one name or serial compare unequal.
func FuzzReader(f *testing.F) {
	f.Add([]byte{0x30, 0x06, 0x02, 0x01, 0x05, 0x81, 0x01, 0x00})
	f.Add([]byte{0x1f, 0x81, 0x00, 0x00, 0x06, 0x03, 0x55, 0x1d, 0x14})
	f.Add(append([]byte{0x04, 0x81, 0x80}, make([]byte, 0x80)...))
	f.Add([]byte{0x30, 0x80, 0x00, 0x00})
	f.Add([]byte{0x02, 0x81, 0x01, 0x05})
	f.Add([]byte{0x03, 0x02, 0x01, 0xfe, 0x01, 0x01, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := Reader(data)
		for !r.Empty() {
			low := r
			tag, full, content, lowErr := low.ReadAny()
			before := len(r)
			e, err := r.ReadElement()
			if err != nil {
				if lowErr == nil {
					t.Fatalf("ReadAny accepted %x, ReadElement refused it: %v", full, err)
				}
				if len(r) != before {
					t.Fatal("a failed ReadElement consumed input")
				}
				return
			}
			if again := appendElement(nil, e); !bytes.Equal(again, e.Full) {
				t.Fatalf("read %x (tag %#x, number %d), which encodes as %x", e.Full, e.Tag, e.Number, again)
			}
			if &e.Full[0] != &data[len(data)-before] || len(r) != before-len(e.Full) {
				t.Fatal("ReadElement did not consume exactly the element at the front")
			}
			if lowErr == nil {
				if tag != e.Tag || !bytes.Equal(full, e.Full) || !bytes.Equal(content, e.Content) {
					t.Fatalf("ReadAny = %#x %x, ReadElement = %#x %x", tag, full, e.Tag, e.Full)
				}
			} else if e.Number < 31 {
				t.Fatalf("ReadAny refused %x, with a low tag number: %v", e.Full, lowErr)
			}
			checkValues(t, e.Content)
		}
	})
}

// appendElement encodes e again from its tag, number and contents.
func appendElement(dst []byte, e Element) []byte {
	if e.Number < 31 {
		return Append(dst, e.Tag, e.Content)
	}
	dst = append(dst, byte(e.Tag))
	var digits [5]byte
	i := len(digits)
	for n := e.Number; ; n >>= 7 {
		i--
		digits[i] = byte(n&0x7f) | 0x80
		if n < 0x80 {
			break
		}
	}
	digits[len(digits)-1] &^= 0x80
	dst = append(dst, digits[i:]...)
	// Append's identifier octet is the placeholder 0; the length and
	// contents octets follow it.
	return append(dst, Append(nil, 0, e.Content)[1:]...)
}

// checkValues runs the value parsers on contents and checks that they agree
// with each other and with encoding/asn1 where both accept.
func checkValues(t *testing.T, content []byte) {
	ValidInteger(content)
	ParseBoolean(content)
	if bits, unused, err := ParseBitString(content); err == nil && len(bits) != len(content)-1 {
		t.Fatalf("ParseBitString(%x) = %d bytes, %d unused", content, len(bits), unused)
	}
	valid, checkErr := ValidOID(content), CheckOID(content)
	oid, err := ParseOID(content)
	if (err == nil) != (checkErr == nil) || (checkErr == nil && !valid) {
		t.Fatalf("OID %x: ValidOID %v, CheckOID %v, ParseOID %v", content, valid, checkErr, err)
	}
	if err == nil {
		enc, err := asn1.Marshal(oid)
		if err != nil {
			t.Fatalf("ParseOID(%x) = %v, which encoding/asn1 cannot encode: %v", content, oid, err)
		}
		r := Reader(enc)
		if again, err := r.Read(OID); err != nil || !bytes.Equal(again, content) {
			t.Fatalf("ParseOID(%x) = %v, which encodes as %x", content, oid, enc)
		}
	}
}
