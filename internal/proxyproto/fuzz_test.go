package proxyproto

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
	"testing/iotest"
)

// FuzzParse feeds arbitrary bytes to the decoder of inbound headers: it must never panic, must classify every input
// (header, truncated, not a header, or a malformed *Error), must agree with Read, and a header it accepts must parse
// the same from exactly its own bytes, whose proper prefixes are all truncated.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"PROXY TCP4 192.0.2.1 198.51.100.7 51234 443\r\n",
		"PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\nrest",
		"PROXY UNKNOWN\r\n",
		"\x16\x03\x01\x00\xa5",
		"PROXY \x00",
	} {
		f.Add([]byte(s))
	}
	ap := netip.MustParseAddrPort
	for _, tls := range []*TLS{nil, {Version: "TLSv1.3", ServerName: "x", CN: "y", ClientCert: []byte{1, 2, 3}, Verified: true}} {
		b, _ := AppendV2(nil, ap("127.0.0.2:1"), ap("[::1]:2"), tls)
		f.Add(b)
	}
	f.Add(AppendV2Local(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := Parse(b)
		var pe *Error
		switch {
		case err == nil:
		case errors.Is(err, ErrTruncated), errors.Is(err, ErrNotProxy), errors.As(err, &pe):
			return
		default:
			t.Fatalf("Parse(%q) returned an unclassified error %v", b, err)
		}
		if n <= 0 || n > len(b) || (h.Version != 1 && h.Version != 2) {
			t.Fatalf("Parse(%q) = %+v, n=%d", b, h, n)
		}
		if !h.Local && (!h.Source.IsValid() || !h.Destination.IsValid()) {
			t.Fatalf("Parse(%q): non-local header without addresses: %+v", b, h)
		}
		h2, n2, err := Parse(b[:n])
		if err != nil || n2 != n || h2.Source != h.Source || h2.Destination != h.Destination || !bytes.Equal(h2.RawTLVs, h.RawTLVs) {
			t.Fatalf("Parse of the header's own %d bytes = %+v, %d, %v; want %+v", n, h2, n2, err, h)
		}
		for k := range n {
			if _, _, err := Parse(b[:k]); !errors.Is(err, ErrTruncated) && k > 0 {
				t.Fatalf("Parse of the first %d of %d header bytes = %v, want ErrTruncated", k, n, err)
			}
		}
		for typ, v := range h.TLVs() {
			if typ == TypeSSL {
				_, _ = ParseSSL(v) // must not panic
			}
		}
		rh, rest, err := Read(iotest.HalfReader(bytes.NewReader(b)))
		if err != nil || rh.Source != h.Source || rh.Local != h.Local {
			t.Fatalf("Read disagrees with Parse on %q: %+v, %v; want %+v", b, rh, err, h)
		}
		if !bytes.HasPrefix(b[n:], rest) {
			t.Fatalf("Read returned rest %q, which is not what follows the header", rest)
		}
	})
}

// FuzzParseSSL feeds arbitrary bytes to the SSL TLV decoder, which a backend runs on what a proxy sent.
func FuzzParseSSL(f *testing.F) {
	f.Add([]byte{7, 0, 0, 0, 0, 0x21, 0, 1, 'x'})
	f.Add([]byte{1, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, v []byte) {
		s, err := ParseSSL(v)
		if err == nil && len(s.ClientCert) > len(v) {
			t.Fatalf("client certificate longer than the TLV")
		}
	})
}

// FuzzAppendV2 checks that any addresses and TLS facts make a header that parses back to them.
func FuzzAppendV2(f *testing.F) {
	f.Add([]byte{127, 0, 0, 1}, uint16(1), []byte{127, 0, 0, 2}, uint16(2), "TLSv1.3", "sni", "cn", []byte{0x30}, true)
	f.Add(make([]byte, 16), uint16(0), []byte{1, 2, 3, 4}, uint16(65535), "", "", "", []byte(nil), false)
	f.Fuzz(func(t *testing.T, s []byte, sp uint16, d []byte, dp uint16, version, sni, cn string, cert []byte, verified bool) {
		sa, ok1 := netip.AddrFromSlice(s)
		da, ok2 := netip.AddrFromSlice(d)
		if !ok1 || !ok2 {
			return
		}
		info := &TLS{Version: version, ServerName: sni, CN: cn, ClientCert: cert, Verified: verified}
		b, err := AppendV2(nil, netip.AddrPortFrom(sa, sp), netip.AddrPortFrom(da, dp), info)
		if errors.Is(err, ErrTooLarge) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		h, n, err := Parse(b)
		if len(b) > MaxV2Len {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("a %d-byte header parsed: %v", len(b), err)
			}
			return
		}
		if err != nil || n != len(b) {
			t.Fatalf("Parse(AppendV2) = %v, n=%d of %d", err, n, len(b))
		}
		if h.Source.Addr().Unmap() != sa.Unmap() || h.Source.Port() != sp || h.Destination.Addr().Unmap() != da.Unmap() || h.Destination.Port() != dp {
			t.Fatalf("addresses %v %v, want %v:%d %v:%d", h.Source, h.Destination, sa, sp, da, dp)
		}
		v, _ := h.TLV(TypeSSL)
		ssl, err := ParseSSL(v)
		if err != nil || ssl.Version != version || ssl.CN != cn || !bytes.Equal(ssl.ClientCert, cert) ||
			(cert != nil && ssl.Verified() != verified) {
			t.Fatalf("SSL TLV %+v, %v; want %+v", ssl, err, info)
		}
	})
}
