package httpproxy

import (
	"net/http"
	"strings"
	"testing"

	"github.com/mtlslb/mtlslb/internal/config"
)

func TestOwnedNamesIncludeDefaultsAndRenames(t *testing.T) {
	n := DefaultHeaderNames()
	n.Subject = "x-client-subject"
	owned := OwnedNames(n)
	for _, want := range []string{"X-Amzn-Mtls-Clientcert-Subject", "X-Client-Subject", "X-Amzn-Tls-Cipher-Suite"} {
		found := false
		for _, o := range owned {
			found = found || o == want
		}
		if !found {
			t.Errorf("OwnedNames lacks %q: %v", want, owned)
		}
	}
	if len(owned) != 9 {
		t.Errorf("OwnedNames has %d names, want the 8 defaults and 1 rename: %v", len(owned), owned)
	}
}

func TestStripOwnedIgnoresCase(t *testing.T) {
	h := http.Header{
		"X-Amzn-Mtls-Clientcert-Subject": {"a"},
		"x-amzn-mtls-clientcert-subject": {"b"}, // a key net/http would not canonicalise this way, set directly
		"X-AMZN-TLS-VERSION":             {"c"},
		"X-Other":                        {"kept"},
	}
	stripOwned(h, OwnedNames(DefaultHeaderNames()))
	if len(h) != 1 || h.Get("X-Other") != "kept" {
		t.Fatalf("after stripping: %v", h)
	}
}

// FuzzStripOwned: whatever the spelling of an owned name, no copy survives, and nothing else is removed.
func FuzzStripOwned(f *testing.F) {
	f.Add("x-AMZN-mtls-clientcert-leaf", "X-Keep")
	f.Add("X-Amzn-Mtls-Clientcert", "x-amzn-mtls-clientcert-x")
	owned := OwnedNames(DefaultHeaderNames())
	f.Fuzz(func(t *testing.T, a, b string) {
		h := http.Header{a: {"1"}, b: {"2"}}
		stripOwned(h, owned)
		for k := range h {
			for _, o := range owned {
				if strings.EqualFold(k, o) {
					t.Fatalf("owned header %q survived", k)
				}
			}
		}
		for _, k := range []string{a, b} {
			isOwned := false
			for _, o := range owned {
				isOwned = isOwned || strings.EqualFold(k, o)
			}
			if _, ok := h[k]; !ok && !isOwned {
				t.Fatalf("header %q was removed but is not owned", k)
			}
		}
	})
}

func TestNewConnInfoFlagsOversizeValues(t *testing.T) {
	ci := NewConnInfo([16]byte{}, []Field{{Name: "A", Value: "x"}, {Name: "B", Value: strings.Repeat("y", MaxHeaderValue+1)}})
	if ci.Oversize != "B" {
		t.Fatalf("Oversize = %q, want B", ci.Oversize)
	}
	if ci := NewConnInfo([16]byte{}, []Field{{Name: "A", Value: strings.Repeat("y", MaxHeaderValue)}}); ci.Oversize != "" {
		t.Fatalf("a value of exactly the limit is flagged: %q", ci.Oversize)
	}
}

func FuzzRedirectLocation(f *testing.F) {
	f.Add("HTTPS", "#{host}", "443", "/new/#{path}", "#{query}", "/old/a%20b", "x=1&y=2", "example.com:8443")
	f.Fuzz(func(t *testing.T, proto, host, port, path, query, reqPath, reqQuery, reqHost string) {
		rd, err := CompileRedirect(&config.RedirectConfig{Protocol: proto, Host: host, Port: port, Path: path, Query: query, StatusCode: "HTTP_302"})
		if err != nil {
			return
		}
		r, err := http.NewRequest("GET", "https://placeholder/", nil)
		if err != nil {
			t.Skip()
		}
		r.URL.Path, r.URL.RawQuery, r.Host = reqPath, reqQuery, reqHost
		loc, _ := rd.Location(r, true, 443)
		if strings.ContainsAny(loc, "\r\n") && !strings.ContainsAny(host+path+query+reqPath+reqQuery+reqHost, "\r\n") {
			t.Fatalf("Location %q has a line break no input had", loc)
		}
	})
}

func TestForwardedHost(t *testing.T) {
	cases := []struct {
		host     string
		preserve bool
		tls      bool
		port     string
		want     string
	}{
		{"www.example.com", false, true, "8443", "www.example.com:8443"},
		{"www.example.com", true, true, "8443", "www.example.com"},
		{"www.example.com", false, true, "443", "www.example.com"},
		{"www.example.com", false, false, "80", "www.example.com"},
		{"www.example.com", false, false, "443", "www.example.com:443"},
		{"www.example.com:9000", false, true, "8443", "www.example.com:9000"},
		{"[2001:db8::1]", false, true, "8443", "[2001:db8::1]:8443"},
		{"[2001:db8::1]:1", false, true, "8443", "[2001:db8::1]:1"},
	}
	for _, c := range cases {
		if got := forwardedHost(c.host, c.preserve, c.tls, c.port); got != c.want {
			t.Errorf("forwardedHost(%q, preserve=%v, tls=%v, %s) = %q, want %q", c.host, c.preserve, c.tls, c.port, got, c.want)
		}
	}
}
