package health

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Protocol is how a health check talks to a target.
type Protocol string

// The health check protocols.
const (
	ProtocolHTTP  Protocol = "HTTP"
	ProtocolHTTPS Protocol = "HTTPS"
	ProtocolTCP   Protocol = "TCP"
)

// UserAgent is the User-Agent of HTTP and HTTPS checks: ALB's, because
// targets often exempt it from access logs and authentication.
const UserAgent = "ELB-HealthChecker/2.0"

// Config is a target group's health check, compiled: durations are
// durations and the matcher is parsed. [FromConfig] builds one from the
// configuration document.
type Config struct {
	// Disabled turns checking off: every target is "unavailable" and all
	// of them receive traffic, as ALB does.
	Disabled bool
	// Protocol is HTTP, HTTPS or TCP.
	Protocol Protocol
	// Port is the port checks go to; 0 means each target's own port
	// ("traffic-port").
	Port int
	// Path is the request path (and query) of HTTP and HTTPS checks.
	Path string
	// Interval is the time between two checks of a target.
	Interval time.Duration
	// Timeout bounds one check, connection included.
	Timeout time.Duration
	// HealthyThreshold is the number of consecutive successes that make a
	// target healthy.
	HealthyThreshold int
	// UnhealthyThreshold is the number of consecutive failures that make a
	// target unhealthy.
	UnhealthyThreshold int
	// Matcher is the set of healthy response codes of HTTP and HTTPS
	// checks (gRPC status codes when GRPC is set).
	Matcher Matcher
	// GRPC makes an HTTP or HTTPS check a gRPC one, as ALB's for GRPC target
	// groups: a POST over HTTP/2 (h2c for HTTP) to Path with an empty gRPC
	// message, judged by the grpc-status of the answer.
	GRPC bool
}

// Target is one checked backend.
type Target struct {
	// Host is an IP address or a host name.
	Host string `json:"id"`
	// Port is the target's traffic port.
	Port int `json:"port"`
}

// DialFunc opens a connection, as [net.Dialer.DialContext].
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// TickerFunc starts a ticker of period d and returns its channel and a
// function that stops it. The default wraps [time.NewTicker]; tests inject
// their own or run under testing/synctest.
type TickerFunc func(d time.Duration) (<-chan time.Time, func())

// Options are a Checker's injected dependencies; the zero value works.
type Options struct {
	// Dial opens check connections. Default: a plain [net.Dialer].
	Dial DialFunc
	// NewTicker paces the checks. Default: [time.NewTicker].
	NewTicker TickerFunc
	// TLSConfig is the client configuration of HTTPS checks. Default: as
	// ALB, the target's certificate is not verified, because targets
	// commonly present self-signed certificates and a check proves
	// liveness, not identity. It is cloned, never modified.
	TLSConfig *tls.Config
	// OnChange, when set, is called after a target's state or reason
	// changed, from the Checker's goroutine, never concurrently. It must
	// not block for long: the next round of checks waits for it.
	OnChange func(index int, old, new TargetHealth)
}

// Checker checks the targets of one target group. Create it with [New],
// start it with [Checker.Start]; its methods are safe for concurrent use.
type Checker struct {
	cfg      Config
	opts     Options
	targets  []Target
	urls     []string // per target, HTTP and HTTPS checks
	addrs    []string // per target, host:port of the checks
	client   *http.Client
	tr       *http.Transport
	started  atomic.Bool
	done     chan struct{}
	healthy  atomic.Pointer[healthySet]
	all      []int // every index, the fail-open answer
	mu       sync.Mutex
	statuses []status // guarded by mu; written only by the run goroutine

	// afterRound, set by this package's tests before Start, is called after
	// each applied round so that tests can pace rounds without sleeping.
	afterRound func()
}

// healthySet is the balancer's view, rebuilt on each change and swapped in
// whole so that Healthy is one atomic load.
type healthySet struct {
	indexes  []int
	failOpen bool
}

// status is a target's state machine.
type status struct {
	health    TargetHealth
	successes int // consecutive
	failures  int // consecutive
}

// result is the outcome of one check.
type result struct {
	ok          bool
	reason      Reason
	description string
	err         error
}

