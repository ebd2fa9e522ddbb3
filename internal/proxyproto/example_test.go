package proxyproto_test

import (
	"bytes"
	"fmt"
	"net/netip"

	"github.com/mtlslb/mtlslb/internal/proxyproto"
)

// A proxy writes a version 2 header before a forwarded connection's first byte; the next hop reads it back, with
// whatever data arrived behind it.
func Example() {
	client := netip.MustParseAddrPort("192.0.2.10:51234")
	listener := netip.MustParseAddrPort("198.51.100.7:443")
	hdr, err := proxyproto.AppendV2(nil, client, listener, &proxyproto.TLS{
		Version: "TLSv1.3", ServerName: "api.example", CN: "partner-1", ClientCert: []byte{0x30, 0x00}, Verified: true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	conn := bytes.NewReader(append(hdr, "GET / HTTP/1.1\r\n"...))

	h, rest, err := proxyproto.Read(conn)
	if err != nil {
		fmt.Println(err)
		return
	}
	sni, _ := h.TLV(proxyproto.TypeAuthority)
	v, _ := h.TLV(proxyproto.TypeSSL)
	ssl, err := proxyproto.ParseSSL(v)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(h.Source, h.Destination, string(sni))
	fmt.Println(ssl.Version, ssl.CN, ssl.Verified(), len(ssl.ClientCert))
	fmt.Printf("%q\n", rest)
	// Output:
	// 192.0.2.10:51234 198.51.100.7:443 api.example
	// TLSv1.3 partner-1 true 2
	// "GET / HTTP/1.1\r\n"
}
