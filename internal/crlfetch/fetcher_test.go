package crlfetch

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mtlslb/mtlslb/internal/testpki"
)

// TestRefreshBeforeNextUpdate checks that a CRL whose nextUpdate comes
// before the interval is refreshed Lead before its nextUpdate, with Lead
// defaulting to 10% of the CRL's validity.
func TestRefreshBeforeNextUpdate(t *testing.T) {
	tests := []struct {
		name     string
		lead     time.Duration
		validity time.Duration
		wantAt   time.Duration // after the first fetch
	}{
		{name: "default lead is 10% of validity", validity: 2 * time.Hour, wantAt: 108 * time.Minute},
		{name: "default lead is at least a minute", validity: 5 * time.Minute, wantAt: 4 * time.Minute},
		{name: "explicit lead", lead: 30 * time.Minute, validity: 2 * time.Hour, wantAt: 90 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newCRLServer(t)
			synctest.Test(t, func(t *testing.T) {
				ca := testpki.NewCA(t)
				start := time.Now()
				srv.set(reply{body: issueCRL(t, ca, 1, start, tt.validity)})
				h := newHarness(t, srv, func(o *Options) {
					o.Interval = 24 * time.Hour
					o.Lead = tt.lead
				})
				h.start(t)
				synctest.Wait()
				if got := h.currentNumber(t); got != 1 {
					t.Fatalf("after the first fetch: current CRL number %d, want 1", got)
				}
				if got, want := h.f.Status().NextAttempt, start.Add(tt.wantAt); !got.Equal(want) {
					t.Errorf("Status().NextAttempt = %v, want %v", got, want)
				}

				srv.set(reply{body: issueCRL(t, ca, 2, start.Add(tt.wantAt), tt.validity)})
				sleepUntil(start.Add(tt.wantAt - time.Nanosecond))
				if got := srv.requestCount(); got != 1 {
					t.Fatalf("just before the refresh is due: %d requests, want 1", got)
				}
				sleepUntil(start.Add(tt.wantAt))
				if got := srv.requestCount(); got != 2 {
					t.Fatalf("when the refresh is due: %d requests, want 2", got)
				}
				if got, want := h.updateNumbers(), []int64{1, 2}; !slices.Equal(got, want) {
					t.Errorf("OnUpdate received numbers %v, want %v", got, want)
				}
				if h.f.Status().Stale {
					t.Error("Status().Stale = true for a CRL refreshed before its nextUpdate")
				}
			})
		})
	}
}

// TestRefreshOnInterval checks that a long-lived CRL is still fetched every
// Interval, with a 304 when it has not changed.
func TestRefreshOnInterval(t *testing.T) {
	srv := newCRLServer(t)
	synctest.Test(t, func(t *testing.T) {
		ca := testpki.NewCA(t)
		start := time.Now()
		srv.set(reply{body: issueCRL(t, ca, 1, start, 30*24*time.Hour), etag: `"v1"`})
		h := newHarness(t, srv, nil) // Interval: 1h
		h.start(t)

		sleepUntil(start.Add(3*time.Hour + time.Minute))
		want := []time.Time{start, start.Add(time.Hour), start.Add(2 * time.Hour), start.Add(3 * time.Hour)}
		if got := h.rec.times(); !slices.EqualFunc(got, want, time.Time.Equal) {
			t.Errorf("requests at %v, want %v", got, want)
		}
		if got := srv.lastRequest(t).Get("If-None-Match"); got != `"v1"` {
			t.Errorf("If-None-Match = %q, want %q", got, `"v1"`)
		}
		if got, want := h.updateNumbers(), []int64{1}; !slices.Equal(got, want) {
			t.Errorf("OnUpdate received numbers %v, want %v (a 304 is no update)", got, want)
		}
		st := h.f.Status()
		if !st.LastSuccess.Equal(start.Add(3*time.Hour)) || st.Source != SourceNetwork || st.LastError != "" {
			t.Errorf("Status() = %+v, want a success at 3h from the network", st)
		}
	})
}

