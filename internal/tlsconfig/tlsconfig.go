// Package tlsconfig builds the immutable *tls.Config of an HTTPS listener: its server certificates, its
// security policy, and its mutual-authentication mode, with client-certificate verification done by a trust
// store inside VerifyConnection.
//
// Why VerifyConnection and not VerifyPeerCertificate or crypto/tls's own verification: VerifyConnection runs
// on every handshake, resumed ones included, and sees the parsed chain, so one function decides every
// connection, with the statuses of alb-compat §2 rather than crypto/x509's.
package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mtlslb/mtlslb/internal/truststore"
)

// Mode is a listener's mutual-authentication mode.
type Mode uint8

// The modes of alb-compat §1.
const (
	ModeOff Mode = iota
	ModePassthrough
	ModeVerify
	// ModeOptional (beyond ALB) requests a certificate and verifies it when one is given; a client without one
	// completes the handshake unauthenticated and the listener's rules decide what it may reach.
	ModeOptional
)

func (m Mode) String() string {
	switch m {
	case ModePassthrough:
		return "passthrough"
	case ModeVerify:
		return "verify"
	case ModeOptional:
		return "optional"
	}
	return "off"
}

// ParseMode parses a configuration mode name.
func ParseMode(s string) (Mode, error) {
	switch s {
	case "", "off":
		return ModeOff, nil
	case "passthrough":
		return ModePassthrough, nil
	case "verify":
		return ModeVerify, nil
	case "optional":
		return ModeOptional, nil
	}
	return ModeOff, fmt.Errorf("unknown mutual authentication mode %q", s)
}

// Listener is what Build needs to know about a listener.
type Listener struct {
	Certificates []tls.Certificate // the first is the default; others are chosen by SNI
	SSLPolicy    string            // a policy name of Policies; empty means DefaultPolicy
	Mode         Mode
	// TrustStore verifies client chains in ModeVerify.
	TrustStore *truststore.Store
	// IgnoreClientCertificateExpiry accepts expired certificates (never not-yet-valid ones).
	IgnoreClientCertificateExpiry bool
	// AdvertiseCANames puts the trust store's CA subjects in the CertificateRequest.
	AdvertiseCANames bool
	// Now is the verification clock (default time.Now).
	Now func() time.Time
	// NextProtos are the ALPN protocols offered (default http/1.1).
	NextProtos []string
	// Identity, when set, admits only verified certificates it allows; others fail as ClientCertRejected.
	Identity func(leaf *x509.Certificate) bool
}

// Build returns the listener's TLS configuration. The result must not be modified (crypto/tls's rule).
func Build(l Listener) (*tls.Config, error) {
	if len(l.Certificates) == 0 {
		return nil, fmt.Errorf("no server certificate")
	}
	policy, ok := Policies[orDefault(l.SSLPolicy)]
	if !ok {
		return nil, fmt.Errorf("security policy %q is not available (available: %s)", l.SSLPolicy, PolicyNames())
	}
	now := l.Now
	if now == nil {
		now = time.Now
	}
	cfg := &tls.Config{
		Certificates:     l.Certificates,
		MinVersion:       policy.MinVersion,
		MaxVersion:       policy.MaxVersion,
		CipherSuites:     policy.CipherSuites,
		CurvePreferences: policy.Curves,
		NextProtos:       l.NextProtos,
	}
	if cfg.NextProtos == nil {
		cfg.NextProtos = []string{"http/1.1"}
	}
	switch l.Mode {
	case ModeOff:
		cfg.ClientAuth = tls.NoClientCert
	case ModePassthrough:
		// Requested, not required, not verified: the chain goes to the target as the client sent it.
		cfg.ClientAuth = tls.RequestClientCert
		cfg.SessionTicketsDisabled = true
	case ModeVerify, ModeOptional:
		if l.TrustStore == nil {
			return nil, fmt.Errorf("%s mode needs a trust store", l.Mode)
		}
		// RequireAnyClientCert, not RequireAndVerifyClientCert: crypto/tls must not verify on its own (it
		// would refuse with its own reasons and ignore CRLs); the trust store decides in VerifyConnection.
		// Optional mode only requests one; a certificate that is given is verified all the same.
		cfg.ClientAuth = tls.RequireAnyClientCert
		if l.Mode == ModeOptional {
			cfg.ClientAuth = tls.RequestClientCert
		}
		if l.AdvertiseCANames {
			// crypto/tls sends ClientCAs' subjects as certificate_authorities and, with RequireAnyClientCert,
			// uses the pool for nothing else. With "off" ClientCAs stays nil: the list is empty.
			pool := x509.NewCertPool()
			for _, c := range l.TrustStore.CACertificates() {
				pool.AddCert(c)
			}
			cfg.ClientCAs = pool
		}
		// Session resumption would skip the client certificate on later handshakes; until resumption is shown
		// to re-check revocation and trust-store changes (alb-compat §1), every mTLS handshake is a full one.
		cfg.SessionTicketsDisabled = true
		store, ignoreExpiry, identity, optional := l.TrustStore, l.IgnoreClientCertificateExpiry, l.Identity, l.Mode == ModeOptional
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if optional && len(cs.PeerCertificates) == 0 {
				return nil
			}
			res := store.VerifyCertificates(cs.PeerCertificates, truststore.VerifyOptions{
				Now:          now(),
				IgnoreExpiry: ignoreExpiry,
			})
			if res.Status == truststore.StatusSuccess && identity != nil && !identity(cs.PeerCertificates[0]) {
				return &truststore.VerifyError{Result: truststore.Result{
					Status: truststore.StatusClientCertRejected,
					Leaf:   cs.PeerCertificates[0],
					Cert:   0,
					Detail: "certificate 0 (" + cs.PeerCertificates[0].Subject.String() + ") is trusted but matches none of the listener's identity filters",
				}}
			}
			return res.Err()
		}
	default:
		return nil, fmt.Errorf("unknown mode %d", l.Mode)
	}
	return cfg, nil
}

func orDefault(name string) string {
	if name == "" {
		return DefaultPolicy
	}
	return name
}

// HandshakeStatus maps the result of a server handshake built by Build to its tls_verify_status and the leaf
// certificate to log: the one mapping of HTTPS, TLS and TCP-terminating listeners alike.
func HandshakeStatus(err error, cs tls.ConnectionState) (truststore.Status, *x509.Certificate) {
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
