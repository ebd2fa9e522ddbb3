package engine

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/mtlslb/mtlslb/internal/balance"
	"github.com/mtlslb/mtlslb/internal/config"
	"github.com/mtlslb/mtlslb/internal/crl"
	"github.com/mtlslb/mtlslb/internal/desync"
	"github.com/mtlslb/mtlslb/internal/httpproxy"
	"github.com/mtlslb/mtlslb/internal/listen"
	"github.com/mtlslb/mtlslb/internal/metrics"
	"github.com/mtlslb/mtlslb/internal/route"
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
	l4          []*l4Gen
	groups      map[string]*groupRuntime
	logPaths    map[string]bool // log destinations this snapshot writes to
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
	plain     bool // an HTTP listener: no TLS
	certs     []chosenCert
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
	accessLogPath      string // "" when the access log is off
	http2              bool
	desync             desync.Mode
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
	// Targets keeps targets across snapshots (outstanding requests, slow start, draining); nil uses a fresh one.
	Targets *balance.Registry
	// HealthCheckInterval overrides every health-check interval when set (tests).
	HealthCheckInterval time.Duration

	// running is the applied snapshot, whose layer-4 target groups the new ones succeed.
	running *snapshot
}

// Compile turns a validated document into a Compiled configuration: every file it names is read, every
// certificate, key, bundle and CRL parsed and checked. The error lists every problem found, one per line,
// each starting with the document path of what is wrong.
func (e *Engine) Compile(doc *config.Document) (*Compiled, error) {
	return Compile(doc, CompileOptions{Now: e.opts.Now, Metrics: e.opts.Metrics, FetchCRL: e.opts.FetchCRL, CRLCache: e.crlCache, Targets: e.targets, HealthCheckInterval: e.opts.HealthCheckInterval, running: e.current.Load()}, e.transports)
}

// CompileWith is Compile reading the files the document names with readFile (store mode serves blobs).
func (e *Engine) CompileWith(doc *config.Document, readFile func(string) ([]byte, error)) (*Compiled, error) {
	return Compile(doc, CompileOptions{Now: e.opts.Now, ReadFile: readFile, Metrics: e.opts.Metrics, FetchCRL: e.opts.FetchCRL, CRLCache: e.crlCache, Targets: e.targets, HealthCheckInterval: e.opts.HealthCheckInterval, running: e.current.Load()}, e.transports)
}

