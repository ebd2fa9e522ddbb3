package proxyproto

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestAppendV2Golden(t *testing.T) {
	ap := netip.MustParseAddrPort
	tests := []struct {
		name     string
		src, dst netip.AddrPort
		tls      *TLS
		want     string // hex, spaces ignored
	}{
		{
			name: "IPv4",
			src:  ap("192.0.2.1:51234"), dst: ap("198.51.100.7:443"),
			want: sigHex + "21 11 000c c0000201 c6336407 c822 01bb",
		},
		{
			name: "IPv4-mapped addresses are sent as IPv4",
			src:  ap("[::ffff:192.0.2.1]:51234"), dst: ap("198.51.100.7:443"),
			want: sigHex + "21 11 000c c0000201 c6336407 c822 01bb",
		},
		{
			name: "IPv6 client on an IPv4 listener maps the listener's address",
			src:  ap("[2001:db8::1]:80"), dst: ap("127.0.0.1:8443"),
			want: sigHex + "21 21 0024 20010db8000000000000000000000001 00000000000000000000ffff7f000001 0050 20fb",
		},
		{
			name: "TLS without a client certificate",
			src:  ap("127.0.0.2:1000"), dst: ap("127.0.0.1:443"),
			tls: &TLS{Version: "TLSv1.3", Cipher: "TLS_AES_128_GCM_SHA256", ServerName: "a.example"},
			// authority TLV, then SSL: client=SSL, verify=1, version, cipher
			want: sigHex + "21 11 0043 7f000002 7f000001 03e8 01bb" +
				"02 0009 612e6578616d706c65" +
				"20 0028 01 00000001" +
				"21 0007 544c5376312e33" +
				"23 0016 544c535f4145535f3132385f47434d5f534841323536",
		},
		{
			name: "TLS with a verified client certificate",
			src:  ap("127.0.0.2:1000"), dst: ap("127.0.0.1:443"),
			tls: &TLS{Version: "TLSv1.2", ALPN: "h2", CN: "client", ClientCert: []byte{0x30, 0x00}, Verified: true},
			want: sigHex + "21 11 0031 7f000002 7f000001 03e8 01bb" +
				"01 0002 6832" +
				"20 001d 07 00000000" +
				"21 0007 544c5376312e32" +
				"22 0006 636c69656e74" +
				"28 0002 3000",
		},
		{
			name: "TLS with an unverified client certificate",
			src:  ap("127.0.0.2:1000"), dst: ap("127.0.0.1:443"),
			tls: &TLS{ClientCert: []byte{0x30, 0x00}},
			want: sigHex + "21 11 0019 7f000002 7f000001 03e8 01bb" +
				"20 000a 07 00000001" +
				"28 0002 3000",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AppendV2([]byte("prefix"), tt.src, tt.dst, tt.tls)
			if err != nil {
				t.Fatal(err)
			}
			want := append([]byte("prefix"), mustHex(t, tt.want)...)
			if !bytes.Equal(got, want) {
				t.Fatalf("AppendV2:\n got %s\nwant %s", hex.EncodeToString(got), hex.EncodeToString(want))
			}
			// What is written parses back to the same addresses and TLS facts.
			h, n, err := Parse(got[len("prefix"):])
			if err != nil || n != len(got)-len("prefix") {
				t.Fatalf("Parse of our own header: %v (n=%d)", err, n)
			}
			if h.Source.Addr().Unmap() != tt.src.Addr().Unmap() || h.Source.Port() != tt.src.Port() ||
				h.Destination.Addr().Unmap() != tt.dst.Addr().Unmap() {
				t.Errorf("parsed %v → %v, want %v → %v", h.Source, h.Destination, tt.src, tt.dst)
			}
			if tt.tls == nil {
				return
			}
			v, ok := h.TLV(TypeSSL)
			if !ok {
				t.Fatal("no SSL TLV")
			}
			s, err := ParseSSL(v)
			if err != nil {
				t.Fatal(err)
			}
			if s.Version != tt.tls.Version || s.CN != tt.tls.CN || s.Cipher != tt.tls.Cipher ||
				!bytes.Equal(s.ClientCert, tt.tls.ClientCert) || s.Verified() != tt.tls.Verified {
				t.Errorf("SSL TLV %+v does not match %+v", s, tt.tls)
			}
			if sni, _ := h.TLV(TypeAuthority); string(sni) != tt.tls.ServerName {
				t.Errorf("authority %q, want %q", sni, tt.tls.ServerName)
			}
		})
	}
}

func TestAppendV2Errors(t *testing.T) {
	ok := netip.MustParseAddrPort("127.0.0.1:1")
	tests := []struct {
		name     string
		src, dst netip.AddrPort
		tls      *TLS
		want     error
	}{
		{"no source", netip.AddrPort{}, ok, nil, nil},
		{"no destination", ok, netip.AddrPort{}, nil, nil},
		{"certificate too large for a TLV", ok, ok, &TLS{ClientCert: make([]byte, 70000)}, ErrTooLarge},
		{"TLVs too large together", ok, ok, &TLS{ClientCert: make([]byte, 40000), ServerName: strings.Repeat("a", 30000)}, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := AppendV2(nil, tt.src, tt.dst, tt.tls)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) || len(b) != 0 {
				t.Fatalf("AppendV2 = %d bytes, %v; want no bytes and an error (%v)", len(b), err, tt.want)
			}
		})
	}
}

func TestAppendV2Local(t *testing.T) {
	h, n, err := Parse(AppendV2Local(nil))
	if err != nil || n != 16 || !h.Local || h.Version != 2 {
		t.Fatalf("Parse(AppendV2Local) = %+v, %d, %v", h, n, err)
	}
}

func TestAppendV2DoesNotAllocateWithRoom(t *testing.T) {
	src, dst := netip.MustParseAddrPort("127.0.0.2:1000"), netip.MustParseAddrPort("127.0.0.1:443")
	info := &TLS{Version: "TLSv1.3", Cipher: "TLS_AES_128_GCM_SHA256", ServerName: "a.example", CN: "c", ClientCert: make([]byte, 800), Verified: true}
	buf := make([]byte, 0, 2048)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := AppendV2(buf[:0], src, dst, info); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("AppendV2 into a buffer with room: %v allocations, want 0", allocs)
	}
}

func BenchmarkAppendV2(b *testing.B) {
	src, dst := netip.MustParseAddrPort("127.0.0.2:1000"), netip.MustParseAddrPort("127.0.0.1:443")
	info := &TLS{Version: "TLSv1.3", Cipher: "TLS_AES_128_GCM_SHA256", ServerName: "a.example", CN: "c", ClientCert: make([]byte, 800), Verified: true}
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = AppendV2(buf[:0], src, dst, info)
	}
}

func BenchmarkRead(b *testing.B) {
	hdr, _ := AppendV2(nil, netip.MustParseAddrPort("127.0.0.2:1000"), netip.MustParseAddrPort("127.0.0.1:443"), &TLS{Version: "TLSv1.3", CN: "c"})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Read(bytes.NewReader(hdr)); err != nil {
			b.Fatal(err)
		}
	}
}