// New returns a Checker for targets with configuration cfg. It validates
// cfg; it starts nothing.
func New(cfg Config, targets []Target, opts Options) (*Checker, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("creating health checker: %w", err)
	}
	c := &Checker{
		cfg:      cfg,
		opts:     opts,
		targets:  append([]Target(nil), targets...),
		addrs:    make([]string, len(targets)),
		done:     make(chan struct{}),
		all:      make([]int, len(targets)),
		statuses: make([]status, len(targets)),
	}
	if c.opts.Dial == nil {
		c.opts.Dial = (&net.Dialer{}).DialContext
	}
	if c.opts.NewTicker == nil {
		c.opts.NewTicker = func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		}
	}
	for i, t := range targets {
		port := cfg.Port
		if port == 0 {
			port = t.Port
		}
		if t.Host == "" || port < 1 || port > 65535 {
			return nil, fmt.Errorf("creating health checker: target %d (%s:%d): needs a host and a port between 1 and 65535", i, t.Host, t.Port)
		}
		c.addrs[i] = net.JoinHostPort(t.Host, strconv.Itoa(port))
		c.all[i] = i
		h := TargetHealth{Target: t, HealthCheckPort: port, State: StateInitial,
			Reason: ReasonInitialHealthChecking, Description: descInitial}
		if cfg.Disabled {
			h.State, h.Reason, h.Description = StateUnavailable, ReasonHealthCheckDisabled, descDisabled
		}
		c.statuses[i].health = h
	}
	if cfg.Protocol == ProtocolHTTP || cfg.Protocol == ProtocolHTTPS {
		c.urls = make([]string, len(targets))
		for i := range targets {
			u := url.URL{Scheme: "http", Host: c.addrs[i]}
			if cfg.Protocol == ProtocolHTTPS {
				u.Scheme = "https"
			}
			c.urls[i] = u.String() + cfg.Path
		}
		c.tr = c.newTransport()
		c.client = &http.Client{
			Transport: c.tr,
			// A redirect's code is the answer, as ALB: 301 matches only a
			// matcher that lists it.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	c.publish()
	return c, nil
}

func (c *Checker) newTransport() *http.Transport {
	tlsCfg := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // ALB does not verify targets; see Options.TLSConfig.
	if c.opts.TLSConfig != nil {
		tlsCfg = c.opts.TLSConfig.Clone()
	}
	var protos *http.Protocols
	if c.cfg.GRPC {
		// gRPC needs HTTP/2: over TLS by ALPN, in clear with prior knowledge.
		protos = new(http.Protocols)
		protos.SetHTTP2(true)
		protos.SetUnencryptedHTTP2(true)
	}
	return &http.Transport{
		Protocols:   protos,
		Proxy:       nil, // never through an environment proxy: the target itself is checked
		DialContext: c.opts.Dial,
		// A new connection per check, as ALB, so a check proves the target
		// still accepts connections; it also leaves no idle goroutines.
		DisableKeepAlives:      true,
		TLSClientConfig:        tlsCfg,
		TLSHandshakeTimeout:    c.cfg.Timeout,
		MaxResponseHeaderBytes: 64 << 10,
	}
}

func (cfg *Config) validate() error {
	var problems []error
	switch cfg.Protocol {
	case ProtocolHTTP, ProtocolHTTPS:
		if cfg.Matcher.IsZero() {
			problems = append(problems, errors.New("an HTTP or HTTPS check needs a matcher"))
		}
		if len(cfg.Path) == 0 || cfg.Path[0] != '/' {
			problems = append(problems, fmt.Errorf("path %q must start with /", cfg.Path))
		} else if _, err := url.ParseRequestURI(cfg.Path); err != nil {
			problems = append(problems, fmt.Errorf("path %q: %w", cfg.Path, err))
		}
	case ProtocolTCP:
	default:
		problems = append(problems, fmt.Errorf("protocol %q must be HTTP, HTTPS or TCP", cfg.Protocol))
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		problems = append(problems, fmt.Errorf("port %d must be 0 (traffic port) or 1–65535", cfg.Port))
	}
	if cfg.Interval <= 0 || cfg.Timeout <= 0 {
		problems = append(problems, fmt.Errorf("interval %v and timeout %v must be positive", cfg.Interval, cfg.Timeout))
	}
	if cfg.HealthyThreshold < 1 || cfg.UnhealthyThreshold < 1 {
		problems = append(problems, fmt.Errorf("thresholds %d and %d must be at least 1", cfg.HealthyThreshold, cfg.UnhealthyThreshold))
	}
	return errors.Join(problems...)
}

// Healthy returns the indexes (into the targets given to New) of the
// targets the balancer may use: the healthy ones or, when there are none,
// all of them (fail open, as ALB). It does not allocate; the slice is
// shared and must not be modified.
func (c *Checker) Healthy() []int { return c.healthy.Load().indexes }

// FailingOpen reports whether Healthy is returning every target because
// none is healthy.
func (c *Checker) FailingOpen() bool { return c.healthy.Load().failOpen }

// Describe returns every target's health, in the order of the targets
// given to New.
func (c *Checker) Describe() []TargetHealth {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]TargetHealth, len(c.statuses))
	for i := range c.statuses {
		out[i] = c.statuses[i].health
	}
	return out
}

