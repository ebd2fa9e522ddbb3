//go:debug x509negativeserial=1

package engine_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/config"
	"github.com/mtlslb/mtlslb/internal/engine"
	"github.com/mtlslb/mtlslb/internal/health"
	"github.com/mtlslb/mtlslb/internal/pki"
	"github.com/mtlslb/mtlslb/internal/testpki"
)

// backend is a target that records the headers of the last request it served.
type backend struct {
	addr string
	mu   sync.Mutex
	last http.Header
	hits int
}

func newBackend(t testing.TB) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{addr: ln.Addr().String()}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.UserAgent() == health.UserAgent {
			return // health checks are not requests a client sent
		}
		b.mu.Lock()
		b.last = r.Header.Clone()
		b.hits++
		b.mu.Unlock()
		_, _ = io.WriteString(w, "hello from the target\n")
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return b
}

func (b *backend) lastHeaders() http.Header {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last
}

// fixture is a PKI on disk and a backend: root → issuing CA → clients; the bundle holds the root only.
type fixture struct {
	dir     string
	root    *testpki.CA
	issuing *testpki.CA
	server  *pki.Leaf
	backend *backend
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), root: testpki.NewCA(t), backend: newBackend(t)}
	f.issuing = f.root.Intermediate(t, "Issuing CA")
	f.server = f.root.Server(t, "127.0.0.1")
	f.write(t, "bundle.pem", f.root.BundlePEM())
	f.write(t, "server.pem", f.server.ChainPEM())
	key, err := pki.EncodeKeyPEM(f.server.Key)
	if err != nil {
		t.Fatal(err)
	}
	f.write(t, "server-key.pem", key)
	f.write(t, "issuing.crl", pki.EncodeCRLPEM(f.issuing.CRL(t)))
	return f
}

