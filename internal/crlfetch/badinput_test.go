package crlfetch

import (
	"bytes"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"net/http"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mtlslb/mtlslb/internal/pki"
	"github.com/mtlslb/mtlslb/internal/testpki"
)

func pemCRL(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

// TestBadResponses checks that every kind of bad answer from the URL is
// refused with a plain reason in Status and a log line, and that the good
// copy in force stays: in memory, in OnUpdate's view and on disk.
func TestBadResponses(t *testing.T) {
	const maxSize = 2000
	type env struct {
		ca, other *testpki.CA
		start     time.Time
	}
	tests := []struct {
		name      string
		noInitial bool // no good copy before the bad answer
		reply     func(tb testing.TB, e env) reply
		wantErr   string // the end of Status().LastError
	}{
		{
			name:    "not found",
			reply:   func(testing.TB, env) reply { return reply{status: 404} },
			wantErr: ": 404 Not Found",
		},
		{
			name:    "server error",
			reply:   func(testing.TB, env) reply { return reply{status: 500} },
			wantErr: ": 500 Internal Server Error",
		},
		{
			name:    "garbage",
			reply:   func(testing.TB, env) reply { return reply{body: []byte("<html>maintenance</html>")} },
			wantErr: "the response is not a usable CRL: ",
		},
		{
			name:    "empty body",
			reply:   func(testing.TB, env) reply { return reply{body: []byte{}} },
			wantErr: "the response is not a usable CRL: ",
		},
		{
			name: "certificate instead of CRL",
			reply: func(tb testing.TB, e env) reply {
				return reply{body: e.ca.BundlePEM()}
			},
			wantErr: "the response is not a usable CRL: ",
		},
		{
			name: "truncated DER",
			reply: func(tb testing.TB, e env) reply {
				der := issueCRL(tb, e.ca, 11, e.start, 7*24*time.Hour)
				return reply{body: der[:len(der)-10]}
			},
			wantErr: "the response is not a usable CRL: ",
		},
		{
			name: "trailing data",
			reply: func(tb testing.TB, e env) reply {
				return reply{body: append(issueCRL(tb, e.ca, 11, e.start, 7*24*time.Hour), 0)}
			},
			wantErr: "the response is not a usable CRL: ",
		},
		{
			name: "unknown critical extension",
			reply: func(tb testing.TB, e env) reply {
				ext := pkix.Extension{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}, Critical: true, Value: []byte{5, 0}}
				return reply{body: issueCRL(tb, e.ca, 11, e.start, 7*24*time.Hour, pki.WithExtraExtensions(ext))}
			},
			wantErr: "the response is not a usable CRL: ",
		},
		{
			name:    "oversize by Content-Length",
			reply:   func(testing.TB, env) reply { return reply{body: bytes.Repeat([]byte{0x30}, maxSize+1)} },
			wantErr: ": the body of 2001 bytes is larger than the limit of 2000 bytes",
		},
		{
			name: "oversize without Content-Length",
			reply: func(testing.TB, env) reply {
				return reply{body: bytes.Repeat([]byte{0x30}, 3*maxSize), chunked: true}
			},
			wantErr: ": the body is larger than the limit of 2000 bytes",
		},
		{
			name: "rollback to a lower number",
			reply: func(tb testing.TB, e env) reply {
				return reply{body: issueCRL(tb, e.ca, 9, e.start.Add(time.Minute), 7*24*time.Hour)}
			},
			wantErr: ": refused CRL number 9: lower than the current copy's 10 (a rollback)",
		},
		{
			name: "rollback to an older thisUpdate",
			reply: func(tb testing.TB, e env) reply {
				return reply{body: issueCRL(tb, e.ca, 11, e.start.Add(-time.Hour), 7*24*time.Hour)}
			},
			wantErr: ": refused a CRL of thisUpdate 1999-12-31T23:00:00Z: older than the current copy's 2000-01-01T00:00:00Z (a rollback)",
		},
		{
			name: "other issuer",
			reply: func(tb testing.TB, e env) reply {
				return reply{body: issueCRL(tb, e.other, 11, e.start.Add(time.Minute), 7*24*time.Hour)}
			},
			wantErr: "the current copy's issuer is ",
		},
		{
			name: "delta CRL replacing a complete CRL",
			reply: func(tb testing.TB, e env) reply {
				base, err := asn1.Marshal(10)
				if err != nil {
					tb.Fatal(err)
				}
				delta := pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 27}, Critical: true, Value: base}
				return reply{body: issueCRL(tb, e.ca, 11, e.start.Add(time.Minute), 7*24*time.Hour, pki.WithExtraExtensions(delta))}
			},
			wantErr: ": refused a delta CRL: the current copy is a complete CRL",
		},
		{
			name:      "304 to an unconditional request",
			noInitial: true,
			reply:     func(testing.TB, env) reply { return reply{status: 304} },
			wantErr:   ": 304 Not Modified to a request that was not conditional",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newCRLServer(t)
			synctest.Test(t, func(t *testing.T) {
				e := env{ca: testpki.NewCA(t), other: testpki.NewCA(t), start: time.Now()}
				good := issueCRL(t, e.ca, 10, e.start, 7*24*time.Hour)
				bad := tt.reply(t, e)
				h := newHarness(t, srv, func(o *Options) { o.MaxSize = maxSize })
				wantNumber, wantUpdates := int64(10), []int64{10}
				if tt.noInitial {
					srv.set(bad)
					h.start(t)
					synctest.Wait()
					wantNumber, wantUpdates = -1, nil
				} else {
					srv.set(reply{body: good})
					h.start(t)
					synctest.Wait()
					srv.set(bad)
					sleepUntil(e.start.Add(time.Hour))
				}

				st := h.f.Status()
				wantPrefix := "GET " + srv.URL + "/ca.crl: "
				if !strings.HasPrefix(st.LastError, wantPrefix) || !strings.Contains(st.LastError, tt.wantErr) {
					t.Errorf("Status().LastError = %q, want %q…%q", st.LastError, wantPrefix, tt.wantErr)
				}
				if st.ConsecutiveFailures != 1 {
					t.Errorf("Status().ConsecutiveFailures = %d, want 1", st.ConsecutiveFailures)
				}
				if got := h.currentNumber(t); got != wantNumber {
					t.Errorf("current CRL number %d, want %d", got, wantNumber)
				}
				if got := h.updateNumbers(); !slices.Equal(got, wantUpdates) {
					t.Errorf("OnUpdate received numbers %v, want %v", got, wantUpdates)
				}
				if !strings.Contains(h.logs.String(), "CRL refresh failed") {
					t.Errorf("no failure logged:\n%s", h.logs)
				}
				if tt.noInitial {
					return
				}
				c, _, err := readCache(h.f.CachePath(), cacheLimit(maxSize))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(c.Raw(), good) {
					t.Error("the cache file no longer holds the good copy")
				}
			})
		})
	}
}

