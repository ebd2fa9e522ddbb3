package engine_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/config"
	"github.com/mtlslb/mtlslb/internal/engine"
	"github.com/mtlslb/mtlslb/internal/pki"
	"github.com/mtlslb/mtlslb/internal/testpki"
)

// Messages of the engine's log that these tests wait for.
const (
	msgRechecked = "live connections re-verified"
	msgClosed    = "live connection closed: its client certificate no longer verifies"
)

// boundedWait caps every wait of these tests; they never sleep to synchronise.
const boundedWait = 10 * time.Second

// logRecorder is an slog.Handler that keeps every record's message and attributes, so a test can wait for
// what the engine reports instead of sleeping.
type logRecorder struct {
	mu      sync.Mutex
	records []logRecord
	notify  chan struct{} // receives a token after each record
}

type logRecord struct {
	msg   string
	attrs map[string]string
}

func newLogRecorder() *logRecorder { return &logRecorder{notify: make(chan struct{}, 1)} }

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{msg: r.Message, attrs: map[string]string{}}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.String()
		return true
	})
	l.mu.Lock()
	l.records = append(l.records, rec)
	l.mu.Unlock()
	select {
	case l.notify <- struct{}{}:
	default:
	}
	return nil
}

func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// with returns the records whose message is msg.
func (l *logRecorder) with(msg string) []logRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []logRecord
	for _, r := range l.records {
		if r.msg == msg {
			out = append(out, r)
		}
	}
	return out
}

// waitFor waits until n records with message msg have been logged, and returns them.
func (l *logRecorder) waitFor(t testing.TB, msg string, n int) []logRecord {
	t.Helper()
	timeout := time.NewTimer(boundedWait)
	defer timeout.Stop()
	for {
		if got := l.with(msg); len(got) >= n {
			return got
		}
		select {
		case <-l.notify:
		case <-timeout.C:
			t.Fatalf("no %d log records %q within %v (have %d)", n, msg, boundedWait, len(l.with(msg)))
		}
	}
}

// keptConn is a client's HTTP/1.1 keep-alive connection on a raw *tls.Conn, so the test sees exactly what
// the server does to it.
type keptConn struct {
	tls *tls.Conn
	br  *bufio.Reader
}

// dialKept opens a connection presenting cert.
func (r *running) dialKept(t testing.TB, cert *pki.Leaf) (*keptConn, error) {
	t.Helper()
	c, err := tls.Dial("tcp", r.addr, &tls.Config{RootCAs: r.f.root.Pool(), ServerName: "127.0.0.1",
		Certificates: []tls.Certificate{cert.TLSCertificate()}})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = c.Close() })
	return &keptConn{tls: c, br: bufio.NewReader(c)}, nil
}

// get sends one request on the connection and reads the whole response.
func (k *keptConn) get() (*http.Response, error) {
	_ = k.tls.SetDeadline(time.Now().Add(boundedWait))
	if _, err := io.WriteString(k.tls, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(k.br, nil)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, err
}

// waitClosedByServer reads until the server ends the connection, failing if it stays open for boundedWait
// or sends anything.
func (k *keptConn) waitClosedByServer(t testing.TB, what string) {
	t.Helper()
	_ = k.tls.SetReadDeadline(time.Now().Add(boundedWait))
	n, err := k.br.Read(make([]byte, 1))
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		t.Errorf("%s: still open %v after the change", what, boundedWait)
	case n > 0:
		t.Errorf("%s: the server sent data on an idle connection instead of closing it", what)
	case err == nil:
		t.Errorf("%s: read returned neither data nor an error", what)
	}
}

