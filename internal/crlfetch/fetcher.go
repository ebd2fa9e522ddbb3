package crlfetch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/mtlslb/mtlslb/internal/crl"
	"github.com/mtlslb/mtlslb/internal/x509name"
)

// Defaults and bounds of Options.
const (
	// DefaultInterval is how often a CRL is fetched when Options.Interval
	// is zero.
	DefaultInterval = time.Hour
	// MinInterval is the shortest Interval New accepts: a shorter one would
	// turn the fetcher into a load test of the CRL server.
	MinInterval = time.Second
	// DefaultMaxSize is the largest body accepted when Options.MaxSize is
	// zero: the per-CRL file limit of alb-compat.md §4.
	DefaultMaxSize = 50 << 20
	// minLead is the least time before nextUpdate a refresh is due when
	// Options.Lead is zero.
	minLead = time.Minute
)

// Values of Status.Source.
const (
	// SourceNetwork means the current copy came from the URL, or the URL
	// confirmed it is still current (304 Not Modified).
	SourceNetwork = "network"
	// SourceCache means the current copy was loaded from the disk cache and
	// the URL has not answered with a good CRL since.
	SourceCache = "cache"
)

// Options configures a Fetcher.
type Options struct {
	// URL is the CRL's address, http or https. Credentials in it are
	// redacted in logs and Status.
	URL string
	// CacheDir is the directory where the last good copy is kept across
	// restarts, one file per URL. It is created when missing. Empty means
	// no disk cache: a restart waits for the URL.
	CacheDir string
	// Client sends the requests. Nil means a client that ignores proxy
	// environment variables (a CRL fetch must not depend on the shell that
	// started the process) and has dial, TLS and header timeouts. Each
	// attempt is also bounded by a five-minute context deadline.
	Client *http.Client
	// Interval is the longest time between two fetches. Zero means
	// DefaultInterval; less than MinInterval is an error.
	Interval time.Duration
	// Lead is how long before the CRL's nextUpdate a refresh is due. Zero
	// means 10% of the CRL's validity (nextUpdate − thisUpdate), at least
	// one minute.
	Lead time.Duration
	// MaxSize is the largest response body accepted, in bytes. Zero means
	// DefaultMaxSize.
	MaxSize int64
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// Logger receives one line per change, refusal, failure and staleness.
	// Nil discards them.
	Logger *slog.Logger
	// OnUpdate, when set, is called on the fetcher's goroutine with each
	// new good CRL and its DER encoding, the cached copy at Start included.
	// It should hand the CRL off (the engine recompiles the trust store on
	// its own goroutine) rather than block: the next refresh waits for it.
	// Neither argument may be modified.
	OnUpdate func(*crl.CRL, []byte)
}

// Fetcher keeps the CRL at one URL fresh. Create it with New and run it with
// Start. Current and Status are safe for concurrent use and never block.
type Fetcher struct {
	url       string // as configured, for requests
	redacted  string // for logs and Status
	cacheDir  string
	cacheFile string // "" when there is no disk cache
	client    *http.Client
	interval  time.Duration
	lead      time.Duration // 0: derived from each CRL's validity
	maxSize   int64
	now       func() time.Time
	log       *slog.Logger
	onUpdate  func(*crl.CRL, []byte)

	started atomic.Bool
	// state is replaced whole, never modified: only the goroutine running
	// Start writes it, readers load it without locking.
	state atomic.Pointer[state]
}

// state is one immutable moment of a Fetcher.
type state struct {
	crl          *crl.CRL // nil until a first good copy
	source       string
	etag         string // validators of the response that carried crl
	lastModified string
	staleWarned  bool // the stale warning for crl has been logged

	lastAttempt time.Time
	lastSuccess time.Time
	lastError   string
	failures    int
	nextAttempt time.Time
	cacheError  string
}

// Status is what a Fetcher reports about its URL and its current copy. It is
// plain data for the status API and metrics.
type Status struct {
	// URL is the configured URL, credentials redacted.
	URL string
	// Source is SourceNetwork or SourceCache, or "" while there is no copy.
	Source string
	// LastAttempt is when the URL was last asked, zero before the first try.
	LastAttempt time.Time
	// LastSuccess is when the URL last answered with a good CRL or a 304.
	LastSuccess time.Time
	// LastError says in plain words why the last attempt failed or its
	// response was refused, e.g. "GET https://pki.example/ca.crl: 503
	// Service Unavailable". It is empty after a success.
	LastError string
	// ConsecutiveFailures counts the attempts that failed since the last
	// success.
	ConsecutiveFailures int
	// NextAttempt is when the URL will be asked next.
	NextAttempt time.Time
	// Issuer is the current copy's issuer in RFC 2253 form.
	Issuer string
	// ThisUpdate and NextUpdate are the current copy's; NextUpdate is zero
	// when the CRL has none.
	ThisUpdate time.Time
	NextUpdate time.Time
	// Number is the current copy's cRLNumber, nil when it has none. It is a
	// copy the caller may keep.
	Number *big.Int
	// Entries is the number of revoked entries in the current copy.
	Entries int
	// Stale reports that the current copy's nextUpdate has passed.
	Stale bool
	// CacheError says why the last attempt to read or write the disk cache
	// failed; empty when it worked.
	CacheError string
}

