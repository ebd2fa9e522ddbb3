package proxyproto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"iter"
	"net/netip"
)

// The signatures that open a header. Version 1 is recognised by its first five characters and version 2 by its
// twelve-byte signature, as proxy-protocol.txt §2.2 says a receiver supporting both should.
const (
	v1Sig = "PROXY"
	v2Sig = "\r\n\r\n\x00\r\nQUIT\n"
)

// MaxV1Len is the longest version 1 header, CRLF included (proxy-protocol.txt §2.1).
const MaxV1Len = 107

// MaxV2Len is the longest version 2 header Parse accepts: the 16-byte fixed part and up to 8 KiB of addresses and
// TLVs, room for a client certificate. The protocol allows 64 KiB; a peer that sends more is refused rather than
// allowed to make every connection hold that much memory.
const MaxV2Len = 16 + 8192

// TLV types of version 2 headers (proxy-protocol.txt §2.2).
const (
	TypeALPN      = 0x01
	TypeAuthority = 0x02
	TypeCRC32C    = 0x03
	TypeNoop      = 0x04
	TypeUniqueID  = 0x05
	TypeSSL       = 0x20
	TypeNetNS     = 0x30
)

// Subtypes carried inside a TypeSSL TLV (proxy-protocol.txt §2.2.6). SubtypeSSLGroup, SubtypeSSLSigScheme and
// SubtypeSSLClientCert were registered after HAProxy 2.x; SubtypeSSLClientCert (2026, "the raw X.509 client
// certificate encoded in ASN.1 DER") is what mtlslb sends the verified leaf in.
const (
	SubtypeSSLVersion    = 0x21
	SubtypeSSLCN         = 0x22
	SubtypeSSLCipher     = 0x23
	SubtypeSSLSigAlg     = 0x24
	SubtypeSSLKeyAlg     = 0x25
	SubtypeSSLGroup      = 0x26
	SubtypeSSLSigScheme  = 0x27
	SubtypeSSLClientCert = 0x28
)

// Bits of the client field of a TypeSSL TLV.
const (
	ClientSSL      = 0x01 // the client connected over TLS
	ClientCertConn = 0x02 // it presented a certificate on this connection
	ClientCertSess = 0x04 // it presented one at least once in this TLS session
)

// ErrNotProxy means the bytes do not start with a PROXY protocol signature.
var ErrNotProxy = errors.New("not a PROXY protocol header")

// ErrTruncated means the bytes are a proper prefix of what may still become a header: more are needed.
var ErrTruncated = errors.New("truncated PROXY protocol header")

// Error is a header that starts with a PROXY signature but breaks the protocol's rules.
type Error struct {
	Version int // 1 or 2
	Reason  string
}

// Error reads like "PROXY v2 header: TLV 0x20 of 70 bytes overruns the header".
func (e *Error) Error() string { return fmt.Sprintf("PROXY v%d header: %s", e.Version, e.Reason) }

func v1Error(format string, args ...any) error {
	return &Error{Version: 1, Reason: fmt.Sprintf(format, args...)}
}

func v2Error(format string, args ...any) error {
	return &Error{Version: 2, Reason: fmt.Sprintf(format, args...)}
}

// Header is a parsed PROXY header.
type Header struct {
	// Version is 1 or 2.
	Version int
	// Local is set when the header carries no client address: a version 2 LOCAL command (a proxy's own
	// connection, such as a health check), an UNSPEC address family, or a version 1 "UNKNOWN" line. The
	// connection's own endpoints apply.
	Local bool
	// Source and Destination are the client's address and the address it connected to, when Local is false.
	Source, Destination netip.AddrPort
	// RawTLVs holds a version 2 header's TLVs, their framing checked. It aliases the parsed bytes.
	RawTLVs []byte
}

// TLVs yields the type and value of each TLV of h, in order.
func (h *Header) TLVs() iter.Seq2[byte, []byte] { return tlvs(h.RawTLVs) }

// TLV returns the value of h's first TLV of type t.
func (h *Header) TLV(t byte) ([]byte, bool) { return findTLV(h.RawTLVs, t) }

