package explain

import (
	"strings"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/pki"
	"github.com/mtlslb/mtlslb/internal/testpki"
	"github.com/mtlslb/mtlslb/internal/truststore"
)

func TestExplain(t *testing.T) {
	root := testpki.NewCA(t)
	issuing := root.Intermediate(t, "Issuing CA")
	good := issuing.Client(t, "good.client")
	now := time.Now()
	expired := issuing.Client(t, "expired.client", pki.WithValidity(now.Add(-48*time.Hour), now.Add(-time.Hour)))
	revoked := issuing.Client(t, "revoked.client")
	store, err := truststore.New(truststore.Config{
		Name: "clients", Bundle: root.BundlePEM(),
		CRLs: []truststore.CRLSource{{ID: 1, Data: issuing.CRL(t, revoked.Cert), Source: "issuing.crl"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		leaf   *pki.Leaf
		status string
		detail string
		path   int
	}{
		{"good", good, "Success", "", 3},
		{"expired", expired, "Failed:ClientCertExpired", "expired", 3},
		{"revoked", revoked, "Failed:ClientCertCrlHit", "CRL 1", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chain, err := ParseChain(tt.leaf.ChainPEM())
			if err != nil {
				t.Fatal(err)
			}
			rep := Explain(store, chain, Options{At: now})
			if rep.Status != tt.status || !strings.Contains(rep.Detail, tt.detail) {
				t.Fatalf("status %q detail %q; want %q containing %q", rep.Status, rep.Detail, tt.status, tt.detail)
			}
			if len(rep.Presented) != 2 || rep.Presented[0].Subject != "CN="+tt.leaf.Cert.Subject.CommonName {
				t.Errorf("presented = %+v", rep.Presented)
			}
			if len(rep.Path) != tt.path {
				t.Errorf("path has %d certificates, want %d", len(rep.Path), tt.path)
			}
		})
	}
	// The expired chain passes when expiry is ignored; the good one fails when asked about a later date.
	chain, _ := ParseChain(expired.ChainPEM())
	if rep := Explain(store, chain, Options{At: now, IgnoreExpiry: true}); rep.Status != "Success" {
		t.Errorf("ignore expiry: %s %s", rep.Status, rep.Detail)
	}
	chain, _ = ParseChain(good.ChainPEM())
	if rep := Explain(store, chain, Options{At: now.Add(2 * 365 * 24 * time.Hour)}); rep.Status != "Failed:ClientCertExpired" {
		t.Errorf("two years on: %s %s", rep.Status, rep.Detail)
	}
}

func TestParseChainBadInput(t *testing.T) {
	for name, in := range map[string]string{
		"empty":    "",
		"no pem":   "hello",
		"key":      "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
		"trailing": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\ngarbage",
	} {
		if _, err := ParseChain([]byte(in)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func FuzzExplain(f *testing.F) {
	root := testpki.NewCA(f)
	store, err := truststore.New(truststore.Config{Name: "f", Bundle: root.BundlePEM()})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(root.Client(f, "c").ChainPEM())
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		chain, err := ParseChain(data)
		if err != nil {
			return
		}
		rep := Explain(store, chain, Options{})
		if rep.Status == "" || len(rep.Presented) != len(chain) {
			t.Fatalf("incomplete report %+v", rep)
		}
	})
}