// Done returns a channel closed when a started Checker has stopped: its
// context was cancelled and every check it started has returned.
func (c *Checker) Done() <-chan struct{} { return c.done }

// Start starts checking in the background until ctx is cancelled. The first
// round of checks starts at once, the next ones every Interval. Starting a
// Checker twice is a programming error and panics.
func (c *Checker) Start(ctx context.Context) {
	if !c.started.CompareAndSwap(false, true) {
		panic("health: Checker started twice")
	}
	if c.cfg.Disabled || len(c.targets) == 0 {
		close(c.done)
		return
	}
	go c.run(ctx)
}

func (c *Checker) run(ctx context.Context) {
	defer close(c.done)
	if c.tr != nil {
		defer c.tr.CloseIdleConnections()
	}
	tick, stop := c.opts.NewTicker(c.cfg.Interval)
	defer stop()
	results := make([]result, len(c.targets))
	for {
		c.round(ctx, results)
		if ctx.Err() != nil {
			return // the round was cut short; its results mean nothing
		}
		c.apply(results)
		if c.afterRound != nil {
			c.afterRound()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
	}
}

// round checks every target at once and waits for all of them; a round
// lasts at most Timeout, which configuration keeps below Interval.
func (c *Checker) round(ctx context.Context, results []result) {
	var wg sync.WaitGroup
	for i := range c.targets {
		wg.Go(func() { results[i] = c.check(ctx, i) })
	}
	wg.Wait()
}

func (c *Checker) check(ctx context.Context, i int) result {
	cctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	if c.cfg.Protocol == ProtocolTCP {
		conn, err := c.opts.Dial(cctx, "tcp", c.addrs[i])
		if err != nil {
			return failure(cctx, err)
		}
		_ = conn.Close() // the connect was the check; a close error says nothing of the target
		return result{ok: true}
	}
	if c.cfg.GRPC {
		return c.checkGRPC(cctx, i)
	}
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, c.urls[i], nil)
	if err != nil {
		return result{reason: ReasonInternalError, description: descInternal, err: fmt.Errorf("building check request: %w", err)}
	}
	req.Header.Set("User-Agent", UserAgent)
	resp, err := c.client.Do(req)
	if err != nil {
		return failure(cctx, err)
	}
	// The body is not read: ALB judges by the code alone, and without
	// keep-alives closing it closes the connection.
	_ = resp.Body.Close()
	if !c.cfg.Matcher.Match(resp.StatusCode) {
		return result{
			reason:      ReasonResponseCodeMismatch,
			description: fmt.Sprintf("Health checks failed with these codes: [%d]", resp.StatusCode),
			err:         fmt.Errorf("status %d does not match %s", resp.StatusCode, c.cfg.Matcher),
		}
	}
	return result{ok: true}
}

// failure classifies a failed connection or request.
func failure(ctx context.Context, err error) result {
	var ne net.Error
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return result{reason: ReasonTimeout, description: descTimeout, err: err}
	}
	return result{reason: ReasonFailedHealthChecks, description: descFailed, err: err}
}

type change struct {
	index    int
	old, new TargetHealth
}

