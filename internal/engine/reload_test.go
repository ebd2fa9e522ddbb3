package engine_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509/pkix"
	"encoding/asn1"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/config"
	"github.com/mtlslb/mtlslb/internal/engine"
	"github.com/mtlslb/mtlslb/internal/pki"
)

// TestReloadKeepsSocketAndRetiresConnections: applying a new document on the same address keeps the
// listening socket (no refused connection in between), a keep-alive connection opened before the change is
// served once more and then closed, and new connections get the new configuration.
func TestReloadKeepsSocketAndRetiresConnections(t *testing.T) {
	f := newFixture(t)
	r := f.start(t, listenerYAML{mode: "verify"})
	client := f.issuing.Client(t, "keepalive.client")
	cert := client.TLSCertificate()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.root.Pool(), ServerName: "127.0.0.1", Certificates: []tls.Certificate{cert}}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	get := func() *http.Response {
		t.Helper()
		resp, err := hc.Get("https://" + r.addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if resp := get(); resp.Close {
		t.Fatal("first response closes the connection; keep-alive expected")
	}

	// The same document with a renamed header, applied over the running one on the same address.
	doc, err := config.Parse([]byte(f.config(listenerYAML{mode: "verify", extra: "    header_names:\n      x_amzn_mtls_clientcert_subject: X-New-Subject"})), f.dir)
	if err != nil {
		t.Fatal(err)
	}
	// Listeners are keyed by their configured address; the test's is 127.0.0.1:0, as in start.
	doc.Listeners[0].Port = 0
	compiled, err := r.eng.Compile(doc)
	if err != nil {
		t.Fatal(err)
	}
	before := r.eng.Addrs()
	if err := r.eng.Apply(compiled); err != nil {
		t.Fatal(err)
	}
	after := r.eng.Addrs()
	for k, a := range before {
		if after[k] == nil || after[k].String() != a.String() {
			t.Fatalf("listener %s moved from %v to %v; the socket must be kept", k, a, after[k])
		}
	}

	// The old connection: served by the generation it was authenticated under, then told to close.
	resp := get()
	if !resp.Close {
		t.Error("a connection of a replaced generation was not closed after its response")
	}
	if got := f.backend.lastHeaders().Get("X-Amzn-Mtls-Clientcert-Subject"); got != "CN=keepalive.client" {
		t.Errorf("old connection's request carried subject %q under the old name, want CN=keepalive.client", got)
	}
	// A new connection: the new configuration.
	get()
	if got := f.backend.lastHeaders().Get("X-New-Subject"); got != "CN=keepalive.client" {
		t.Errorf("new connection's request: X-New-Subject = %q, want CN=keepalive.client", got)
	}
}

// TestBadDocumentChangesNothing: a document whose bundle is broken is refused by Compile with the file and
// line named, and the running configuration keeps serving.
func TestBadDocumentChangesNothing(t *testing.T) {
	f := newFixture(t)
	r := f.start(t, listenerYAML{mode: "verify"})
	good := f.issuing.Client(t, "good.client")
	f.write(t, "bundle.pem", append([]byte("\n"), f.root.BundlePEM()...))
	doc, err := config.Load(f.dir + "/lb.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc.Listeners[0].Port = 0
	_, err = r.eng.Compile(doc)
	if err == nil {
		t.Fatal("a bundle with a blank line compiled")
	}
	if msg := err.Error(); !strings.Contains(msg, "bundle.pem") || !strings.Contains(msg, "line 1") || !strings.Contains(msg, "trust_stores[0]") {
		t.Errorf("error does not name the document path, file and line: %v", err)
	}
	if resp, err := r.get(t, tlsCert(good), nil); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the running configuration stopped serving: %v, %v", resp, err)
	}
}

// TestOversizeIdentityHeaderIs400: a passthrough chain whose URL-encoded PEM exceeds 16 KiB is answered 400
// by mtlslb instead of being forwarded with the header dropped.
func TestOversizeIdentityHeaderIs400(t *testing.T) {
	f := newFixture(t)
	r := f.start(t, listenerYAML{mode: "passthrough"})
	big := f.issuing.Client(t, "big.client", pki.WithExtraExtensions(pkix.Extension{
		Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 2}, Value: bytes.Repeat([]byte{0x04}, 13<<10),
	}))
	resp, err := r.get(t, tlsCert(big), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
	if f.backend.hits != 0 {
		t.Errorf("the target was reached %d times", f.backend.hits)
	}
}

// TestNoSessionResumptionOnMTLS: every handshake of an mTLS listener is a full one, so a revoked or removed
// client certificate cannot ride on a ticket.
func TestNoSessionResumptionOnMTLS(t *testing.T) {
	for _, mode := range []string{"verify", "passthrough"} {
		t.Run(mode, func(t *testing.T) {
			f := newFixture(t)
			r := f.start(t, listenerYAML{mode: mode})
			cert := f.issuing.Client(t, "c").TLSCertificate()
			cache := tls.NewLRUClientSessionCache(4)
			for i := range 3 {
				for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
					conn, err := tls.Dial("tcp", r.addr, &tls.Config{RootCAs: f.root.Pool(), ServerName: "127.0.0.1",
						Certificates: []tls.Certificate{cert}, ClientSessionCache: cache, MaxVersion: v})
					if err != nil {
						t.Fatal(err)
					}
					// TLS 1.3 tickets arrive after the handshake; read so the client would store one.
					_ = conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
					_, _ = conn.Read(make([]byte, 1))
					if conn.ConnectionState().DidResume {
						t.Fatalf("handshake %d (version %x) resumed a session", i, v)
					}
					conn.Close()
				}
			}
		})
	}
}

// TestStaleCRLIsUsedWithAWarning: under the default policy a CRL past its nextUpdate stays in force (a
// revoked client is still refused) and the engine says the CRL is stale.
func TestStaleCRLIsUsedWithAWarning(t *testing.T) {
	f := newFixture(t)
	revoked := f.issuing.Client(t, "revoked.client")
	past := time.Now().Add(-48 * time.Hour)
	f.write(t, "issuing.crl", pki.EncodeCRLPEM(f.issuing.CRLWith(t, []pki.Revocation{pki.Revoke(revoked.Cert)},
		pki.WithThisUpdate(past), pki.WithNextUpdate(past.Add(24*time.Hour)))))
	logs := newLogRecorder()
	r := f.startWith(t, listenerYAML{mode: "verify"}, engine.Options{Logger: slog.New(logs)})
	if _, err := r.get(t, tlsCert(revoked), nil); err == nil {
		t.Fatal("a stale CRL under the default policy must still refuse the certificates it lists")
	}
	if got := logs.with("stale CRL: its nextUpdate has passed; upload a current one (or fix its URL)"); len(got) != 1 || got[0].attrs["revocation_id"] != "1" {
		t.Errorf("stale-CRL warnings: %+v", got)
	}
}