// reload rewrites the document with l and applies it over the running engine, as a reload does.
func (r *running) reload(t testing.TB, l listenerYAML) {
	t.Helper()
	path := r.f.write(t, "lb.yaml", []byte(r.f.config(l)))
	doc, err := config.Load(path)
	if err != nil {
		t.Fatalf("config.Load: %v", err)
	}
	doc.Listeners[0].Port = 0 // the address the engine keys the running listener by, as in start
	compiled, err := r.eng.Compile(doc)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	if err := r.eng.Apply(compiled); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

func revokeLiveYAML(on bool) listenerYAML {
	return listenerYAML{mode: "verify", trustStoreExtra: fmt.Sprintf("    revoke_live_connections: %t", on)}
}

// TestRevokeLiveConnections: with revoke_live_connections, a CRL that revokes the certificate of a kept-alive
// connection closes that connection when it is applied, and only that one; without it, the connection is
// served once more, as after any change. New connections with the certificate are refused either way.
func TestRevokeLiveConnections(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprintf("revoke_live_connections=%t", on), func(t *testing.T) {
			f := newFixture(t)
			logs := newLogRecorder()
			r := f.startWith(t, revokeLiveYAML(on), engine.Options{Logger: slog.New(logs)})
			victim := f.issuing.Client(t, "victim.client")
			bystander := f.issuing.Client(t, "bystander.client")

			kept := map[string]*keptConn{}
			for i, c := range []*pki.Leaf{victim, bystander} {
				k, err := r.dialKept(t, c)
				if err != nil {
					t.Fatalf("%s: %v", c.Cert.Subject.CommonName, err)
				}
				if resp, err := k.get(); err != nil || resp.StatusCode != http.StatusOK || resp.Close {
					t.Fatalf("%s: first request: %v, %v; want 200 on a kept-alive connection", c.Cert.Subject.CommonName, resp, err)
				}
				r.lastConnLine(t, i+1) // the handshakes are logged in this order
				kept[c.Cert.Subject.CommonName] = k
			}
			victimTID := r.connLines(t)[0][11]

			f.write(t, "issuing.crl", pki.EncodeCRLPEM(f.issuing.CRL(t, victim.Cert)))
			r.reload(t, revokeLiveYAML(on))

			if on {
				done := logs.waitFor(t, msgRechecked, 1)[0].attrs
				if done["checked"] != "2" || done["closed"] != "1" {
					t.Errorf("re-verification: checked %s, closed %s; want 2 and 1", done["checked"], done["closed"])
				}
				kept["victim.client"].waitClosedByServer(t, "the revoked certificate's connection")
				closed := logs.with(msgClosed)
				if len(closed) != 1 {
					t.Fatalf("%d connections logged closed, want 1", len(closed))
				}
				want := map[string]string{"conn_trace_id": victimTID, "subject": "CN=victim.client", "status": "Failed:ClientCertCrlHit", "trust_store": "clients"}
				for k, v := range want {
					if got := closed[0].attrs[k]; got != v {
						t.Errorf("closed-connection log: %s = %q, want %q", k, got, v)
					}
				}
			} else if resp, err := kept["victim.client"].get(); err != nil || resp.StatusCode != http.StatusOK {
				t.Errorf("without revoke_live_connections the kept connection was not served: %v, %v", resp, err)
			}
			// The bystander's certificate still verifies: its connection is served (and, as every connection of
			// a replaced generation, told to close after this response).
			if resp, err := kept["bystander.client"].get(); err != nil || resp.StatusCode != http.StatusOK {
				t.Errorf("the connection of a certificate the CRL does not name was not served: %v, %v", resp, err)
			}

			if _, err := r.get(t, tlsCert(victim), nil); err == nil {
				t.Fatal("a new connection with the revoked certificate was accepted")
			}
			if line := r.lastConnLine(t, 3); line[10] != "Failed:ClientCertCrlHit" || line[7] != `"CN=victim.client"` {
				t.Errorf("new connection: status %s subject %s, want Failed:ClientCertCrlHit for CN=victim.client", line[10], line[7])
			}
			if !on {
				if got := logs.with(msgRechecked); len(got) != 0 {
					t.Errorf("live connections re-verified without revoke_live_connections: %v", got)
				}
			}
		})
	}
}

// TestRevokeLiveConnectionsBundleChange: with revoke_live_connections, a bundle that no longer holds the
// client's CA closes its live connection too, logged with the status a new handshake would get.
func TestRevokeLiveConnectionsBundleChange(t *testing.T) {
	f := newFixture(t)
	logs := newLogRecorder()
	r := f.startWith(t, revokeLiveYAML(true), engine.Options{Logger: slog.New(logs)})
	client := f.issuing.Client(t, "moved.client")
	k, err := r.dialKept(t, client)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := k.get(); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("first request: %v, %v", resp, err)
	}

	// The bundle now holds another CA only (the issuing CA's CRL stays: its signature is checked against the
	// issuing CA on a client's path, never at load).
	f.write(t, "bundle.pem", testpki.NewCA(t).BundlePEM())
	r.reload(t, revokeLiveYAML(true))

	logs.waitFor(t, msgRechecked, 1)
	k.waitClosedByServer(t, "the connection of a certificate whose CA left the bundle")
	closed := logs.with(msgClosed)
	if len(closed) != 1 || closed[0].attrs["status"] != "Failed:ClientCertUntrusted" {
		t.Errorf("closed-connection log records %v, want one with status Failed:ClientCertUntrusted", closed)
	}
}

