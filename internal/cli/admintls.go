package cli

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	adminapi "github.com/mtlslb/mtlslb/internal/admin"
	"github.com/mtlslb/mtlslb/internal/clientcert"
	"github.com/mtlslb/mtlslb/internal/listen"
	"github.com/mtlslb/mtlslb/internal/tlsconfig"
	"github.com/mtlslb/mtlslb/internal/truststore"
)

// adminTLSFlags are serve's --admin-tls-cert, --admin-tls-key and --admin-client-ca: the admin API's own
// server certificate and its own trust store, apart from every listener's.
type adminTLSFlags struct {
	cert, key, clientCA string
}

// adminTLSHint names the flags that turn mTLS on, for every message that asks for them.
const adminTLSHint = "--admin-tls-cert FILE, --admin-tls-key FILE and --admin-client-ca FILE"

// enabled reports whether the admin API is to be served over mTLS. Some of the flags without the others is
// a usage error: serving the API without the client check, or without TLS, would be the quiet wrong guess.
func (a adminTLSFlags) enabled() (bool, error) {
	var given, missing []string
	for _, f := range []struct{ name, value string }{
		{"--admin-tls-cert", a.cert}, {"--admin-tls-key", a.key}, {"--admin-client-ca", a.clientCA},
	} {
		if f.value != "" {
			given = append(given, f.name)
		} else {
			missing = append(missing, f.name)
		}
	}
	switch len(given) {
	case 0:
		return false, nil
	case 3:
		return true, nil
	}
	return false, usageError{fmt.Errorf("the admin API over mTLS needs all of %s: %s given without %s",
		adminTLSHint, strings.Join(given, ", "), strings.Join(missing, ", "))}
}

// checkAdminAddress refuses an admin address that is not loopback unless the admin API requires client
// certificates: whoever reaches the admin API decides what every listener trusts.
func checkAdminAddress(addr string, mTLS bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return usageError{fmt.Errorf("--admin-address %q: %w", addr, err)}
	}
	if mTLS || isLoopbackHost(host) {
		return nil
	}
	return usageError{fmt.Errorf("--admin-address %q is not a loopback address: remote admin access requires mTLS; give %s (or use 127.0.0.1:PORT)", addr, adminTLSHint)}
}

// isLoopbackHost reports whether host names the loopback interface. An empty host (":9901") is every
// interface, and a name other than localhost could resolve anywhere: neither is loopback.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// adminTLS is the admin API's TLS material, read once at start.
type adminTLS struct {
	config *tls.Config
	store  *truststore.Store
}

// loadAdminTLS reads the server certificate, its key and the admin trust store's CA bundle. The bundle
// follows ALB's bundle rules, as every trust store's does, and the resulting configuration is the data
// path's verify mode (tlsconfig.Build): the same policy (TLS 1.2 at least), no session tickets, and
// verification in VerifyConnection with the statuses of the connection log.
func loadAdminTLS(a adminTLSFlags) (*adminTLS, error) {
	pair, err := loadKeyPair("--admin-tls-cert", a.cert, "--admin-tls-key", a.key)
	if err != nil {
		return nil, err
	}
	bundle, err := os.ReadFile(a.clientCA)
	if err != nil {
		return nil, fmt.Errorf("--admin-client-ca: %w", err)
	}
	store, err := truststore.New(truststore.Config{Name: "admin", Bundle: bundle, BundleSource: a.clientCA})
	if err != nil {
		return nil, fmt.Errorf("--admin-client-ca: %w", err)
	}
	cfg, err := tlsconfig.Build(tlsconfig.Listener{
		Certificates: []tls.Certificate{pair},
		Mode:         tlsconfig.ModeVerify,
		TrustStore:   store,
		// HTTP/1.1 only: the admin API is a handful of small requests, and the listener hands net/http
		// connections whose handshake is already done, so h2 would need wiring of its own for no gain.
		NextProtos: []string{"http/1.1"},
	})
	if err != nil {
		return nil, fmt.Errorf("admin API TLS: %w", err)
	}
	return &adminTLS{config: cfg, store: store}, nil
}