// TestNewRefusesBadOptions checks New's validation.
func TestNewRefusesBadOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{name: "empty URL", opts: Options{}, wantErr: "the scheme must be http or https"},
		{name: "ftp", opts: Options{URL: "ftp://pki.example/ca.crl"}, wantErr: "CRL URL ftp://pki.example/ca.crl: the scheme must be http or https"},
		{name: "file", opts: Options{URL: "file:///etc/ca.crl"}, wantErr: "the scheme must be http or https"},
		{name: "no host", opts: Options{URL: "http:///ca.crl"}, wantErr: "no host"},
		{name: "unparsable", opts: Options{URL: "http://[::1"}, wantErr: "CRL URL: "},
		{name: "short interval", opts: Options{URL: "http://pki.example/ca.crl", Interval: time.Millisecond}, wantErr: "interval 1ms is below the minimum 1s"},
		{name: "negative interval", opts: Options{URL: "http://pki.example/ca.crl", Interval: -time.Hour}, wantErr: "below the minimum"},
		{name: "negative lead", opts: Options{URL: "http://pki.example/ca.crl", Lead: -time.Minute}, wantErr: "lead -1m0s is negative"},
		{name: "negative max size", opts: Options{URL: "http://pki.example/ca.crl", MaxSize: -1}, wantErr: "maximum size -1 is negative"},
		{name: "password redacted", opts: Options{URL: "gopher://u:pw@pki.example/"}, wantErr: "gopher://u:xxxxx@pki.example/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := New(tt.opts)
			if err == nil {
				t.Fatalf("New() = %v, nil; want an error with %q", f, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("New() error %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

// TestNewDefaults checks the defaults New fills in.
func TestNewDefaults(t *testing.T) {
	f, err := New(Options{URL: "https://pki.example/ca.crl"})
	if err != nil {
		t.Fatal(err)
	}
	if f.interval != DefaultInterval || f.maxSize != DefaultMaxSize || f.client == nil || f.now == nil || f.log == nil {
		t.Errorf("defaults not filled: %+v", f)
	}
	if f.client.Transport.(*http.Transport).Proxy != nil {
		t.Error("the default client follows proxy settings from the environment")
	}
	if f.CachePath() != "" {
		t.Errorf("CachePath() = %q without a CacheDir, want empty", f.CachePath())
	}
	if st := f.Status(); st.URL != "https://pki.example/ca.crl" || st.Source != "" || st.Number != nil {
		t.Errorf("Status() before Start = %+v", st)
	}
}

// TestBackoffBounds checks the retry delays outside of any schedule.
func TestBackoffBounds(t *testing.T) {
	tests := []struct {
		name     string
		failures int
		ceiling  time.Duration
		lo, hi   time.Duration
	}{
		{name: "first", failures: 1, ceiling: time.Hour, lo: 5 * time.Second, hi: 10 * time.Second},
		{name: "third", failures: 3, ceiling: time.Hour, lo: 20 * time.Second, hi: 40 * time.Second},
		{name: "capped", failures: 40, ceiling: 15 * time.Minute, lo: 450 * time.Second, hi: 15 * time.Minute},
		{name: "huge count", failures: 1 << 30, ceiling: 15 * time.Minute, lo: 450 * time.Second, hi: 15 * time.Minute},
		{name: "ceiling below base", failures: 1, ceiling: 2 * time.Second, lo: time.Second, hi: 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 200 {
				if d := backoff(tt.failures, tt.ceiling); d < tt.lo || d > tt.hi {
					t.Fatalf("backoff(%d, %v) = %v, want between %v and %v", tt.failures, tt.ceiling, d, tt.lo, tt.hi)
				}
			}
		})
	}
}
