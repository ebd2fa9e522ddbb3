package proxyproto

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"io"
	"net/netip"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const sigHex = "0d0a0d0a000d0a515549540a"

func TestParseValid(t *testing.T) {
	ap := netip.MustParseAddrPort
	tests := []struct {
		name string
		in   []byte
		want Header
		n    int
	}{
		{
			name: "v1 TCP4",
			in:   []byte("PROXY TCP4 192.0.2.1 198.51.100.7 51234 443\r\nGET / HTTP/1.1\r\n"),
			want: Header{Version: 1, Source: ap("192.0.2.1:51234"), Destination: ap("198.51.100.7:443")},
			n:    len("PROXY TCP4 192.0.2.1 198.51.100.7 51234 443\r\n"),
		},
		{
			name: "v1 TCP6",
			in:   []byte("PROXY TCP6 2001:db8::1 2001:db8::2 0 65535\r\n"),
			want: Header{Version: 1, Source: ap("[2001:db8::1]:0"), Destination: ap("[2001:db8::2]:65535")},
			n:    len("PROXY TCP6 2001:db8::1 2001:db8::2 0 65535\r\n"),
		},
		{
			name: "v1 UNKNOWN",
			in:   []byte("PROXY UNKNOWN\r\n\x16\x03\x01"),
			want: Header{Version: 1, Local: true},
			n:    15,
		},
		{
			name: "v1 UNKNOWN with addresses to ignore",
			in:   []byte("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"),
			want: Header{Version: 1, Local: true},
			n:    len("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"),
		},
		{
			name: "v1 longest TCP6",
			in:   []byte("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"),
			want: Header{Version: 1, Source: ap("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"), Destination: ap("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535")},
			n:    104, // the longest UNKNOWN line is MaxV1Len
		},
		{
			name: "v2 TCP4",
			in:   mustHex(t, sigHex+"21 11 000c c0000201 c6336407 c822 01bb"+"16030100"),
			want: Header{Version: 2, Source: ap("192.0.2.1:51234"), Destination: ap("198.51.100.7:443"), RawTLVs: []byte{}},
			n:    28,
		},
		{
			name: "v2 TCP6",
			in: mustHex(t, sigHex+"21 21 0024"+"20010db8000000000000000000000001"+"20010db8000000000000000000000002"+
				"0050 1f90"),
			want: Header{Version: 2, Source: ap("[2001:db8::1]:80"), Destination: ap("[2001:db8::2]:8080"), RawTLVs: []byte{}},
			n:    52,
		},
		{
			name: "v2 LOCAL skips whatever address block it carries",
			in:   mustHex(t, sigHex+"20 11 000c c0000201 c6336407 c822 01bb"),
			want: Header{Version: 2, Local: true},
			n:    28,
		},
		{
			name: "v2 LOCAL without addresses",
			in:   mustHex(t, sigHex+"20 00 0000"),
			want: Header{Version: 2, Local: true},
			n:    16,
		},
		{
			name: "v2 PROXY with UNSPEC family",
			in:   mustHex(t, sigHex+"21 00 0003 aabbcc"),
			want: Header{Version: 2, Local: true},
			n:    19,
		},
		{
			name: "v2 with TLVs",
			in:   mustHex(t, sigHex+"21 11 0015 7f000001 7f000002 0001 0002 02 0003 616263 04 0000"),
			want: Header{Version: 2, Source: ap("127.0.0.1:1"), Destination: ap("127.0.0.2:2"), RawTLVs: mustHex(t, "02 0003 616263 04 0000")},
			n:    37,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, n, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if n != tt.n {
				t.Errorf("n = %d, want %d", n, tt.n)
			}
			if diff := cmp.Diff(tt.want, h, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
			// Every proper prefix of a header is truncated, never refused: a header split over several reads
			// must not fail on its first part.
			for k := range tt.n {
				if _, _, err := Parse(tt.in[:k]); !errors.Is(err, ErrTruncated) && !(k == 0 && errors.Is(err, ErrNotProxy)) {
					t.Fatalf("Parse of the first %d bytes: %v, want ErrTruncated", k, err)
				}
			}
		})
	}
}

