package truststore

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParseBundle(t *testing.T) {
	root := newRootCA(t, "Root CA")
	other := newRootCA(t, "Other CA")
	one := pemBundle(root.cert)
	two := pemBundle(root.cert, other.cert)
	leaf := root.issueLeaf(t, "client")

	rsaSmall, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sha1CA := newRootCA(t, "SHA1 CA", func(c *x509.Certificate) { c.SignatureAlgorithm = x509.ECDSAWithSHA1 })
	noBC := newRootCA(t, "No BC", func(c *x509.Certificate) { c.BasicConstraintsValid, c.IsCA = false, false })
	bigCA := newRootCA(t, "Big CA", func(c *x509.Certificate) {
		for i := range 400 {
			c.DNSNames = append(c.DNSNames, fmt.Sprintf("host%03d.example.com", i))
		}
	})

	tests := []struct {
		name     string
		bundle   []byte
		limits   Limits
		wantN    int    // certificates on success
		position int    // BundleError.Position on failure
		line     int    // BundleError.Line on failure
		msg      string // substring of BundleError.Msg; "" means success
	}{
		{name: "one certificate", bundle: one, wantN: 1},
		{name: "two certificates", bundle: two, wantN: 2},
		{name: "no final newline", bundle: bytes.TrimSuffix(two, []byte("\n")), wantN: 2},
		{name: "CRLF line ends", bundle: bytes.ReplaceAll(two, []byte("\n"), []byte("\r\n")), wantN: 2},
		{name: "comments", bundle: append([]byte("# partner CAs\n# rotated 2026 03 01\n"), two...), wantN: 2},
		{name: "comment between certificates", bundle: append(append(append([]byte{}, one...), "# second\n"...), pemBundle(other.cert)...), wantN: 2},
		{name: "empty", bundle: nil, msg: "holds no certificate"},
		{name: "only comments", bundle: []byte("# nothing\n"), msg: "holds no certificate"},
		{name: "blank line between certificates", bundle: append(append(append([]byte{}, one...), '\n'), pemBundle(other.cert)...),
			line: strings.Count(string(one), "\n") + 1, msg: "blank line"},
		{name: "trailing blank line", bundle: append(append([]byte{}, one...), '\n'), line: strings.Count(string(one), "\n") + 1, msg: "blank line"},
		{name: "whitespace-only line", bundle: append([]byte("  \t\n"), one...), line: 1, msg: "blank line"},
		{name: "blank line inside block", bundle: insertLine(one, 3, ""), line: 3, msg: "blank line"},
		{name: "comment with hyphen", bundle: append([]byte("# root CA - production\n"), one...), line: 1, msg: "comment contains '-'"},
		{name: "text dump", bundle: append([]byte("Certificate:\n    Data:\n"), one...), line: 1, msg: "text outside a certificate block"},
		{name: "subject line dump", bundle: append([]byte("subject=CN = Root CA\n"), one...), line: 1, msg: "text outside"},
		{name: "private key block", bundle: append([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), one...),
			line: 1, msg: `"PRIVATE KEY" block found`},
		{name: "stray END", bundle: []byte("-----END CERTIFICATE-----\n"), line: 1, msg: "END line without"},
		{name: "truncated at end of file", bundle: one[:len(one)/2], position: 1, line: 1, msg: "truncated PEM block: no END"},
		{name: "truncated by next BEGIN", bundle: append(append([]byte{}, one[:len(one)/2+1]...), cutAfterNewline(pemBundle(other.cert))...),
			position: 1, line: 1, msg: "truncated PEM block"},
		{name: "comment inside block", bundle: insertLine(one, 2, "# oops"), position: 1, line: 1, msg: "truncated PEM block"},
		{name: "bad base64", bundle: insertLine(one, 2, "!!!!"), position: 1, line: 1, msg: "invalid base64"},
		{name: "empty block", bundle: []byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"), position: 1, line: 1, msg: "empty PEM block"},
		{name: "not X.509", bundle: pemOf("CERTIFICATE", []byte{0x30, 0x03, 0x02, 0x01, 0x01}), position: 1, line: 1, msg: "does not parse"},
		{name: "leaf certificate", bundle: append(append([]byte{}, one...), pemBundle(leaf)...), position: 2, line: strings.Count(string(one), "\n") + 1,
			msg: "not a CA certificate (basicConstraints cA is false)"},
		{name: "no basic constraints", bundle: pemBundle(noBC.cert), position: 1, line: 1, msg: "no basicConstraints"},
		{name: "RSA 1024", bundle: pemBundle(newRootCAWithKey(t, "Weak CA", rsaSmall).cert), position: 1, line: 1, msg: "1024-bit RSA key"},
		{name: "ECDSA P-224", bundle: pemBundle(newRootCAWithKey(t, "P224 CA", p224).cert), position: 1, line: 1, msg: "P-224"},
		{name: "Ed25519", bundle: pemBundle(newRootCAWithKey(t, "Ed CA", edKey).cert), position: 1, line: 1, msg: "Ed25519 key"},
		{name: "SHA-1 signature", bundle: pemBundle(sha1CA.cert), position: 1, line: 1, msg: "ECDSA-SHA1"},
		{name: "oversized certificate", bundle: pemBundle(bigCA.cert), limits: Limits{MaxCertificateSize: 4096}, position: 1, line: 1, msg: "more than the limit of 4096"},
		{name: "too many certificates", bundle: two, limits: Limits{MaxCACertificates: 1}, position: 2, line: strings.Count(string(one), "\n") + 1,
			msg: "more than 1 CA certificates"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(Config{Name: "test", Bundle: tt.bundle, BundleSource: "pki/bundle.pem", Limits: tt.limits})
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if got := len(s.CACertificates()); got != tt.wantN {
					t.Fatalf("got %d certificates, want %d", got, tt.wantN)
				}
				return
			}
			var be *BundleError
			if !errors.As(err, &be) {
				t.Fatalf("New error = %v, want a *BundleError", err)
			}
			if be.Position != tt.position || be.Line != tt.line || !strings.Contains(be.Msg, tt.msg) {
				t.Errorf("got position %d line %d msg %q; want position %d line %d msg containing %q", be.Position, be.Line, be.Msg, tt.position, tt.line, tt.msg)
			}
			if be.Code() != "InvalidCaCertificatesBundle" {
				t.Errorf("Code() = %q", be.Code())
			}
			if !strings.HasPrefix(be.Error(), "pki/bundle.pem: ") {
				t.Errorf("Error() = %q, want the file name first", be.Error())
			}
		})
	}
}

