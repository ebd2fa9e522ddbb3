package l4

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/mtlslb/mtlslb/internal/proxyproto"
	"github.com/mtlslb/mtlslb/internal/truststore"
)

// verifyStatus maps a TLS handshake's result to its tls_verify_status and the leaf certificate to log. It is the
// mapping of the HTTPS listeners (internal/engine, handshake.go), duplicated because the engine's is unexported
// and the two must agree.
func verifyStatus(err error, cs tls.ConnectionState) (truststore.Status, *x509.Certificate) {
	var leaf *x509.Certificate
	if len(cs.PeerCertificates) > 0 {
		leaf = cs.PeerCertificates[0]
	}
	if err == nil {
		return truststore.StatusSuccess, leaf
	}
	var ve *truststore.VerifyError
	if errors.As(err, &ve) {
		return ve.Result.Status, ve.Result.Leaf
	}
	// crypto/tls parses the client's certificates before VerifyConnection sees them, so the two certificate
	// failures it catches first are recognised by its messages (there is no typed error for them).
	msg := err.Error()
	switch {
	case strings.Contains(msg, "failed to parse client certificate"):
		return truststore.StatusClientCertInvalid, nil
	case strings.Contains(msg, "client sent certificate containing RSA key larger than"):
		return truststore.StatusClientCertTypeUnsupported, nil
	}
	return truststore.StatusUnmappedConnectionError, leaf
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
