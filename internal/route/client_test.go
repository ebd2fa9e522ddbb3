package route

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/mtlslb/mtlslb/internal/config"
)

func yes() *bool { b := true; return &b }
func no() *bool  { b := false; return &b }

func TestClientCertificateCondition(t *testing.T) {
	u, _ := url.Parse("spiffe://example.org/ns/payments/sa/api")
	leaf := &x509.Certificate{Subject: pkix.Name{CommonName: "api.partner.example", OrganizationalUnit: []string{"Payments", "EU"}},
		DNSNames: []string{"api.partner.example"}, URIs: []*url.URL{u}}
	verified := NewClient(leaf, "CN=Issuing CA,O=Example")
	anonymous := NewClient(nil, "")
	cases := []struct {
		name       string
		cond       config.ClientCertificateCondition
		verified   bool
		anonymous  bool
		noIdentity bool // a nil *Client, as on a listener that never asks
	}{
		{"verified true", config.ClientCertificateCondition{Verified: yes()}, true, false, false},
		{"verified false", config.ClientCertificateCondition{Verified: no()}, false, true, true},
		{"cn wildcard, case-insensitive", config.ClientCertificateCondition{SubjectCN: []string{"API.*.example"}}, true, false, false},
		{"cn miss", config.ClientCertificateCondition{SubjectCN: []string{"web.*"}}, false, false, false},
		{"any ou", config.ClientCertificateCondition{SubjectOU: []string{"ops", "eu"}}, true, false, false},
		{"san dns", config.ClientCertificateCondition{SANDNS: []string{"*.partner.example"}}, true, false, false},
		{"san uri", config.ClientCertificateCondition{SANURI: []string{"spiffe://example.org/ns/payments/*"}}, true, false, false},
		{"issuer", config.ClientCertificateCondition{Issuer: []string{"CN=Issuing CA,*"}}, true, false, false},
		{"AND across fields", config.ClientCertificateCondition{SubjectCN: []string{"api.*"}, SANDNS: []string{"web.*"}}, false, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tbl, err := Compile([]config.Rule{{Priority: 1, Conditions: []config.Condition{{ClientCertificate: &c.cond}},
				Actions: []config.Action{{Type: "forward", TargetGroup: "x"}}}})
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest("GET", "https://h.example/", nil)
			for _, k := range []struct {
				who  string
				cl   *Client
				want bool
			}{{"verified", verified, c.verified}, {"anonymous", anonymous, c.anonymous}, {"nil", nil, c.noIdentity}} {
				if got := tbl.MatchClient(r, netip.Addr{}, k.cl) == 0; got != k.want {
					t.Errorf("%s client: match %v, want %v", k.who, got, k.want)
				}
			}
		})
	}
}

func TestClientCertificateConditionBadInput(t *testing.T) {
	cases := map[string]struct {
		cond config.ClientCertificateCondition
		want string
	}{
		"empty":               {config.ClientCertificateCondition{}, "set at least one of"},
		"verified false + cn": {config.ClientCertificateCondition{Verified: no(), SubjectCN: []string{"a"}}, "cannot be combined"},
		"empty pattern":       {config.ClientCertificateCondition{SANDNS: []string{""}}, "san_dns[0]"},
		"line break":          {config.ClientCertificateCondition{Issuer: []string{"CN=a\nb"}}, "line break"},
		"too long":            {config.ClientCertificateCondition{SANURI: []string{strings.Repeat("a", 257)}}, "1–256"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Compile([]config.Rule{{Priority: 1, Conditions: []config.Condition{{ClientCertificate: &c.cond}},
				Actions: []config.Action{{Type: "forward", TargetGroup: "x"}}}})
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "rules[0].conditions[0].client_certificate") {
				t.Errorf("Compile error %v, want one naming rules[0].conditions[0].client_certificate and %q", err, c.want)
			}
		})
	}
}

func TestCertPolicyTellsHostsApart(t *testing.T) {
	rules := []config.Rule{
		{Priority: 1, RequireClientCertificate: true,
			Conditions: []config.Condition{{HostHeader: &config.ValuesCondition{Values: []string{"api.example"}}}},
			Actions:    []config.Action{{Type: "forward", TargetGroup: "x"}}},
		{Priority: 2, Conditions: []config.Condition{{HostHeader: &config.ValuesCondition{Values: []string{"*.example"}}}},
			Actions: []config.Action{{Type: "forward", TargetGroup: "x"}}},
	}
	tbl, err := Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	if tbl.CertPolicy("api.example") == tbl.CertPolicy("www.example") {
		t.Error("a host with a certificate requirement has the same policy as one without")
	}
	if tbl.CertPolicy("www.example") != tbl.CertPolicy("static.example") {
		t.Error("two hosts no certificate rule names differ")
	}
	if !tbl.RequiresClientCertificate(0) || tbl.RequiresClientCertificate(1) || tbl.RequiresClientCertificate(Default) {
		t.Error("RequiresClientCertificate does not follow the rules")
	}
}

func TestIdentityFilter(t *testing.T) {
	f, err := CompileIdentityFilter("identity_filters", &config.IdentityFilters{SubjectCN: []string{"device-*"}, SANURI: []string{"spiffe://fleet/*"}})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("spiffe://fleet/sensor/7")
	for _, c := range []struct {
		name string
		cl   *Client
		want bool
	}{
		{"cn", NewClient(&x509.Certificate{Subject: pkix.Name{CommonName: "DEVICE-42"}}, ""), true},
		{"uri", NewClient(&x509.Certificate{URIs: []*url.URL{u}}, ""), true},
		{"neither", NewClient(&x509.Certificate{Subject: pkix.Name{CommonName: "laptop"}}, ""), false},
		{"unverified", NewClient(nil, ""), false},
	} {
		if got := f.Allows(c.cl); got != c.want {
			t.Errorf("%s: Allows = %v, want %v", c.name, got, c.want)
		}
	}
	if _, err := CompileIdentityFilter("identity_filters", &config.IdentityFilters{SubjectCN: []string{""}}); err == nil {
		t.Error("an empty pattern compiled")
	}
	if f, err := CompileIdentityFilter("x", nil); f != nil || err != nil || !f.Allows(nil) {
		t.Error("no filters must allow everything")
	}
}

func FuzzClientCertificateCondition(f *testing.F) {
	f.Add("api.*", "ops", "*.example", "spiffe://x/*", "CN=*", "api.partner.example")
	f.Fuzz(func(t *testing.T, cn, ou, dns, uri, issuer, subject string) {
		cond := config.ClientCertificateCondition{SubjectCN: []string{cn}, SubjectOU: []string{ou}, SANDNS: []string{dns}, SANURI: []string{uri}, Issuer: []string{issuer}}
		tbl, err := Compile([]config.Rule{{Priority: 1, Conditions: []config.Condition{{ClientCertificate: &cond}},
			Actions: []config.Action{{Type: "forward", TargetGroup: "x"}}}})
		if err != nil {
			return
		}
		cl := &Client{Verified: true, SubjectCN: []string{subject}, SubjectOU: []string{subject}, SANDNS: []string{subject}, SANURI: []string{subject}, Issuer: subject}
		_ = tbl.MatchClient(httptest.NewRequest("GET", "/", nil), netip.Addr{}, cl)
		_ = tbl.CertPolicy(subject)
	})
}
