package upstream

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestPoolSharesTransports(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := func() Config {
		// Fresh parses each call, as a reload gives: equal content, new pointers.
		cert := f.client
		return Config{
			Protocol:          ProtocolHTTPS,
			Version:           VersionHTTP2,
			ClientCertificate: &cert,
			RootCAs:           []*x509.Certificate{reparsed(t, f.targetCA.Cert), reparsed(t, f.otherCA.Cert)},
		}
	}
	tests := []struct {
		name   string
		modify func(*Config)
		shared bool
	}{
		{"same configuration parsed again", func(*Config) {}, true},
		{"root CAs in another order", func(c *Config) { c.RootCAs[0], c.RootCAs[1] = c.RootCAs[1], c.RootCAs[0] }, true},
		{"root CA listed twice", func(c *Config) { c.RootCAs = append(c.RootCAs, c.RootCAs[0]) }, true},
		{"explicit default timeouts", func(c *Config) {
			c.DialTimeout, c.TLSHandshakeTimeout = DefaultDialTimeout, DefaultTLSHandshakeTimeout
		}, true},
		{"other protocol version", func(c *Config) { c.Version = VersionGRPC }, false},
		{"other client certificate", func(c *Config) { c.ClientCertificate = &f.foreignCli }, false},
		{"no client certificate", func(c *Config) { c.ClientCertificate = nil }, false},
		{"other root CAs", func(c *Config) { c.RootCAs = c.RootCAs[:1] }, false},
		{"no verification", func(c *Config) { c.RootCAs = nil }, false},
		{"server name", func(c *Config) { c.ServerName = "target.example" }, false},
		{"response header timeout", func(c *Config) { c.ResponseHeaderTimeout = time.Second }, false},
		{"dial timeout", func(c *Config) { c.DialTimeout = time.Second }, false},
		{"TLS handshake timeout", func(c *Config) { c.TLSHandshakeTimeout = time.Second }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pool := NewPool()
			t.Cleanup(pool.Close)
			a, b := base(), base()
			tt.modify(&b)
			if got := a.Key() == b.Key(); got != tt.shared {
				t.Errorf("keys equal = %t, want %t (%v, %v)", got, tt.shared, a.Key(), b.Key())
			}
			rtA, err := pool.Transport(a)
			if err != nil {
				t.Fatal(err)
			}
			rtB, err := pool.Transport(b)
			if err != nil {
				t.Fatal(err)
			}
			if got := rtA == rtB; got != tt.shared {
				t.Errorf("same transport = %t, want %t", got, tt.shared)
			}
		})
	}
}

// TestPoolKeepsConnectionsAcrossGenerations plays three configuration generations against one
// target: the second asks for an equal Config and must reuse the first's connection; the third no
// longer uses it, and Retain must close it.
func TestPoolKeepsConnectionsAcrossGenerations(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tests := []struct {
		name      string
		targetTLS *tls.Config
		protos    http.Protocols
		cfg       func() Config
	}{
		{
			name:   "HTTP HTTP1",
			protos: protocols((*http.Protocols).SetHTTP1),
			cfg:    func() Config { return Config{Protocol: ProtocolHTTP} },
		},
		{
			name:   "HTTP HTTP2 (h2c)",
			protos: protocols((*http.Protocols).SetUnencryptedHTTP2),
			cfg:    func() Config { return Config{Protocol: ProtocolHTTP, Version: VersionHTTP2} },
		},
		{
			name:      "HTTPS HTTP1 with upstream mTLS",
			targetTLS: f.serverTLS(true),
			protos:    protocols((*http.Protocols).SetHTTP1),
			cfg: func() Config {
				cert := f.client
				return Config{Protocol: ProtocolHTTPS, ClientCertificate: &cert,
					RootCAs: []*x509.Certificate{reparsed(t, f.targetCA.Cert)}}
			},
		},
		{
			name:      "HTTPS GRPC",
			targetTLS: f.serverTLS(false),
			protos:    protocols((*http.Protocols).SetHTTP2),
			cfg:       func() Config { return Config{Protocol: ProtocolHTTPS, Version: VersionGRPC} },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			target := newCountingTarget(t, tt.targetTLS, tt.protos)
			pool := NewPool()
			t.Cleanup(pool.Close)
			send := func(rt http.RoundTripper) {
				t.Helper()
				resp, _, err := roundTrip(t.Context(), t, rt, tt.cfg().Scheme()+"://"+target.addr+"/", "")
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d", resp.StatusCode)
				}
			}

			gen1 := tt.cfg()
			rt1, err := pool.Transport(gen1)
			if err != nil {
				t.Fatal(err)
			}
			send(rt1)
			pool.Retain(gen1.Key())

			gen2 := tt.cfg()
			rt2, err := pool.Transport(gen2)
			if err != nil {
				t.Fatal(err)
			}
			if rt2 != rt1 {
				t.Fatal("an equal configuration got a new transport")
			}
			send(rt2)
			if n := target.accepted.Load(); n != 1 {
				t.Fatalf("target accepted %d connections over two generations, want 1", n)
			}

			// Generation 3 uses nothing: the idle connection is closed.
			pool.Retain()
			target.waitClosed(t)

			// A request of an old snapshot still in flight keeps working on the retired transport.
			send(rt1)
			if n := target.accepted.Load(); n != 2 {
				t.Errorf("target accepted %d connections, want 2", n)
			}
			rt3, err := pool.Transport(tt.cfg())
			if err != nil {
				t.Fatal(err)
			}
			if rt3 == rt1 {
				t.Error("a retired transport was handed out again")
			}
		})
	}
}

func TestPoolClose(t *testing.T) {
	t.Parallel()
	target := newCountingTarget(t, nil, protocols((*http.Protocols).SetHTTP1))
	pool := NewPool()
	cfg := Config{Protocol: ProtocolHTTP}
	rt, err := pool.Transport(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := roundTrip(t.Context(), t, rt, "http://"+target.addr+"/", ""); err != nil {
		t.Fatal(err)
	}
	pool.Close()
	target.waitClosed(t)
	if _, err := pool.Transport(cfg); !errors.Is(err, ErrPoolClosed) {
		t.Errorf("Transport after Close: %v, want ErrPoolClosed", err)
	}
	pool.Close() // twice is harmless
}

func TestPoolRejectsInvalidConfig(t *testing.T) {
	t.Parallel()
	pool := NewPool()
	t.Cleanup(pool.Close)
	if rt, err := pool.Transport(Config{Protocol: "TCP"}); err == nil {
		t.Errorf("Transport(TCP) = %v, want an error", rt)
	}
}