func (f *fixture) write(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(f.dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// listenerYAML is the mutual_authentication block and extras of the one listener of a test document.
type listenerYAML struct {
	mode, extra, trustStoreExtra, attributes string
}

func (f *fixture) config(l listenerYAML) string {
	ma := "mode: " + l.mode
	if l.mode == "verify" {
		ma += "\n      trust_store: clients"
	}
	return fmt.Sprintf(`name: e2e
attributes:
  connection_logs: { enabled: true, path: connection.log }
%s
trust_stores:
  - name: clients
    ca_certificates_bundle: bundle.pem
    revocations:
      - crl: issuing.crl
%s
listeners:
  - port: 443
    address: 127.0.0.1
    protocol: HTTPS
    certificates:
      - { certificate: server.pem, private_key: server-key.pem }
    mutual_authentication:
      %s
%s
    default_actions:
      - type: forward
        target_group: app
target_groups:
  - name: app
    targets:
      - { id: 127.0.0.1, port: %s }
`, l.attributes, l.trustStoreExtra, ma, l.extra, f.backendPort())
}

func (f *fixture) backendPort() string {
	_, port, _ := net.SplitHostPort(f.backend.addr)
	return port
}

// running is an engine serving a fixture's document.
type running struct {
	eng     *engine.Engine
	addr    string
	connLog string
	f       *fixture
}

func (f *fixture) start(t testing.TB, l listenerYAML) *running {
	t.Helper()
	return f.startWith(t, l, engine.Options{})
}

// startWith is start with engine options (a logger to observe, for example).
func (f *fixture) startWith(t testing.TB, l listenerYAML, opts engine.Options) *running {
	t.Helper()
	path := f.write(t, "lb.yaml", []byte(f.config(l)))
	doc, err := config.Load(path)
	if err != nil {
		t.Fatalf("config.Load: %v", err)
	}
	// The document says 443; the test binds port 0 instead (the engine allows it, validation does not), so
	// tests never race for a port.
	doc.Listeners[0].Port = 0
	eng := engine.New(opts)
	compiled, err := eng.Compile(doc)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	if err := eng.Apply(compiled); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	t.Cleanup(func() { _ = eng.Shutdown(context.Background()) })
	var addr string
	for _, a := range eng.Addrs() {
		addr = a.String()
	}
	return &running{eng: eng, addr: addr, connLog: filepath.Join(f.dir, "connection.log"), f: f}
}

// get makes one request on a new connection presenting cert (nil: none) and returns the response or the
// handshake error.
func (r *running) get(t testing.TB, cert *tls.Certificate, header http.Header) (*http.Response, error) {
	t.Helper()
	cfg := &tls.Config{RootCAs: r.f.root.Pool(), ServerName: "127.0.0.1"}
	if cert != nil {
		c := *cert
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
	}
	tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, "https://"+r.addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

// connLines flushes the connection log and returns its lines, each split into its 15 fields.
func (r *running) connLines(t testing.TB) [][]string {
	t.Helper()
	if err := r.eng.FlushLogs(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(r.connLog)
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		fields := splitConnLine(sc.Text())
		if len(fields) != 15 {
			t.Fatalf("connection log line has %d fields, want 15: %q", len(fields), sc.Text())
		}
		lines = append(lines, fields)
	}
	return lines
}

// lastConnLine waits briefly for the handshake's line (it is written when the server side of the handshake
// finishes, which may be just after the client gives up) and returns it.
func (r *running) lastConnLine(t testing.TB, want int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		lines := r.connLines(t)
		if len(lines) >= want {
			return lines[want-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("connection log has %d lines, want %d", len(lines), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// splitConnLine splits on spaces, keeping field 8's quoted value (with backslash escapes) whole.
func splitConnLine(line string) []string {
	var fields []string
	for len(line) > 0 {
		if line[0] == '"' {
			i := 1
			for i < len(line) && line[i] != '"' {
				if line[i] == '\\' {
					i++
				}
				i++
			}
			fields = append(fields, line[:min(i+1, len(line))])
			line = strings.TrimPrefix(line[min(i+1, len(line)):], " ")
			continue
		}
		sp := strings.IndexByte(line, ' ')
		if sp < 0 {
			fields = append(fields, line)
			break
		}
		fields = append(fields, line[:sp])
		line = line[sp+1:]
	}
	return fields
}

func tlsCert(l *pki.Leaf) *tls.Certificate {
	c := l.TLSCertificate()
	return &c
}

// Independent computations of the header values, written from alb-compat §3.1 without the product's code.
func wantSerial(c *x509.Certificate) string {
	return strings.ToUpper(hex.EncodeToString(c.SerialNumber.Bytes()))
}

func wantValidity(c *x509.Certificate) string {
	return "NotBefore=" + c.NotBefore.UTC().Format("2006-01-02T15:04:05Z") + ";NotAfter=" + c.NotAfter.UTC().Format("2006-01-02T15:04:05Z")
}

func pemOf(certs ...*x509.Certificate) string {
	var b strings.Builder
	for _, c := range certs {
		b.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
	}
	return b.String()
}

func decodeHeader(t testing.TB, v string) string {
	t.Helper()
	if strings.ContainsAny(v, " \n\r") {
		t.Fatalf("header value is not URL-encoded: %q", v)
	}
	s, err := url.PathUnescape(v)
	if err != nil {
		t.Fatalf("header value does not URL-decode: %v", err)
	}
	return s
}

// spoofed are inbound copies of every identity header, in odd spellings; none may reach the target.
func spoofed() http.Header {
	return http.Header{
		"X-Amzn-Mtls-Clientcert-Subject":       {"CN=admin"},
		"x-amzn-mtls-clientcert-issuer":        {"CN=evil"},
		"X-AMZN-MTLS-CLIENTCERT-SERIAL-NUMBER": {"00"},
		"X-Amzn-Mtls-Clientcert":               {"spoof"},
		"X-Amzn-Mtls-Clientcert-Leaf":          {"spoof"},
		"X-Amzn-Mtls-Clientcert-Validity":      {"spoof"},
		"X-Amzn-Tls-Version":                   {"spoof"},
		"X-Amzn-Tls-Cipher-Suite":              {"spoof"},
		"Connection":                           {"X-Amzn-Mtls-Clientcert-Subject"},
	}
}

func TestVerifyModeSuccessHeadersAndLog(t *testing.T) {
	f := newFixture(t)
	r := f.start(t, listenerYAML{mode: "verify"})
	client := f.issuing.Client(t, "good.client", pki.WithSerial(big.NewInt(0x3A5B1)))
	resp, err := r.get(t, tlsCert(client), spoofed())
	if err != nil {
		t.Fatalf("request with a good certificate: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	h := f.backend.lastHeaders()
	leaf := client.Cert
	want := map[string]string{
		"X-Amzn-Mtls-Clientcert-Serial-Number": "03A5B1",
		"X-Amzn-Mtls-Clientcert-Issuer":        "CN=Issuing CA",
		"X-Amzn-Mtls-Clientcert-Subject":       "CN=good.client",
		"X-Amzn-Mtls-Clientcert-Validity":      wantValidity(leaf),
	}
	if got := wantSerial(leaf); got != "03A5B1" {
		t.Fatalf("test's own serial computation is off: %s", got)
	}
	for k, v := range want {
		if got := h.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want exactly [%q]", k, got, v)
		}
	}
	if got := decodeHeader(t, h.Get("X-Amzn-Mtls-Clientcert-Leaf")); got != pemOf(leaf) {
		t.Errorf("X-Amzn-Mtls-Clientcert-Leaf decodes to\n%s\nwant\n%s", got, pemOf(leaf))
	}
	for _, k := range []string{"X-Amzn-Mtls-Clientcert", "X-Amzn-Tls-Version", "X-Amzn-Tls-Cipher-Suite"} {
		if v := h.Values(k); v != nil {
			t.Errorf("%s reached the target (%q); verify mode without TLS headers sends none", k, v)
		}
	}

	line := r.lastConnLine(t, 1)
	host, port, _ := net.SplitHostPort(r.addr)
	checks := map[int]string{
		3: port, 4: "TLSv1.3", 5: "TLS_AES_128_GCM_SHA256", 7: `"CN=good.client"`, 8: wantValidity(leaf),
		9: "03A5B1", 10: "Success", 13: "e2e", 14: host, 1: "127.0.0.1",
	}
	for i, v := range checks {
		if line[i] != v {
			t.Errorf("connection log field %d = %q, want %q (line %q)", i+1, line[i], v, strings.Join(line, " "))
		}
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000000Z", line[0]); err != nil {
		t.Errorf("timestamp %q: %v", line[0], err)
	}
	if !strings.HasPrefix(line[11], "TID_") || len(line[11]) != 36 {
		t.Errorf("conn_trace_id %q is not TID_ + 32 hex digits", line[11])
	}
	if line[6] == "-" {
		t.Errorf("handshake latency missing on success")
	}
}

func TestVerifyStatuses(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	good := f.issuing.Client(t, "good.client")

	// CRL hit: revoke one certificate of the issuing CA.
	revoked := f.issuing.Client(t, "revoked.client")
	f.write(t, "issuing.crl", pki.EncodeCRLPEM(f.issuing.CRL(t, revoked.Cert)))

	stranger := testpki.NewCA(t)
	untrusted := stranger.Client(t, "stranger.client")
	expired := f.issuing.Client(t, "expired.client", pki.WithValidity(now.Add(-48*time.Hour), now.Add(-time.Hour)))
	future := f.issuing.Client(t, "future.client", pki.WithValidity(now.Add(time.Hour), now.Add(48*time.Hour)))
	serverOnly := f.issuing.Client(t, "server-only.client", pki.WithEKU(x509.ExtKeyUsageServerAuth))
	ed := f.issuing.Client(t, "ed25519.client", pki.WithKey(pki.Ed25519))
	huge := f.issuing.Client(t, "huge.client", pki.WithExtraExtensions(pkix.Extension{
		Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}, Value: bytes.Repeat([]byte{0x04}, 17<<10),
	}))
	// Five certificates presented: leaf and four CAs, over the default depth of 4.
	deep := f.root
	for i := range 3 {
		deep = deep.Intermediate(t, fmt.Sprintf("Deep CA %d", i))
	}
	tooDeep := deep.Client(t, "deep.client")
	tooDeepCert := tlsCert(tooDeep)
	tooDeepCert.Certificate = append(tooDeepCert.Certificate, f.root.Cert.Raw)

	garbageKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	garbage := &tls.Certificate{Certificate: [][]byte{[]byte("this is not a certificate")}, PrivateKey: garbageKey}

	r := f.start(t, listenerYAML{mode: "verify"})
	tests := []struct {
		name   string
		cert   *tls.Certificate
		status string
		leaf   *x509.Certificate // the certificate the log line describes; nil → "-" fields
	}{
		{"success", tlsCert(good), "Success", good.Cert},
		{"max size exceeded", tlsCert(huge), "Failed:ClientCertMaxSizeExceeded", huge.Cert},
		{"invalid", garbage, "Failed:ClientCertInvalid", nil},
		{"type unsupported", tlsCert(ed), "Failed:ClientCertTypeUnsupported", ed.Cert},
		{"max chain depth", tooDeepCert, "Failed:ClientCertMaxChainDepthExceeded", tooDeep.Cert},
		{"untrusted", tlsCert(untrusted), "Failed:ClientCertUntrusted", untrusted.Cert},
		{"not yet valid", tlsCert(future), "Failed:ClientCertNotYetValid", future.Cert},
		{"expired", tlsCert(expired), "Failed:ClientCertExpired", expired.Cert},
		{"purpose invalid", tlsCert(serverOnly), "Failed:ClientCertPurposeInvalid", serverOnly.Cert},
		{"crl hit", tlsCert(revoked), "Failed:ClientCertCrlHit", revoked.Cert},
		{"no certificate", nil, "Failed:UnmappedConnectionError", nil},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := r.get(t, tt.cert, nil)
			if tt.status == "Success" {
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("got %v, %v; want 200", resp, err)
				}
			} else if err == nil {
				t.Fatalf("request succeeded with status %d; want the handshake refused", resp.StatusCode)
			}
			line := r.lastConnLine(t, i+1)
			if line[10] != tt.status {
				t.Errorf("tls_verify_status = %q, want %q (line %q)", line[10], tt.status, strings.Join(line, " "))
			}
			wantSubject, wantSerialV := "-", "-"
			if tt.leaf != nil {
				wantSubject = `"CN=` + tt.leaf.Subject.CommonName + `"`
				wantSerialV = wantSerial(tt.leaf)
			}
			if line[7] != wantSubject || line[9] != wantSerialV {
				t.Errorf("subject/serial fields = %s %s, want %s %s", line[7], line[9], wantSubject, wantSerialV)
			}
			if tt.status != "Success" && line[6] != "-" {
				t.Errorf("handshake latency = %q on a failed handshake, want -", line[6])
			}
		})
	}
	if f.backend.hits != 1 {
		t.Errorf("the target served %d requests; only the good certificate's should have reached it", f.backend.hits)
	}
}

func TestCRLWithBadSignatureFailsClosed(t *testing.T) {
	f := newFixture(t)
	// A CRL that names the issuing CA but is signed by another key. The issuing CA is not in the bundle, so
	// the signature can only be checked at handshake time, against the CA the client sends; it must then
	// fail closed rather than be ignored.
	f.write(t, "issuing.crl", pki.EncodeCRLPEM(forgedCRL(t, f.issuing.Cert)))
	r := f.start(t, listenerYAML{mode: "verify"})
	good := f.issuing.Client(t, "good.client")
	if _, err := r.get(t, tlsCert(good), nil); err == nil {
		t.Fatal("a CRL with a bad signature must not let anyone in")
	}
	if line := r.lastConnLine(t, 1); line[10] != "Failed:ClientCertCrlProcessingError" {
		t.Errorf("status %q, want Failed:ClientCertCrlProcessingError", line[10])
	}
}

func TestIgnoreClientCertificateExpiry(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	expired := f.issuing.Client(t, "expired.client", pki.WithValidity(now.Add(-48*time.Hour), now.Add(-time.Hour)))
	future := f.issuing.Client(t, "future.client", pki.WithValidity(now.Add(time.Hour), now.Add(48*time.Hour)))
	r := f.start(t, listenerYAML{mode: "verify", extra: "      ignore_client_certificate_expiry: true"})
	if resp, err := r.get(t, tlsCert(expired), nil); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("expired certificate with ignore_client_certificate_expiry: %v, %v; want 200", resp, err)
	}
	if _, err := r.get(t, tlsCert(future), nil); err == nil {
		t.Fatal("a not-yet-valid certificate must fail even with ignore_client_certificate_expiry")
	}
	if line := r.lastConnLine(t, 2); line[10] != "Failed:ClientCertNotYetValid" {
		t.Errorf("status %q, want Failed:ClientCertNotYetValid", line[10])
	}
}

// forgedCRL returns a CRL whose issuer name is issuer's but which another key signed.
func forgedCRL(t testing.TB, issuer *x509.Certificate) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	fake := &x509.Certificate{
		SerialNumber: big.NewInt(1), RawSubject: issuer.RawSubject, SubjectKeyId: issuer.SubjectKeyId,
		NotBefore: issuer.NotBefore, NotAfter: issuer.NotAfter, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, fake, fake, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	fakeCert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(1), ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour),
	}, fakeCert, key)
	if err != nil {
		t.Fatal(err)
	}
	return crl
}
