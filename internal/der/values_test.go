package der

import (
	"bytes"
	"encoding/asn1"
	"testing"
)

func TestValidInteger(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want bool
	}{
		{"zero", []byte{0}, true},
		{"127", []byte{0x7f}, true},
		{"-128", []byte{0x80}, true},
		{"128", []byte{0x00, 0x80}, true},
		{"-129", []byte{0xff, 0x7f}, true},
		{"empty", nil, false},
		{"redundant zero", []byte{0x00, 0x7f}, false},
		{"redundant ff", []byte{0xff, 0x80}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidInteger(tt.in); got != tt.want {
				t.Errorf("ValidInteger(%x) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseBoolean(t *testing.T) {
	tests := []struct {
		name  string
		in    []byte
		ok    bool
		value bool
	}{
		{"false", []byte{0x00}, true, false},
		{"true", []byte{0xff}, true, true},
		{"BER true", []byte{0x01}, false, false},
		{"empty", nil, false, false},
		{"two octets", []byte{0xff, 0xff}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := ParseBoolean(tt.in)
			if (err == nil) != tt.ok || v != tt.value {
				t.Errorf("ParseBoolean(%x) = %v, %v; want %v, ok %v", tt.in, v, err, tt.value, tt.ok)
			}
		})
	}
}

func TestParseBitString(t *testing.T) {
	tests := []struct {
		name   string
		in     []byte
		ok     bool
		unused int
	}{
		{"whole octet", []byte{0, 0xff}, true, 0},
		{"one unused bit", []byte{1, 0xfe}, true, 1},
		{"empty string", []byte{0}, true, 0},
		{"unused bit set", []byte{1, 0xff}, false, 0},
		{"more than 7 unused bits", []byte{8, 0x00}, false, 0},
		{"unused bits and no octet", []byte{1}, false, 0},
		{"no contents", nil, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, unused, err := ParseBitString(tt.in)
			if (err == nil) != tt.ok || (err == nil && unused != tt.unused) {
				t.Errorf("ParseBitString(%x) = %d, %v; want %d, ok %v", tt.in, unused, err, tt.unused, tt.ok)
			}
		})
	}
}

func TestOID(t *testing.T) {
	tests := []struct {
		name   string
		in     []byte
		valid  bool // ValidOID
		parses bool // CheckOID and ParseOID
		want   asn1.ObjectIdentifier
	}{
		{name: "cRLNumber", in: []byte{0x55, 0x1d, 0x14}, valid: true, parses: true, want: asn1.ObjectIdentifier{2, 5, 29, 20}},
		{name: "emailAddress", in: []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01}, valid: true, parses: true, want: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}},
		{name: "first arc 0", in: []byte{0x27}, valid: true, parses: true, want: asn1.ObjectIdentifier{0, 39}},
		{name: "first arc 2, large second", in: []byte{0x88, 0x37}, valid: true, parses: true, want: asn1.ObjectIdentifier{2, 999}},
		{name: "largest arc", in: []byte{0x2a, 0x88, 0x80, 0x80, 0x80, 0x7f}, valid: true, parses: true, want: asn1.ObjectIdentifier{1, 2, 1<<31 + 127}},
		{name: "arc too large to parse", in: []byte{0x2a, 0x88, 0x80, 0x80, 0x81, 0x00}, valid: true},
		{name: "128-bit UUID arc", in: append(append([]byte{0x69}, bytes.Repeat([]byte{0xff}, 18)...), 0x7f), valid: true},
		{name: "empty", in: nil},
		{name: "unterminated", in: []byte{0x55, 0x9d}},
		{name: "leading zero digit", in: []byte{0x55, 0x80, 0x1d}},
		{name: "leading zero digit first", in: []byte{0x80, 0x01}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidOID(tt.in); got != tt.valid {
				t.Errorf("ValidOID(%x) = %v, want %v", tt.in, got, tt.valid)
			}
			if err := CheckOID(tt.in); (err == nil) != tt.parses {
				t.Errorf("CheckOID(%x) = %v, want ok %v", tt.in, err, tt.parses)
			}
			oid, err := ParseOID(tt.in)
			if (err == nil) != tt.parses || (err == nil && !oid.Equal(tt.want)) {
				t.Errorf("ParseOID(%x) = %v, %v; want %v, ok %v", tt.in, oid, err, tt.want, tt.parses)
			}
		})
	}
}
