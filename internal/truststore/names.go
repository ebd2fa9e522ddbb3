package truststore

import "github.com/mtlslb/mtlslb/internal/x509name"

// namesEqual reports whether two raw DER names match, with the matching
// rules the whole program shares (RFC 5280 §7.1).
func namesEqual(a, b []byte) bool { return x509name.Equal(a, b) }

// nameString renders a raw DER name as RFC 2253 for messages.
func nameString(der []byte) string {
	s, err := x509name.RFC2253(der)
	if err != nil {
		return "(unparseable name)"
	}
	if s == "" {
		return "empty subject"
	}
	return s
}