// tlvs iterates a TLV list whose framing was checked by checkTLVs (or stops at the first bad entry).
func tlvs(p []byte) iter.Seq2[byte, []byte] {
	return func(yield func(byte, []byte) bool) {
		for len(p) >= 3 {
			n := int(binary.BigEndian.Uint16(p[1:3]))
			if len(p)-3 < n {
				return
			}
			if !yield(p[0], p[3:3+n]) {
				return
			}
			p = p[3+n:]
		}
	}
}

func findTLV(p []byte, t byte) ([]byte, bool) {
	for typ, v := range tlvs(p) {
		if typ == t {
			return v, true
		}
	}
	return nil, false
}

// Sniff reports whether b starts with a PROXY signature and of which version (1 or 2). It returns ErrTruncated when
// b is too short to tell and ErrNotProxy when it cannot be one.
func Sniff(b []byte) (int, error) {
	if n := min(len(b), len(v1Sig)); string(b[:n]) == v1Sig[:n] && n > 0 {
		if n < len(v1Sig) {
			return 0, ErrTruncated
		}
		return 1, nil
	}
	if n := min(len(b), len(v2Sig)); string(b[:n]) == v2Sig[:n] {
		if n < len(v2Sig) {
			return 0, ErrTruncated
		}
		return 2, nil
	}
	return 0, ErrNotProxy
}

// Parse parses the header at the start of b and returns it with its length in bytes. It returns ErrTruncated when b
// ends before the header does, ErrNotProxy when b does not start with a signature, and an *Error when the header is
// malformed. The header's RawTLVs alias b.
func Parse(b []byte) (Header, int, error) {
	v, err := Sniff(b)
	if err != nil {
		return Header{}, 0, err
	}
	if v == 1 {
		return parseV1(b)
	}
	return parseV2(b)
}

// parseV1 parses "PROXY TCP4 192.0.2.1 198.51.100.7 51234 443\r\n" and its TCP6 and UNKNOWN forms.
func parseV1(b []byte) (Header, int, error) {
	end := -1
	for i := len(v1Sig); i < min(len(b), MaxV1Len); i++ {
		c := b[i]
		switch {
		case c == '\n' && b[i-1] == '\r':
			end = i + 1
		case c == '\r' && (i+1 == len(b) || b[i+1] == '\n'):
			// The CR of the CRLF, or the last byte so far.
		case c < ' ' || c > '~':
			// Rejecting a non-printable byte at once, instead of waiting for 107 bytes, refuses binary garbage
			// that happens to start with "PROXY" as soon as it shows.
			return Header{}, 0, v1Error("byte 0x%02x at offset %d: the line must be printable ASCII", c, i)
		}
		if end > 0 {
			break
		}
	}
	if end < 0 {
		if len(b) >= MaxV1Len {
			return Header{}, 0, v1Error("no CRLF within %d bytes", MaxV1Len)
		}
		return Header{}, 0, ErrTruncated
	}
	line := string(b[len(v1Sig) : end-2])
	rest, ok := cutPrefix(line, " ")
	if !ok {
		return Header{}, 0, v1Error("%q: want a space after PROXY", line)
	}
	h := Header{Version: 1}
	var want func(netip.Addr) bool
	switch {
	case rest == "UNKNOWN" || len(rest) > 8 && rest[:8] == "UNKNOWN ":
		// The sender does not know the addresses; the rest of the line is to be ignored (§2.1).
		h.Local = true
		return h, end, nil
	case len(rest) > 5 && rest[:5] == "TCP4 ":
		want = netip.Addr.Is4
	case len(rest) > 5 && rest[:5] == "TCP6 ":
		want = netip.Addr.Is6
	default:
		return Header{}, 0, v1Error("%q: the protocol must be TCP4, TCP6 or UNKNOWN", line)
	}
	var f [4]string
	rest = rest[5:]
	for i := range f {
		var more bool
		f[i], rest, more = cutByte(rest, ' ')
		if f[i] == "" || more != (i < 3) {
			return Header{}, 0, v1Error("%q: want two addresses and two ports separated by single spaces", line)
		}
	}
	src, err1 := netip.ParseAddr(f[0])
	dst, err2 := netip.ParseAddr(f[1])
	if err1 != nil || err2 != nil || !want(src) || !want(dst) || src.Zone() != "" || dst.Zone() != "" {
		return Header{}, 0, v1Error("%q: addresses do not match the protocol", line)
	}
	sp, ok1 := parsePort(f[2])
	dp, ok2 := parsePort(f[3])
	if !ok1 || !ok2 {
		return Header{}, 0, v1Error("%q: ports must be decimal numbers 0–65535", line)
	}
	h.Source, h.Destination = netip.AddrPortFrom(src, sp), netip.AddrPortFrom(dst, dp)
	return h, end, nil
}

