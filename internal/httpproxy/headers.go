package httpproxy

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/mtlslb/mtlslb/internal/config"
	"github.com/mtlslb/mtlslb/internal/route"
)

// HeaderNames are the names of the eight headers of alb-compat §3.1 on one listener, after renames.
type HeaderNames struct {
	Clientcert, Serial, Issuer, Subject, Validity, Leaf, TLSVersion, TLSCipherSuite string
}

// DefaultHeaderNames returns ALB's names.
func DefaultHeaderNames() HeaderNames {
	return HeaderNamesFor(config.DefaultHeaderName)
}

// HeaderNamesFor returns the names that name gives for each of the configuration's header keys (a
// listener's HeaderName method, or config.DefaultHeaderName).
func HeaderNamesFor(name func(key string) string) HeaderNames {
	return HeaderNames{
		Clientcert:     name(config.HeaderClientCert),
		Serial:         name(config.HeaderClientCertSerialNumber),
		Issuer:         name(config.HeaderClientCertIssuer),
		Subject:        name(config.HeaderClientCertSubject),
		Validity:       name(config.HeaderClientCertValidity),
		Leaf:           name(config.HeaderClientCertLeaf),
		TLSVersion:     name(config.HeaderTLSVersion),
		TLSCipherSuite: name(config.HeaderTLSCipherSuite),
	}
}

func (n HeaderNames) list() []string {
	return []string{n.Clientcert, n.Serial, n.Issuer, n.Subject, n.Validity, n.Leaf, n.TLSVersion, n.TLSCipherSuite}
}

// Canonical returns n with every name in canonical MIME form, the form the outgoing header map uses.
func (n HeaderNames) Canonical() HeaderNames {
	c := http.CanonicalHeaderKey
	return HeaderNames{c(n.Clientcert), c(n.Serial), c(n.Issuer), c(n.Subject), c(n.Validity), c(n.Leaf), c(n.TLSVersion), c(n.TLSCipherSuite)}
}

// OwnedNames returns every header name a listener with these names owns: ALB's defaults and the renames, so a
// backend that still reads a default name can never be fed a client's copy of it.
func OwnedNames(n HeaderNames) []string {
	var owned []string
	for _, name := range append(DefaultHeaderNames().list(), n.list()...) {
		dup := false
		for _, o := range owned {
			if strings.EqualFold(o, name) {
				dup = true
				break
			}
		}
		if !dup {
			owned = append(owned, http.CanonicalHeaderKey(name))
		}
	}
	return owned
}

// stripOwned deletes every header of h whose name equals an owned name, ignoring case. It looks at every key
// rather than at canonical forms only, because net/http leaves keys it cannot canonicalise as they came.
func stripOwned(h http.Header, owned []string) {
	for k := range h {
		for _, o := range owned {
			if strings.EqualFold(k, o) {
				delete(h, k)
				break
			}
		}
	}
}

// Field is one header to set on every request of a connection.
type Field struct {
	Name  string // canonical
	Value string
	// values is Value as the one-element slice a header map holds, built once per connection (NewConnInfo) so
	// that requests share it instead of allocating it; its capacity is 1, so an append elsewhere copies.
	values []string
}

// MaxHeaderValue is the largest header value mtlslb forwards (alb-compat §3.2); a larger identity value makes
// mtlslb answer 400 rather than forward a request with a header silently dropped.
const MaxHeaderValue = 16 << 10

// ConnInfo is what the proxy needs to know about a connection, computed once when it is accepted (and its
// handshake completes).
type ConnInfo struct {
	TraceID [16]byte
	// Fields are the identity and TLS headers to set, in order.
	Fields []Field
	// Oversize names a header whose value exceeds MaxHeaderValue; every request is then answered 400.
	Oversize string

	// Client is the peer's address; ClientIP and ClientAddr (the IP as text, for X-Forwarded-For) are
	// derived from it once.
	Client     netip.AddrPort
	ClientIP   netip.Addr
	ClientAddr string
	// Port is the listener's port as text (X-Forwarded-Port); set it with SetPort.
	Port       string
	portValues []string
	// ServerName is the TLS SNI the client sent ("" for none or plain HTTP).
	ServerName string
	// TLSVersion and TLSCipher are the negotiated TLS parameters (0 for plain HTTP), for the access log.
	TLSVersion uint16
	TLSCipher  uint16
	// ChosenCert names the server certificate the handshake used, for the access log.
	ChosenCert string
	// Identity is the client-certificate identity that client_certificate conditions read; nil or unverified
	// when the connection has no verified certificate.
	Identity *route.Client
	// Desync yields the desync-mitigation verdict of each HTTP/1 request, in order; nil when not tracked
	// (HTTP/2, or mitigation not wired for this connection).
	Desync DesyncVerdicts
}

// DesyncVerdicts yields, in order, the desync-mitigation verdict of each HTTP/1 request of a connection.
type DesyncVerdicts interface {
	NextVerdict() (DesyncVerdict, bool)
}

// DesyncVerdict is the classification of one request and what the listener's mode makes of it.
type DesyncVerdict struct {
	Class, Reason string
	// Block answers 400 and closes the connection; CloseAfter forwards and then closes.
	Block, CloseAfter bool
}

// SetPort records the listener's port as X-Forwarded-Port will carry it.
func (ci *ConnInfo) SetPort(port string) {
	ci.Port = port
	ci.portValues = []string{port}[:1:1]
}

// SetClient records the peer's address in its three forms.
func (ci *ConnInfo) SetClient(ap netip.AddrPort) {
	ci.Client = ap
	ci.ClientIP = ap.Addr().Unmap()
	ci.ClientAddr = ci.ClientIP.String()
}

// NewConnInfo returns the ConnInfo of a connection with fields, checking the size limit once.
func NewConnInfo(traceID [16]byte, fields []Field) *ConnInfo {
	ci := &ConnInfo{TraceID: traceID, Fields: fields}
	for i := range fields {
		fields[i].values = []string{fields[i].Value}[:1:1]
	}
	for _, f := range fields {
		if len(f.Value) > MaxHeaderValue {
			ci.Oversize = f.Name
			break
		}
	}
	return ci
}
