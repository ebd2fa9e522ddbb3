package engine_test

import (
	"crypto/tls"
	"net/http"
	"strings"
	"testing"

	"github.com/mtlslb/mtlslb/internal/pki"
)

func TestOffModeStripsSpoofedHeaders(t *testing.T) {
	f := newFixture(t)
	r := f.start(t, listenerYAML{mode: "off"})
	resp, err := r.get(t, nil, spoofed())
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("off mode request: %v, %v", resp, err)
	}
	assertNoIdentity(t, f.backend.lastHeaders())
	if line := r.lastConnLine(t, 1); line[10] != "Success" || line[7] != "-" {
		t.Errorf("off-mode log line: status %q subject %q, want Success and -", line[10], line[7])
	}
}

func assertNoIdentity(t *testing.T, h http.Header) {
	t.Helper()
	for k, v := range h {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "x-amzn-mtls") || strings.HasPrefix(lk, "x-amzn-tls") {
			t.Errorf("target received %s: %q", k, v)
		}
	}
}

func TestPassthroughMode(t *testing.T) {
	f := newFixture(t)
	r := f.start(t, listenerYAML{mode: "passthrough"})
	// Passthrough does not verify: a certificate from an unknown CA is forwarded as sent.
	stranger := f.issuing.Client(t, "chain.client")
	resp, err := r.get(t, tlsCert(stranger), spoofed())
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("passthrough with a certificate: %v, %v", resp, err)
	}
	h := f.backend.lastHeaders()
	got := h.Values("X-Amzn-Mtls-Clientcert")
	if len(got) != 1 {
		t.Fatalf("X-Amzn-Mtls-Clientcert = %q, want one value", got)
	}
	if want := pemOf(stranger.Presented()...); decodeHeader(t, got[0]) != want {
		t.Errorf("X-Amzn-Mtls-Clientcert decodes to\n%s\nwant the presented chain, leaf first:\n%s", decodeHeader(t, got[0]), want)
	}
	for _, k := range []string{"X-Amzn-Mtls-Clientcert-Subject", "X-Amzn-Mtls-Clientcert-Issuer", "X-Amzn-Mtls-Clientcert-Leaf"} {
		if v := h.Values(k); v != nil {
			t.Errorf("%s = %q in passthrough mode; only X-Amzn-Mtls-Clientcert is sent", k, v)
		}
	}

	// No certificate: the header is absent, and the spoofed one does not get through either.
	resp, err = r.get(t, nil, spoofed())
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("passthrough without a certificate: %v, %v", resp, err)
	}
	assertNoIdentity(t, f.backend.lastHeaders())
}

func TestHeaderRenamesAndTLSHeaders(t *testing.T) {
	f := newFixture(t)
	r := f.start(t, listenerYAML{
		mode:       "verify",
		attributes: "  tls_version_and_cipher_suite_headers: true",
		extra: `    header_names:
      x_amzn_mtls_clientcert_subject: X-Client-Subject
      x_amzn_tls_version: X-Tls-Ver`,
	})
	client := f.issuing.Client(t, "renamed.client")
	hdr := spoofed()
	hdr.Set("X-Client-Subject", "CN=admin")
	resp, err := r.get(t, tlsCert(client), hdr)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("request: %v, %v", resp, err)
	}
	h := f.backend.lastHeaders()
	if got := h.Values("X-Client-Subject"); len(got) != 1 || got[0] != "CN=renamed.client" {
		t.Errorf("renamed subject header = %q, want [CN=renamed.client]", got)
	}
	if v := h.Values("X-Amzn-Mtls-Clientcert-Subject"); v != nil {
		t.Errorf("default subject header still reached the target: %q", v)
	}
	if got := h.Get("X-Tls-Ver"); got != "TLSv1.3" {
		t.Errorf("renamed TLS version header = %q, want TLSv1.3", got)
	}
	if got := h.Get("X-Amzn-Tls-Cipher-Suite"); got != "TLS_AES_128_GCM_SHA256" {
		t.Errorf("cipher suite header = %q, want TLS_AES_128_GCM_SHA256", got)
	}
	if got := h.Get("X-Amzn-Mtls-Clientcert-Serial-Number"); got != wantSerial(client.Cert) {
		t.Errorf("serial header = %q, want %q", got, wantSerial(client.Cert))
	}
}

func TestAdvertiseTrustStoreCANames(t *testing.T) {
	for _, tt := range []struct {
		setting string
		want    int
	}{{`"off"`, 0}, {`"on"`, 1}} {
		t.Run(tt.setting, func(t *testing.T) {
			f := newFixture(t)
			r := f.start(t, listenerYAML{mode: "verify", extra: "      advertise_trust_store_ca_names: " + tt.setting})
			client := f.issuing.Client(t, "c")
			var seen [][]byte
			cfg := &tls.Config{RootCAs: f.root.Pool(), ServerName: "127.0.0.1",
				GetClientCertificate: func(info *tls.CertificateRequestInfo) (*tls.Certificate, error) {
					seen = info.AcceptableCAs
					c := client.TLSCertificate()
					return &c, nil
				}}
			conn, err := tls.Dial("tcp", r.addr, cfg)
			if err != nil {
				t.Fatal(err)
			}
			conn.Close()
			if len(seen) != tt.want {
				t.Fatalf("certificate_authorities has %d names, want %d", len(seen), tt.want)
			}
			if tt.want == 1 && string(seen[0]) != string(f.root.Cert.RawSubject) {
				t.Errorf("advertised %x, want the root's subject", seen[0])
			}
		})
	}
}

// TestClientCertificateWithIntermediateFromBundle: a bundle holding only the issuing CA trusts it as an anchor.
func TestIssuingCAAsAnchor(t *testing.T) {
	f := newFixture(t)
	f.write(t, "bundle.pem", pki.EncodeCertsPEM(f.issuing.Cert))
	r := f.start(t, listenerYAML{mode: "verify"})
	leafOnly := f.issuing.Client(t, "leaf-only.client")
	c := leafOnly.TLSCertificate()
	c.Certificate = c.Certificate[:1]
	if resp, err := r.get(t, &c, nil); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("leaf of a bundle CA: %v, %v", resp, err)
	}
}
