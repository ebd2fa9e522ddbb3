package accesslog

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"net/netip"
	"strconv"
	"time"

	"github.com/mtlslb/mtlslb/internal/clientcert"
)

// NoLatency is the HandshakeLatency of a failed handshake, logged as "-".
const NoLatency time.Duration = -1

// ConnRecord is one connection-log record: what is known about a connection
// attempt when its handshake completes or fails. Zero fields are logged as
// "-" (see AppendConnLine).
type ConnRecord struct {
	// Time is when the handshake completed or failed.
	Time time.Time
	// Client is the client's address and port (after a PROXY header).
	Client netip.AddrPort
	// ListenerPort is the port of the listener that accepted the connection.
	ListenerPort uint16
	// TLSVersion and CipherSuite are crypto/tls's codes.
	TLSVersion  uint16
	CipherSuite uint16
	// HandshakeLatency is the duration of the handshake; negative
	// (NoLatency) when the handshake failed.
	HandshakeLatency time.Duration
	// Leaf is the client's leaf certificate, nil when none was presented.
	Leaf *x509.Certificate
	// LeafValues, when not nil, holds the header values already computed
	// for Leaf on this connection (clientcert.Compute): the record reuses
	// their subject, validity and serial instead of formatting Leaf again,
	// which keeps a successful handshake's line free of allocations.
	LeafValues *clientcert.Values
	// Status is the tls_verify_status: "Success" or "Failed:<code>".
	Status string
	// TraceID is the conn_trace_id; the zero TraceID is logged as "-".
	TraceID TraceID
	// KeyExchange is the negotiated group; 0 when none (RSA key exchange,
	// or a handshake that failed before it).
	KeyExchange tls.CurveID
	// ELB is the load balancer's name.
	ELB string
	// Local is the local address that accepted the connection.
	Local netip.Addr
}

// connTimeLayout is ISO 8601 in UTC with microseconds, as ALB writes it.
const connTimeLayout = "2006-01-02T15:04:05.000000Z"

// AppendConnLine appends r to dst as one connection-log line, newline
// included, and returns the extended buffer. The fifteen fields are
// separated by single spaces; a value that is unknown or does not apply is
// "-".
//
// Only field 8, the leaf's subject, is quoted: an RFC 2253 subject may hold
// spaces. Inside the quotes a '"' is written as \" and a '\' as \\, so the
// field ends at the first unescaped '"'; RFC 2253's own escapes are kept
// and therefore appear doubled (a subject CN=a\,b is logged as
// "CN=a\\,b"). Control bytes, which internal/x509name never produces, are
// written as \xHH so that one record is always one line. Without a leaf,
// field 8 is an unquoted "-", telling "no certificate" apart from a
// certificate with an empty subject ("").
//
// Addresses are written in their usual text form, IPv4-mapped IPv6
// addresses (from a dual-stack socket) as plain IPv4.
//
// The free-text fields that come from configuration (ELB, Status) have any
// space or control byte replaced by '_', so that a misconfigured name can
// never shift the fields of the line.
func AppendConnLine(dst []byte, r *ConnRecord) []byte {
	if r.Time.IsZero() {
		dst = append(dst, '-')
	} else {
		dst = r.Time.UTC().AppendFormat(dst, connTimeLayout)
	}

	dst = append(dst, ' ')
	if r.Client.IsValid() {
		dst = r.Client.Addr().Unmap().AppendTo(dst)
		dst = append(dst, ' ')
		dst = strconv.AppendUint(dst, uint64(r.Client.Port()), 10)
	} else {
		dst = append(dst, "- -"...)
	}

	dst = append(dst, ' ')
	dst = appendPort(dst, r.ListenerPort)
	dst = append(dst, ' ')
	dst = appendName(dst, TLSVersionName(r.TLSVersion))
	dst = append(dst, ' ')
	dst = appendName(dst, CipherSuiteName(r.CipherSuite))

	dst = append(dst, ' ')
	if r.HandshakeLatency < 0 {
		dst = append(dst, '-')
	} else {
		dst = strconv.AppendFloat(dst, r.HandshakeLatency.Seconds(), 'f', 3, 64)
	}

	dst = append(dst, ' ')
	dst = appendLeaf(dst, r)

	dst = append(dst, ' ')
	dst = appendField(dst, r.Status)
	dst = append(dst, ' ')
	dst = r.TraceID.appendField(dst)
	dst = append(dst, ' ')
	dst = appendName(dst, KeyExchangeName(r.KeyExchange))
	dst = append(dst, ' ')
	dst = appendField(dst, r.ELB)
	dst = append(dst, ' ')
	if r.Local.IsValid() {
		dst = r.Local.Unmap().AppendTo(dst)
	} else {
		dst = append(dst, '-')
	}
	return append(dst, '\n')
}

