package l4

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"

	"github.com/mtlslb/mtlslb/internal/proxyproto"
	"github.com/mtlslb/mtlslb/internal/tlsconfig"
	"github.com/mtlslb/mtlslb/internal/truststore"
)

// verifyStatus maps a TLS handshake's result to its tls_verify_status and the leaf certificate to log, as
// every listener does.
func verifyStatus(err error, cs tls.ConnectionState) (truststore.Status, *x509.Certificate) {
	return tlsconfig.HandshakeStatus(err, cs)
}

// handshakeReason says in words why a TLS handshake failed, and whether the client sent a PROXY header instead of a
// ClientHello (worth a warning: it is a forgery, or a proxy the listener was not told to trust).
func handshakeReason(err error, g *generation, peer netip.AddrPort) (string, bool) {
	var rhe tls.RecordHeaderError
	if !errors.As(err, &rhe) {
		return err.Error(), false
	}
	v, serr := proxyproto.Sniff(rhe.RecordHeader[:])
	switch {
	case serr == nil && v == 1, errors.Is(serr, proxyproto.ErrTruncated):
		// Five bytes are "PROXY" (version 1) or the start of the version 2 signature.
		if len(g.trusted) == 0 {
			return fmt.Sprintf("PROXY header from %v, but the listener does not accept the PROXY protocol", peer), true
		}
		return fmt.Sprintf("PROXY header from %v, which is not in the listener's trusted networks", peer), true
	}
	return fmt.Sprintf("not TLS: the first bytes are %q (%v)", rhe.RecordHeader[:], err), false
}
