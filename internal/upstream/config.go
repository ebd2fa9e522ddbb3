package upstream

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Target group protocols (Config.Protocol), in ALB's spelling.
const (
	ProtocolHTTP  = "HTTP"
	ProtocolHTTPS = "HTTPS"
)

// Target group protocol versions (Config.Version), in ALB's spelling.
const (
	VersionHTTP1 = "HTTP1"
	VersionHTTP2 = "HTTP2"
	VersionGRPC  = "GRPC"
)

// Defaults applied to zero Config fields.
const (
	// DefaultDialTimeout bounds the TCP connect to a target; past it the request gets 504.
	DefaultDialTimeout = 10 * time.Second
	// DefaultTLSHandshakeTimeout bounds the TLS handshake with a target once TCP is up.
	DefaultTLSHandshakeTimeout = 10 * time.Second
)

// Pooling limits shared by every transport. They are not configurable: they are what a load
// balancer needs, and net/http's defaults (2 idle connections per host) are what a browser needs.
const (
	maxIdleConnsPerHost = 1024
	idleConnTimeout     = 90 * time.Second
	tcpKeepAlive        = 30 * time.Second
	// HTTP/2 connections are pinged after this long without a frame, and dropped when the ping is not
	// answered within h2PingTimeout, so a dead target is noticed before a request is sent to it.
	h2SendPingTimeout = 30 * time.Second
	h2PingTimeout     = 15 * time.Second
	// sessionCacheSize is the number of targets whose TLS sessions a transport remembers.
	sessionCacheSize = 1024
)

// Config describes how to talk to the targets of one target group. It is plain data; Pool.Transport
// compiles it. Zero durations take the defaults above.
type Config struct {
	// Protocol is ProtocolHTTP or ProtocolHTTPS.
	Protocol string
	// Version is VersionHTTP1 (the default when empty), VersionHTTP2 or VersionGRPC.
	Version string

	// ClientCertificate, when set, is presented to targets that ask for one (upstream mutual TLS).
	// HTTPS only.
	ClientCertificate *tls.Certificate
	// RootCAs are the CA certificates target certificates must chain to. Empty means target
	// certificates are not verified, as on ALB. A slice rather than an x509.CertPool so that Key can
	// fingerprint the contents: a pool cannot be enumerated. HTTPS only.
	RootCAs []*x509.Certificate
	// ServerName is sent as SNI and, when RootCAs are set, is the name target certificates must be
	// valid for. Empty means the target's address (an IP address is checked against IP SANs and not
	// sent as SNI). HTTPS only.
	ServerName string

	// DialTimeout bounds the TCP connect (default DefaultDialTimeout).
	DialTimeout time.Duration
	// TLSHandshakeTimeout bounds the TLS handshake (default DefaultTLSHandshakeTimeout).
	TLSHandshakeTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for response headers once the request is written. Zero
	// means no limit: ALB has none either, and the listener's idle timeout governs.
	ResponseHeaderTimeout time.Duration
}

// Key identifies a transport. Two Configs with equal Keys share one transport. It is comparable, so
// it can be a map key, and it holds fingerprints of the certificates, not pointers to them.
type Key struct {
	protocol              string
	version               string
	serverName            string
	clientCertificate     [sha256.Size]byte // zero: none
	rootCAs               [sha256.Size]byte // zero: do not verify
	dialTimeout           time.Duration
	tlsHandshakeTimeout   time.Duration
	responseHeaderTimeout time.Duration
}

// String describes k for logs and test failures, without the fingerprints.
func (k Key) String() string {
	return fmt.Sprintf("%s/%s server_name=%q client_cert=%t verify=%t", k.protocol, k.version, k.serverName,
		k.clientCertificate != [sha256.Size]byte{}, k.rootCAs != [sha256.Size]byte{})
}

