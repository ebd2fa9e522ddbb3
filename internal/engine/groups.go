package engine

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/mtlslb/mtlslb/internal/balance"
	"github.com/mtlslb/mtlslb/internal/config"
	"github.com/mtlslb/mtlslb/internal/health"
	"github.com/mtlslb/mtlslb/internal/httpproxy"
	"github.com/mtlslb/mtlslb/internal/l4"
	"github.com/mtlslb/mtlslb/internal/pki"
	"github.com/mtlslb/mtlslb/internal/upstream"
)

// groupRuntime is one target group as one snapshot runs it.
type groupRuntime struct {
	name     string
	doc      config.TargetGroup
	targets  []*balance.Target
	balancer *balance.Group
	proxy    *httpproxy.TargetGroup
	checker  *health.Checker // nil when health checks are disabled or the group has no targets
	delay    time.Duration   // deregistration delay
	// transportKey names the pooled transport the group uses.
	transportKey upstream.Key
	// l4 is the balancer of a TCP target group (layer 4); the fields above of layer 7 are unset then.
	l4 *l4.TargetGroup
}

// compileTargetGroup builds a target group's balancer, health checker (not started) and proxy.
func compileTargetGroup(tg config.TargetGroup, opts CompileOptions, transports *transportSet, idleTimeoutSeconds int) (*groupRuntime, error) {
	reg, readFile, now := opts.Targets, opts.ReadFile, opts.Now
	alg, err := balance.ParseAlgorithm(tg.Attributes.LoadBalancingAlgorithmType)
	if err != nil {
		return nil, fmt.Errorf("attributes.load_balancing_algorithm_type: %w", err)
	}
	scheme := "http"
	if tg.Protocol == config.ProtocolHTTPS {
		scheme = "https"
	}
	g := &groupRuntime{name: tg.Name, doc: tg}
	if d := tg.Attributes.DeregistrationDelayTimeoutSeconds; d != nil {
		g.delay = time.Duration(*d) * time.Second
	} else {
		g.delay = 300 * time.Second
	}
	if tg.Protocol == config.ProtocolTCP || tg.Protocol == config.ProtocolTLS {
		return g, compileL4TargetGroup(tg, g, opts)
	}
	for _, t := range tg.Targets {
		addr := net.JoinHostPort(t.ID, strconv.Itoa(t.Port))
		w := 1
		if t.Weight != nil {
			w = *t.Weight
		}
		g.targets = append(g.targets, reg.Target(tg.Name, addr, &url.URL{Scheme: scheme, Host: addr}, w))
	}

	// As ALB: a target that sends no response within the load balancer's idle timeout is answered 504.
	transport, ucfg, err := transports.get(tg, readFile, time.Duration(max(idleTimeoutSeconds, 1))*time.Second)
	if err != nil {
		return nil, err
	}
	g.transportKey = ucfg.Key()

	hc, err := healthConfig(tg, opts)
	if err != nil {
		return nil, err
	}
	gcfg := balance.GroupConfig{
		Name:      tg.Name,
		Algorithm: alg,
		SlowStart: time.Duration(tg.Attributes.SlowStartDurationSeconds) * time.Second,
		Now:       now,
	}
	if !hc.Disabled && len(tg.Targets) > 0 {
		targets := g.targets
		var checkTLS *tls.Config
		if ucfg.ClientCertificate != nil {
			// Targets that demand the load balancer's certificate get it from the health checks too, or they
			// would fail every check. The target's certificate is not verified by checks (as ALB).
			checkTLS = &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{*ucfg.ClientCertificate}} //nolint:gosec // as ALB
		}
		g.checker, err = health.New(hc, health.TargetsFromConfig(tg.Targets), health.Options{
			TLSConfig: checkTLS,
			OnChange: func(i int, old, new health.TargetHealth) {
				if new.State == health.StateHealthy && old.State != health.StateHealthy && i < len(targets) {
					targets[i].EnterService(now())
				}
			},
		})
		if err != nil {
			return nil, fmt.Errorf("health_check: %w", err)
		}
		gcfg.Healthy = g.checker.Healthy
	}
	g.balancer = balance.NewGroup(gcfg, g.targets)

	stick := time.Duration(0)
	if st := tg.Attributes.Stickiness; st.Enabled {
		stick = time.Duration(st.CookieDurationSeconds) * time.Second
	}
	g.proxy = httpproxy.NewTargetGroup(httpproxy.TargetGroup{
		Name:        tg.Name,
		Balancer:    g.balancer,
		Scheme:      scheme,
		GRPC:        tg.ProtocolVersion == "GRPC",
		Stickiness:  stick,
		ErrorReason: upstream.ErrorReason,
	}, transport)
	return g, nil
}

// transportSet hands out the transports to targets from the upstream pool, shared between snapshots for equal
// settings so that pooled connections survive reloads.
type transportSet struct {
	pool *upstream.Pool
}

func newTransportSet() *transportSet { return &transportSet{pool: upstream.NewPool()} }

// get returns the transport of target group tg and its pool key.
func (s *transportSet) get(tg config.TargetGroup, readFile func(string) ([]byte, error), timeout time.Duration) (http.RoundTripper, upstream.Config, error) {
	cfg := upstream.Config{Protocol: string(tg.Protocol), Version: tg.ProtocolVersion, ResponseHeaderTimeout: timeout}
	if t := tg.TLS; t != nil && tg.Protocol == config.ProtocolHTTPS {
		if !t.Certificate.IsZero() {
			pair, err := readKeyPair(t.Certificate, t.PrivateKey, readFile)
			if err != nil {
				return nil, upstream.Config{}, fmt.Errorf("tls%w", err)
			}
			cfg.ClientCertificate = &pair
		}
		if !t.CACertificatesBundle.IsZero() {
			data, err := readFile(t.CACertificatesBundle.Path())
			if err != nil {
				return nil, upstream.Config{}, fmt.Errorf("tls.ca_certificates_bundle: %w", err)
			}
			certs, err := pki.ParseCertsPEM(data)
			if err != nil || len(certs) == 0 {
				return nil, upstream.Config{}, fmt.Errorf("tls.ca_certificates_bundle: %s holds no usable PEM certificate: %v", t.CACertificatesBundle, err)
			}
			cfg.RootCAs = certs
		}
		cfg.ServerName = t.ServerName
	}
	tr, err := s.pool.Transport(cfg)
	if err != nil {
		return nil, upstream.Config{}, fmt.Errorf("connections to targets: %w", err)
	}
	return tr, cfg, nil
}

// retain closes the transports no target group of the applied snapshot uses.
func (s *transportSet) retain(keys []upstream.Key) { s.pool.Retain(keys...) }

// close retires every transport (engine shutdown).
func (s *transportSet) close() { s.pool.Close() }

// healthConfig compiles a target group's health check, with the test override of CompileOptions.
func healthConfig(tg config.TargetGroup, opts CompileOptions) (health.Config, error) {
	hc, err := health.FromConfig(tg.HealthCheck)
	if err != nil {
		return health.Config{}, fmt.Errorf("health_check: %w", err)
	}
	if iv := opts.HealthCheckInterval; iv > 0 {
		hc.Interval = iv
		hc.Timeout = min(hc.Timeout, iv)
	}
	return hc, nil
}
