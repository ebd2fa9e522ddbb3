package engine

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/mtlslb/mtlslb/internal/balance"
	"github.com/mtlslb/mtlslb/internal/config"
	"github.com/mtlslb/mtlslb/internal/health"
	"github.com/mtlslb/mtlslb/internal/httpproxy"
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
	for _, t := range tg.Targets {
		addr := net.JoinHostPort(t.ID, strconv.Itoa(t.Port))
		w := 1
		if t.Weight != nil {
			w = *t.Weight
		}
		g.targets = append(g.targets, reg.Target(tg.Name, addr, &url.URL{Scheme: scheme, Host: addr}, w))
	}

	hc, err := health.FromConfig(tg.HealthCheck)
	if err != nil {
		return nil, fmt.Errorf("health_check: %w", err)
	}
	if iv := opts.HealthCheckInterval; iv > 0 {
		hc.Interval = iv
		hc.Timeout = min(hc.Timeout, iv)
	}
	gcfg := balance.GroupConfig{
		Name:      tg.Name,
		Algorithm: alg,
		SlowStart: time.Duration(tg.Attributes.SlowStartDurationSeconds) * time.Second,
		Now:       now,
	}
	if !hc.Disabled && len(tg.Targets) > 0 {
		targets := g.targets
		g.checker, err = health.New(hc, health.TargetsFromConfig(tg.Targets), health.Options{
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

	// As ALB: a target that sends no response within the load balancer's idle timeout is answered 504.
	transport, err := transports.get(tg, readFile, time.Duration(max(idleTimeoutSeconds, 1))*time.Second)
	if err != nil {
		return nil, err
	}
	stick := time.Duration(0)
	if st := tg.Attributes.Stickiness; st.Enabled {
		stick = time.Duration(st.CookieDurationSeconds) * time.Second
	}
	g.proxy = httpproxy.NewTargetGroup(httpproxy.TargetGroup{
		Name:       tg.Name,
		Balancer:   g.balancer,
		Scheme:     scheme,
		GRPC:       tg.ProtocolVersion == "GRPC",
		Stickiness: stick,
	}, transport)
	return g, nil
}

// transportSet hands out the transports to targets, shared between snapshots for equal settings so that
// pooled connections survive reloads.
type transportSet struct {
	mu    sync.Mutex
	plain map[time.Duration]*http.Transport // by response timeout
	tls   []*http.Transport
}

func newTransportSet() *transportSet {
	return &transportSet{plain: map[time.Duration]*http.Transport{}}
}

func (s *transportSet) get(tg config.TargetGroup, readFile func(string) ([]byte, error), timeout time.Duration) (http.RoundTripper, error) {
	if tg.Protocol != config.ProtocolHTTPS {
		s.mu.Lock()
		defer s.mu.Unlock()
		t := s.plain[timeout]
		if t == nil {
			t = newHTTPTransport(nil, timeout)
			s.plain[timeout] = t
		}
		return t, nil
	}
	tc := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // as ALB: targets are not verified unless a CA bundle is set
	if t := tg.TLS; t != nil {
		if !t.Certificate.IsZero() {
			certPEM, err := readFile(t.Certificate.Path())
			if err != nil {
				return nil, fmt.Errorf("tls.certificate: %w", err)
			}
			keyPEM, err := readFile(t.PrivateKey.Path())
			if err != nil {
				return nil, fmt.Errorf("tls.private_key: %w", err)
			}
			pair, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				return nil, fmt.Errorf("tls: %s with %s: %w", t.Certificate, t.PrivateKey, err)
			}
			tc.Certificates = []tls.Certificate{pair}
		}
		if !t.CACertificatesBundle.IsZero() {
			pem, err := readFile(t.CACertificatesBundle.Path())
			if err != nil {
				return nil, fmt.Errorf("tls.ca_certificates_bundle: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("tls.ca_certificates_bundle: %s holds no PEM certificate", t.CACertificatesBundle)
			}
			tc.RootCAs, tc.InsecureSkipVerify = pool, false
		}
		tc.ServerName = t.ServerName
	}
	t := newHTTPTransport(tc, timeout)
	s.mu.Lock()
	s.tls = append(s.tls, t)
	s.mu.Unlock()
	return t, nil
}

// newHTTPTransport returns a pooled transport: generous idle limits per target, because net/http's default of
// 2 idle connections per host turns a busy load balancer into a connection factory.
func newHTTPTransport(tc *tls.Config, timeout time.Duration) *http.Transport {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		DialContext:           d.DialContext,
		MaxIdleConns:          4096,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       tc,
	}
	return t
}

func (s *transportSet) closeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.plain {
		t.CloseIdleConnections()
	}
	for _, t := range s.tls {
		t.CloseIdleConnections()
	}
}

// closeTarget closes the pooled connections to a drained target.
func (s *transportSet) closeTarget(id string) {
	// Until transports track connections per target, idle ones go: in-flight requests to a drained target
	// finish on their own connections, and nothing new is sent there.
	s.closeIdle()
}
