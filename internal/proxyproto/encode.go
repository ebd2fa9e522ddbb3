package proxyproto

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
)

// ErrTooLarge is returned by AppendV2 when the TLVs would make the header longer than the 64 KiB the protocol's
// 16-bit length allows.
var ErrTooLarge = errors.New("PROXY v2 header: TLVs exceed 65535 bytes")

// TLS is what a TLS listener tells a target about the client's TLS connection: the TLVs of HAProxy's
// send-proxy-v2-ssl and send-proxy-v2-ssl-cn, with the client certificate's DER in SubtypeSSLClientCert.
type TLS struct {
	// Version is the protocol in OpenSSL's spelling ("TLSv1.3"), as HAProxy sends it.
	Version string
	// Cipher is the cipher suite's OpenSSL name.
	Cipher string
	// ServerName is the SNI the client sent, sent as TypeAuthority; empty for none.
	ServerName string
	// ALPN is the negotiated application protocol, sent as TypeALPN; empty for none.
	ALPN string
	// CN is the common name of the client certificate's subject, empty for none.
	CN string
	// ClientCert is the DER of the client's leaf certificate, nil when the client presented none.
	ClientCert []byte
	// Verified is set when ClientCert was verified against the listener's trust store: the SSL TLV's verify
	// field is then 0, otherwise 1.
	Verified bool
}

// AppendV2 appends a version 2 PROXY header to b: command PROXY, TCP over IPv4 when both addresses are IPv4
// (IPv4-mapped IPv6 addresses count as IPv4), else TCP over IPv6 with IPv4 addresses mapped. src is the client, dst
// the address it connected to. When t is not nil the header carries t's TLVs. It allocates only if b lacks room.
func AppendV2(b []byte, src, dst netip.AddrPort, t *TLS) ([]byte, error) {
	if !src.Addr().IsValid() || !dst.Addr().IsValid() {
		return b, errors.New("PROXY v2 header: source and destination addresses are required")
	}
	s, d := src.Addr().Unmap(), dst.Addr().Unmap()
	fam, addrLen := byte(famTCP6), 36
	if s.Is4() && d.Is4() {
		fam, addrLen = famTCP4, 12
	}
	tlvLen, sslLen := tlvSizes(t)
	if addrLen+tlvLen > 0xffff || sslLen > 0xffff {
		return b, ErrTooLarge
	}
	b = slices.Grow(b, 16+addrLen+tlvLen)
	b = append(b, v2Sig...)
	b = append(b, 0x20|cmdProxy, fam)
	b = binary.BigEndian.AppendUint16(b, uint16(addrLen+tlvLen))
	if fam == famTCP4 {
		s4, d4 := s.As4(), d.As4()
		b = append(b, s4[:]...)
		b = append(b, d4[:]...)
	} else {
		s16, d16 := s.As16(), d.As16()
		b = append(b, s16[:]...)
		b = append(b, d16[:]...)
	}
	b = binary.BigEndian.AppendUint16(b, src.Port())
	b = binary.BigEndian.AppendUint16(b, dst.Port())
	if t == nil {
		return b, nil
	}
	// The order of HAProxy's make_proxy_line_v2: ALPN, authority, then SSL with its version, CN and cipher.
	if t.ALPN != "" {
		b = appendTLV(b, TypeALPN, t.ALPN)
	}
	if t.ServerName != "" {
		b = appendTLV(b, TypeAuthority, t.ServerName)
	}
	b = append(b, TypeSSL)
	b = binary.BigEndian.AppendUint16(b, uint16(sslLen))
	client, verify := byte(ClientSSL), uint32(1)
	if t.ClientCert != nil {
		// Session resumption is off on mtlslb's mTLS listeners, so a certificate seen in the session is the one
		// seen on this connection.
		client |= ClientCertConn | ClientCertSess
		if t.Verified {
			verify = 0
		}
	}
	b = append(b, client)
	b = binary.BigEndian.AppendUint32(b, verify)
	if t.Version != "" {
		b = appendTLV(b, SubtypeSSLVersion, t.Version)
	}
	if t.CN != "" {
		b = appendTLV(b, SubtypeSSLCN, t.CN)
	}
	if t.Cipher != "" {
		b = appendTLV(b, SubtypeSSLCipher, t.Cipher)
	}
	if t.ClientCert != nil {
		b = appendTLV(b, SubtypeSSLClientCert, t.ClientCert)
	}
	return b, nil
}

// AppendV2Local appends a version 2 header with the LOCAL command and no address: the connection is the proxy's own
// (a health check), and the receiver uses its real endpoints.
func AppendV2Local(b []byte) []byte {
	b = append(b, v2Sig...)
	return append(b, 0x20|cmdLocal, famUnspec, 0, 0)
}

// tlvSizes returns the bytes of t's TLVs in all and the length of the SSL TLV's value.
func tlvSizes(t *TLS) (all, ssl int) {
	if t == nil {
		return 0, 0
	}
	opt := func(s string) int {
		if s == "" {
			return 0
		}
		return 3 + len(s)
	}
	ssl = 5 + opt(t.Version) + opt(t.CN) + opt(t.Cipher)
	if t.ClientCert != nil {
		ssl += 3 + len(t.ClientCert)
	}
	// A TLV value is at most 65535 bytes, so a longer string makes the header too large whatever the total.
	for _, n := range []int{len(t.ALPN), len(t.ServerName), len(t.Version), len(t.CN), len(t.Cipher), len(t.ClientCert)} {
		if n > 0xffff {
			return 1 << 20, 1 << 20
		}
	}
	return opt(t.ALPN) + opt(t.ServerName) + 3 + ssl, ssl
}

func appendTLV[V string | []byte](b []byte, t byte, v V) []byte {
	b = append(b, t)
	b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
	return append(b, v...)
}
