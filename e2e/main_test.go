package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/pki"
	"github.com/mtlslb/mtlslb/internal/testpki"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mtlslb-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "mtlslb")
	build := exec.Command("go", "build", "-race", "-o", binary, "../cmd/mtlslb")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building mtlslb:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// site is a PKI, a backend and a configuration directory for the binary.
type site struct {
	// slowArrived receives when a request for /slow reaches the backend; the backend answers it once
	// slowRelease is closed.
	slowArrived chan struct{}
	slowRelease chan struct{}
	dir         string
	root        *testpki.CA
	issuing     *testpki.CA
	backend     string
	port        int
}

func newSite(t testing.TB) *site {
	t.Helper()
	s := &site{dir: t.TempDir(), root: testpki.NewCA(t), slowArrived: make(chan struct{}, 1), slowRelease: make(chan struct{})}
	s.issuing = s.root.Intermediate(t, "Issuing CA")
	server := s.root.Server(t, "127.0.0.1")
	key, err := pki.EncodeKeyPEM(server.Key)
	if err != nil {
		t.Fatal(err)
	}
	s.write(t, "server.pem", server.ChainPEM())
	s.write(t, "server-key.pem", key)
	s.write(t, "bundle.pem", s.root.BundlePEM())
	s.write(t, "issuing.crl", pki.EncodeCRLPEM(s.issuing.CRL(t)))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			s.slowArrived <- struct{}{}
			<-s.slowRelease
		}
		fmt.Fprintf(w, "subject=%s\n", r.Header.Get("X-Amzn-Mtls-Clientcert-Subject"))
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	s.backend = ln.Addr().String()
	s.port = freePort(t)
	return s
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (s *site) write(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(s.dir, name)
	// Write then rename, as configuration tools do, so a watcher never sees half a file.
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	return p
}

func (s *site) config(mode string) string {
	_, bport, _ := net.SplitHostPort(s.backend)
	ts := ""
	if mode == "verify" {
		ts = "\n      trust_store: clients"
	}
	return fmt.Sprintf(`name: e2e
attributes:
  connection_logs: { enabled: true, path: connection.log }
trust_stores:
  - name: clients
    ca_certificates_bundle: bundle.pem
    revocations:
      - crl: issuing.crl
listeners:
  - port: %d
    address: 127.0.0.1
    protocol: HTTPS
    certificates:
      - { certificate: server.pem, private_key: server-key.pem }
    mutual_authentication:
      mode: %s%s
    default_actions:
      - type: forward
        target_group: app
target_groups:
  - name: app
    targets:
      - { id: 127.0.0.1, port: %s }
`, s.port, mode, ts, bport)
}

// proc is a running `mtlslb serve`.
type proc struct {
	admin  string
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan error
}

func (s *site) serve(t testing.TB, extra ...string) *proc {
	t.Helper()
	admin := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	args := append([]string{"serve", "--config", filepath.Join(s.dir, "lb.yaml"), "--admin-address", admin, "--drain-timeout", "5s"}, extra...)
	cmd := exec.Command(binary, args...)
	p := &proc{admin: admin, cmd: cmd, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.stderr, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("mtlslb output:\n%s", p.stderr.String())
		}
	})
	return p
}

