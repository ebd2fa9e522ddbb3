package cli

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/pki"
	"github.com/mtlslb/mtlslb/internal/testpki"
)

func TestCheckAdminAddress(t *testing.T) {
	for _, tc := range []struct {
		name  string
		addr  string
		mTLS  bool
		usage bool // refused as a usage error
	}{
		{name: "IPv4 loopback", addr: "127.0.0.1:9901"},
		{name: "another IPv4 loopback", addr: "127.0.0.2:9901"},
		{name: "IPv6 loopback", addr: "[::1]:9901"},
		{name: "localhost", addr: "localhost:9901"},
		{name: "every interface", addr: "0.0.0.0:9901", usage: true},
		{name: "every interface, no host", addr: ":9901", usage: true},
		{name: "IPv6 every interface", addr: "[::]:9901", usage: true},
		{name: "a private address", addr: "10.0.0.5:9901", usage: true},
		{name: "a DNS name", addr: "admin.example.com:9901", usage: true},
		{name: "loopback with a zone", addr: "[::1%lo]:9901", usage: true},
		{name: "every interface with mTLS", addr: "0.0.0.0:9901", mTLS: true},
		{name: "a DNS name with mTLS", addr: "admin.example.com:9901", mTLS: true},
		{name: "loopback with mTLS", addr: "127.0.0.1:9901", mTLS: true},
		{name: "no port", addr: "127.0.0.1", usage: true},
		{name: "no port with mTLS", addr: "0.0.0.0", mTLS: true, usage: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkAdminAddress(tc.addr, tc.mTLS)
			var u usageError
			if got := errors.As(err, &u); got != tc.usage {
				t.Fatalf("checkAdminAddress(%q, %v) = %v, want a usage error: %v", tc.addr, tc.mTLS, err, tc.usage)
			}
		})
	}
}

func TestCheckAdminAddressNamesTheFlags(t *testing.T) {
	err := checkAdminAddress("0.0.0.0:9901", false)
	for _, want := range []string{"--admin-tls-cert", "--admin-tls-key", "--admin-client-ca", "127.0.0.1:PORT"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %v lacks %q", err, want)
		}
	}
}

// FuzzCheckAdminAddress holds the invariant that matters: without mTLS, only a loopback host is accepted.
func FuzzCheckAdminAddress(f *testing.F) {
	for _, s := range []string{"127.0.0.1:9901", "[::1]:1", "localhost:0", "0.0.0.0:9901", ":1", "[::ffff:127.0.0.1]:1", "x", "[", "]:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		if checkAdminAddress(addr, false) != nil {
			return
		}
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatalf("accepted %q, which does not split: %v", addr, err)
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			t.Fatalf("accepted the non-loopback address %q without mTLS", addr)
		}
	})
}

func TestAdminTLSFlagsEnabled(t *testing.T) {
	for _, tc := range []struct {
		name    string
		flags   adminTLSFlags
		enabled bool
		missing string // in the usage error
	}{
		{name: "none", flags: adminTLSFlags{}},
		{name: "all", flags: adminTLSFlags{cert: "c", key: "k", clientCA: "ca"}, enabled: true},
		{name: "no key", flags: adminTLSFlags{cert: "c", clientCA: "ca"}, missing: "without --admin-tls-key"},
		{name: "no client CA", flags: adminTLSFlags{cert: "c", key: "k"}, missing: "without --admin-client-ca"},
		{name: "client CA only", flags: adminTLSFlags{clientCA: "ca"}, missing: "without --admin-tls-cert, --admin-tls-key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.flags.enabled()
			if got != tc.enabled {
				t.Errorf("enabled = %v, want %v", got, tc.enabled)
			}
			var u usageError
			switch {
			case tc.missing == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tc.missing != "" && (!errors.As(err, &u) || !strings.Contains(err.Error(), tc.missing)):
				t.Errorf("error %v, want a usage error saying %q", err, tc.missing)
			}
		})
	}
}

// adminFiles are an admin PKI written to a directory: the admin API's server pair and CA bundle, and client
// pairs of the admin CA and of another CA.
type adminFiles struct {
	dir                       string
	serverCert, serverKey     string
	bundle                    string
	operatorCert, operatorKey string
	operator, intruder        *pki.Leaf
	serverRoots               *testpki.CA
}

