package engine

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/mtlslb/mtlslb/internal/crl"
	"github.com/mtlslb/mtlslb/internal/crlfetch"
)

// RemoteCRLs keeps the CRLs that trust stores name by URL fresh for the life of the process: one fetcher per
// URL, started the first time a document names it and kept across reloads, its last good copy on disk so a
// restart serves at once even when the URL is down. Compile reads the current copy; when a fetcher gets a
// newer one, Changed is called and the caller reloads, so the new CRL is compiled off to the side and swapped
// in like any other change.
type RemoteCRLs struct {
	ctx     context.Context
	dir     string
	log     *slog.Logger
	changed func(url string)
	// FirstFetchTimeout bounds how long Get waits for a URL's first copy (default 15 s).
	firstFetch time.Duration

	mu       sync.Mutex
	fetchers map[string]*crlfetch.Fetcher
}

// NewRemoteCRLs returns a registry whose fetchers run until ctx is cancelled, keep their copies in cacheDir
// ("" keeps none), and call changed (which must not block) after a new CRL arrives.
func NewRemoteCRLs(ctx context.Context, cacheDir string, log *slog.Logger, changed func(url string)) *RemoteCRLs {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if changed == nil {
		changed = func(string) {}
	}
	return &RemoteCRLs{ctx: ctx, dir: cacheDir, log: log, changed: changed, firstFetch: 15 * time.Second,
		fetchers: map[string]*crlfetch.Fetcher{}}
}

// Get returns the current copy of the CRL at url (DER), starting its fetcher (refreshing at least every
// interval; 0 means the default) and waiting for its first copy if need be. With no copy (the URL unreachable
// and nothing cached) it returns an error that says why. A URL's fetcher keeps the interval it started with.
func (r *RemoteCRLs) Get(url string, interval time.Duration) ([]byte, error) {
	r.mu.Lock()
	f := r.fetchers[url]
	if f == nil {
		var err error
		f, err = crlfetch.New(crlfetch.Options{
			URL: url, CacheDir: r.dir, Logger: r.log, Interval: interval,
			OnUpdate: func(*crl.CRL, []byte) { r.changed(url) },
		})
		if err != nil {
			r.mu.Unlock()
			return nil, err
		}
		r.fetchers[url] = f
		go f.Start(r.ctx)
	}
	r.mu.Unlock()

	deadline := time.Now().Add(r.firstFetch)
	for {
		// The status is read before the copy: a first attempt that ended before this read has set its copy by
		// then. An attempt in flight (LastAttempt is set when it starts) is waited for; one that failed ends
		// the wait.
		st := f.Status()
		if _, der, ok := f.Current(); ok {
			return der, nil
		}
		if st.ConsecutiveFailures > 0 || time.Now().After(deadline) || r.ctx.Err() != nil {
			why := st.LastError
			if why == "" {
				why = "no answer yet"
			}
			return nil, fmt.Errorf("no copy of the CRL at %s yet (and none cached): %s", url, why)
		}
		// The fetcher's first attempt is bounded by its own timeouts; poll its state until it has one.
		select {
		case <-time.After(50 * time.Millisecond):
		case <-r.ctx.Done():
		}
	}
}

// Status returns every fetcher's status, by URL.
func (r *RemoteCRLs) Status() []crlfetch.Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]crlfetch.Status, 0, len(r.fetchers))
	for _, f := range r.fetchers {
		out = append(out, f.Status())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].URL < out[j].URL })
	return out
}