func (s *site) client(t testing.TB, leaf *pki.Leaf) *http.Client {
	cfg := &tls.Config{RootCAs: s.root.Pool(), ServerName: "127.0.0.1"}
	if leaf != nil {
		c := leaf.TLSCertificate()
		cfg.Certificates = []tls.Certificate{c}
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
}

func (s *site) get(t testing.TB, leaf *pki.Leaf) (string, error) {
	resp, err := s.client(t, leaf).Get(fmt.Sprintf("https://127.0.0.1:%d/", s.port))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	return string(body), nil
}

func TestServeReloadAndStop(t *testing.T) {
	s := newSite(t)
	s.write(t, "lb.yaml", []byte(s.config("verify")))
	p := s.serve(t)
	good := s.issuing.Client(t, "good.client")
	waitFor(t, "the listener to serve", 10*time.Second, func() bool { _, err := s.get(t, good); return err == nil })
	if body, _ := s.get(t, good); !strings.Contains(body, "subject=CN=good.client") {
		t.Fatalf("backend saw %q", body)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + p.admin + path)
		if err != nil {
			t.Fatalf("admin %s: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("admin %s: status %d", path, resp.StatusCode)
		}
	}

	// Revoke the certificate by replacing the CRL file: the change is picked up without a signal.
	s.write(t, "issuing.crl", pki.EncodeCRLPEM(s.issuing.CRL(t, good.Cert)))
	waitFor(t, "the new CRL to apply", 10*time.Second, func() bool { _, err := s.get(t, good); return err != nil })

	// A broken document is refused with a clear log line; the running configuration keeps serving.
	other := s.issuing.Client(t, "other.client")
	s.write(t, "lb.yaml", []byte(strings.Replace(s.config("verify"), "trust_store: clients", "trust_store: partners", 1)))
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the refusal in the log", 10*time.Second, func() bool {
		return strings.Contains(p.stderr.String(), `no trust store named \"partners\"`) || strings.Contains(p.stderr.String(), `no trust store named "partners"`)
	})
	if _, err := s.get(t, other); err != nil {
		t.Fatalf("after a refused reload the old configuration must still serve: %v", err)
	}
	if !strings.Contains(p.stderr.String(), "still serving the previous one") {
		t.Errorf("the refusal does not say the old configuration still serves:\n%s", p.stderr.String())
	}
	// The metrics tell the same story.
	resp, err := http.Get("http://" + p.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metricsText, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		"mtlslb_config_last_reload_successful 0",
		`status="ClientCertCrlHit"} 1`,
		`mtlslb_trust_store_ca_certificates{trust_store="clients"} 1`,
	} {
		if !strings.Contains(string(metricsText), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// Switch to passthrough mode on the same port by a file change.
	s.write(t, "lb.yaml", []byte(s.config("off")))
	waitFor(t, "the mode change", 10*time.Second, func() bool { _, err := s.get(t, nil); return err == nil })

	// SIGTERM with a request in flight: the request completes, then the process exits 0.
	inflight := make(chan error, 1)
	go func() {
		resp, err := s.client(t, nil).Get(fmt.Sprintf("https://127.0.0.1:%d/slow", s.port))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		inflight <- err
	}()
	<-s.slowArrived
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the drain to begin", 10*time.Second, func() bool { return strings.Contains(p.stderr.String(), "draining connections") })
	close(s.slowRelease)
	if err := <-inflight; err != nil {
		t.Errorf("the request in flight at SIGTERM failed: %v", err)
	}
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Fatalf("mtlslb exited with %v after SIGTERM", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("mtlslb did not stop within 15 s of SIGTERM")
	}
	if !strings.Contains(p.stderr.String(), "stopped") {
		t.Errorf("no stop message in the log")
	}
	// Every handshake was logged.
	data, err := os.ReadFile(filepath.Join(s.dir, "connection.log"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "Failed:ClientCertCrlHit"); n == 0 {
		t.Errorf("no CRL hit in the connection log:\n%s", data)
	}
}

func TestServeRefusesBadConfigAtStart(t *testing.T) {
	s := newSite(t)
	s.write(t, "bundle.pem", []byte("# a comment - with a hyphen\n"+string(s.root.BundlePEM())))
	s.write(t, "lb.yaml", []byte(s.config("verify")))
	p := s.serve(t)
	select {
	case err := <-p.done:
		p.done <- err
		if err == nil {
			t.Fatal("serve started with a bad bundle")
		}
		out := p.stderr.String()
		if !strings.Contains(out, "bundle.pem") || !strings.Contains(out, "line 1") {
			t.Errorf("the refusal does not name the file and line:\n%s", out)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve kept running with a bad bundle")
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), time.Second); err == nil {
		c.Close()
		t.Fatal("the listener port is open although the configuration was refused")
	}
}

func TestValidate(t *testing.T) {
	s := newSite(t)
	good := s.write(t, "lb.yaml", []byte(s.config("verify")))
	out, err := exec.Command(binary, "validate", "--config", good).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok") {
		t.Fatalf("validate of a good file: %v\n%s", err, out)
	}

	bad := strings.Replace(s.config("verify"), "trust_store: clients", "trust_store: partners", 1)
	bad = strings.Replace(bad, "mode: verify", "mode: verify\n      unknown_key: 1", 1)
	bad += "  - name: app\n"
	badPath := s.write(t, "bad.yaml", []byte(bad))
	cmd := exec.Command(binary, "validate", "--config", badPath)
	out, err = cmd.CombinedOutput()
	if code := exitCode(err); code != 1 {
		t.Fatalf("validate of a bad file exited %d, want 1\n%s", code, out)
	}
	for _, want := range []string{"listeners[0].mutual_authentication.unknown_key", "partners"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("validate output does not mention %q:\n%s", want, out)
		}
	}

	out, err = exec.Command(binary, "validate", "--config", badPath, "--output", "json").Output()
	if exitCode(err) != 1 || !strings.Contains(string(out), `"valid": false`) {
		t.Errorf("validate --output json: %v\n%s", err, out)
	}
	if code := exitCode(exec.Command(binary, "validate").Run()); code != 2 {
		t.Errorf("validate without --config exited %d, want 2", code)
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

func TestDemoCheck(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "demo", "--check", "--port", "0", "--dir", t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("demo --check: %v\n%s", err, out)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	var statuses []string
	for sc.Scan() {
		for _, st := range []string{"Failed:ClientCertCrlHit", "Failed:ClientCertExpired", "Failed:ClientCertUntrusted"} {
			if strings.Contains(sc.Text(), st) {
				statuses = append(statuses, st)
			}
		}
	}
	if len(statuses) < 3 {
		t.Errorf("the demo's connection log lacks the expected failures (found %v):\n%s", statuses, out)
	}
	if !strings.Contains(string(out), "every outcome was as expected") {
		t.Errorf("demo output:\n%s", out)
	}
}