// New checks opts and returns a Fetcher that has not started. It does no
// I/O.
func New(opts Options) (*Fetcher, error) {
	u, err := url.Parse(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("CRL URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("CRL URL %s: the scheme must be http or https", u.Redacted())
	}
	if u.Host == "" {
		return nil, fmt.Errorf("CRL URL %s: no host", u.Redacted())
	}
	f := &Fetcher{
		url:      u.String(),
		redacted: u.Redacted(),
		cacheDir: opts.CacheDir,
		client:   opts.Client,
		interval: opts.Interval,
		lead:     opts.Lead,
		maxSize:  opts.MaxSize,
		now:      opts.Now,
		log:      opts.Logger,
		onUpdate: opts.OnUpdate,
	}
	switch {
	case f.interval == 0:
		f.interval = DefaultInterval
	case f.interval < MinInterval:
		return nil, fmt.Errorf("CRL URL %s: interval %v is below the minimum %v", f.redacted, f.interval, MinInterval)
	}
	if f.lead < 0 {
		return nil, fmt.Errorf("CRL URL %s: lead %v is negative", f.redacted, f.lead)
	}
	switch {
	case f.maxSize == 0:
		f.maxSize = DefaultMaxSize
	case f.maxSize < 0:
		return nil, fmt.Errorf("CRL URL %s: maximum size %d is negative", f.redacted, f.maxSize)
	}
	if f.client == nil {
		f.client = defaultClient()
	}
	if f.now == nil {
		f.now = time.Now
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	f.log = f.log.With("crl_url", f.redacted)
	if f.cacheDir != "" {
		f.cacheFile = filepath.Join(f.cacheDir, cacheFileName(f.url))
	}
	f.state.Store(&state{})
	return f, nil
}

// defaultClient returns the client used when Options.Client is nil.
func defaultClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			// No Proxy: HTTP_PROXY in the environment must not silently
			// redirect where revocation data comes from.
			DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: time.Minute,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   1,
			ForceAttemptHTTP2:     true,
		},
	}
}

// cacheFileName names the cache file of rawURL. A hash keeps the name short,
// free of characters a file system refuses, and distinct per URL.
func cacheFileName(rawURL string) string {
	sum := sha256.Sum256([]byte(rawURL))
	return "crl-" + hex.EncodeToString(sum[:]) + ".pem"
}

// CachePath returns the path of the file that holds the last good copy, or
// "" when Options.CacheDir is empty.
func (f *Fetcher) CachePath() string {
	return f.cacheFile
}

// Current returns the last good CRL and its DER encoding, and false while
// there is none yet. Neither may be modified.
func (f *Fetcher) Current() (*crl.CRL, []byte, bool) {
	s := f.state.Load()
	if s.crl == nil {
		return nil, nil, false
	}
	return s.crl, s.crl.Raw(), true
}

// Status reports the fetcher's state, with staleness judged by the clock now.
func (f *Fetcher) Status() Status {
	s := f.state.Load()
	st := Status{
		URL:                 f.redacted,
		Source:              s.source,
		LastAttempt:         s.lastAttempt,
		LastSuccess:         s.lastSuccess,
		LastError:           s.lastError,
		ConsecutiveFailures: s.failures,
		NextAttempt:         s.nextAttempt,
		CacheError:          s.cacheError,
	}
	if c := s.crl; c != nil {
		st.Issuer = c.Issuer()
		st.ThisUpdate = c.ThisUpdate()
		st.NextUpdate = c.NextUpdate()
		if n := c.Number(); n != nil {
			st.Number = new(big.Int).Set(n)
		}
		st.Entries = c.Len()
		st.Stale = isStale(c, f.now())
	}
	return st
}

// isStale reports whether c's nextUpdate has passed at now, as crl.Policy
// judges it (strictly after).
func isStale(c *crl.CRL, now time.Time) bool {
	nu := c.NextUpdate()
	return !nu.IsZero() && now.After(nu)
}