// TestNotModified checks conditional GET with ETag and with Last-Modified
// alone: a 304 keeps the copy, counts as a success and calls no OnUpdate.
func TestNotModified(t *testing.T) {
	const lastModified = "Mon, 02 Jan 2006 15:04:05 GMT"
	tests := []struct {
		name       string
		etag       string
		header     string
		wantHeader string
	}{
		{name: "etag", etag: `W/"abc"`, header: "If-None-Match", wantHeader: `W/"abc"`},
		{name: "last-modified", header: "If-Modified-Since", wantHeader: lastModified},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newCRLServer(t)
			synctest.Test(t, func(t *testing.T) {
				ca := testpki.NewCA(t)
				start := time.Now()
				srv.set(reply{body: issueCRL(t, ca, 7, start, 7*24*time.Hour), etag: tt.etag, lastModified: lastModified})
				h := newHarness(t, srv, nil)
				h.start(t)
				synctest.Wait()
				if got := srv.lastRequest(t).Get(tt.header); got != "" {
					t.Errorf("first request: %s = %q, want none (no copy yet)", tt.header, got)
				}
				sleepUntil(start.Add(time.Hour))
				if got := srv.lastRequest(t).Get(tt.header); got != tt.wantHeader {
					t.Errorf("second request: %s = %q, want %q", tt.header, got, tt.wantHeader)
				}
				if got := h.currentNumber(t); got != 7 {
					t.Errorf("current CRL number %d, want 7", got)
				}
				if got := len(h.updateNumbers()); got != 1 {
					t.Errorf("OnUpdate called %d times, want 1", got)
				}
				if st := h.f.Status(); !st.LastSuccess.Equal(start.Add(time.Hour)) || st.ConsecutiveFailures != 0 {
					t.Errorf("Status() = %+v, want a success at 1h", st)
				}
			})
		})
	}
}

// TestBackoffAfterFailures checks that failed attempts are retried after
// growing, jittered, bounded delays, that a success resets the backoff, and
// that cancelling the context ends a wait at once.
func TestBackoffAfterFailures(t *testing.T) {
	srv := newCRLServer(t)
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		srv.set(reply{status: 503})
		h := newHarness(t, srv, nil) // Interval 1h: the ceiling is backoffMax
		h.start(t)

		// base 10s doubling: 10s 20s 40s 80s 160s 320s 640s 900s 900s …
		// Eleven failures take at most about 55 minutes.
		sleepUntil(start.Add(time.Hour))
		at := h.rec.times()
		if len(at) < 11 {
			t.Fatalf("%d attempts in an hour of failures, want at least 11", len(at))
		}
		step := backoffBase
		for i := 1; i < 11; i++ {
			gap := at[i].Sub(at[i-1])
			if gap < step/2 || gap > step {
				t.Errorf("gap before attempt %d = %v, want between %v and %v", i+1, gap, step/2, step)
			}
			step = min(2*step, backoffMax)
		}
		st := h.f.Status()
		if st.ConsecutiveFailures != len(at) {
			t.Errorf("Status().ConsecutiveFailures = %d, want %d", st.ConsecutiveFailures, len(at))
		}
		wantErr := "GET " + srv.URL + "/ca.crl: 503 Service Unavailable"
		if st.LastError != wantErr {
			t.Errorf("Status().LastError = %q, want %q", st.LastError, wantErr)
		}
		if st.Source != "" || !st.LastSuccess.IsZero() {
			t.Errorf("Status() = %+v, want no copy and no success", st)
		}
		if _, _, ok := h.f.Current(); ok {
			t.Error("Current() reports a copy though every attempt failed")
		}

		// The server recovers: the next retry succeeds and the schedule
		// returns to the interval.
		ca := testpki.NewCA(t)
		srv.set(reply{body: issueCRL(t, ca, 1, time.Now(), 30*24*time.Hour)})
		sleepUntil(st.NextAttempt)
		st = h.f.Status()
		if st.ConsecutiveFailures != 0 || st.LastError != "" || h.currentNumber(t) != 1 {
			t.Fatalf("after recovery: Status() = %+v, want a success", st)
		}
		if want := st.LastSuccess.Add(time.Hour); !st.NextAttempt.Equal(want) {
			t.Errorf("after recovery: NextAttempt = %v, want %v", st.NextAttempt, want)
		}
	})
}

