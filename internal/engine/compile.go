package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/mtlslb/mtlslb/internal/balance"
	"github.com/mtlslb/mtlslb/internal/config"
	"github.com/mtlslb/mtlslb/internal/crl"
	"github.com/mtlslb/mtlslb/internal/httpproxy"
	"github.com/mtlslb/mtlslb/internal/listen"
	"github.com/mtlslb/mtlslb/internal/metrics"
	"github.com/mtlslb/mtlslb/internal/tlsconfig"
	"github.com/mtlslb/mtlslb/internal/truststore"
)

// Compiled is a configuration document turned into everything a running listener needs, checked in full.
// It is inert until Engine.Apply.
type Compiled struct {
	snap *snapshot
}

// TrustStores returns the compiled trust stores by name (for status and the explain tool).
func (c *Compiled) TrustStores() map[string]*truststore.Store { return c.snap.trustStores }

// snapshot is one applied configuration generation.
type snapshot struct {
	revision    int64
	name        string
	appliedAt   time.Time
	trustStores map[string]*truststore.Store
	listeners   []*listenerGen
	logPaths    map[string]bool // connection-log destinations this snapshot writes to
	ctx         context.Context // cancelled when the snapshot is replaced or the engine stops
	cancel      context.CancelFunc
}

// listenerGen is one listener as one snapshot configures it.
type listenerGen struct {
	index     int // position in the document, for messages
	addr      string
	port      int
	elb       string
	tlsConfig *tls.Config
	mode      tlsconfig.Mode
	names     httpproxy.HeaderNames // canonical
	tlsHdrs   bool
	handler   *httpproxy.Handler

	// In verify mode, what re-verifying a live connection needs (revoke.go); zero otherwise.
	trustStoreName string
	trustStore     *truststore.Store
	ignoreExpiry   bool
	revokeLive     bool // the trust store's revoke_live_connections

	idleTimeoutSeconds int
	connLogPath        string // "" when the connection log is off
	connLog            *logSink
	retired            atomic.Bool
}

// CompileOptions are the inputs of Compile that are not in the document.
type CompileOptions struct {
	// Now is the clock of client-certificate verification (default time.Now).
	Now func() time.Time
	// ReadFile reads the files the document names (default os.ReadFile).
	ReadFile func(string) ([]byte, error)
	// Metrics receives request counts; nil records nothing.
	Metrics *metrics.Metrics
	// CRLCache reuses CRLs parsed by earlier compiles; nil parses every time.
	CRLCache *crl.ParseCache
	// FetchCRL returns the current copy of a CRL named by URL (RemoteCRLs.Get); nil refuses URL CRLs.
	FetchCRL func(url string, interval time.Duration) ([]byte, error)
}

// Compile turns a validated document into a Compiled configuration: every file it names is read, every
// certificate, key, bundle and CRL parsed and checked. The error lists every problem found, one per line,
// each starting with the document path of what is wrong.
func (e *Engine) Compile(doc *config.Document) (*Compiled, error) {
	return Compile(doc, CompileOptions{Now: e.opts.Now, Metrics: e.opts.Metrics, FetchCRL: e.opts.FetchCRL, CRLCache: e.crlCache}, e.transport)
}

// CompileWith is Compile reading the files the document names with readFile (store mode serves blobs).
func (e *Engine) CompileWith(doc *config.Document, readFile func(string) ([]byte, error)) (*Compiled, error) {
	return Compile(doc, CompileOptions{Now: e.opts.Now, ReadFile: readFile, Metrics: e.opts.Metrics, FetchCRL: e.opts.FetchCRL, CRLCache: e.crlCache}, e.transport)
}

