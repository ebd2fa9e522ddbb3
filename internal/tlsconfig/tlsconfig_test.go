package tlsconfig

import (
	"crypto/tls"
	"testing"

	"github.com/mtlslb/mtlslb/internal/testpki"
	"github.com/mtlslb/mtlslb/internal/truststore"
)

func TestBuildModes(t *testing.T) {
	ca := testpki.NewCA(t)
	server := ca.Server(t, "127.0.0.1").TLSCertificate()
	store, err := truststore.New(truststore.Config{Name: "t", Bundle: ca.BundlePEM()})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		l          Listener
		clientAuth tls.ClientAuthType
		verify     bool
		clientCAs  bool
		tickets    bool
	}{
		{"off", Listener{Mode: ModeOff}, tls.NoClientCert, false, false, true},
		{"passthrough", Listener{Mode: ModePassthrough}, tls.RequestClientCert, false, false, false},
		{"verify", Listener{Mode: ModeVerify, TrustStore: store}, tls.RequireAnyClientCert, true, false, false},
		{"verify advertising CA names", Listener{Mode: ModeVerify, TrustStore: store, AdvertiseCANames: true}, tls.RequireAnyClientCert, true, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.l.Certificates = []tls.Certificate{server}
			cfg, err := Build(tt.l)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.ClientAuth != tt.clientAuth {
				t.Errorf("ClientAuth = %v, want %v", cfg.ClientAuth, tt.clientAuth)
			}
			if (cfg.VerifyConnection != nil) != tt.verify {
				t.Errorf("VerifyConnection set = %v, want %v", cfg.VerifyConnection != nil, tt.verify)
			}
			// With "off", ClientCAs must be nil: crypto/tls sends the pool's names whenever it is set.
			if (cfg.ClientCAs != nil) != tt.clientCAs {
				t.Errorf("ClientCAs set = %v, want %v", cfg.ClientCAs != nil, tt.clientCAs)
			}
			if cfg.SessionTicketsDisabled == tt.tickets {
				t.Errorf("SessionTicketsDisabled = %v, want %v", cfg.SessionTicketsDisabled, !tt.tickets)
			}
			if cfg.MinVersion != tls.VersionTLS12 {
				t.Errorf("MinVersion = %x, want TLS 1.2", cfg.MinVersion)
			}
		})
	}
}

func TestBuildRefuses(t *testing.T) {
	ca := testpki.NewCA(t)
	server := ca.Server(t, "127.0.0.1").TLSCertificate()
	for name, l := range map[string]Listener{
		"no certificate":       {Mode: ModeOff},
		"verify without store": {Mode: ModeVerify, Certificates: []tls.Certificate{server}},
		"unknown policy":       {Mode: ModeOff, Certificates: []tls.Certificate{server}, SSLPolicy: "ELBSecurityPolicy-Nope"},
	} {
		if _, err := Build(l); err == nil {
			t.Errorf("%s: Build succeeded", name)
		}
	}
}
