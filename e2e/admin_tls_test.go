package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/pki"
	"github.com/mtlslb/mtlslb/internal/testpki"
)

// adminPKI is the admin API's own PKI, apart from the data path's: a CA, the admin API's server
// certificate, and an operator's client certificate.
type adminPKI struct {
	ca                    *testpki.CA
	serverCert, serverKey string
	bundle                string
	operatorCert          string
	operatorKey           string
	operator              *pki.Leaf
}

func newAdminPKI(t testing.TB, s *site) *adminPKI {
	t.Helper()
	a := &adminPKI{ca: testpki.NewCA(t)}
	server := a.ca.Server(t, "127.0.0.1")
	a.serverCert, a.serverKey = writeLeaf(t, s, "admin-server", server)
	a.bundle = s.write(t, "admin-ca.pem", a.ca.BundlePEM())
	a.operator = a.ca.Client(t, "operator")
	a.operatorCert, a.operatorKey = writeLeaf(t, s, "operator", a.operator)
	return a
}

// writeLeaf writes a leaf's chain and key as name.pem and name-key.pem.
func writeLeaf(t testing.TB, s *site, name string, l *pki.Leaf) (cert, key string) {
	t.Helper()
	keyPEM, err := pki.EncodeKeyPEM(l.Key)
	if err != nil {
		t.Fatal(err)
	}
	return s.write(t, name+".pem", l.ChainPEM()), s.write(t, name+"-key.pem", keyPEM)
}

func (a *adminPKI) serveFlags() []string {
	return []string{"--admin-tls-cert", a.serverCert, "--admin-tls-key", a.serverKey, "--admin-client-ca", a.bundle}
}

// runCLI runs the binary with extra environment variables and returns stdout, stderr and exit code.
func runCLI(t testing.TB, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	// A race-enabled binary sleeps a second at a successful exit unless told not to.
	cmd.Env = append(append(os.Environ(), "GORACE=atexit_sleep_ms=0"), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), exitCode(err)
}

// TestAdminTLS runs serve in store mode with the admin API over mTLS (on loopback: the TLS path is what is
// tested) and reaches it with the admin-client commands, with and without an acceptable certificate.
func TestAdminTLS(t *testing.T) {
	s := newSite(t)
	a := newAdminPKI(t, s)
	// A client certificate of the data path's CA: good for the listeners, not for the admin API.
	intruderCert, intruderKey := writeLeaf(t, s, "intruder", s.issuing.Client(t, "intruder"))

	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	url := "https://" + addr
	logs := launchStoreServer(t, filepath.Join(s.dir, "data"), addr, a.serveFlags()...).logs
	operator := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: a.ca.Pool(), Certificates: []tls.Certificate{a.operator.TLSCertificate()},
	}}}
	waitFor(t, "the admin API over mTLS", 10*time.Second, func() bool {
		resp, err := operator.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	})

	tlsFlags := []string{"--admin-cert", a.operatorCert, "--admin-key", a.operatorKey, "--admin-ca", a.bundle}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		code int
		// want is in stdout on success, in stderr otherwise.
		want []string
		// log is in the server's log afterwards.
		log []string
	}{
		{
			name: "https address and the operator's certificate",
			args: append([]string{"--admin", url}, tlsFlags...),
			want: []string{"NAME"},
		},
		{
			name: "no scheme: the TLS flags ask for https",
			args: append([]string{"--admin", addr}, tlsFlags...),
			want: []string{"NAME"},
		},
		{
			name: "the TLS material from the environment",
			env:  []string{"MTLSLB_ADMIN=" + url, "MTLSLB_ADMIN_CERT=" + a.operatorCert, "MTLSLB_ADMIN_KEY=" + a.operatorKey, "MTLSLB_ADMIN_CA=" + a.bundle},
			want: []string{"NAME"},
		},
		{
			name: "no client certificate",
			args: []string{"--admin", url, "--admin-ca", a.bundle},
			code: 1,
			want: []string{"requires a client certificate", "--admin-cert"},
			log:  []string{"admin API refused a connection", "Failed:UnmappedConnectionError"},
		},
		{
			name: "a certificate of another CA",
			args: []string{"--admin", url, "--admin-cert", intruderCert, "--admin-key", intruderKey, "--admin-ca", a.bundle},
			code: 1,
			want: []string{"the admin API refused this client certificate", "intruder.pem"},
			log:  []string{"Failed:ClientCertUntrusted", "CN=intruder"},
		},
		{
			name: "plain http to the TLS admin API",
			args: []string{"--admin", addr},
			code: 1,
			want: []string{"TLSRequired", "https://", "--admin-cert"},
			log:  []string{"admin API refused a plain HTTP request"},
		},
		{
			name: "the server's certificate checked against the wrong CA",
			args: []string{"--admin", url, "--admin-cert", a.operatorCert, "--admin-key", a.operatorKey, "--admin-ca", filepath.Join(s.dir, "bundle.pem")},
			code: 1,
			want: []string{"server certificate", "not accepted", "bundle.pem"},
		},
		{
			name: "a missing client certificate file",
			args: []string{"--admin", url, "--admin-cert", filepath.Join(s.dir, "nope.pem"), "--admin-key", a.operatorKey},
			code: 1,
			want: []string{"--admin-cert", "nope.pem", "no such file"},
		},
		{
			name: "a certificate without its key",
			args: []string{"--admin", url, "--admin-cert", a.operatorCert},
			code: 2,
			want: []string{"--admin-cert and --admin-key"},
		},
		{
			name: "an http:// address with the TLS flags",
			args: append([]string{"--admin", "http://" + addr}, tlsFlags...),
			code: 2,
			want: []string{"plain HTTP", "use https://"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, tc.env, append([]string{"trust-store", "describe"}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errOut)
			}
			got := errOut
			if tc.code == 0 {
				got = out
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("output lacks %q:\nstdout: %s\nstderr: %s", w, out, errOut)
				}
			}
			for _, w := range tc.log {
				waitFor(t, "the server to log "+w, 5*time.Second, func() bool { return strings.Contains(logs.String(), w) })
			}
		})
	}

	// Without the admin-client commands: a plain HTTP client gets the 400 in the API's error format.
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("plain http to the TLS admin API: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"code":"TLSRequired"`) {
		t.Errorf("plain http: status %d, body %s", resp.StatusCode, body)
	}
}

