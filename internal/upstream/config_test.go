package upstream

import (
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tests := []struct {
		name    string
		cfg     Config
		wantErr []string // each must appear; none means valid
	}{
		{name: "HTTP", cfg: Config{Protocol: ProtocolHTTP}},
		{name: "HTTP h2c", cfg: Config{Protocol: ProtocolHTTP, Version: VersionGRPC}},
		{name: "HTTPS with everything", cfg: Config{
			Protocol: ProtocolHTTPS, Version: VersionHTTP2, ClientCertificate: &f.client,
			RootCAs: []*x509.Certificate{f.targetCA.Cert}, ServerName: "target.example",
			DialTimeout: time.Second, TLSHandshakeTimeout: time.Second, ResponseHeaderTimeout: time.Minute,
		}},
		{name: "no protocol", cfg: Config{}, wantErr: []string{`protocol ""`}},
		{name: "layer 4 protocol", cfg: Config{Protocol: "TCP"}, wantErr: []string{`protocol "TCP"`}},
		{name: "lowercase version", cfg: Config{Protocol: ProtocolHTTP, Version: "http2"}, wantErr: []string{`protocol_version "http2"`}},
		{
			name: "TLS settings on a clear-text target group",
			cfg: Config{Protocol: ProtocolHTTP, ClientCertificate: &f.client,
				RootCAs: []*x509.Certificate{f.targetCA.Cert}, ServerName: "x"},
			wantErr: []string{"client certificate: only for HTTPS", "root CAs: only for HTTPS", "server name: only for HTTPS"},
		},
		{
			name:    "client certificate without key",
			cfg:     Config{Protocol: ProtocolHTTPS, ClientCertificate: &tls.Certificate{Certificate: f.client.Certificate}},
			wantErr: []string{"needs a certificate and its private key"},
		},
		{
			name:    "empty root CA",
			cfg:     Config{Protocol: ProtocolHTTPS, RootCAs: []*x509.Certificate{f.targetCA.Cert, nil}},
			wantErr: []string{"root CAs[1]: empty certificate"},
		},
		{
			name: "negative timeouts",
			cfg: Config{Protocol: ProtocolHTTP, DialTimeout: -1, TLSHandshakeTimeout: -1,
				ResponseHeaderTimeout: -time.Second},
			wantErr: []string{"dial timeout -1ns", "TLS handshake timeout -1ns", "response header timeout -1s"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate()
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate() = nil, want an error")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, missing %q", err, w)
				}
			}
		})
	}
}

func TestConfigScheme(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{Protocol: ProtocolHTTP}, "http"},
		{Config{Protocol: ProtocolHTTP, Version: VersionGRPC}, "http"},
		{Config{Protocol: ProtocolHTTPS}, "https"},
		{Config{Protocol: ProtocolHTTPS, Version: VersionGRPC}, "https"},
	}
	for _, tt := range tests {
		t.Run(tt.cfg.Protocol+"/"+tt.cfg.Version, func(t *testing.T) {
			if got := tt.cfg.Scheme(); got != tt.want {
				t.Errorf("Scheme() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestKeyString(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	k := Config{Protocol: ProtocolHTTPS, ClientCertificate: &f.client, ServerName: "a"}.Key()
	want := `HTTPS/HTTP1 server_name="a" client_cert=true verify=false`
	if got := k.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
