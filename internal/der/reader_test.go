package der

import (
	"bytes"
	"errors"
	"testing"
)

func TestReadElement(t *testing.T) {
	long := append([]byte{byte(OctetString), 0x81, 0x80}, make([]byte, 0x80)...)
	long2 := append([]byte{byte(OctetString), 0x82, 0x01, 0x00}, make([]byte, 0x100)...)
	tests := []struct {
		name    string
		in      []byte
		ok      bool // ReadElement succeeds
		low     bool // so does ReadAny (a low tag number)
		tag     Tag
		number  int
		content []byte
	}{
		{name: "short form", in: []byte{0x02, 1, 5}, ok: true, low: true, tag: Integer, number: 2, content: []byte{5}},
		{name: "long form", in: long, ok: true, low: true, tag: OctetString, number: 4, content: long[3:]},
		{name: "two length octets", in: long2, ok: true, low: true, tag: OctetString, number: 4, content: long2[4:]},
		{name: "empty contents", in: []byte{0x30, 0}, ok: true, low: true, tag: Sequence, number: 16, content: []byte{}},
		{name: "context-specific constructed", in: []byte{0xa3, 2, 0x05, 0}, ok: true, low: true, tag: ClassContextSpecific | Constructed | 3, number: 3, content: []byte{0x05, 0}},
		{name: "low tag 30", in: []byte{0x1e, 0}, ok: true, low: true, tag: 0x1e, number: 30, content: []byte{}},
		{name: "high tag 31", in: []byte{0x1f, 0x1f, 1, 7}, ok: true, tag: 0x1f, number: 31, content: []byte{7}},
		{name: "high tag two digits", in: []byte{0x9f, 0x81, 0x00, 0}, ok: true, tag: 0x9f, number: 128, content: []byte{}},
		{name: "high tag 129", in: []byte{0x1f, 0x81, 0x01, 0}, ok: true, tag: 0x1f, number: 129, content: []byte{}},
		{name: "high tag largest", in: []byte{0x1f, 0x84, 0x80, 0x80, 0x80, 0x7f, 0}, ok: true, tag: 0x1f, number: 1<<30 + 127, content: []byte{}},

		{name: "long form for a short length", in: []byte{0x02, 0x81, 1, 5}},
		{name: "length with a leading zero", in: append([]byte{0x04, 0x82, 0x00, 0x80}, make([]byte, 0x80)...)},
		{name: "indefinite length", in: []byte{0x30, 0x80, 0, 0}},
		{name: "five length octets", in: []byte{0x30, 0x85, 1, 0, 0, 0, 0}},
		{name: "length octets truncated", in: []byte{0x04, 0x82, 0x01}},
		{name: "contents past the end", in: []byte{0x02, 3, 1}},
		{name: "length past the end", in: []byte{0x04, 0x84, 0x7f, 0xff, 0xff, 0xff, 0}},
		{name: "header only", in: []byte{0x02}},
		{name: "nothing", in: nil},
		{name: "high tag below 31", in: []byte{0x1f, 0x1e, 0}},
		{name: "high tag leading zero digit", in: []byte{0x1f, 0x80, 0x1f, 0}},
		{name: "high tag unterminated", in: []byte{0x1f, 0x81, 0x81}},
		{name: "high tag without length", in: []byte{0x1f, 0x1f}},
		{name: "high tag too large", in: []byte{0x1f, 0x84, 0x80, 0x80, 0x81, 0x00, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Reader(tt.in)
			e, err := r.ReadElement()
			if (err == nil) != tt.ok {
				t.Fatalf("ReadElement error = %v, want ok %v", err, tt.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrMalformed) || len(r) != len(tt.in) {
					t.Errorf("failed ReadElement: error %v, %d of %d bytes left; want ErrMalformed, input untouched", err, len(r), len(tt.in))
				}
			} else if e.Tag != tt.tag || e.Number != tt.number || !bytes.Equal(e.Content, tt.content) || !bytes.Equal(e.Full, tt.in) || !r.Empty() {
				t.Errorf("ReadElement = %#x %d %x (full %x), want %#x %d %x (full %x)", e.Tag, e.Number, e.Content, e.Full, tt.tag, tt.number, tt.content, tt.in)
			}

			r = Reader(tt.in)
			tag, full, content, err := r.ReadAny()
			if (err == nil) != tt.low {
				t.Fatalf("ReadAny error = %v, want ok %v", err, tt.low)
			}
			if err == nil && (tag != tt.tag || !bytes.Equal(content, tt.content) || !bytes.Equal(full, tt.in)) {
				t.Errorf("ReadAny = %#x %x (full %x), want %#x %x", tag, content, full, tt.tag, tt.content)
			}
		})
	}
}