// TestBackoffCeilingIsInterval checks that a short interval bounds the
// retry delay too.
func TestBackoffCeilingIsInterval(t *testing.T) {
	srv := newCRLServer(t)
	synctest.Test(t, func(t *testing.T) {
		srv.set(reply{status: 500})
		h := newHarness(t, srv, func(o *Options) { o.Interval = 5 * time.Second })
		h.start(t)
		sleepUntil(time.Now().Add(time.Minute))
		at := h.rec.times()
		for i := 1; i < len(at); i++ {
			if gap := at[i].Sub(at[i-1]); gap < 2500*time.Millisecond || gap > 5*time.Second {
				t.Errorf("gap before attempt %d = %v, want between 2.5s and 5s", i+1, gap)
			}
		}
		if len(at) < 12 {
			t.Errorf("%d attempts in a minute, want at least 12", len(at))
		}
	})
}

// TestStopDuringBackoff checks that Start returns as soon as its context is
// cancelled, in the middle of a long wait.
func TestStopDuringBackoff(t *testing.T) {
	srv := newCRLServer(t)
	synctest.Test(t, func(t *testing.T) {
		srv.set(reply{status: 500})
		h := newHarness(t, srv, nil)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			defer close(done)
			h.f.Start(ctx)
		}()
		synctest.Wait()
		start := time.Now()
		cancel()
		<-done
		if d := time.Since(start); d != 0 {
			t.Errorf("Start returned %v after cancel, want at once", d)
		}
	})
}

// TestUnreachableKeepsCache checks the issue's bad input: with the URL
// unreachable, a new Fetcher serves the copy an earlier one cached, at
// once, and its status says why the URL failed.
func TestUnreachableKeepsCache(t *testing.T) {
	srv := newCRLServer(t)
	dir := t.TempDir()
	url := srv.URL + "/ca.crl"
	synctest.Test(t, func(t *testing.T) {
		ca := testpki.NewCA(t)
		srv.set(reply{body: issueCRL(t, ca, 42, time.Now(), 7*24*time.Hour), etag: `"e42"`})
		h := newHarness(t, srv, func(o *Options) { o.CacheDir = dir })
		h.start(t)
		synctest.Wait()
		if got := h.currentNumber(t); got != 42 {
			t.Fatalf("first run: current CRL number %d, want 42", got)
		}
	})
	srv.Close() // the URL now refuses connections

	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, srv, func(o *Options) { o.CacheDir = dir; o.URL = url })
		// Before Start nothing is served …
		if _, _, ok := h.f.Current(); ok {
			t.Fatal("Current() reports a copy before Start")
		}
		h.start(t)
		synctest.Wait()
		// … after it, the cached copy is, although the URL is down.
		if got := h.currentNumber(t); got != 42 {
			t.Fatalf("second run: current CRL number %d, want 42 from the cache", got)
		}
		if got, want := h.updateNumbers(), []int64{42}; !slices.Equal(got, want) {
			t.Errorf("OnUpdate received numbers %v, want %v", got, want)
		}
		st := h.f.Status()
		if st.Source != SourceCache {
			t.Errorf("Status().Source = %q, want %q", st.Source, SourceCache)
		}
		if !strings.HasPrefix(st.LastError, "GET "+url+": ") || !strings.Contains(st.LastError, "connection refused") {
			t.Errorf("Status().LastError = %q, want GET %s: … connection refused", st.LastError, url)
		}
		if st.ConsecutiveFailures != 1 || st.Number.Int64() != 42 || st.Stale {
			t.Errorf("Status() = %+v", st)
		}
		if h.logs.count("CRL refresh failed; the last good copy stays in force") != 1 {
			t.Errorf("logs lack the failure line:\n%s", h.logs)
		}
	})
}