// appendLeaf appends fields 8 to 10: subject (quoted), validity and serial.
func appendLeaf(dst []byte, r *ConnRecord) []byte {
	switch {
	case r.LeafValues != nil:
		dst = appendQuoted(dst, r.LeafValues.Subject)
		dst = append(dst, ' ')
		dst = appendField(dst, r.LeafValues.Validity)
		dst = append(dst, ' ')
		return appendField(dst, r.LeafValues.Serial)
	case r.Leaf != nil:
		dst = appendQuoted(dst, clientcert.Subject(r.Leaf))
		dst = append(dst, ' ')
		dst = clientcert.AppendValidity(dst, r.Leaf)
		dst = append(dst, ' ')
		return clientcert.AppendSerial(dst, r.Leaf)
	}
	return append(dst, "- - -"...)
}

func appendPort(dst []byte, p uint16) []byte {
	if p == 0 {
		return append(dst, '-')
	}
	return strconv.AppendUint(dst, uint64(p), 10)
}

// appendName appends a name from this package's tables, "-" when unknown.
func appendName(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, '-')
	}
	return append(dst, s...)
}

// appendField appends an unquoted free-text field: "-" when empty, spaces
// and control bytes replaced by '_'.
func appendField(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, '-')
	}
	for i := range len(s) {
		c := s[i]
		if c <= ' ' || c == 0x7f {
			c = '_'
		}
		dst = append(dst, c)
	}
	return dst
}

// appendQuoted appends s in double quotes, escaped as AppendConnLine
// documents.
func appendQuoted(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	for i := range len(s) {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < ' ' || c == 0x7f:
			dst = append(dst, '\\', 'x', hexDigits[c>>4], hexDigits[c&0x0f])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// TraceID is a connection's conn_trace_id. It is logged as "TID_" followed by
// 32 lower-case hex digits, in the connection log and in the access log of
// every request on the connection.
type TraceID [16]byte

// NewTraceID returns a random TraceID from crypto/rand.
//
// crypto/rand rather than a faster seeded generator: since Go 1.24 it reads
// the kernel's getrandom (vDSO-accelerated on recent Linux) without failing,
// costs well under a microsecond against a handshake's hundreds, needs no
// state shared between goroutines, and makes ids unguessable, so a client
// cannot forge a collision with another connection's id.
func NewTraceID() TraceID {
	var id TraceID
	rand.Read(id[:]) // never returns an error since Go 1.24
	return id
}

// String returns "TID_" followed by 32 lower-case hex digits.
func (id TraceID) String() string {
	return string(id.appendText(nil))
}

// AppendText appends the String form of id to dst; it implements
// encoding.TextAppender.
func (id TraceID) AppendText(dst []byte) ([]byte, error) {
	return id.appendText(dst), nil
}

// MarshalText returns the String form of id; it implements
// encoding.TextMarshaler, for JSON logs.
func (id TraceID) MarshalText() ([]byte, error) {
	return id.appendText(nil), nil
}

func (id TraceID) appendText(dst []byte) []byte {
	dst = append(dst, "TID_"...)
	return hex.AppendEncode(dst, id[:])
}

// appendField appends id as a log field: "-" for the zero id.
func (id TraceID) appendField(dst []byte) []byte {
	if id == (TraceID{}) {
		return append(dst, '-')
	}
	return id.appendText(dst)
}