// Compile is Engine.Compile without an engine, for `mtlslb validate`.
func Compile(doc *config.Document, opts CompileOptions, transports *transportSet) (*Compiled, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ReadFile == nil {
		opts.ReadFile = os.ReadFile
	}
	if transports == nil {
		transports = newTransportSet()
	}
	if opts.Targets == nil {
		opts.Targets = balance.NewRegistry(opts.Now)
	}
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	snap := &snapshot{name: doc.Name, trustStores: map[string]*truststore.Store{}, logPaths: map[string]bool{}, groups: map[string]*groupRuntime{}}

	for i, ts := range doc.TrustStores {
		store, err := compileTrustStore(ts, opts.ReadFile, opts.FetchCRL, opts.CRLCache)
		if err != nil {
			fail("trust_stores[%d] (%s): %w", i, ts.Name, err)
			continue
		}
		snap.trustStores[ts.Name] = store
	}

	groups := snap.groups
	for i, tg := range doc.TargetGroups {
		g, err := compileTargetGroup(tg, opts, transports, doc.Attributes.IdleTimeoutSeconds)
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
	accessLogPath := ""
	if al := doc.Attributes.AccessLogs; al.Enabled {
		accessLogPath = al.Path.Path()
		if accessLogPath == "" {
			accessLogPath = config.Stdout
		}
		snap.logPaths[accessLogPath] = true
	}

	for i, l := range doc.Listeners {
		if l.Protocol == config.ProtocolTCP || l.Protocol == config.ProtocolTLS {
			lg, err := compileL4Listener(i, l, doc, snap.trustStores, groups, opts)
			if err != nil {
				if err = withoutReported(err); err != nil {
					fail("listeners[%d]: %w", i, err)
				}
				continue
			}
			lg.connLogPath = connLogPath
			snap.l4 = append(snap.l4, lg)
			continue
		}
		lg, err := compileListener(i, l, doc, snap.trustStores, groups, opts)
		if err != nil {
			if err = withoutReported(err); err != nil {
				fail("listeners[%d]: %w", i, err)
			}
			continue
		}
		lg.elb = doc.Name
		lg.connLogPath = connLogPath
		lg.accessLogPath = accessLogPath
		lg.idleTimeoutSeconds = doc.Attributes.IdleTimeoutSeconds
		snap.listeners = append(snap.listeners, lg)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(snap.listeners)+len(snap.l4) != len(doc.Listeners) {
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

func compileListener(i int, l config.Listener, doc *config.Document, stores map[string]*truststore.Store,
	groups map[string]*groupRuntime, opts CompileOptions) (*listenerGen, error) {
	certs, errs := loadCertificates(l, opts)

	ma := l.MutualAuthentication
	mode, err := tlsconfig.ParseMode(string(ma.Mode))
	if err != nil {
		errs = append(errs, fmt.Errorf("mutual_authentication.mode: %w", err))
	}
	var store *truststore.Store
	if mode == tlsconfig.ModeVerify || mode == tlsconfig.ModeOptional {
		name := ma.TrustStore
		if store = stores[name]; store == nil {
			if trustStoreNamed(doc, name) {
				// The trust store's own problems are reported; repeating them per listener adds noise.
				errs = append(errs, errReportedElsewhere)
			} else {
				errs = append(errs, fmt.Errorf("mutual_authentication.trust_store: no trust store named %q", name))
			}
		}
	}
	filter, err := route.CompileIdentityFilter("mutual_authentication.identity_filters", ma.IdentityFilters)
	if err != nil {
		errs = append(errs, err)
	}

	rules, err := route.Compile(l.Rules)
	if err != nil {
		errs = append(errs, err)
	}
	var actions []*httpproxy.Action
	for j := range l.Rules {
		a, err := compileAction(fmt.Sprintf("rules[%d].actions[0]", j), l.Rules[j].Actions, groups, doc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		a.Priority = l.Rules[j].Priority
		actions = append(actions, a)
	}
	def, err := compileAction("default_actions[0]", l.DefaultActions, groups, doc)
	if err != nil {
		errs = append(errs, err)
	} else {
		actions = append(actions, def)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	http2 := doc.Attributes.HTTP2Enabled == nil || *doc.Attributes.HTTP2Enabled
	dmode, err := desync.ParseMode(doc.Attributes.DesyncMitigationMode)
	if err != nil {
		return nil, fmt.Errorf("attributes.desync_mitigation_mode: %w", err)
	}
	lg := &listenerGen{
		index:  i,
		addr:   net.JoinHostPort(l.Address, strconv.Itoa(l.Port)),
		port:   l.Port,
		mode:   mode,
		plain:  l.Protocol == config.ProtocolHTTP,
		http2:  http2 && l.Protocol == config.ProtocolHTTPS,
		desync: dmode,
	}
	if !lg.plain {
		protos := []string{"http/1.1"}
		if lg.http2 {
			protos = []string{"h2", "http/1.1"}
		}
		var identity func(*x509.Certificate) bool
		if filter != nil {
			identity = func(leaf *x509.Certificate) bool { return filter.Allows(route.NewClient(leaf, "")) }
		}
		tlsCfg, err := tlsconfig.Build(tlsconfig.Listener{
			Certificates:                  certs,
			SSLPolicy:                     l.SSLPolicy,
			Mode:                          mode,
			TrustStore:                    store,
			IgnoreClientCertificateExpiry: ma.IgnoreClientCertificateExpiry,
			AdvertiseCANames:              ma.AdvertiseTrustStoreCANames == config.On,
			Now:                           opts.Now,
			NextProtos:                    protos,
			Identity:                      identity,
		})
		if err != nil {
			return nil, err
		}
		lg.tlsConfig = tlsCfg
	}

	for j, c := range certs {
		if j < len(l.Certificates) && c.Leaf != nil {
			lg.certs = append(lg.certs, chosenCert{leaf: c.Leaf, name: l.Certificates[j].Certificate.String()})
		}
	}
	names := httpproxy.HeaderNamesFor(l.HeaderName)
	lg.names = names.Canonical()
	lg.tlsHdrs = doc.Attributes.TLSVersionAndCipherSuiteHeaders
	if store != nil {
		lg.trustStoreName = ma.TrustStore
		lg.trustStore = store
		lg.ignoreExpiry = ma.IgnoreClientCertificateExpiry
		lg.revokeLive = revokeLiveConnections(doc, lg.trustStoreName)
	}
	lm := opts.Metrics.Listener(lg.addr)
	lg.handler = httpproxy.New(httpproxy.Config{
		ELB: doc.Name,
		TLS: !lg.plain,
		Observe: func(code int, generated bool) {
			lm.Request(code)
			if generated {
				lm.Generated(code)
			}
		},
		Owned:        httpproxy.OwnedNames(names),
		Port:         l.Port,
		Rules:        rules,
		Actions:      actions,
		XFF:          httpproxy.ParseXFFMode(doc.Attributes.XFFHeaderProcessingMode),
		PreserveHost: doc.Attributes.PreserveHostHeader,
		Misdirected:  !lg.plain && rules.Len() > 0,
		ConnInfo:     connInfo,
		Retired:      lg.retired.Load,
		Now:          opts.Now,
	})
	return lg, nil
}

// compileAction compiles the one action of a rule or of the default actions.
func compileAction(path string, list []config.Action, groups map[string]*groupRuntime, doc *config.Document) (*httpproxy.Action, error) {
	if len(list) != 1 {
		return nil, fmt.Errorf("%s: exactly one action, not %d", path, len(list))
	}
	ca := &list[0]
	switch ca.Type {
	case config.ActionFixedResponse:
		f := ca.FixedResponse
		code, err := strconv.Atoi(f.StatusCode)
		if err != nil {
			return nil, fmt.Errorf("%s.fixed_response.status_code: %w", path, err)
		}
		return &httpproxy.Action{Kind: httpproxy.ActionFixedResponse, Status: code, ContentType: f.ContentType, Body: f.MessageBody}, nil
	case config.ActionRedirect:
		rd, err := httpproxy.CompileRedirect(ca.Redirect)
		if err != nil {
			return nil, fmt.Errorf("%s.%w", path, err)
		}
		return &httpproxy.Action{Kind: httpproxy.ActionRedirect, Redirect: rd}, nil
	}
	a := &httpproxy.Action{Kind: httpproxy.ActionForward}
	var errs []error
	for k, w := range ca.ForwardTargetGroups() {
		g := groups[w.TargetGroup]
		if g == nil {
			if targetGroupNamed(doc, w.TargetGroup) {
				errs = append(errs, errReportedElsewhere)
			} else {
				errs = append(errs, fmt.Errorf("%s: forward.target_groups[%d]: no target group named %q", path, k, w.TargetGroup))
			}
			continue
		}
		weight := 1
		if w.Weight != nil {
			weight = *w.Weight
		}
		a.Groups = append(a.Groups, g.proxy)
		a.Weights = append(a.Weights, weight)
		a.Total += weight
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if a.Total <= 0 {
		return nil, fmt.Errorf("%s: every target group has weight 0", path)
	}
	if ca.Forward != nil && ca.Forward.Stickiness != nil && ca.Forward.Stickiness.Enabled {
		a.GroupStickiness = time.Duration(ca.Forward.Stickiness.DurationSeconds) * time.Second
	}
	return a, nil
}

func targetGroupNamed(doc *config.Document, name string) bool {
	for _, tg := range doc.TargetGroups {
		if tg.Name == name {
			return true
		}
	}
	return false
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

// loadCertificates reads and pairs a listener's certificates and keys.
func loadCertificates(l config.Listener, opts CompileOptions) ([]tls.Certificate, []error) {
	var errs []error
	var certs []tls.Certificate
	for j, c := range l.Certificates {
		pair, err := readKeyPair(c.Certificate, c.PrivateKey, opts.ReadFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("certificates[%d]%w", j, err))
			continue
		}
		certs = append(certs, pair)
	}
	return certs, errs
}

// readKeyPair reads a PEM certificate (chain) and its key. Its errors start with the key that is wrong
// (".certificate: …", ".private_key: …", or ": cert with key: …") so callers prefix the document path.
func readKeyPair(cert, key config.FilePath, readFile func(string) ([]byte, error)) (tls.Certificate, error) {
	certPEM, err := readFile(cert.Path())
	if err != nil {
		return tls.Certificate{}, fmt.Errorf(".certificate: %w", err)
	}
	keyPEM, err := readFile(key.Path())
	if err != nil {
		return tls.Certificate{}, fmt.Errorf(".private_key: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf(": %s with %s: %w", cert.Path(), key.Path(), err)
	}
	return pair, nil
}

// chosenCert is a listener certificate and the name the access log gives it (chosen_cert_arn: ALB logs the
// certificate's ARN, mtlslb the certificate file as the document names it).
type chosenCert struct {
	leaf *x509.Certificate
	name string
}

// chosenCertName returns the name of the certificate crypto/tls picks for sni: the first whose leaf is valid
// for the name, else the first (the default).
func (g *listenerGen) chosenCertName(sni string) string {
	if len(g.certs) == 0 {
		return ""
	}
	if sni != "" && len(g.certs) > 1 {
		for _, c := range g.certs {
			if c.leaf.VerifyHostname(sni) == nil {
				return c.name
			}
		}
	}
	return g.certs[0].name
}
