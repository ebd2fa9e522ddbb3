package e2e

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/pki"
)

// TestRoutingAndLayer4OnTheBinary runs the real binary with an HTTPS listener in optional mode with rules
// (a public route, a route that demands a certificate, a fixed response, a redirect) and a TCP listener that
// passes TLS to a backend doing mTLS itself — nginx when the machine has it (the CI installs it), a Go
// server otherwise — and checks what clients get through both.
func TestRoutingAndLayer4OnTheBinary(t *testing.T) {
	s := newSite(t)
	good := s.issuing.Client(t, "route.client")
	revoked := s.issuing.Client(t, "revoked.client")
	s.write(t, "issuing.crl", pki.EncodeCRLPEM(s.issuing.CRL(t, revoked.Cert)))

	backendPort, backendKind := startMTLSBackend(t, s)
	tcpPort := freePort(t)
	_, bport, _ := net.SplitHostPort(s.backend)
	doc := fmt.Sprintf(`name: e2e
attributes:
  connection_logs: { enabled: true, path: connection.log }
  access_logs: { enabled: true, path: access.log }
trust_stores:
  - name: clients
    ca_certificates_bundle: bundle.pem
    revocations: [{ crl: issuing.crl }]
listeners:
  - port: %d
    address: 127.0.0.1
    protocol: HTTPS
    certificates: [{ certificate: server.pem, private_key: server-key.pem }]
    mutual_authentication: { mode: optional, trust_store: clients }
    rules:
      - priority: 10
        require_client_certificate: true
        conditions: [{ path_pattern: { values: ["/api/*"] } }]
        actions: [{ type: forward, target_group: app }]
      - priority: 20
        conditions: [{ path_pattern: { values: ["/teapot"] } }]
        actions: [{ type: fixed_response, fixed_response: { status_code: "418", content_type: text/plain, message_body: "short and stout" } }]
      - priority: 30
        conditions: [{ path_pattern: { values: ["/old/*"] } }]
        actions: [{ type: redirect, redirect: { path: "/new/#{path}", status_code: HTTP_301 } }]
    default_actions: [{ type: forward, target_group: app }]
  - port: %d
    address: 127.0.0.1
    protocol: TCP
    default_actions: [{ type: forward, target_group: backend }]
target_groups:
  - name: app
    targets: [{ id: 127.0.0.1, port: %s }]
  - name: backend
    protocol: TCP
    targets: [{ id: 127.0.0.1, port: %d }]
`, s.port, tcpPort, bport, backendPort)
	s.write(t, "lb.yaml", []byte(doc))
	s.serve(t)
	waitFor(t, "both listeners", 10*time.Second, func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", tcpPort))
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	get := func(leaf *pki.Leaf, path string) (int, string, http.Header) {
		t.Helper()
		c := s.client(t, leaf)
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		req, _ := http.NewRequest("GET", fmt.Sprintf("https://127.0.0.1:%d%s", s.port, path), nil)
		req.Header.Set("Accept", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), resp.Header
	}
	cases := []struct {
		name   string
		leaf   *pki.Leaf
		path   string
		status int
		body   string
	}{
		{"public route without a certificate", nil, "/", 200, "subject=\n"},
		{"protected route without a certificate", nil, "/api/orders", 403, `"error":"ClientCertificateRequired"`},
		{"protected route with a certificate", good, "/api/orders", 200, "subject=CN=route.client"},
		{"fixed response", nil, "/teapot", 418, "short and stout"},
	}
	for _, c := range cases {
		if status, body, _ := get(c.leaf, c.path); status != c.status || !strings.Contains(body, c.body) {
			t.Errorf("%s: %d %q, want %d with %q", c.name, status, body, c.status, c.body)
		}
	}
	if status, _, h := get(nil, "/old/a?x=1"); status != 301 || h.Get("Location") != fmt.Sprintf("https://127.0.0.1:%d/new/old/a?x=1", s.port) {
		t.Errorf("redirect: %d to %q", status, h.Get("Location"))
	}
	// A revoked certificate fails the handshake even in optional mode: a given certificate is verified.
	if _, err := s.client(t, revoked).Get(fmt.Sprintf("https://127.0.0.1:%d/", s.port)); err == nil {
		t.Error("optional mode let a revoked certificate in")
	}

	// Layer 4: the TLS session is with the backend, which verifies the client itself.
	tcpGet := func(leaf *pki.Leaf) (string, error) {
		cfg := &tls.Config{RootCAs: s.root.Pool(), ServerName: "127.0.0.1"}
		if leaf != nil {
			cfg.Certificates = []tls.Certificate{leaf.TLSCertificate()}
		}
		c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", tcpPort), cfg)
		if err != nil {
			return "", err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return "", err
		}
		body, _ := io.ReadAll(resp.Body)
		return fmt.Sprintf("%d %s", resp.StatusCode, body), nil
	}
	if got, err := tcpGet(good); err != nil || !strings.HasPrefix(got, "200 ") || !strings.Contains(got, "route.client") {
		t.Errorf("%s backend through the TCP listener, good client: %q, %v", backendKind, got, err)
	}
	if got, err := tcpGet(revoked); err == nil && strings.HasPrefix(got, "200 ") {
		t.Errorf("%s backend through the TCP listener let the revoked client in: %q", backendKind, got)
	}
	// The access log has the layer-7 requests; the connection log has the layer-4 connections too.
	waitFor(t, "the logs", 10*time.Second, func() bool {
		a, _ := os.ReadFile(filepath.Join(s.dir, "access.log"))
		return strings.Count(string(a), "\n") >= 5
	})
}

// startMTLSBackend starts a backend that terminates TLS and verifies client certificates against the site's
// CA and CRL, answering with the client's subject: nginx if installed, else crypto/tls.
func startMTLSBackend(t *testing.T, s *site) (int, string) {
	t.Helper()
	port := freePort(t)
	if nginx, err := exec.LookPath("nginx"); err == nil || fileExists("/usr/sbin/nginx") {
		if err != nil {
			nginx = "/usr/sbin/nginx"
		}
		dir := t.TempDir()
		conf := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path %[1]s/body; proxy_temp_path %[1]s/proxy; fastcgi_temp_path %[1]s/fcgi;
  uwsgi_temp_path %[1]s/uwsgi; scgi_temp_path %[1]s/scgi;
  server {
    listen 127.0.0.1:%[2]d ssl;
    ssl_certificate %[3]s/server.pem;
    ssl_certificate_key %[3]s/server-key.pem;
    ssl_client_certificate %[3]s/bundle.pem;
    ssl_verify_client on;
    ssl_verify_depth 3;
    ssl_crl %[1]s/crl.pem;
    location / { return 200 "nginx saw $ssl_client_s_dn\n"; }
  }
}
`, dir, port, s.dir)
		// nginx's CRL file must hold every CA's CRL in the chain it checks: the issuing CA's and the root's.
		data, _ := os.ReadFile(filepath.Join(s.dir, "issuing.crl"))
		if err := os.WriteFile(filepath.Join(dir, "crl.pem"), append(data, pki.EncodeCRLPEM(s.root.CRL(t))...), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(nginx, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"))
		out := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		cmd.WaitDelay = 2 * time.Second // a stray child holding the output pipe must not hang the test
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting nginx: %v", err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			if t.Failed() {
				log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
				t.Logf("nginx output:\n%s\n%s", out.String(), log)
			}
		})
		waitFor(t, "nginx", 10*time.Second, func() bool {
			c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err == nil {
				c.Close()
			}
			return err == nil
		})
		return port, "nginx"
	}
	ln, err := tls.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{
		Certificates: []tls.Certificate{s.root.Server(t, "127.0.0.1").TLSCertificate()},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    s.root.Pool(),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "go saw %s\n", r.TLS.PeerCertificates[0].Subject)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return port, "go (no nginx on this machine; revocation is not checked by this backend)"
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }
