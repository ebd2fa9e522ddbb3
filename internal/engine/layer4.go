package engine

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/mtlslb/mtlslb/internal/config"
	"github.com/mtlslb/mtlslb/internal/health"
	"github.com/mtlslb/mtlslb/internal/l4"
	"github.com/mtlslb/mtlslb/internal/metrics"
	"github.com/mtlslb/mtlslb/internal/route"
	"github.com/mtlslb/mtlslb/internal/tlsconfig"
	"github.com/mtlslb/mtlslb/internal/truststore"
)

// l4Gen is one TCP or TLS listener as one snapshot configures it. Its l4.Config is completed by Apply (the
// connection log, the logger and the metrics) before the listener serves it.
type l4Gen struct {
	index       int
	addr        string
	cfg         l4.Config
	connLogPath string
}

// l4Runtime is one layer-4 listening socket, kept across generations while its address stays.
type l4Runtime struct {
	addr   string
	server *l4.Server
	family metrics.ListenerFamily // of the generation it serves, for the clean-up of its series; guarded by applyMu
}

// l4Family is the metrics family of a layer-4 listener of protocol p.
func l4Family(p l4.Protocol) metrics.ListenerFamily {
	if p == l4.ProtocolTLS {
		return metrics.FamilyTLS
	}
	return metrics.FamilyTCP
}

// compileL4TargetGroup builds the balancer and health checker (not started) of a TCP target group.
func compileL4TargetGroup(tg config.TargetGroup, g *groupRuntime, opts CompileOptions) error {
	alg, err := l4.ParseAlgorithm(tg.Attributes.LoadBalancingAlgorithmType)
	if err != nil {
		return fmt.Errorf("attributes.load_balancing_algorithm_type: %w", err)
	}
	hc, err := healthConfig(tg, opts)
	if err != nil {
		return err
	}
	targets := health.TargetsFromConfig(tg.Targets)
	if !hc.Disabled && len(targets) > 0 {
		hopts := health.Options{}
		if tg.Attributes.ProxyProtocolV2 {
			hopts.Dial = l4.ProxyHealthDial(&net.Dialer{})
		}
		if g.checker, err = health.New(hc, targets, hopts); err != nil {
			return fmt.Errorf("health_check: %w", err)
		}
	}
	var prev *l4.TargetGroup
	if opts.running != nil {
		if pg := opts.running.groups[tg.Name]; pg != nil {
			prev = pg.l4
		}
	}
	g.l4, err = l4.NewTargetGroup(l4.TargetGroupOptions{
		Name:                tg.Name,
		Targets:             targets,
		Algorithm:           alg,
		ProxyProtocolV2:     tg.Attributes.ProxyProtocolV2,
		DeregistrationDelay: g.delay,
		Health:              g.checker,
		Previous:            prev,
	})
	return err
}