// apply runs every target's state machine on the round's results, then
// publishes the balancer's view and reports the changes.
func (c *Checker) apply(results []result) {
	var changes []change
	c.mu.Lock()
	for i, r := range results {
		s := &c.statuses[i]
		old := s.health
		s.step(r, c.cfg.HealthyThreshold, c.cfg.UnhealthyThreshold)
		if s.health.State != old.State || s.health.Reason != old.Reason {
			changes = append(changes, change{i, old, s.health})
		}
	}
	if len(changes) > 0 {
		c.publishLocked()
	}
	c.mu.Unlock()
	if c.opts.OnChange != nil {
		for _, ch := range changes {
			c.opts.OnChange(ch.index, ch.old, ch.new)
		}
	}
}

// step moves one target through ALB's states: the counts of consecutive
// successes and failures decide, and a result of the other kind resets the
// count. While unhealthy, the reason follows the latest failure.
func (s *status) step(r result, healthyAt, unhealthyAt int) {
	h := &s.health
	if r.ok {
		s.failures = 0
		s.successes++
		h.LastError = ""
		if h.State != StateHealthy && s.successes >= healthyAt {
			h.State, h.Reason, h.Description = StateHealthy, "", ""
		}
		return
	}
	s.successes = 0
	s.failures++
	h.LastError = r.err.Error()
	if h.State == StateUnhealthy || s.failures >= unhealthyAt {
		h.State, h.Reason, h.Description = StateUnhealthy, r.reason, r.description
	}
}

func (c *Checker) publish() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.publishLocked()
}

func (c *Checker) publishLocked() {
	idx := make([]int, 0, len(c.statuses))
	for i := range c.statuses {
		if c.statuses[i].health.State == StateHealthy {
			idx = append(idx, i)
		}
	}
	set := &healthySet{indexes: idx}
	if len(idx) == 0 {
		set.indexes, set.failOpen = c.all, true
	}
	c.healthy.Store(set)
}

// Inherit takes over the state of every target that prev also checked (same host and port), so that applying a
// new configuration does not send every target back to initial, nor fail open while the first checks run. A
// target new to c stays initial. Call it before Start; prev may still be running.
func (c *Checker) Inherit(prev *Checker) {
	if prev == nil || c.cfg.Disabled {
		return
	}
	old := map[Target]status{}
	prev.mu.Lock()
	for i := range prev.statuses {
		old[prev.targets[i]] = prev.statuses[i]
	}
	prev.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, t := range c.targets {
		s, ok := old[t]
		if !ok || s.health.State == StateUnavailable {
			continue
		}
		s.health.HealthCheckPort = c.statuses[i].health.HealthCheckPort
		c.statuses[i] = s
	}
	c.publishLocked()
}

// grpcEmptyMessage is a gRPC frame holding an empty message: not compressed, length 0.
var grpcEmptyMessage = []byte{0, 0, 0, 0, 0}

// checkGRPC sends a unary gRPC call with an empty message to the check path and judges the grpc-status
// (from the trailers, or from the headers of a trailers-only answer), as ALB's gRPC health checks do.
func (c *Checker) checkGRPC(ctx context.Context, i int) result {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.urls[i], bytes.NewReader(grpcEmptyMessage))
	if err != nil {
		return result{reason: ReasonInternalError, description: descInternal, err: fmt.Errorf("building check request: %w", err)}
	}
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("TE", "trailers")
	resp, err := c.client.Do(req)
	if err != nil {
		return failure(ctx, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	status := resp.Trailer.Get("Grpc-Status")
	if status == "" {
		status = resp.Header.Get("Grpc-Status")
	}
	code, err := strconv.Atoi(status)
	if err != nil {
		return result{
			reason:      ReasonResponseCodeMismatch,
			description: fmt.Sprintf("Health checks failed with these codes: [%d]", resp.StatusCode),
			err:         fmt.Errorf("HTTP status %d without a grpc-status", resp.StatusCode),
		}
	}
	if !c.cfg.Matcher.Match(code) {
		return result{
			reason:      ReasonResponseCodeMismatch,
			description: fmt.Sprintf("Health checks failed with these codes: [%d]", code),
			err:         fmt.Errorf("grpc-status %d does not match %s", code, c.cfg.Matcher),
		}
	}
	return result{ok: true}
}