// TestCacheWrittenAtomicallyAndReloaded checks the cache file: openssl's
// PEM form with the URL and validators in comment lines, no temporary file
// left behind, replaced on each new CRL, and read back by a new Fetcher
// whose first request is conditional on the cached validators.
func TestCacheWrittenAtomicallyAndReloaded(t *testing.T) {
	srv := newCRLServer(t)
	dir := filepath.Join(t.TempDir(), "not", "yet", "there")
	synctest.Test(t, func(t *testing.T) {
		ca := testpki.NewCA(t)
		start := time.Now()
		srv.set(reply{body: issueCRL(t, ca, 1, start, 7*24*time.Hour), etag: `"one"`})
		h := newHarness(t, srv, func(o *Options) { o.CacheDir = dir })
		h.start(t)
		synctest.Wait()
		want2 := issueCRL(t, ca, 2, start.Add(time.Hour), 7*24*time.Hour)
		srv.set(reply{body: want2, etag: `"two"`, lastModified: "Sat, 01 Jan 2000 01:00:00 GMT"})
		sleepUntil(start.Add(time.Hour))

		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 || entries[0].Name() != filepath.Base(h.f.CachePath()) {
			t.Fatalf("cache directory holds %v, want only %s", entries, filepath.Base(h.f.CachePath()))
		}
		info, err := entries[0].Info()
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o644 {
			t.Errorf("cache file mode %v, want 0644", info.Mode().Perm())
		}
		data, err := os.ReadFile(h.f.CachePath())
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range []string{
			"# url: " + srv.URL + "/ca.crl\n",
			"# etag: \"two\"\n",
			"# last-modified: Sat, 01 Jan 2000 01:00:00 GMT\n",
			"-----BEGIN X509 CRL-----\n",
		} {
			if !strings.Contains(string(data), line) {
				t.Errorf("cache file lacks %q:\n%s", line, data)
			}
		}
		c, _, err := parseCache(data)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(c.Raw(), want2) {
			t.Error("cache file does not hold the second CRL")
		}
	})

	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, srv, func(o *Options) { o.CacheDir = dir })
		h.start(t)
		synctest.Wait()
		if got := srv.lastRequest(t).Get("If-None-Match"); got != `"two"` {
			t.Errorf("restart: If-None-Match = %q, want the cached %q", got, `"two"`)
		}
		if got := srv.lastRequest(t).Get("If-Modified-Since"); got != "Sat, 01 Jan 2000 01:00:00 GMT" {
			t.Errorf("restart: If-Modified-Since = %q, want the cached value", got)
		}
		if got, want := h.updateNumbers(), []int64{2}; !slices.Equal(got, want) {
			t.Errorf("restart: OnUpdate received numbers %v, want %v (the cache, then a 304)", got, want)
		}
		if st := h.f.Status(); st.Source != SourceNetwork || st.LastError != "" || st.CacheError != "" {
			t.Errorf("restart: Status() = %+v, want the copy confirmed by the network", st)
		}
	})
}