func TestReaderTagged(t *testing.T) {
	// SEQUENCE { INTEGER 5, [1] 00 } followed by a BOOLEAN.
	in := []byte{0x30, 0x06, 0x02, 0x01, 0x05, 0x81, 0x01, 0x00, 0x01, 0x01, 0xff}
	r := Reader(in)
	if tag, ok := r.Peek(); !ok || tag != Sequence {
		t.Fatalf("Peek = %#x, %v; want SEQUENCE", tag, ok)
	}
	if _, err := r.Read(Set); !errors.Is(err, ErrUnexpectedTag) || len(r) != len(in) {
		t.Fatalf("Read(Set) of a SEQUENCE: error %v, %d bytes left; want ErrUnexpectedTag, nothing consumed", err, len(r))
	}
	full, content, err := r.ReadFull(Sequence)
	if err != nil || !bytes.Equal(full, in[:8]) || !bytes.Equal(content, in[2:8]) {
		t.Fatalf("ReadFull(Sequence) = %x, %x, %v", full, content, err)
	}
	seq := Reader(content)
	if _, present, err := seq.ReadOptional(ClassContextSpecific | 0); present || err != nil {
		t.Fatalf("ReadOptional([0]) of an INTEGER: present %v, error %v; want absent", present, err)
	}
	if n, err := seq.Read(Integer); err != nil || !bytes.Equal(n, []byte{5}) {
		t.Fatalf("Read(Integer) = %x, %v", n, err)
	}
	if v, present, err := seq.ReadOptional(ClassContextSpecific | 1); !present || err != nil || !bytes.Equal(v, []byte{0}) {
		t.Fatalf("ReadOptional([1]) = %x, %v, %v", v, present, err)
	}
	if !seq.Empty() {
		t.Fatal("SEQUENCE contents left over")
	}
	if _, present, err := seq.ReadOptional(Integer); present || err != nil {
		t.Fatalf("ReadOptional on an empty Reader: present %v, error %v", present, err)
	}
	if _, err := seq.Read(Integer); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Read on an empty Reader: error %v, want ErrMalformed", err)
	}
	if _, present, err := r.ReadOptional(Boolean); !present || err != nil {
		t.Fatalf("ReadOptional(Boolean): present %v, error %v", present, err)
	}
	if !r.Empty() {
		t.Fatal("input left over")
	}

	bad := Reader{0x01, 0x02, 0xff}
	if _, present, err := bad.ReadOptional(Boolean); !present || !errors.Is(err, ErrMalformed) {
		t.Fatalf("ReadOptional of a truncated element: present %v, error %v; want present and ErrMalformed", present, err)
	}
}

func TestAppend(t *testing.T) {
	tests := []struct {
		name   string
		size   int
		header []byte
	}{
		{"empty", 0, []byte{0x04, 0x00}},
		{"largest short form", 0x7f, []byte{0x04, 0x7f}},
		{"one length octet", 0x80, []byte{0x04, 0x81, 0x80}},
		{"largest one length octet", 0xff, []byte{0x04, 0x81, 0xff}},
		{"two length octets", 0x100, []byte{0x04, 0x82, 0x01, 0x00}},
		{"three length octets", 0x10000, []byte{0x04, 0x83, 0x01, 0x00, 0x00}},
		{"four length octets", 0x1000000, []byte{0x04, 0x84, 0x01, 0x00, 0x00, 0x00}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			content := bytes.Repeat([]byte{0xa5}, tt.size)
			enc := Append([]byte{0xee}, OctetString, content)
			if !bytes.Equal(enc[1:1+len(tt.header)], tt.header) || len(enc) != 1+len(tt.header)+tt.size {
				t.Fatalf("Append header = %x (%d bytes in all), want %x", enc[1:min(len(enc), 1+len(tt.header))], len(enc)-1, tt.header)
			}
			r := Reader(enc[1:])
			if got, err := r.Read(OctetString); err != nil || !bytes.Equal(got, content) || !r.Empty() {
				t.Errorf("Read(Append) = %d content bytes, %v", len(got), err)
			}
		})
	}
}

func TestTag(t *testing.T) {
	tests := []struct {
		name        string
		tag         Tag
		class       Tag
		constructed bool
		number      int
	}{
		{"SEQUENCE", Sequence, ClassUniversal, true, 16},
		{"INTEGER", Integer, ClassUniversal, false, 2},
		{"[4] constructed", ClassContextSpecific | Constructed | 4, ClassContextSpecific, true, 4},
		{"[APPLICATION 1]", ClassApplication | 1, ClassApplication, false, 1},
		{"[PRIVATE 30]", ClassPrivate | 30, ClassPrivate, false, 30},
		{"high-tag marker", ClassContextSpecific | 0x1f, ClassContextSpecific, false, 31},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.tag.Class() != tt.class || tt.tag.IsConstructed() != tt.constructed || tt.tag.Number() != tt.number {
				t.Errorf("%#x: class %#x constructed %v number %d, want %#x %v %d",
					tt.tag, tt.tag.Class(), tt.tag.IsConstructed(), tt.tag.Number(), tt.class, tt.constructed, tt.number)
			}
		})
	}
}