// TestServeAdminRefusals checks the admin flags serve refuses at start. Nothing listens on a non-loopback
// address here: the refusal comes before any listening, and the loopback rule with mTLS is covered by the
// unit test of checkAdminAddress in internal/cli.
func TestServeAdminRefusals(t *testing.T) {
	s := newSite(t)
	a := newAdminPKI(t, s)
	notCA := s.write(t, "not-a-ca.pem", a.operator.ChainPEM())
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{
			name: "non-loopback without mTLS",
			args: []string{"--admin-address", fmt.Sprintf("0.0.0.0:%d", freePort(t))},
			code: 2,
			want: []string{"not a loopback address", "--admin-tls-cert", "--admin-tls-key", "--admin-client-ca"},
		},
		{
			name: "a partial set of the TLS flags",
			args: []string{"--admin-address", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--admin-tls-cert", a.serverCert, "--admin-client-ca", a.bundle},
			code: 2,
			want: []string{"--admin-tls-cert, --admin-client-ca given without --admin-tls-key"},
		},
		{
			name: "a client CA bundle that breaks the bundle rules",
			args: []string{"--admin-address", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--admin-tls-cert", a.serverCert, "--admin-tls-key", a.serverKey, "--admin-client-ca", notCA},
			code: 1,
			want: []string{"--admin-client-ca", "not-a-ca.pem", "certificate 1"},
		},
		{
			name: "a missing server key",
			args: []string{"--admin-address", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--admin-tls-cert", a.serverCert, "--admin-tls-key", filepath.Join(s.dir, "nope.pem"), "--admin-client-ca", a.bundle},
			code: 1,
			want: []string{"--admin-tls-key", "no such file"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			args := append([]string{"serve", "--data-dir", filepath.Join(t.TempDir(), "data"), "--drain-timeout", "1s"}, tc.args...)
			out, err := exec.CommandContext(ctx, binary, args...).CombinedOutput()
			if code := exitCode(err); code != tc.code {
				t.Fatalf("serve exited %d (%v), want %d\n%s", code, err, tc.code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