// TestRevokeLiveConnectionsHandshakeAcrossChange: a handshake that began under the old trust store and is
// verified against it after the change's re-verification pass has listed the live connections is closed too.
// The client holds its handshake open in GetClientCertificate (the server has chosen its configuration by
// then) until the pass has finished.
func TestRevokeLiveConnectionsHandshakeAcrossChange(t *testing.T) {
	f := newFixture(t)
	logs := newLogRecorder()
	r := f.startWith(t, revokeLiveYAML(true), engine.Options{Logger: slog.New(logs)})
	client := f.issuing.Client(t, "slow.client")
	cert := client.TLSCertificate()

	asked, release := make(chan struct{}), make(chan struct{})
	raw, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(raw, &tls.Config{RootCAs: f.root.Pool(), ServerName: "127.0.0.1",
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			close(asked)
			<-release
			return &cert, nil
		}})
	t.Cleanup(func() { _ = tc.Close() })
	handshake := make(chan error, 1)
	go func() { handshake <- tc.HandshakeContext(context.Background()) }()
	select {
	case <-asked:
	case <-time.After(boundedWait):
		t.Fatal("the server never asked for a certificate")
	}

	f.write(t, "issuing.crl", pki.EncodeCRLPEM(f.issuing.CRL(t, client.Cert)))
	r.reload(t, revokeLiveYAML(true))
	if done := logs.waitFor(t, msgRechecked, 1)[0].attrs; done["checked"] != "0" {
		t.Fatalf("the pass checked %s connections; the held handshake must not be registered yet", done["checked"])
	}
	close(release)
	if err := <-handshake; err != nil {
		t.Fatalf("client handshake: %v (TLS 1.3 clients finish before the server verifies them)", err)
	}

	k := &keptConn{tls: tc, br: bufio.NewReader(tc)}
	k.waitClosedByServer(t, "the connection verified against the replaced trust store")
	closed := logs.waitFor(t, msgClosed, 1)
	if got := closed[0].attrs; got["subject"] != "CN=slow.client" || got["status"] != "Failed:ClientCertCrlHit" {
		t.Errorf("closed-connection log: subject %q status %q, want CN=slow.client and Failed:ClientCertCrlHit", got["subject"], got["status"])
	}
	if f.backend.hits != 0 {
		t.Errorf("the target served %d requests", f.backend.hits)
	}
}

// TestRevokeLiveConnectionsMany runs the registry under load (go test -race): idle connections with revoked
// and good certificates, and clients handshaking with both while the CRL changes. Every connection of a
// revoked certificate ends, whether its handshake finished before, during or after the change, and no good
// one is cut.
func TestRevokeLiveConnectionsMany(t *testing.T) {
	const perCert = 4
	f := newFixture(t)
	logs := newLogRecorder()
	r := f.startWith(t, revokeLiveYAML(true), engine.Options{Logger: slog.New(logs)})
	var good, revoked []*pki.Leaf
	for i := range 3 {
		good = append(good, f.issuing.Client(t, fmt.Sprintf("good-%d.client", i)))
		revoked = append(revoked, f.issuing.Client(t, fmt.Sprintf("revoked-%d.client", i)))
	}

	// Idle kept-alive connections, opened concurrently.
	idle := func(certs []*pki.Leaf) []*keptConn {
		out := make([]*keptConn, len(certs)*perCert)
		var wg sync.WaitGroup
		for i := range out {
			wg.Go(func() {
				k, err := r.dialKept(t, certs[i%len(certs)])
				if err != nil {
					t.Errorf("dial: %v", err)
					return
				}
				if resp, err := k.get(); err != nil || resp.StatusCode != http.StatusOK {
					t.Errorf("first request: %v, %v", resp, err)
					return
				}
				out[i] = k
			})
		}
		wg.Wait()
		return out
	}
	idleGood, idleRevoked := idle(good), idle(revoked)
	if t.Failed() {
		t.FailNow()
	}

	// Clients that keep handshaking while the change is applied. Those with a good certificate must always be
	// served; those with a revoked one keep every connection that got a response, to check afterwards that
	// each was ended.
	stop := make(chan struct{})
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		churned  []*keptConn
		started  sync.WaitGroup
		goodErrs []error
	)
	for i := range 4 {
		cert, isGood := good[i%len(good)], i%2 == 0
		if !isGood {
			cert = revoked[i%len(revoked)]
		}
		started.Add(1)
		wg.Go(func() {
			first := true
			for {
				select {
				case <-stop:
					return
				default:
				}
				k, err := r.dialKept(t, cert)
				var resp *http.Response
				if err == nil {
					resp, err = k.get()
				}
				switch {
				case isGood && err != nil:
					mu.Lock()
					goodErrs = append(goodErrs, err)
					mu.Unlock()
				case isGood:
					_ = k.tls.Close()
				case err == nil && resp.StatusCode == http.StatusOK:
					mu.Lock()
					churned = append(churned, k)
					mu.Unlock()
				}
				if first {
					first = false
					started.Done()
				}
			}
		})
	}
	started.Wait() // every client is running before the change

	f.write(t, "issuing.crl", pki.EncodeCRLPEM(f.issuing.CRL(t, revoked[0].Cert, revoked[1].Cert, revoked[2].Cert)))
	r.reload(t, revokeLiveYAML(true))
	done := logs.waitFor(t, msgRechecked, 1)[0].attrs
	close(stop)
	wg.Wait()

	// Waited for together, so the test's time stays bounded by one wait when something is wrong.
	var closing sync.WaitGroup
	for i, k := range idleRevoked {
		closing.Go(func() { k.waitClosedByServer(t, fmt.Sprintf("idle connection %d of a revoked certificate", i)) })
	}
	for i, k := range churned {
		closing.Go(func() {
			k.waitClosedByServer(t, fmt.Sprintf("connection %d of a revoked certificate opened around the change", i))
		})
	}
	closing.Wait()
	if len(goodErrs) > 0 {
		t.Errorf("%d requests with good certificates failed around the change; first: %v", len(goodErrs), goodErrs[0])
	}
	for i, k := range idleGood {
		if resp, err := k.get(); err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("idle connection %d of a good certificate was not served after the change: %v, %v", i, resp, err)
		}
	}
	for _, rec := range logs.with(msgClosed) {
		if rec.attrs["status"] != "Failed:ClientCertCrlHit" || !strings.HasPrefix(rec.attrs["subject"], "CN=revoked-") {
			t.Errorf("closed %s with status %s; only revoked certificates' connections may be closed", rec.attrs["subject"], rec.attrs["status"])
		}
	}
	t.Logf("pass: checked %s, closed %s; %d connections of revoked certificates opened around the change",
		done["checked"], done["closed"], len(churned))
}