func TestBundleErrorMessage(t *testing.T) {
	root := newRootCA(t, "Root CA")
	leaf := root.issueLeaf(t, "client")
	one := pemBundle(root.cert)
	bundle := append(append([]byte("# partners\n"), one...), pemBundle(leaf)...)
	_, err := New(Config{Bundle: bundle, BundleSource: "pki/bundle.pem"})
	want := fmt.Sprintf("pki/bundle.pem: certificate 2 (line %d): not a CA certificate (basicConstraints cA is false)", strings.Count(string(one), "\n")+2)
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v\nwant    %s", err, want)
	}
}

// insertLine inserts text as line n (1-based) of data.
func insertLine(data []byte, n int, text string) []byte {
	lines := strings.SplitAfter(string(data), "\n")
	out := append([]string{}, lines[:n-1]...)
	out = append(out, text+"\n")
	out = append(out, lines[n-1:]...)
	return []byte(strings.Join(out, ""))
}

// cutAfterNewline makes sure a fragment starts on a fresh line.
func cutAfterNewline(data []byte) []byte { return append([]byte("\n"), data...) }

func pemOf(typ string, der []byte) []byte {
	return []byte("-----BEGIN " + typ + "-----\n" + strings.TrimSpace(b64Lines(der)) + "\n-----END " + typ + "-----\n")
}

func b64Lines(der []byte) string {
	var b strings.Builder
	enc := []byte(base64.StdEncoding.EncodeToString(der))
	for len(enc) > 64 {
		b.Write(enc[:64])
		b.WriteByte('\n')
		enc = enc[64:]
	}
	b.Write(enc)
	return b.String()
}
