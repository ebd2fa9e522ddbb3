package httpproxy

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
)

// reverseProxyQuery returns the query ReverseProxy (with Rewrite) sends a target for a request with query q:
// the behaviour cleanQuery must match.
func reverseProxyQuery(t testing.TB, q string) (string, bool) {
	var sent string
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) { pr.Out.URL.Scheme, pr.Out.URL.Host = "http", "target.invalid" },
		Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			sent = r.URL.RawQuery
			return nil, errors.New("captured")
		}),
		ErrorHandler: func(http.ResponseWriter, *http.Request, error) {},
	}
	u, err := url.Parse("http://lb.invalid/p?" + q)
	if err != nil || u.RawQuery != q {
		return "", false
	}
	r := httptest.NewRequest(http.MethodGet, "http://lb.invalid/p", nil)
	r.URL = u
	rp.ServeHTTP(httptest.NewRecorder(), r)
	return sent, true
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestCleanQuery(t *testing.T) {
	for _, q := range []string{"", "a=1", "b=2&a=1", "a=1;b=2&c=3", "x=%zz&y=1", "x=%41&y=%2", "x=%", "k=v%20w&e=",
		";", "a;b", "%", "%4", "%4g=1", "a=%E2%82%AC", "+=+", "a=1&&b=2", "=x"} {
		want, ok := reverseProxyQuery(t, q)
		if !ok {
			t.Fatalf("%q does not survive url.Parse", q)
		}
		if got := cleanQuery(q); got != want {
			t.Errorf("cleanQuery(%q) = %q, ReverseProxy sends %q", q, got, want)
		}
	}
}

// FuzzCleanQuery checks cleanQuery against ReverseProxy on any query a URL can carry, and that what it
// returns holds no semicolon and no bad escape.
func FuzzCleanQuery(f *testing.F) {
	for _, s := range []string{"a=1;b=2", "x=%zz", "k=v%20w", "%", "a=%E2%82%AC&b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		want, ok := reverseProxyQuery(t, q)
		if !ok {
			return
		}
		got := cleanQuery(q)
		if got != want {
			t.Fatalf("cleanQuery(%q) = %q, ReverseProxy sends %q", q, got, want)
		}
		if strings.Contains(got, ";") {
			t.Fatalf("cleanQuery(%q) = %q keeps a semicolon", q, got)
		}
		if _, err := url.ParseQuery(got); err != nil {
			t.Fatalf("cleanQuery(%q) = %q does not parse: %v", q, got, err)
		}
	})
}
