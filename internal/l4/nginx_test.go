package l4

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/health"
	"github.com/mtlslb/mtlslb/internal/pki"
)

// nginxConf is a backend that does mTLS itself, as a deployment behind an NLB does: it verifies client
// certificates against the CA with its CRL, takes the client's address from the PROXY header mtlslb sends, and
// answers with what it saw. Everything it writes stays in the test's directory.
const nginxConf = `daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 64; }
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    server {
        listen 127.0.0.1:%[2]d ssl proxy_protocol;
        server_name lb.example;
        ssl_certificate %[1]s/server.pem;
        ssl_certificate_key %[1]s/server-key.pem;
        ssl_client_certificate %[1]s/ca.pem;
        ssl_verify_client on;
        ssl_crl %[1]s/ca.crl;
        set_real_ip_from 127.0.0.0/8;
        real_ip_header proxy_protocol;
        location / {
            default_type text/plain;
            return 200 "addr=$remote_addr dn=$ssl_client_s_dn verify=$ssl_client_verify\n";
        }
    }
}
`

// findNginx returns the nginx binary, or skips the test: the test installs nothing (CI runs
// bench/l4/install-deps.sh, which installs Debian's nginx).
func findNginx(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	// Debian installs it in /usr/sbin, which an unprivileged PATH may lack.
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	t.Skip("nginx is not installed (bench/l4/install-deps.sh installs it); TestTLSPassthroughToGoBackend covers the same path with a Go backend")
	return ""
}

// startNginx runs nginx with nginxConf on a free loopback port and returns the port; the test stops it.
func startNginx(t *testing.T, f *pkiFixture) int {
	t.Helper()
	bin := findNginx(t)
	dir := t.TempDir()
	keyPEM, err := pki.EncodeKeyPEM(f.server.Key)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"server.pem":     f.server.ChainPEM(),
		"server-key.pem": keyPEM,
		"ca.pem":         f.ca.BundlePEM(),
		"ca.crl":         pki.EncodeCRLPEM(f.crl),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, nginxConf, dir, port), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting nginx: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGQUIT) // graceful stop
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	errorLog := func() string { b, _ := os.ReadFile(filepath.Join(dir, "error.log")); return string(b) }
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			_ = c.Close()
			return port
		}
		select {
		case err := <-exited:
			t.Fatalf("nginx exited (%v):\n%s", err, errorLog())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx does not listen on %d:\n%s", port, errorLog())
		}
	}
}

// TestNginxBackendDoesMTLS: a TCP listener in front of nginx with ssl_verify_client on and a CRL. mtlslb sees none
// of the TLS; nginx authenticates the clients, and learns their address from the PROXY v2 header.
func TestNginxBackendDoesMTLS(t *testing.T) {
	f := newPKI(t)
	port := startNginx(t, f)
	g, err := NewTargetGroup(TargetGroupOptions{Name: "nginx", ProxyProtocolV2: true,
		Targets: []health.Target{{Host: "127.0.0.1", Port: port}}})
	if err != nil {
		t.Fatal(err)
	}
	l := newLogs(t)
	s := startServer(t, &Config{ConnLog: l.conn, Logger: l.slog, Group: g})

	tests := []struct {
		name       string
		client     *pki.Leaf
		wantStatus int
		wantBody   string
	}{
		{name: "trusted client", client: f.good, wantStatus: 200,
			wantBody: "addr=127.0.0.2 dn=CN=partner-1,OU=payments verify=SUCCESS"},
		{name: "revoked client", client: f.revoked, wantStatus: 400, wantBody: "The SSL certificate error"},
		// nginx names its CA in the CertificateRequest, and crypto/tls sends no certificate of another issuer.
		{name: "client of another CA", client: f.stranger, wantStatus: 400, wantBody: "No required SSL certificate was sent"},
		{name: "no client certificate", wantStatus: 400, wantBody: "No required SSL certificate was sent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &http.Transport{
				TLSClientConfig: f.clientTLS(tt.client),
				DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
					// From 127.0.0.2, so that the address nginx reports can only come from the PROXY header
					// (mtlslb connects to it from 127.0.0.1).
					d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
					return d.DialContext(ctx, "tcp", s.Addr().String())
				},
			}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
			resp, err := client.Get("https://lb.example/")
			if err != nil {
				// A TLS alert is an acceptable refusal too; a 200 never is.
				var alert tls.AlertError
				if tt.wantStatus != 200 && errors.As(err, &alert) {
					return
				}
				t.Fatalf("GET: %v", err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus || !strings.Contains(string(body), tt.wantBody) {
				t.Fatalf("nginx answered %d %q; want %d with %q", resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
		})
	}
	for _, line := range l.waitConnLines(len(tests)) {
		if fs := fields(line); fs[1] != "127.0.0.2" || fs[4] != "-" || fs[10] != "-" {
			t.Errorf("connection-log line %q: want the client 127.0.0.2 and no TLS fields", line)
		}
	}
}