// TestBadCacheIgnored checks that a cache file that is not a good copy
// is reported and ignored, and the URL decides.
func TestBadCacheIgnored(t *testing.T) {
	tests := []struct {
		name    string
		content func(good []byte, url string) []byte
		wantErr string
	}{
		{name: "garbage", content: func([]byte, string) []byte { return []byte("not a CRL") }, wantErr: "no PEM block"},
		{name: "truncated", content: func(good []byte, _ string) []byte { return good[:len(good)-40] }, wantErr: "malformed PEM block"},
		{name: "other URL", content: func(good []byte, url string) []byte {
			return bytes.Replace(good, []byte(url), []byte("http://elsewhere.example/x.crl"), 1)
		}, wantErr: "the file records the URL"},
		{name: "trailing data", content: func(good []byte, _ string) []byte { return append(good, "junk"...) }, wantErr: "data after the PEM block"},
		{name: "certificate", content: func(good []byte, _ string) []byte {
			return bytes.ReplaceAll(good, []byte("X509 CRL"), []byte("CERTIFICATE"))
		}, wantErr: "PEM block is"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newCRLServer(t)
			synctest.Test(t, func(t *testing.T) {
				ca := testpki.NewCA(t)
				srv.set(reply{body: issueCRL(t, ca, 5, time.Now(), 7*24*time.Hour)})
				h := newHarness(t, srv, nil)
				good := []byte{}
				{
					der := issueCRL(t, ca, 4, time.Now(), 7*24*time.Hour)
					meta := cacheMeta{url: h.f.redacted}
					if err := writeCache(filepath.Dir(h.f.CachePath()), h.f.CachePath(), meta, der, time.Now()); err != nil {
						t.Fatal(err)
					}
					var err error
					if good, err = os.ReadFile(h.f.CachePath()); err != nil {
						t.Fatal(err)
					}
				}
				if err := os.WriteFile(h.f.CachePath(), tt.content(good, h.f.redacted), 0o644); err != nil {
					t.Fatal(err)
				}
				h.start(t)
				synctest.Wait()
				if got, want := h.updateNumbers(), []int64{5}; !slices.Equal(got, want) {
					t.Errorf("OnUpdate received numbers %v, want %v (the URL's copy only)", got, want)
				}
				if !strings.Contains(h.logs.String(), "ignoring the cached CRL copy") || !strings.Contains(h.logs.String(), tt.wantErr) {
					t.Errorf("logs lack the warning with %q:\n%s", tt.wantErr, h.logs)
				}
				// The good copy from the URL replaced the bad file.
				if _, _, err := readCache(h.f.CachePath(), cacheLimit(DefaultMaxSize)); err != nil {
					t.Errorf("cache file after a good fetch: %v", err)
				}
				if st := h.f.Status(); st.CacheError != "" {
					t.Errorf("Status().CacheError = %q after a good write, want empty", st.CacheError)
				}
			})
		})
	}
}

// TestStaleWarning checks that a copy whose nextUpdate passes while the URL
// fails is still served, flagged stale in Status, and warned about once,
// at the moment it happens.
func TestStaleWarning(t *testing.T) {
	srv := newCRLServer(t)
	synctest.Test(t, func(t *testing.T) {
		ca := testpki.NewCA(t)
		start := time.Now()
		srv.set(reply{body: issueCRL(t, ca, 3, start, 2*time.Hour)})
		h := newHarness(t, srv, func(o *Options) { o.Interval = 24 * time.Hour })
		h.start(t)
		synctest.Wait()
		srv.set(reply{status: 404})

		sleepUntil(start.Add(2 * time.Hour))
		if st := h.f.Status(); st.Stale {
			t.Error("Status().Stale = true at nextUpdate, want false until it has passed")
		}
		if h.logs.count("CRL is stale") != 0 {
			t.Errorf("stale warning before nextUpdate passed:\n%s", h.logs)
		}
		sleepUntil(start.Add(2*time.Hour + time.Nanosecond))
		if h.logs.count("CRL is stale") != 1 {
			t.Errorf("want one stale warning just after nextUpdate:\n%s", h.logs)
		}
		sleepUntil(start.Add(6 * time.Hour))
		if n := h.logs.count("CRL is stale"); n != 1 {
			t.Errorf("%d stale warnings, want 1 per CRL", n)
		}
		st := h.f.Status()
		if !st.Stale || h.currentNumber(t) != 3 || !strings.HasSuffix(st.LastError, ": 404 Not Found") {
			t.Errorf("Status() = %+v, want the stale copy 3 still served and the 404 reported", st)
		}

		// A fresh CRL clears the staleness.
		srv.set(reply{body: issueCRL(t, ca, 4, time.Now(), 2*time.Hour)})
		sleepUntil(h.f.Status().NextAttempt)
		if st := h.f.Status(); st.Stale || h.currentNumber(t) != 4 {
			t.Errorf("after a fresh CRL: Status() = %+v", st)
		}
	})
}

// TestPollWhileSuccessorDue checks the schedule once a successor CRL is due
// but the server still serves the old one: polls every lead/10, at least a
// minute, not hot.
func TestPollWhileSuccessorDue(t *testing.T) {
	srv := newCRLServer(t)
	synctest.Test(t, func(t *testing.T) {
		ca := testpki.NewCA(t)
		start := time.Now()
		// Validity 10h: lead 1h, due at 9h, then a poll every 6 minutes.
		srv.set(reply{body: issueCRL(t, ca, 1, start, 10*time.Hour)})
		h := newHarness(t, srv, func(o *Options) { o.Interval = 24 * time.Hour })
		h.start(t)
		sleepUntil(start.Add(9*time.Hour + 13*time.Minute))
		want := []time.Time{start, start.Add(9 * time.Hour), start.Add(9*time.Hour + 6*time.Minute), start.Add(9*time.Hour + 12*time.Minute)}
		if got := h.rec.times(); !slices.EqualFunc(got, want, time.Time.Equal) {
			t.Errorf("requests at %v, want %v", got, want)
		}
	})
}