// Scheme is the URL scheme requests sent through the transport of c must carry: "https" for HTTPS
// target groups, "http" for HTTP ones (h2c included).
func (c Config) Scheme() string {
	if c.Protocol == ProtocolHTTPS {
		return "https"
	}
	return "http"
}

// withDefaults returns c with every zero field that has a default filled in. It is the only place
// defaults are decided, so Key and the transport agree on them.
func (c Config) withDefaults() Config {
	if c.Version == "" {
		c.Version = VersionHTTP1
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.TLSHandshakeTimeout == 0 {
		c.TLSHandshakeTimeout = DefaultTLSHandshakeTimeout
	}
	return c
}

// Validate reports every problem with c, joined, or nil.
func (c Config) Validate() error {
	var errs []error
	switch c.Protocol {
	case ProtocolHTTP, ProtocolHTTPS:
	default:
		errs = append(errs, fmt.Errorf("protocol %q: want %s or %s", c.Protocol, ProtocolHTTP, ProtocolHTTPS))
	}
	switch c.Version {
	case "", VersionHTTP1, VersionHTTP2, VersionGRPC:
	default:
		errs = append(errs, fmt.Errorf("protocol_version %q: want %s, %s or %s", c.Version, VersionHTTP1, VersionHTTP2, VersionGRPC))
	}
	if c.Protocol != ProtocolHTTPS {
		// Silently ignoring TLS settings on a plain target group would hide a configuration mistake.
		if c.ClientCertificate != nil {
			errs = append(errs, errors.New("client certificate: only for HTTPS target groups"))
		}
		if len(c.RootCAs) > 0 {
			errs = append(errs, errors.New("root CAs: only for HTTPS target groups"))
		}
		if c.ServerName != "" {
			errs = append(errs, errors.New("server name: only for HTTPS target groups"))
		}
	}
	if cc := c.ClientCertificate; cc != nil && (len(cc.Certificate) == 0 || cc.PrivateKey == nil) {
		errs = append(errs, errors.New("client certificate: needs a certificate and its private key"))
	}
	for i, ca := range c.RootCAs {
		if ca == nil || len(ca.Raw) == 0 {
			errs = append(errs, fmt.Errorf("root CAs[%d]: empty certificate", i))
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"dial timeout", c.DialTimeout},
		{"TLS handshake timeout", c.TLSHandshakeTimeout},
		{"response header timeout", c.ResponseHeaderTimeout},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %v: must not be negative", d.name, d.v))
		}
	}
	return errors.Join(errs...)
}

// Key returns the identity of the transport c compiles to.
func (c Config) Key() Key {
	c = c.withDefaults()
	k := Key{
		protocol:              c.Protocol,
		version:               c.Version,
		serverName:            c.ServerName,
		dialTimeout:           c.DialTimeout,
		tlsHandshakeTimeout:   c.TLSHandshakeTimeout,
		responseHeaderTimeout: c.ResponseHeaderTimeout,
	}
	if c.ClientCertificate != nil {
		// The chain identifies the key pair: a certificate binds exactly one public key.
		k.clientCertificate = fingerprint(c.ClientCertificate.Certificate)
	}
	if len(c.RootCAs) > 0 {
		ders := make([][]byte, len(c.RootCAs))
		for i, ca := range c.RootCAs {
			ders[i] = ca.Raw
		}
		// A trust anchor set has no order; a bundle reordered between reloads is the same trust.
		slices.SortFunc(ders, bytes.Compare)
		ders = slices.CompactFunc(ders, bytes.Equal)
		k.rootCAs = fingerprint(ders)
	}
	return k
}

// fingerprint hashes a list of DER blobs, each prefixed with its length so that no two different
// lists hash the same input.
func fingerprint(ders [][]byte) [sha256.Size]byte {
	h := sha256.New()
	var n [8]byte
	for _, der := range ders {
		binary.BigEndian.PutUint64(n[:], uint64(len(der)))
		h.Write(n[:])
		h.Write(der)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}