func TestParseMalformed(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string // substring of the error; "" for ErrNotProxy
	}{
		{"TLS client hello", []byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), ""},
		{"HTTP request", []byte("GET / HTTP/1.1\r\n"), ""},
		{"v1 without space", []byte("PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n"), "want a space after PROXY"},
		{"v1 unknown protocol", []byte("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"), "must be TCP4, TCP6 or UNKNOWN"},
		{"v1 LF without CR", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), "byte 0x0a"},
		{"v1 binary garbage", []byte("PROXY \x00\x01"), "byte 0x00 at offset 6"},
		{"v1 CR inside", []byte("PROXY TCP4\r 1.2.3.4"), "byte 0x0d"},
		{"v1 too long", []byte("PROXY TCP6 " + strings.Repeat("a", 120)), "no CRLF within 107 bytes"},
		{"v1 IPv6 address in TCP4", []byte("PROXY TCP4 ::1 ::1 1 2\r\n"), "addresses do not match"},
		{"v1 IPv4 address in TCP6", []byte("PROXY TCP6 1.2.3.4 ::1 1 2\r\n"), "addresses do not match"},
		{"v1 zone", []byte("PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n"), "addresses do not match"},
		{"v1 leading zero octet", []byte("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n"), "addresses do not match"},
		{"v1 port too big", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"), "ports must be"},
		{"v1 negative port", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n"), "ports must be"},
		{"v1 double space", []byte("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n"), "single spaces"},
		{"v1 missing port", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), "single spaces"},
		{"v1 extra field", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n"), "single spaces"},
		{"v1 trailing space", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n"), "single spaces"},
		{"v2 version 1 nibble", mustHex(t, sigHex+"11 11 000c c0000201 c6336407 c822 01bb"), "version 1 after"},
		{"v2 unknown command", mustHex(t, sigHex+"22 11 000c c0000201 c6336407 c822 01bb"), "unknown command 0x2"},
		{"v2 undefined family", mustHex(t, sigHex+"21 13 000c c0000201 c6336407 c822 01bb"), "undefined address family and transport 0x13"},
		{"v2 undefined family on LOCAL", mustHex(t, sigHex+"20 44 0000"), "undefined address family"},
		{"v2 UDP", mustHex(t, sigHex+"21 12 000c c0000201 c6336407 c822 01bb"), "is UDP"},
		{"v2 UNIX", mustHex(t, sigHex+"21 31 0000"), "UNIX socket"},
		{"v2 length shorter than addresses", mustHex(t, sigHex+"21 21 000c c0000201 c6336407 c822 01bb"), "shorter than the 36-byte address block"},
		{"v2 too large", mustHex(t, sigHex+"21 11 ffff"), "more than the 8208 accepted"},
		{"v2 TLV overruns", mustHex(t, sigHex+"21 11 0010 7f000001 7f000001 0001 0002 02 0005 61"), "TLV 0x02 of 5 bytes overruns"},
		{"v2 stray bytes", mustHex(t, sigHex+"21 11 000e 7f000001 7f000001 0001 0002 0200"), "2 stray bytes"},
		{"v2 CRC32C wrong size", mustHex(t, sigHex+"21 11 0011 7f000001 7f000001 0001 0002 03 0002 0000"), "CRC32C TLV of 2 bytes"},
		{"v2 CRC32C mismatch", mustHex(t, sigHex+"21 11 0013 7f000001 7f000001 0001 0002 03 0004 deadbeef"), "does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse(tt.in)
			if tt.want == "" {
				if !errors.Is(err, ErrNotProxy) {
					t.Fatalf("Parse = %v, want ErrNotProxy", err)
				}
				return
			}
			var pe *Error
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse = %v, want an *Error containing %q", err, tt.want)
			}
		})
	}
}