// TestRevokeLiveConnectionsHTTP2: an HTTP/2 connection (ALPN h2) whose certificate a new CRL revokes is closed
// too, with every stream on it, while the connection of a certificate the CRL does not name keeps serving.
func TestRevokeLiveConnectionsHTTP2(t *testing.T) {
	f := newFixture(t)
	logs := newLogRecorder()
	r := f.startWith(t, revokeLiveYAML(true), engine.Options{Logger: slog.New(logs)})
	victim := f.issuing.Client(t, "victim.h2")
	bystander := f.issuing.Client(t, "bystander.h2")

	client := func(c *pki.Leaf) (*http.Client, *tls.Conn) {
		conn, err := tls.Dial("tcp", r.addr, &tls.Config{RootCAs: r.f.root.Pool(), ServerName: "127.0.0.1",
			Certificates: []tls.Certificate{c.TLSCertificate()}, NextProtos: []string{"h2"}})
		if err != nil {
			t.Fatalf("%s: %v", c.Cert.Subject.CommonName, err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
			t.Fatalf("ALPN negotiated %q, want h2", p)
		}
		used := false
		tr := &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{NextProtos: []string{"h2"}},
			DialTLSContext: func(context.Context, string, string) (net.Conn, error) {
				if used {
					return nil, errors.New("the test allows one connection per client")
				}
				used = true
				return conn, nil
			}}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, Timeout: boundedWait}, conn
	}
	get := func(c *http.Client) (*http.Response, error) {
		resp, err := c.Get("https://127.0.0.1/")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}
	vc, vconn := client(victim)
	bc, _ := client(bystander)
	for name, c := range map[string]*http.Client{"victim": vc, "bystander": bc} {
		if resp, err := get(c); err != nil || resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: first request: %v, %v; want 200 over HTTP/2", name, resp, err)
		}
	}

	f.write(t, "issuing.crl", pki.EncodeCRLPEM(f.issuing.CRL(t, victim.Cert)))
	r.reload(t, revokeLiveYAML(true))
	if done := logs.waitFor(t, msgRechecked, 1)[0].attrs; done["checked"] != "2" || done["closed"] != "1" {
		t.Errorf("re-verification: checked %s, closed %s; want 2 and 1", done["checked"], done["closed"])
	}
	_ = vconn.SetReadDeadline(time.Now().Add(boundedWait))
	if _, err := get(vc); err == nil {
		t.Error("the revoked certificate's HTTP/2 connection still served a request")
	}
	if resp, err := get(bc); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("the bystander's HTTP/2 connection was not served: %v, %v", resp, err)
	}
}