// Compile is Engine.Compile without an engine, for `mtlslb validate`.
func Compile(doc *config.Document, opts CompileOptions, transport *http.Transport) (*Compiled, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ReadFile == nil {
		opts.ReadFile = os.ReadFile
	}
	if transport == nil {
		transport = httpproxy.NewTransport()
	}
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	snap := &snapshot{name: doc.Name, trustStores: map[string]*truststore.Store{}, logPaths: map[string]bool{}}

	for i, ts := range doc.TrustStores {
		store, err := compileTrustStore(ts, opts.ReadFile, opts.FetchCRL, opts.CRLCache)
		if err != nil {
			fail("trust_stores[%d] (%s): %w", i, ts.Name, err)
			continue
		}
		snap.trustStores[ts.Name] = store
	}

	groups := map[string]*balance.TargetGroup{}
	for i, tg := range doc.TargetGroups {
		g, err := compileTargetGroup(tg)
		if err != nil {
			fail("target_groups[%d] (%s): %w", i, tg.Name, err)
			continue
		}
		groups[tg.Name] = g
	}

	connLogPath := ""
	if cl := doc.Attributes.ConnectionLogs; cl.Enabled {
		connLogPath = cl.Path.Path()
		if connLogPath == "" {
			connLogPath = config.Stdout
		}
		snap.logPaths[connLogPath] = true
	}

	for i, l := range doc.Listeners {
		lg, err := compileListener(i, l, doc, snap.trustStores, groups, opts, transport)
		if err != nil {
			if err = withoutReported(err); err != nil {
				fail("listeners[%d]: %w", i, err)
			}
			continue
		}
		lg.elb = doc.Name
		lg.connLogPath = connLogPath
		lg.idleTimeoutSeconds = doc.Attributes.IdleTimeoutSeconds
		snap.listeners = append(snap.listeners, lg)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(snap.listeners) != len(doc.Listeners) {
		// Only reachable if a listener failed solely because of a dependency whose error was reported.
		return nil, errors.New("listeners: not every listener compiled")
	}
	snap.ctx, snap.cancel = context.WithCancel(context.Background())
	return &Compiled{snap: snap}, nil
}

func compileTrustStore(ts config.TrustStore, readFile func(string) ([]byte, error), fetchCRL func(string, time.Duration) ([]byte, error), cache *crl.ParseCache) (*truststore.Store, error) {
	bundlePath := ts.CACertificatesBundle.Path()
	bundle, err := readFile(bundlePath)
	if err != nil {
		return nil, fmt.Errorf("ca_certificates_bundle: %w", err)
	}
	cfg := truststore.Config{
		Name:         ts.Name,
		Bundle:       bundle,
		BundleSource: bundlePath,
		RequireCRL:   ts.RequireCRL,
		ParseCache:   cache,
		Limits: truststore.Limits{
			MaxCACertificates:  ts.MaxCACertificates,
			MaxCertificateSize: ts.MaxCertificateSize,
			MaxChainDepth:      ts.MaxChainDepth,
			MaxCRLs:            ts.MaxRevocations,
			MaxRevokedEntries:  ts.MaxRevokedEntries,
			MaxCRLSize:         int(ts.MaxCRLSize),
		},
		CRLPolicy: crl.Policy{MaxAge: ts.MaxCRLAgeDuration},
	}
	switch ts.StaleCRLAction {
	case config.StaleCRLReject:
		cfg.CRLPolicy.Stale = crl.StaleReject
	case config.StaleCRLUseForGrace:
		cfg.CRLPolicy.Stale, cfg.CRLPolicy.Grace = crl.StaleGrace, ts.StaleCRLGrace
	default:
		cfg.CRLPolicy.Stale = crl.StaleUse
	}
	for j, rv := range ts.Revocations {
		var data []byte
		var err error
		p := rv.CRL.Path()
		if rv.URL != "" {
			p = rv.URL
			if fetchCRL == nil {
				return nil, fmt.Errorf("revocations[%d].url: CRLs from URLs are fetched by a running server only", j)
			}
			if data, err = fetchCRL(rv.URL, rv.RefreshEvery); err != nil {
				return nil, fmt.Errorf("revocations[%d].url: %w", j, err)
			}
		} else if data, err = readFile(p); err != nil {
			return nil, fmt.Errorf("revocations[%d].crl: %w", j, err)
		}
		// In a file, revocation ids are positions from 1, so messages and logs can name them; the store
		// assigns ids of its own that are never reused.
		id := rv.ID
		if id == 0 {
			id = int64(j + 1)
		}
		cfg.CRLs = append(cfg.CRLs, truststore.CRLSource{ID: id, Data: data, Source: p})
	}
	return truststore.New(cfg)
}

func compileTargetGroup(tg config.TargetGroup) (*balance.TargetGroup, error) {
	targets := make([]balance.Target, 0, len(tg.Targets))
	for _, t := range tg.Targets {
		addr := net.JoinHostPort(t.ID, strconv.Itoa(t.Port))
		targets = append(targets, balance.Target{Addr: addr, URL: &url.URL{Scheme: "http", Host: addr}})
	}
	return balance.NewTargetGroup(tg.Name, targets), nil
}

func compileListener(i int, l config.Listener, doc *config.Document, stores map[string]*truststore.Store,
	groups map[string]*balance.TargetGroup, opts CompileOptions, transport *http.Transport) (*listenerGen, error) {
	var errs []error
	var certs []tls.Certificate
	for j, c := range l.Certificates {
		certPEM, err := opts.ReadFile(c.Certificate.Path())
		if err != nil {
			errs = append(errs, fmt.Errorf("certificates[%d].certificate: %w", j, err))
			continue
		}
		keyPEM, err := opts.ReadFile(c.PrivateKey.Path())
		if err != nil {
			errs = append(errs, fmt.Errorf("certificates[%d].private_key: %w", j, err))
			continue
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			errs = append(errs, fmt.Errorf("certificates[%d]: %s with %s: %w", j, c.Certificate.Path(), c.PrivateKey.Path(), err))
			continue
		}
		certs = append(certs, pair)
	}

	mode, err := tlsconfig.ParseMode(string(l.MutualAuthentication.Mode))
	if err != nil {
		errs = append(errs, fmt.Errorf("mutual_authentication.mode: %w", err))
	}
	var store *truststore.Store
	if mode == tlsconfig.ModeVerify {
		name := l.MutualAuthentication.TrustStore
		if store = stores[name]; store == nil {
			if trustStoreNamed(doc, name) {
				// The trust store's own problems are reported; repeating them per listener adds noise.
				errs = append(errs, errReportedElsewhere)
			} else {
				errs = append(errs, fmt.Errorf("mutual_authentication.trust_store: no trust store named %q", name))
			}
		}
	}

	var group *balance.TargetGroup
	if len(l.DefaultActions) == 1 {
		if fwd := l.DefaultActions[0].ForwardTargetGroups(); len(fwd) == 1 {
			group = groups[fwd[0].TargetGroup]
			if group == nil {
				errs = append(errs, fmt.Errorf("default_actions[0]: no target group named %q", fwd[0].TargetGroup))
			}
		}
	}
	if group == nil && len(errs) == 0 {
		errs = append(errs, errors.New("default_actions: exactly one forward to one target group is supported"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	tlsCfg, err := tlsconfig.Build(tlsconfig.Listener{
		Certificates:                  certs,
		SSLPolicy:                     l.SSLPolicy,
		Mode:                          mode,
		TrustStore:                    store,
		IgnoreClientCertificateExpiry: l.MutualAuthentication.IgnoreClientCertificateExpiry,
		AdvertiseCANames:              l.MutualAuthentication.AdvertiseTrustStoreCANames == config.On,
		Now:                           opts.Now,
	})
	if err != nil {
		return nil, err
	}

	names := httpproxy.HeaderNamesFor(l.HeaderName)
	lg := &listenerGen{
		index:     i,
		addr:      net.JoinHostPort(l.Address, strconv.Itoa(l.Port)),
		port:      l.Port,
		tlsConfig: tlsCfg,
		mode:      mode,
		names:     names.Canonical(),
		tlsHdrs:   doc.Attributes.TLSVersionAndCipherSuiteHeaders,
	}
	if store != nil {
		lg.trustStoreName = l.MutualAuthentication.TrustStore
		lg.trustStore = store
		lg.ignoreExpiry = l.MutualAuthentication.IgnoreClientCertificateExpiry
		lg.revokeLive = revokeLiveConnections(doc, lg.trustStoreName)
	}
	lm := opts.Metrics.Listener(lg.addr)
	lg.handler = httpproxy.New(httpproxy.Config{
		Observe: func(code int, generated bool) {
			lm.Request(code)
			if generated {
				lm.Generated(code)
			}
		},
		Owned:        httpproxy.OwnedNames(names),
		ListenerPort: strconv.Itoa(l.Port),
		TargetGroup:  group,
		Transport:    transport,
		ConnInfo:     connInfo,
		Retired:      lg.retired.Load,
	})
	return lg, nil
}

// errReportedElsewhere marks a listener that cannot compile only because something it uses already reported
// its own problem.
var errReportedElsewhere = errors.New("a dependency failed (reported separately)")

// withoutReported drops errReportedElsewhere from a joined error, returning nil if nothing else is left.
func withoutReported(err error) error {
	var kept []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if e != errReportedElsewhere {
				kept = append(kept, e)
			}
		}
		return errors.Join(kept...)
	}
	if err == errReportedElsewhere {
		return nil
	}
	return err
}

func trustStoreNamed(doc *config.Document, name string) bool {
	for _, ts := range doc.TrustStores {
		if ts.Name == name {
			return true
		}
	}
	return false
}

// revokeLiveConnections returns the revoke_live_connections setting of the trust store named name.
func revokeLiveConnections(doc *config.Document, name string) bool {
	for _, ts := range doc.TrustStores {
		if ts.Name == name {
			return ts.RevokeLiveConnections
		}
	}
	return false
}

// connInfo finds the ConnInfo the handshake attached to a request's connection.
func connInfo(r *http.Request) *httpproxy.ConnInfo {
	c, _ := r.Context().Value(connKey{}).(*listen.Conn)
	if c == nil {
		return nil
	}
	ci, _ := c.Values.(*httpproxy.ConnInfo)
	return ci
}