// TestOversizeNotReadWhole checks that a body over MaxSize without a
// Content-Length is abandoned once the limit is passed, not downloaded.
func TestOversizeNotReadWhole(t *testing.T) {
	srv := newCRLServer(t)
	synctest.Test(t, func(t *testing.T) {
		srv.set(reply{endless: true})
		h := newHarness(t, srv, func(o *Options) { o.MaxSize = 1 << 20 })
		h.start(t)
		synctest.Wait()
		st := h.f.Status()
		if want := "the body is larger than the limit of 1048576 bytes"; !strings.HasSuffix(st.LastError, want) {
			t.Errorf("Status().LastError = %q, want …%q", st.LastError, want)
		}
	})
	// The handler stops writing when the client hangs up; what it wrote
	// by then is the limit plus the socket buffers on both sides.
	select {
	case n := <-srv.endlessDone:
		t.Logf("server wrote %d bytes before the client hung up", n)
		if n > 32<<20 {
			t.Errorf("server wrote %d bytes before the client hung up, want far less than endless", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server is still writing the endless body: the client did not hang up")
	}
}

// TestHTTPS checks a fetch over TLS from a server on 127.0.0.1.
func TestHTTPS(t *testing.T) {
	srv := newTLSCRLServer(t)
	tlsConfig := srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	synctest.Test(t, func(t *testing.T) {
		ca := testpki.NewCA(t)
		srv.set(reply{body: pemCRL(issueCRL(t, ca, 9, time.Now(), 7*24*time.Hour))})
		h := newHarness(t, srv, func(o *Options) {
			o.Client, _ = newTestClient(tlsConfig)
		})
		if !strings.HasPrefix(h.f.Status().URL, "https://127.0.0.1:") {
			t.Fatalf("URL %q, want https://127.0.0.1:…", h.f.Status().URL)
		}
		h.start(t)
		synctest.Wait()
		if got := h.currentNumber(t); got != 9 {
			t.Errorf("current CRL number %d, want 9 (PEM over https)", got)
		}
	})
}

// TestStartTwice checks that a second Start returns at once.
func TestStartTwice(t *testing.T) {
	srv := newCRLServer(t)
	synctest.Test(t, func(t *testing.T) {
		srv.set(reply{status: 500})
		h := newHarness(t, srv, nil)
		h.start(t)
		synctest.Wait()
		h.f.Start(t.Context()) // returns, or the test hangs
		if !strings.Contains(h.logs.String(), "started twice") {
			t.Errorf("logs lack the second-Start error:\n%s", h.logs)
		}
	})
}

// TestRedactsCredentials checks that a password in the URL shows in
// neither Status nor the logs, while the request still carries it.
func TestRedactsCredentials(t *testing.T) {
	srv := newCRLServer(t)
	synctest.Test(t, func(t *testing.T) {
		srv.set(reply{status: 401})
		h := newHarness(t, srv, func(o *Options) {
			o.URL = strings.Replace(srv.URL, "http://", "http://user:s3cret@", 1) + "/ca.crl"
		})
		h.start(t)
		synctest.Wait()
		st := h.f.Status()
		if strings.Contains(st.URL, "s3cret") || strings.Contains(st.LastError, "s3cret") || strings.Contains(h.logs.String(), "s3cret") {
			t.Errorf("password leaked: Status() = %+v, logs:\n%s", st, h.logs)
		}
		if got := srv.lastRequest(t).Get("Authorization"); got == "" {
			t.Error("the request carried no Authorization header")
		}
		if strings.Contains(h.f.CachePath(), "s3cret") {
			t.Error("password in the cache file name")
		}
	})
}
