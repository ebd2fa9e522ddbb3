package crl

import (
	"bytes"
	"testing"
)

func TestDERInput(t *testing.T) {
	long := append([]byte{tagOctetString, 0x81, 0x80}, make([]byte, 0x80)...)
	tests := []struct {
		name    string
		in      []byte
		ok      bool
		content []byte
	}{
		{"short form", []byte{tagInteger, 1, 5}, true, []byte{5}},
		{"long form", long, true, long[3:]},
		{"empty contents", []byte{tagSequence, 0}, true, []byte{}},
		{"long form for a short length", []byte{tagInteger, 0x81, 1, 5}, false, nil},
		{"length with a leading zero", append([]byte{tagOctetString, 0x82, 0x00, 0x80}, make([]byte, 0x80)...), false, nil},
		{"indefinite length", []byte{tagSequence, 0x80, 0, 0}, false, nil},
		{"five length octets", []byte{tagSequence, 0x85, 1, 0, 0, 0, 0}, false, nil},
		{"high tag number", []byte{0x1f, 0x81, 0x01, 0}, false, nil},
		{"contents past the end", []byte{tagInteger, 3, 1}, false, nil},
		{"header only", []byte{tagInteger}, false, nil},
		{"nothing", nil, false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := derInput(tc.in)
			_, _, content, ok := d.next()
			if ok != tc.ok || (ok && !bytes.Equal(content, tc.content)) {
				t.Errorf("next() = %x, %v; want %x, %v", content, ok, tc.content, tc.ok)
			}
		})
	}
}

func TestValidInteger(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want bool
	}{
		{[]byte{0}, true}, {[]byte{0x7f}, true}, {[]byte{0x80}, true}, {[]byte{0x00, 0x80}, true},
		{[]byte{0xff, 0x7f}, true}, {nil, false}, {[]byte{0x00, 0x7f}, false}, {[]byte{0xff, 0x80}, false},
	} {
		if got := validInteger(tc.in); got != tc.want {
			t.Errorf("validInteger(%x) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestParseBitString(t *testing.T) {
	for _, tc := range []struct {
		in     []byte
		ok     bool
		unused int
	}{
		{[]byte{0, 0xff}, true, 0},
		{[]byte{1, 0xfe}, true, 1},
		{[]byte{0}, true, 0},
		{[]byte{1, 0xff}, false, 0}, // an unused bit is set
		{[]byte{8, 0x00}, false, 0}, // more than 7 unused bits
		{[]byte{1}, false, 0},       // unused bits and no byte
		{nil, false, 0},
	} {
		_, unused, ok := parseBitString(tc.in)
		if ok != tc.ok || (ok && unused != tc.unused) {
			t.Errorf("parseBitString(%x) = %d, %v; want %d, %v", tc.in, unused, ok, tc.unused, tc.ok)
		}
	}
}
