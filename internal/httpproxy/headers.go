package httpproxy

import (
	"net/http"
	"strings"

	"github.com/mtlslb/mtlslb/internal/config"
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
}

// MaxHeaderValue is the largest header value mtlslb forwards (alb-compat §3.2); a larger identity value makes
// mtlslb answer 400 rather than forward a request with a header silently dropped.
const MaxHeaderValue = 16 << 10

// ConnInfo is what the proxy needs to know about a connection, computed once when its handshake completes.
type ConnInfo struct {
	TraceID [16]byte
	// Fields are the identity and TLS headers to set, in order.
	Fields []Field
	// Oversize names a header whose value exceeds MaxHeaderValue; every request is then answered 400.
	Oversize string
}

// NewConnInfo returns the ConnInfo of a connection with fields, checking the size limit once.
func NewConnInfo(traceID [16]byte, fields []Field) *ConnInfo {
	ci := &ConnInfo{TraceID: traceID, Fields: fields}
	for _, f := range fields {
		if len(f.Value) > MaxHeaderValue {
			ci.Oversize = f.Name
			break
		}
	}
	return ci
}
