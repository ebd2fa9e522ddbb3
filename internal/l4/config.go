package l4

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/mtlslb/mtlslb/internal/accesslog"
	"github.com/mtlslb/mtlslb/internal/metrics"
	"github.com/mtlslb/mtlslb/internal/tlsconfig"
)

// Protocol is a layer-4 listener's protocol.
type Protocol uint8

// The listener protocols of alb-compat §9.
const (
	// ProtocolTCP forwards the client's bytes untouched.
	ProtocolTCP Protocol = iota
	// ProtocolTLS terminates TLS and forwards the plain stream.
	ProtocolTLS
)

// ParseProtocol reads a listener protocol of the configuration document ("TCP", "TLS").
func ParseProtocol(s string) (Protocol, error) {
	switch s {
	case "TCP":
		return ProtocolTCP, nil
	case "TLS":
		return ProtocolTLS, nil
	}
	return 0, fmt.Errorf("layer-4 protocol %q: must be TCP or TLS", s)
}

// String returns the document's name of p.
func (p Protocol) String() string {
	if p == ProtocolTLS {
		return "TLS"
	}
	return "TCP"
}

// Defaults of Config's zero durations.
const (
	// DefaultIdleTimeout is NLB's TCP idle timeout. The configuration allows 60–6000 s; Config accepts any
	// positive duration so that tests can use short ones.
	DefaultIdleTimeout = 350 * time.Second
	// DefaultHandshakeTimeout bounds reading a PROXY header and the TLS handshake, as internal/listen does for
	// HTTPS listeners.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultConnectTimeout bounds connecting to a target: NLB's fixed 10 seconds.
	DefaultConnectTimeout = 10 * time.Second
)

// Config is one generation of a layer-4 listener. It is read, never modified, once given to New or Update.
type Config struct {
	// ELB is the load balancer's name, for the connection log.
	ELB string
	// Protocol is TCP or TLS.
	Protocol Protocol
	// TLS is the listener's TLS configuration (TLS listeners only), built by internal/tlsconfig: certificates,
	// security policy, client-certificate verification and identity filters. It is used as is, never modified.
	TLS *tls.Config
	// Mode is TLS's mutual-authentication mode; it decides whether a client certificate counts as verified in the
	// PROXY v2 SSL TLV.
	Mode tlsconfig.Mode
	// IdleTimeout closes a connection on which no byte moved in either direction for this long (default 350 s).
	IdleTimeout time.Duration
	// HandshakeTimeout bounds reading a PROXY header and the TLS handshake (default 10 s).
	HandshakeTimeout time.Duration
	// ConnectTimeout bounds connecting to a target (default 10 s).
	ConnectTimeout time.Duration
	// ProxyTrusted are the networks whose PROXY headers the listener believes. Connections from them must start
	// with one; on a TCP listener that has any, a connection from elsewhere whose first bytes are a PROXY
	// signature is refused (on TLS listeners such bytes fail the handshake). Empty: no PROXY protocol at all, the
	// bytes are the client's.
	ProxyTrusted []netip.Prefix
	// Group is the target group connections are forwarded to. Required.
	Group *TargetGroup
	// ConnLog receives one connection-log line per connection; nil turns the log off.
	ConnLog *accesslog.Writer
	// Metrics receives the listener's connection, handshake, refusal, target-error and byte counts, resolved once
	// for this generation by metrics.Metrics.Layer4Listener (nil: nothing is recorded).
	Metrics *metrics.Layer4Metrics
	// Logger receives refusals and failures with their reasons (nil: discarded).
	Logger *slog.Logger
	// Now is the clock of log records (default time.Now). Deadlines use the runtime's clock.
	Now func() time.Time
	// NewTraceID returns a connection's conn_trace_id (default accesslog.NewTraceID).
	NewTraceID func() accesslog.TraceID
}

// generation is a Config with its defaults applied and what connections need compiled once.
type generation struct {
	cfg      Config
	trusted  []netip.Prefix
	log      *slog.Logger
	dialer   net.Dialer
	idleStep time.Duration // how often an idle connection checks the other direction's activity
	verifies bool          // Mode verifies client certificates against a trust store
}

func compile(cfg *Config) (*generation, error) {
	if cfg == nil {
		return nil, errors.New("layer-4 listener: no configuration")
	}
	g := &generation{cfg: *cfg}
	c := &g.cfg
	var problems []error
	switch c.Protocol {
	case ProtocolTCP:
	case ProtocolTLS:
		if c.TLS == nil {
			problems = append(problems, errors.New("a TLS listener needs a TLS configuration"))
		}
	default:
		problems = append(problems, fmt.Errorf("unknown protocol %d", c.Protocol))
	}
	if c.Group == nil {
		problems = append(problems, errors.New("no target group"))
	}
	if c.IdleTimeout < 0 || c.HandshakeTimeout < 0 || c.ConnectTimeout < 0 {
		problems = append(problems, fmt.Errorf("timeouts must not be negative (idle %v, handshake %v, connect %v)",
			c.IdleTimeout, c.HandshakeTimeout, c.ConnectTimeout))
	}
	for _, p := range c.ProxyTrusted {
		if !p.IsValid() {
			problems = append(problems, fmt.Errorf("trusted network %v is not valid", p))
			continue
		}
		// Masked and unmapped once here, so that the per-connection test is Prefix.Contains on an unmapped address.
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		g.trusted = append(g.trusted, p.Masked())
	}
	if err := errors.Join(problems...); err != nil {
		return nil, fmt.Errorf("layer-4 listener: %w", err)
	}
	c.IdleTimeout = orDefault(c.IdleTimeout, DefaultIdleTimeout)
	c.HandshakeTimeout = orDefault(c.HandshakeTimeout, DefaultHandshakeTimeout)
	c.ConnectTimeout = orDefault(c.ConnectTimeout, DefaultConnectTimeout)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.NewTraceID == nil {
		c.NewTraceID = accesslog.NewTraceID
	}
	g.log = c.Logger
	if g.log == nil {
		g.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.ConnLog != nil && !c.ConnLog.Enabled() {
		c.ConnLog = nil
	}
	g.dialer = net.Dialer{Timeout: c.ConnectTimeout}
	// Four checks per idle period: a connection is closed between 1 and 1.25 idle periods after its last byte,
	// and an idle connection costs a timer wake-up every 87 s at the default.
	g.idleStep = c.IdleTimeout / 4
	g.verifies = c.Mode != tlsconfig.ModeOff && c.Mode != tlsconfig.ModePassthrough
	return g, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// trusts reports whether PROXY headers from a are believed.
func (g *generation) trusts(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range g.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