// compileL4Listener compiles a TCP or TLS listener.
func compileL4Listener(i int, l config.Listener, doc *config.Document, stores map[string]*truststore.Store,
	groups map[string]*groupRuntime, opts CompileOptions) (*l4Gen, error) {
	proto, err := l4.ParseProtocol(string(l.Protocol))
	if err != nil {
		return nil, fmt.Errorf("protocol: %w", err)
	}
	var errs []error
	lg := &l4Gen{index: i, addr: net.JoinHostPort(l.Address, strconv.Itoa(l.Port))}
	lg.cfg = l4.Config{
		ELB:         doc.Name,
		Protocol:    proto,
		IdleTimeout: time.Duration(l.IdleTimeoutSeconds) * time.Second,
		Now:         opts.Now,
	}
	if pp := l.ProxyProtocol; pp != nil {
		for _, n := range pp.TrustedNetworks {
			p, err := netip.ParsePrefix(n)
			if err != nil {
				errs = append(errs, fmt.Errorf("proxy_protocol.trusted_networks: %w", err))
				continue
			}
			lg.cfg.ProxyTrusted = append(lg.cfg.ProxyTrusted, p)
		}
	}
	if fwd := l.DefaultActions[0].ForwardTargetGroups(); len(fwd) == 1 {
		if g := groups[fwd[0].TargetGroup]; g != nil && g.l4 != nil {
			lg.cfg.Group = g.l4
		} else if g == nil && targetGroupNamed(doc, fwd[0].TargetGroup) {
			errs = append(errs, errReportedElsewhere)
		} else {
			errs = append(errs, fmt.Errorf("default_actions[0]: %q is not a TCP target group", fwd[0].TargetGroup))
		}
	} else {
		errs = append(errs, errors.New("default_actions[0]: a TCP or TLS listener forwards to exactly one target group"))
	}
	if proto == l4.ProtocolTLS {
		certs, cerrs := loadCertificates(l, opts)
		errs = append(errs, cerrs...)
		ma := l.MutualAuthentication
		mode, err := tlsconfig.ParseMode(string(ma.Mode))
		if err != nil {
			errs = append(errs, fmt.Errorf("mutual_authentication.mode: %w", err))
		}
		var store *truststore.Store
		if mode == tlsconfig.ModeVerify {
			if store = stores[ma.TrustStore]; store == nil {
				errs = append(errs, errReportedElsewhere)
			}
		}
		filter, err := route.CompileIdentityFilter("mutual_authentication.identity_filters", ma.IdentityFilters)
		if err != nil {
			errs = append(errs, err)
		}
		if len(errs) == 0 {
			tc, err := tlsconfig.Build(tlsconfig.Listener{
				Certificates:                  certs,
				SSLPolicy:                     l.SSLPolicy,
				Mode:                          mode,
				TrustStore:                    store,
				IgnoreClientCertificateExpiry: ma.IgnoreClientCertificateExpiry,
				AdvertiseCANames:              ma.AdvertiseTrustStoreCANames == config.On,
				Now:                           opts.Now,
				NextProtos:                    []string{},
				Identity:                      identityFunc(filter),
			})
			if err != nil {
				errs = append(errs, err)
			}
			lg.cfg.TLS, lg.cfg.Mode = tc, mode
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return lg, nil
}

// applyL4Locked starts, updates and stops the layer-4 listeners for snap. opened holds the sockets Apply opened
// for new addresses. Callers hold applyMu.
func (e *Engine) applyL4Locked(snap *snapshot, opened map[string]net.Listener, logs map[string]*logSink) error {
	keep := map[string]bool{}
	for _, lg := range snap.l4 {
		keep[lg.addr] = true
		if s := logs[lg.connLogPath]; s != nil {
			lg.cfg.ConnLog = s.w
		}
		lg.cfg.Logger = e.log
		// Resolved here rather than in compile, so that a document that is compiled but never applied creates no
		// series; once per generation, so that connections look nothing up.
		lg.cfg.Metrics = e.opts.Metrics.Layer4Listener(lg.addr, lg.cfg.Protocol == l4.ProtocolTLS)
		family := l4Family(lg.cfg.Protocol)
		if rt, ok := e.l4[lg.addr]; ok {
			if err := rt.server.Update(&lg.cfg); err != nil {
				return fmt.Errorf("listeners[%d]: %w", lg.index, err)
			}
			if rt.family != family {
				// The listener stays and nothing drains, so a TLS listener turned TCP loses its handshake series
				// now rather than show them frozen: a handshake the TLS generation is still finishing is not
				// exported. TCP turned TLS deletes nothing.
				e.opts.Metrics.DeleteReplacedSeries(lg.addr, rt.family, family)
				rt.family = family
			}
			continue
		}
		srv, err := l4.New(opened[lg.addr], &lg.cfg)
		if err != nil {
			return fmt.Errorf("listeners[%d]: %w", lg.index, err)
		}
		e.l4[lg.addr] = &l4Runtime{addr: lg.addr, server: srv, family: family}
		e.log.Info("listening", "address", srv.Addr().String(), "protocol", lg.cfg.Protocol.String())
	}
	for addr, rt := range e.l4 {
		if !keep[addr] {
			delete(e.l4, addr)
			family := rt.family
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), e.opts.DrainTimeout)
				defer cancel()
				_ = rt.server.Shutdown(ctx)
				e.deleteDrainedSeries(addr, family)
				e.log.Info("listener closed", "address", addr)
			}()
		}
	}
	// Target counts are read from the applied snapshot at each scrape; before the first Apply there is nothing to
	// count. Storing the same source again on each Apply is harmless.
	e.opts.Metrics.SetTargetGroups(e.targetStates)
	return nil
}

// targetStates yields the health counts of every target group of the applied configuration, layer 4 and layer 7,
// as TargetHealth describes them. The metrics call it once per scrape.
func (e *Engine) targetStates(yield func(string, metrics.TargetStates) bool) {
	s := e.current.Load()
	if s == nil {
		return
	}
	for name := range s.groups {
		targets, ok := e.TargetHealth(name)
		if !ok {
			continue // gone in a reload since s was loaded
		}
		var st metrics.TargetStates
		for _, t := range targets {
			switch t.State {
			case health.StateInitial:
				st.Initial++
			case health.StateHealthy:
				st.Healthy++
			case health.StateUnhealthy:
				st.Unhealthy++
			case health.StateUnavailable:
				st.Unavailable++
			case health.StateDraining:
				st.Draining++
			}
		}
		if !yield(name, st) {
			return
		}
	}
}

// shutdownL4 drains every layer-4 listener until ctx ends.
func (e *Engine) shutdownL4(ctx context.Context) error {
	var first error
	for addr, rt := range e.l4 {
		if err := rt.server.Shutdown(ctx); err != nil && first == nil {
			first = fmt.Errorf("draining %s: %w", addr, err)
		}
	}
	e.l4 = map[string]*l4Runtime{}
	return first
}

func identityFunc(f *route.IdentityFilter) func(*x509.Certificate) bool {
	if f == nil {
		return nil
	}
	return func(leaf *x509.Certificate) bool { return f.Allows(route.NewClient(leaf, "")) }
}