func cutPrefix(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):], true
	}
	return s, false
}

func cutByte(s string, sep byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func parsePort(s string) (uint16, bool) {
	if len(s) == 0 || len(s) > 5 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	if n > 65535 {
		return 0, false
	}
	return uint16(n), true
}

// Version 2 commands and address families (proxy-protocol.txt §2.2).
const (
	cmdLocal = 0x0
	cmdProxy = 0x1

	famUnspec = 0x00
	famTCP4   = 0x11
	famUDP4   = 0x12
	famTCP6   = 0x21
	famUDP6   = 0x22
	famUnixS  = 0x31
	famUnixD  = 0x32
)

func parseV2(b []byte) (Header, int, error) {
	if len(b) < 16 {
		return Header{}, 0, ErrTruncated
	}
	if v := b[12] >> 4; v != 2 {
		return Header{}, 0, v2Error("version %d after the version 2 signature", v)
	}
	cmd, fam := b[12]&0x0f, b[13]
	if cmd != cmdLocal && cmd != cmdProxy {
		return Header{}, 0, v2Error("unknown command 0x%x", cmd)
	}
	switch fam {
	case famUnspec, famTCP4, famUDP4, famTCP6, famUDP6, famUnixS, famUnixD:
	default:
		// The spec says undefined values "must be rejected as invalid by receivers", LOCAL included.
		return Header{}, 0, v2Error("undefined address family and transport 0x%02x", fam)
	}
	total := 16 + int(binary.BigEndian.Uint16(b[14:16]))
	if total > MaxV2Len {
		return Header{}, 0, v2Error("%d bytes, more than the %d accepted", total, MaxV2Len)
	}
	if len(b) < total {
		return Header{}, 0, ErrTruncated
	}
	hdr := b[:total]
	h := Header{Version: 2}
	if cmd == cmdLocal || fam == famUnspec {
		// LOCAL: the proxy's own connection; UNSPEC: addresses the receiver should ignore. The address block
		// is skipped whatever it holds, as the spec requires.
		h.Local = true
		return h, total, nil
	}
	var addrLen int
	switch fam {
	case famTCP4:
		addrLen = 12
	case famTCP6:
		addrLen = 36
	case famUDP4, famUDP6:
		return Header{}, 0, v2Error("address family 0x%02x is UDP; a TCP listener cannot use it", fam)
	default:
		return Header{}, 0, v2Error("address family 0x%02x is a UNIX socket; a TCP listener cannot use it", fam)
	}
	if total-16 < addrLen {
		return Header{}, 0, v2Error("length %d is shorter than the %d-byte address block", total-16, addrLen)
	}
	a := hdr[16 : 16+addrLen]
	if fam == famTCP4 {
		h.Source = netip.AddrPortFrom(netip.AddrFrom4([4]byte(a[0:4])), binary.BigEndian.Uint16(a[8:10]))
		h.Destination = netip.AddrPortFrom(netip.AddrFrom4([4]byte(a[4:8])), binary.BigEndian.Uint16(a[10:12]))
	} else {
		h.Source = netip.AddrPortFrom(netip.AddrFrom16([16]byte(a[0:16])), binary.BigEndian.Uint16(a[32:34]))
		h.Destination = netip.AddrPortFrom(netip.AddrFrom16([16]byte(a[16:32])), binary.BigEndian.Uint16(a[34:36]))
	}
	h.RawTLVs = hdr[16+addrLen:]
	if err := checkTLVs(hdr, 16+addrLen); err != nil {
		return Header{}, 0, err
	}
	return h, total, nil
}

// checkTLVs checks the framing of the TLVs of hdr starting at off and verifies any CRC32C TLV.
func checkTLVs(hdr []byte, off int) error {
	for p := off; p < len(hdr); {
		if len(hdr)-p < 3 {
			return v2Error("%d stray bytes after the last TLV", len(hdr)-p)
		}
		t, n := hdr[p], int(binary.BigEndian.Uint16(hdr[p+1:p+3]))
		if len(hdr)-p-3 < n {
			return v2Error("TLV 0x%02x of %d bytes overruns the header", t, n)
		}
		if t == TypeCRC32C {
			if n != 4 {
				return v2Error("CRC32C TLV of %d bytes, want 4", n)
			}
			if got, want := binary.BigEndian.Uint32(hdr[p+3:p+7]), crc32c(hdr, p+3); got != want {
				return v2Error("CRC32C %08x does not match the header's %08x", got, want)
			}
		}
		p += 3 + n
	}
	return nil
}

// crc32c is the checksum of hdr with the four bytes at off taken as zeros (proxy-protocol.txt §2.2.3).
func crc32c(hdr []byte, off int) uint32 {
	tab := crc32.MakeTable(crc32.Castagnoli) // cached by hash/crc32 after the first call
	var zero [4]byte
	sum := crc32.Update(0, tab, hdr[:off])
	sum = crc32.Update(sum, tab, zero[:])
	return crc32.Update(sum, tab, hdr[off+4:])
}

// SSL is the content of a TypeSSL TLV.
type SSL struct {
	// Client holds the ClientSSL, ClientCertConn and ClientCertSess bits.
	Client byte
	// Verify is 0 when the client presented a certificate and it was verified, non-zero otherwise.
	Verify uint32
	// Version, CN, Cipher, SigAlg and KeyAlg are the string subtypes; empty when absent.
	Version, CN, Cipher, SigAlg, KeyAlg string
	// ClientCert is the DER of the client's certificate (SubtypeSSLClientCert), nil when absent. It aliases the
	// parsed bytes.
	ClientCert []byte
}

// Verified reports whether the client presented a certificate on the connection and it was verified.
func (s SSL) Verified() bool { return s.Client&ClientCertConn != 0 && s.Verify == 0 }

// ParseSSL parses the value of a TypeSSL TLV.
func ParseSSL(v []byte) (SSL, error) {
	if len(v) < 5 {
		return SSL{}, v2Error("SSL TLV of %d bytes, want at least 5", len(v))
	}
	s := SSL{Client: v[0], Verify: binary.BigEndian.Uint32(v[1:5])}
	sub := v[5:]
	for p := 0; p < len(sub); {
		if len(sub)-p < 3 {
			return SSL{}, v2Error("%d stray bytes after the last SSL sub-TLV", len(sub)-p)
		}
		t, n := sub[p], int(binary.BigEndian.Uint16(sub[p+1:p+3]))
		if len(sub)-p-3 < n {
			return SSL{}, v2Error("SSL sub-TLV 0x%02x of %d bytes overruns its TLV", t, n)
		}
		val := sub[p+3 : p+3+n]
		switch t {
		case SubtypeSSLVersion:
			s.Version = string(val)
		case SubtypeSSLCN:
			s.CN = string(val)
		case SubtypeSSLCipher:
			s.Cipher = string(val)
		case SubtypeSSLSigAlg:
			s.SigAlg = string(val)
		case SubtypeSSLKeyAlg:
			s.KeyAlg = string(val)
		case SubtypeSSLClientCert:
			s.ClientCert = val
		}
		p += 3 + n
	}
	return s, nil
}