func writeAdminFiles(t testing.TB) adminFiles {
	t.Helper()
	ca, other := testpki.NewCA(t), testpki.NewCA(t)
	f := adminFiles{dir: t.TempDir(), serverRoots: ca, operator: ca.Client(t, "operator"), intruder: other.Client(t, "intruder")}
	f.serverCert, f.serverKey = writePair(t, f.dir, "server", ca.Server(t, "127.0.0.1"))
	f.operatorCert, f.operatorKey = writePair(t, f.dir, "operator", f.operator)
	f.bundle = writeFile(t, f.dir, "admin-ca.pem", ca.BundlePEM())
	return f
}

func writePair(t testing.TB, dir, name string, l *pki.Leaf) (cert, key string) {
	t.Helper()
	keyPEM, err := pki.EncodeKeyPEM(l.Key)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, name+".pem", l.ChainPEM()), writeFile(t, dir, name+"-key.pem", keyPEM)
}

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadAdminTLS(t *testing.T) {
	f := writeAdminFiles(t)
	garbage := writeFile(t, f.dir, "garbage.pem", []byte("not PEM\n"))
	for _, tc := range []struct {
		name  string
		flags adminTLSFlags
		want  []string // in the error; none means success
	}{
		{name: "good", flags: adminTLSFlags{cert: f.serverCert, key: f.serverKey, clientCA: f.bundle}},
		{name: "missing certificate", flags: adminTLSFlags{cert: filepath.Join(f.dir, "nope.pem"), key: f.serverKey, clientCA: f.bundle}, want: []string{"--admin-tls-cert", "nope.pem"}},
		{name: "missing key", flags: adminTLSFlags{cert: f.serverCert, key: filepath.Join(f.dir, "nope.pem"), clientCA: f.bundle}, want: []string{"--admin-tls-key", "nope.pem"}},
		{name: "key of another certificate", flags: adminTLSFlags{cert: f.serverCert, key: f.operatorKey, clientCA: f.bundle}, want: []string{"--admin-tls-key", "does not match"}},
		{name: "missing bundle", flags: adminTLSFlags{cert: f.serverCert, key: f.serverKey, clientCA: filepath.Join(f.dir, "nope.pem")}, want: []string{"--admin-client-ca", "nope.pem"}},
		{name: "bundle of a leaf", flags: adminTLSFlags{cert: f.serverCert, key: f.serverKey, clientCA: f.operatorCert}, want: []string{"--admin-client-ca", "operator.pem", "certificate 1"}},
		{name: "bundle that is no PEM", flags: adminTLSFlags{cert: f.serverCert, key: f.serverKey, clientCA: garbage}, want: []string{"--admin-client-ca", "garbage.pem"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := loadAdminTLS(tc.flags)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if c := a.config; c.MinVersion != tls.VersionTLS12 || !c.SessionTicketsDisabled || c.ClientAuth != tls.RequireAnyClientCert || c.VerifyConnection == nil {
					t.Errorf("config: min version %x, tickets disabled %v, client auth %v, VerifyConnection set %v",
						c.MinVersion, c.SessionTicketsDisabled, c.ClientAuth, c.VerifyConnection != nil)
				}
				return
			}
			if err == nil {
				t.Fatal("loaded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// lockedBuffer is a log destination the test reads while the listener writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestAdminTLSListener serves a handler through the admin mTLS listener on 127.0.0.1:0 and checks who gets
// through and what the log says about who does not.
func TestAdminTLSListener(t *testing.T) {
	f := writeAdminFiles(t)
	a, err := loadAdminTLS(adminTLSFlags{cert: f.serverCert, key: f.serverKey, clientCA: f.bundle})
	if err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	ln := a.listen(inner, slog.New(slog.NewTextHandler(logs, nil)))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.TLS.PeerCertificates[0].Subject.CommonName)
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	addr := ln.Addr().String()

	for _, tc := range []struct {
		name   string
		scheme string
		leaf   *pki.Leaf
		body   string   // the answer, for a client that gets through
		status int      // the status of the answer
		log    []string // in the log, for one that does not
	}{
		{name: "operator", scheme: "https", leaf: f.operator, status: http.StatusOK, body: "operator"},
		{name: "another CA", scheme: "https", leaf: f.intruder, log: []string{"tls_verify_status=Failed:ClientCertUntrusted", `client_subject="CN=intruder"`}},
		{name: "no certificate", scheme: "https", log: []string{"tls_verify_status=Failed:UnmappedConnectionError", "didn't provide a certificate"}},
		{name: "plain HTTP", scheme: "http", status: http.StatusBadRequest, body: `"code":"TLSRequired"`, log: []string{"refused a plain HTTP request"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &tls.Config{RootCAs: f.serverRoots.Pool()}
			if tc.leaf != nil {
				cfg.Certificates = []tls.Certificate{tc.leaf.TLSCertificate()}
			}
			client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
			resp, err := client.Get(tc.scheme + "://" + addr + "/")
			if tc.status == 0 {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("got through with status %d", resp.StatusCode)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.body) {
					t.Errorf("status %d, body %q; want %d with %q", resp.StatusCode, body, tc.status, tc.body)
				}
			}
			deadline := time.Now().Add(5 * time.Second)
			for _, w := range tc.log {
				for !strings.Contains(logs.String(), w) {
					if time.Now().After(deadline) {
						t.Fatalf("the log lacks %q:\n%s", w, logs.String())
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
}

func TestClientFlagsCheck(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags clientFlags
		usage bool
	}{
		{name: "plain", flags: clientFlags{admin: "127.0.0.1:9901", output: "table"}},
		{name: "https with everything", flags: clientFlags{admin: "https://h:1", output: "table", cert: "c", key: "k", ca: "ca"}},
		{name: "https with only a CA", flags: clientFlags{admin: "HTTPS://h:1", output: "json", ca: "ca"}},
		{name: "certificate without key", flags: clientFlags{admin: "https://h:1", output: "table", cert: "c"}, usage: true},
		{name: "key without certificate", flags: clientFlags{admin: "https://h:1", output: "table", key: "k"}, usage: true},
		{name: "http with TLS flags", flags: clientFlags{admin: "http://h:1", output: "table", ca: "ca"}, usage: true},
		{name: "HTTP in capitals with TLS flags", flags: clientFlags{admin: "HTTP://h:1", output: "table", cert: "c", key: "k"}, usage: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.flags.check()
			var u usageError
			if got := errors.As(err, &u); got != tc.usage {
				t.Errorf("check() = %v, want a usage error: %v", err, tc.usage)
			}
		})
	}
}

func TestClientEndpoint(t *testing.T) {
	f := writeAdminFiles(t)
	for _, tc := range []struct {
		name  string
		flags clientFlags
		base  string
		tls   bool
		err   string
	}{
		{name: "no scheme, no TLS flags", flags: clientFlags{admin: "127.0.0.1:9901"}, base: "http://127.0.0.1:9901"},
		{name: "no scheme, TLS flags", flags: clientFlags{admin: "127.0.0.1:9901", cert: f.operatorCert, key: f.operatorKey, ca: f.bundle}, base: "https://127.0.0.1:9901", tls: true},
		{name: "https, no flags", flags: clientFlags{admin: "https://h:1"}, base: "https://h:1", tls: true},
		{name: "unreadable certificate", flags: clientFlags{admin: "https://h:1", cert: filepath.Join(f.dir, "nope.pem"), key: f.operatorKey}, err: "--admin-cert"},
		{name: "unreadable key", flags: clientFlags{admin: "https://h:1", cert: f.operatorCert, key: filepath.Join(f.dir, "nope.pem")}, err: "--admin-key"},
		{name: "unreadable CA", flags: clientFlags{admin: "https://h:1", ca: filepath.Join(f.dir, "nope.pem")}, err: "--admin-ca"},
		{name: "CA without certificates", flags: clientFlags{admin: "https://h:1", ca: f.operatorKey}, err: "no PEM certificate"},
		{name: "key of another certificate", flags: clientFlags{admin: "https://h:1", cert: f.operatorCert, key: f.serverKey}, err: "does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, hc, err := tc.flags.endpoint()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("endpoint() error %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if base != tc.base {
				t.Errorf("base %q, want %q", base, tc.base)
			}
			if gotTLS := hc.Transport != nil; gotTLS != tc.tls {
				t.Errorf("TLS transport %v, want %v", gotTLS, tc.tls)
			}
		})
	}
}