// Start loads the cached copy, then fetches the URL and keeps refreshing it
// until ctx is cancelled. It blocks; run it on its own goroutine. A Fetcher
// starts once: a second call returns at once.
func (f *Fetcher) Start(ctx context.Context) {
	if !f.started.CompareAndSwap(false, true) {
		f.log.Error("CRL fetcher started twice; the second Start returns at once")
		return
	}
	f.loadCache()
	for {
		next := f.refresh(ctx)
		if ctx.Err() != nil {
			return
		}
		f.update(func(s *state) { s.nextAttempt = next })
		t := time.NewTimer(next.Sub(f.now()))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// update replaces the state with a modified copy. Only the goroutine running
// Start calls it, so there is no lost update.
func (f *Fetcher) update(change func(*state)) *state {
	s := *f.state.Load()
	change(&s)
	f.state.Store(&s)
	return &s
}

// refresh makes one attempt and returns when the next one is due.
func (f *Fetcher) refresh(ctx context.Context) time.Time {
	cur := f.state.Load()
	attempt := f.now()
	f.update(func(s *state) { s.lastAttempt = attempt })

	res, err := f.fetch(ctx, cur)
	if ctx.Err() != nil {
		// Shutting down: the failed request says nothing about the URL.
		return time.Time{}
	}
	if err == nil && res.crl != nil {
		if err = checkSuccessor(cur.crl, res.crl); err != nil {
			err = fmt.Errorf("GET %s: %w", f.redacted, err)
		}
	}
	now := f.now()
	if err != nil {
		s := f.update(func(s *state) {
			s.lastError = err.Error()
			s.failures++
		})
		next := f.afterFailure(now, s.failures, s.crl)
		attrs := []any{"error", err, "failures", s.failures, "retry_in", next.Sub(now).Round(time.Second)}
		if s.crl != nil {
			attrs = append(attrs, "serving", s.source, "stale", isStale(s.crl, now))
		} else {
			attrs = append(attrs, "serving", "nothing")
		}
		f.log.Warn("CRL refresh failed; the last good copy stays in force", attrs...)
		f.warnIfStale(now)
		return next
	}

	changed := res.crl != nil && (cur.crl == nil || !bytes.Equal(res.crl.Raw(), cur.crl.Raw()))
	s := f.update(func(s *state) {
		if res.crl != nil && changed {
			s.crl = res.crl
			s.staleWarned = false
		}
		if res.crl != nil {
			// A 200 carries its own validators; a 304 leaves them as they are.
			s.etag, s.lastModified = res.etag, res.lastModified
		}
		s.source = SourceNetwork
		s.lastSuccess = now
		s.lastError = ""
		s.failures = 0
	})
	if res.crl == nil {
		f.log.Debug("CRL not modified", "number", s.crl.Number(), "next_update", s.crl.NextUpdate())
	} else if changed {
		f.log.Info("CRL updated", "issuer", s.crl.Issuer(), "number", s.crl.Number(),
			"this_update", s.crl.ThisUpdate(), "next_update", s.crl.NextUpdate(), "entries", s.crl.Len())
	}
	if res.crl != nil && (changed || res.etag != cur.etag || res.lastModified != cur.lastModified) {
		f.saveCache(s)
	}
	if changed && f.onUpdate != nil {
		f.onUpdate(s.crl, s.crl.Raw())
	}
	f.warnIfStale(now)
	return f.afterSuccess(now, s.crl)
}

// warnIfStale logs, once per CRL, that the current copy's nextUpdate has
// passed. Start wakes just after nextUpdate so the line is written when it
// happens, not at the next refresh.
func (f *Fetcher) warnIfStale(now time.Time) {
	s := f.state.Load()
	if s.crl == nil || s.staleWarned || !isStale(s.crl, now) {
		return
	}
	f.update(func(s *state) { s.staleWarned = true })
	f.log.Warn("CRL is stale: its nextUpdate has passed; the trust store's stale_crl_policy decides whether it is still used",
		"issuer", s.crl.Issuer(), "number", s.crl.Number(), "next_update", s.crl.NextUpdate(), "source", s.source)
}

// checkSuccessor says why next may not replace cur, or returns nil.
func checkSuccessor(cur, next *crl.CRL) error {
	if cur == nil {
		return nil
	}
	if !x509name.Equal(cur.RawIssuer(), next.RawIssuer()) {
		return fmt.Errorf("refused a CRL of issuer %q: the current copy's issuer is %q", next.Issuer(), cur.Issuer())
	}
	if cur.IsDelta() != next.IsDelta() {
		return fmt.Errorf("refused a %s: the current copy is a %s", kind(next), kind(cur))
	}
	if cn, nn := cur.Number(), next.Number(); cn != nil && nn != nil && nn.Cmp(cn) < 0 {
		return fmt.Errorf("refused CRL number %v: lower than the current copy's %v (a rollback)", nn, cn)
	}
	if next.ThisUpdate().Before(cur.ThisUpdate()) {
		return fmt.Errorf("refused a CRL of thisUpdate %s: older than the current copy's %s (a rollback)",
			next.ThisUpdate().UTC().Format(time.RFC3339), cur.ThisUpdate().UTC().Format(time.RFC3339))
	}
	return nil
}

func kind(c *crl.CRL) string {
	if c.IsDelta() {
		return "delta CRL"
	}
	return "complete CRL"
}