// listen wraps ln so that it yields only connections whose client certificate the admin trust store
// accepted. Handshakes run under a deadline on goroutines of their own (internal/listen), so a client that
// stalls cannot hold up the next, and every refusal is logged once, here.
func (a *adminTLS) listen(ln net.Listener, log *slog.Logger) net.Listener {
	return listen.New(ln, listen.Options{
		Setup: func(*listen.Conn) *tls.Config { return a.config },
		Done: func(h listen.Handshake) bool {
			if h.Err != nil {
				refuseAdminConn(h, log)
				return false
			}
			if leaf := adminLeaf(h.TLS.ConnectionState()); leaf != nil {
				log.Debug("admin API client authenticated", "client", h.Conn.RemoteAddr().String(), "client_subject", clientcert.Subject(leaf))
			}
			return true
		},
	})
}

// refuseAdminConn logs a failed admin handshake with the status the connection log would give it. A plain
// HTTP request gets an answer in the admin API's error format first, so that curl or an older mtlslb says
// what is wrong instead of "connection reset".
func refuseAdminConn(h listen.Handshake, log *slog.Logger) {
	client := h.Conn.RemoteAddr().String()
	var rhe tls.RecordHeaderError
	if errors.As(h.Err, &rhe) && rhe.Conn != nil && looksLikeHTTP(rhe.RecordHeader) {
		log.Warn("admin API refused a plain HTTP request: it is served over TLS with client certificates", "client", client)
		answerPlainHTTP(rhe.Conn)
		return
	}
	status, leaf, reason := adminHandshakeOutcome(h)
	attrs := []any{"client", client, "tls_verify_status", status.String()}
	if leaf != nil {
		attrs = append(attrs, "client_subject", clientcert.Subject(leaf), "client_serial", clientcert.Serial(leaf))
	}
	attrs = append(attrs, "reason", reason)
	log.Warn("admin API refused a connection", attrs...)
}

// adminHandshakeOutcome maps a failed handshake to its tls_verify_status, the leaf to name and the reason
// in words. Failures the trust store did not decide (no certificate, a protocol error, a timeout) are
// UnmappedConnectionError, as on the data path.
func adminHandshakeOutcome(h listen.Handshake) (truststore.Status, *x509.Certificate, string) {
	var ve *truststore.VerifyError
	if errors.As(h.Err, &ve) {
		return ve.Result.Status, ve.Result.Leaf, ve.Result.Detail
	}
	return truststore.StatusUnmappedConnectionError, adminLeaf(h.TLS.ConnectionState()), h.Err.Error()
}

func adminLeaf(cs tls.ConnectionState) *x509.Certificate {
	if len(cs.PeerCertificates) == 0 {
		return nil
	}
	return cs.PeerCertificates[0]
}

// looksLikeHTTP reports whether the first five bytes of a connection are the start of an HTTP request
// (net/http's test, with the admin API's other methods).
func looksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "DELET", "PATCH", "OPTIO":
		return true
	}
	return false
}

// plainHTTPMessage tells a plain-HTTP client how to reach the admin API.
const plainHTTPMessage = "this admin API is served over TLS and requires a client certificate: use https:// with one " +
	"(mtlslb: --admin https://HOST:PORT --admin-cert FILE --admin-key FILE --admin-ca FILE)"

// answerPlainHTTP writes a 400 in the admin API's error format and closes the write side, then reads what
// is left of the request (briefly, boundedly) so that closing does not reset the connection before the
// client has read the answer.
func answerPlainHTTP(c net.Conn) {
	var body adminapi.ErrorBody
	body.Error.Code, body.Error.Message = "TLSRequired", plainHTTPMessage
	data, _ := json.Marshal(body) // a struct of two strings always encodes
	_ = c.SetDeadline(time.Now().Add(time.Second))
	_, err := fmt.Fprintf(c, "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(data), data)
	if err != nil {
		return
	}
	if cw, ok := netConn(c).(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(c, 64<<10))
}

// netConn unwraps listen.Conn, whose embedded connection is the one that can half-close.
func netConn(c net.Conn) net.Conn {
	if lc, ok := c.(*listen.Conn); ok {
		return lc.Conn
	}
	return c
}

// loadKeyPair reads a certificate and its key from files given by two flags; errors name the flag and file.
func loadKeyPair(certFlag, certPath, keyFlag, keyPath string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s: %w", certFlag, err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s: %w", keyFlag, err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s %s with %s %s: %w", certFlag, certPath, keyFlag, keyPath, err)
	}
	return pair, nil
}