func TestCRC32C(t *testing.T) {
	hdr := mustHex(t, sigHex+"21 11 0013 7f000001 7f000001 0001 0002 03 0004 00000000")
	sum := crc32.Checksum(hdr, crc32.MakeTable(crc32.Castagnoli))
	binary.BigEndian.PutUint32(hdr[len(hdr)-4:], sum)
	h, _, err := Parse(hdr)
	if err != nil {
		t.Fatalf("Parse with a correct CRC32C: %v", err)
	}
	if v, ok := h.TLV(TypeCRC32C); !ok || binary.BigEndian.Uint32(v) != sum {
		t.Errorf("TLV(TypeCRC32C) = %x, %v", v, ok)
	}
}

func TestSniff(t *testing.T) {
	tests := []struct {
		in      string
		version int
		err     error
	}{
		{"", 0, ErrTruncated},
		{"P", 0, ErrTruncated},
		{"PROX", 0, ErrTruncated},
		{"PROXY", 1, nil},
		{"PROXI", 0, ErrNotProxy},
		{"\r\n\r\n\x00", 0, ErrTruncated},
		{v2Sig, 2, nil},
		{"\r\n\r\n\x01", 0, ErrNotProxy},
		{"\x16\x03\x01", 0, ErrNotProxy},
	}
	for _, tt := range tests {
		v, err := Sniff([]byte(tt.in))
		if v != tt.version || !errors.Is(err, tt.err) {
			t.Errorf("Sniff(%q) = %d, %v; want %d, %v", tt.in, v, err, tt.version, tt.err)
		}
	}
}

func TestRead(t *testing.T) {
	v2 := mustHex(t, sigHex+"21 11 000c c0000201 c6336407 c822 01bb")
	bigTLV := appendTLV(nil, TypeNoop, strings.Repeat("x", 3000))
	big := append(mustHex(t, sigHex+"21 11"), 0, 0)
	binary.BigEndian.PutUint16(big[14:], uint16(12+len(bigTLV)))
	big = append(big, v2[16:28]...)
	big = append(big, bigTLV...)
	tests := []struct {
		name     string
		r        io.Reader
		wantRest string
		wantErr  error // matched with errors.Is; nil for success
	}{
		{"v1 then data in one read", strings.NewReader("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nhello"), "hello", nil},
		{"v1 one byte at a time", iotest.OneByteReader(strings.NewReader("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nhello")), "", nil},
		{"v2 then data", bytes.NewReader(append(v2, "data"...)), "data", nil},
		{"v2 one byte at a time", iotest.OneByteReader(bytes.NewReader(v2)), "", nil},
		{"v2 larger than the first buffer", io.MultiReader(bytes.NewReader(big), strings.NewReader("tail")), "", nil},
		{"nothing", strings.NewReader(""), "", io.EOF},
		{"closed inside the header", strings.NewReader("PROXY TCP4 1.2.3.4"), "", io.ErrUnexpectedEOF},
		{"TLS instead", strings.NewReader("\x16\x03\x01\x00"), "", ErrNotProxy},
		{"read error", iotest.ErrReader(iotest.ErrTimeout), "", iotest.ErrTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, rest, err := Read(tt.r)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Read = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if h.Local || !h.Source.IsValid() {
				t.Errorf("header %+v has no source", h)
			}
			if string(rest) != tt.wantRest {
				t.Errorf("rest = %q, want %q", rest, tt.wantRest)
			}
		})
	}
}

func TestReadStalledReader(t *testing.T) {
	_, _, err := Read(zeroReader{})
	if !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("Read from a reader that returns nothing = %v, want io.ErrNoProgress", err)
	}
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

func TestParseSSLMalformed(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"too short", []byte{1, 0, 0}, "want at least 5"},
		{"sub-TLV overruns", mustHex(t, "01 00000000 21 0009 544c53"), "overruns its TLV"},
		{"stray bytes", mustHex(t, "01 00000000 2100"), "2 stray bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseSSL(tt.in); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseSSL = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
