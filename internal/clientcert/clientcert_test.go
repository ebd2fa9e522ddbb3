package clientcert

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden (runs openssl for the reference lines)")

func TestSerial(t *testing.T) {
	tests := []struct {
		name   string
		serial *big.Int
		want   string
	}{
		{"alb example", big.NewInt(0x3A5B1), "03A5B1"},
		{"zero", big.NewInt(0), "00"},
		{"nil", nil, "00"},
		{"one", big.NewInt(1), "01"},
		{"high bit has no sign byte", big.NewInt(0x80), "80"},
		{"trailing zero bytes kept", big.NewInt(0xFF00), "FF00"},
		{"word boundary", new(big.Int).Lsh(big.NewInt(1), 64), "010000000000000000"},
		{"max uint64", new(big.Int).SetUint64(^uint64(0)), "FFFFFFFFFFFFFFFF"},
		{"negative", big.NewInt(-0x3A5B1), "-03A5B1"},
		{"negative high bit", big.NewInt(-0x80), "-80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Serial(&x509.Certificate{SerialNumber: tt.serial}); got != tt.want {
				t.Errorf("Serial = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestSerialMatchesBytes checks AppendSerial's word walk against the plain
// definition, big-endian magnitude bytes in hex, over many lengths.
func TestSerialMatchesBytes(t *testing.T) {
	n := big.NewInt(0)
	for i := range 200 {
		n.Lsh(n, 8).Or(n, big.NewInt(int64(i*37%256|1)))
		want := strings.ToUpper(hex.EncodeToString(n.Bytes()))
		if got := Serial(&x509.Certificate{SerialNumber: n}); got != want {
			t.Fatalf("%d bytes: Serial = %q, want %q", i+1, got, want)
		}
	}
}

func TestValidity(t *testing.T) {
	paris := time.FixedZone("CEST", 2*3600)
	c := &x509.Certificate{
		NotBefore: time.Date(2023, 9, 21, 3, 50, 17, 999, paris),
		NotAfter:  time.Date(2024, 9, 20, 1, 50, 17, 0, time.UTC),
	}
	const want = "NotBefore=2023-09-21T01:50:17Z;NotAfter=2024-09-20T01:50:17Z"
	if got := Validity(c); got != want {
		t.Errorf("Validity = %q, want %q", got, want)
	}
}

func TestURLEncode(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"unreserved", "AZaz09-_.~", "AZaz09-_.~"},
		{"base64 specials stay literal", "a+b=c/d", "a+b=c/d"},
		{"space", " ", "%20"},
		{"newline", "\n", "%0A"},
		{"cr", "\r", "%0D"},
		{"percent", "%", "%25"},
		{"reserved", "?&#:@!$'()*,;[]", "%3F%26%23%3A%40%21%24%27%28%29%2A%2C%3B%5B%5D"},
		{"upper-case hex", "\xab\xff\x00", "%AB%FF%00"},
		{"pem header", "-----BEGIN CERTIFICATE-----\n", "-----BEGIN%20CERTIFICATE-----%0A"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(URLEncode([]byte("prefix:"), []byte(tt.in)))
			if got != "prefix:"+tt.want {
				t.Errorf("URLEncode = %q, want %q", got, "prefix:"+tt.want)
			}
		})
	}
}

func TestURLEncodeNoAllocWithRoom(t *testing.T) {
	src := []byte("-----BEGIN CERTIFICATE-----\nMIIB+/==\n")
	dst := make([]byte, 0, 3*len(src))
	if n := testing.AllocsPerRun(100, func() { URLEncode(dst[:0], src) }); n != 0 {
		t.Fatalf("%v allocations with room in dst, want 0", n)
	}
}

func TestAppendPEMMatchesEncodingPEM(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 47, 48, 49, 95, 96, 97, 1000, 4096} {
		der := bytes.Repeat([]byte{0xfb, 0xef, 0xbe}, n)[:n]
		want := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		got := appendPEM(nil, der)
		if !bytes.Equal(got, want) {
			t.Fatalf("%d bytes: appendPEM differs from encoding/pem:\n%s\n%s", n, got, want)
		}
		if pemLen(n) != len(want) {
			t.Errorf("%d bytes: pemLen = %d, want %d", n, pemLen(n), len(want))
		}
		if enc := URLEncode(nil, want); encodedPEMLen(n) != len(enc) {
			t.Errorf("%d bytes: encodedPEMLen = %d, want %d", n, encodedPEMLen(n), len(enc))
		}
	}
}

func TestComputeEmpty(t *testing.T) {
	if got := Compute(nil); got != (Values{}) {
		t.Errorf("Compute(nil) = %+v, want zero", got)
	}
}

func TestUnparsableNameGivesEmpty(t *testing.T) {
	c := &x509.Certificate{RawSubject: []byte{0x30, 0x02, 0x31, 0x00}, RawIssuer: []byte{0xff}}
	if s, i := Subject(c), Issuer(c); s != "" || i != "" {
		t.Errorf("Subject %q, Issuer %q, want empty", s, i)
	}
}

// golden lists the header values of one test certificate file and, for an
// independent reference, what openssl prints for it.
type golden struct {
	v                                            Values
	opensslSubject, opensslIssuer, opensslSerial string
}

func (g golden) encode() []byte {
	var b bytes.Buffer
	for _, kv := range [][2]string{
		{"serial", g.v.Serial}, {"issuer", g.v.Issuer}, {"subject", g.v.Subject}, {"validity", g.v.Validity},
		{"leaf", g.v.Leaf}, {"chain", g.v.Chain},
		{"openssl-serial", g.opensslSerial}, {"openssl-issuer", g.opensslIssuer}, {"openssl-subject", g.opensslSubject},
	} {
		fmt.Fprintf(&b, "%s: %s\n", kv[0], kv[1])
	}
	return b.Bytes()
}

func decodeGolden(t *testing.T, data []byte) golden {
	t.Helper()
	m := map[string]string{}
	for line := range strings.Lines(string(data)) {
		k, v, ok := strings.Cut(strings.TrimSuffix(line, "\n"), ": ")
		if !ok {
			t.Fatalf("bad golden line %q", line)
		}
		m[k] = v
	}
	return golden{
		v: Values{
			Serial: m["serial"], Issuer: m["issuer"], Subject: m["subject"], Validity: m["validity"],
			Leaf: m["leaf"], Chain: m["chain"],
		},
		opensslSerial: m["openssl-serial"], opensslIssuer: m["openssl-issuer"], opensslSubject: m["openssl-subject"],
	}
}

// runOpenSSL asks openssl for the first certificate's subject, issuer and
// serial in RFC 2253 form. Only -update runs it; the answers are kept in the
// golden files so that tests do not need openssl.
func runOpenSSL(t *testing.T, path string) (subject, issuer, serial string) {
	t.Helper()
	out, err := exec.Command("openssl", "x509", "-in", path, "-noout", "-subject", "-issuer", "-serial", "-nameopt", "RFC2253").Output()
	if err != nil {
		t.Fatalf("openssl: %v", err)
	}
	for line := range strings.Lines(string(out)) {
		k, v, _ := strings.Cut(strings.TrimSuffix(line, "\n"), "=")
		switch k {
		case "subject":
			subject = v
		case "issuer":
			issuer = v
		case "serial":
			serial = v
		}
	}
	return subject, issuer, serial
}

func loadChain(t testing.TB, path string) ([]*x509.Certificate, []byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var chain []*x509.Certificate
	for rest := data; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		t.Fatalf("%s: no certificate", path)
	}
	return chain, data
}

// TestGolden computes the header values of every testdata certificate file
// and compares them with testdata/<name>.golden. Besides the golden
// comparison it checks each value against an independent reference: the
// PEM itself for Leaf and Chain, openssl for the names and the serial.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.pem")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("found %d testdata certificate files, want at least 4", len(files))
	}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".pem")
		t.Run(name, func(t *testing.T) {
			chain, fileData := loadChain(t, path)
			got := golden{v: Compute(chain)}
			goldenPath := filepath.Join("testdata", name+".golden")
			if *update {
				got.opensslSubject, got.opensslIssuer, got.opensslSerial = runOpenSSL(t, path)
				if err := os.WriteFile(goldenPath, got.encode(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			data, err := os.ReadFile(goldenPath)
			if err != nil {
				t.Fatal(err)
			}
			want := decodeGolden(t, data)
			if got.v != want.v {
				t.Errorf("values differ from %s (run go test -update to rewrite):\ngot:\n%s\nwant:\n%s", goldenPath, got.encode(), want.encode())
			}

			leafPEM, err := url.PathUnescape(got.v.Leaf)
			if err != nil {
				t.Fatal(err)
			}
			if leafPEM != string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: chain[0].Raw})) {
				t.Error("PathUnescape(Leaf) is not the leaf's PEM")
			}
			chainPEM, err := url.PathUnescape(got.v.Chain)
			if err != nil {
				t.Fatal(err)
			}
			if chainPEM != string(fileData) {
				t.Error("PathUnescape(Chain) is not the presented PEM")
			}
			if strings.Contains(got.v.Leaf, "+") != strings.Contains(leafPEM, "+") {
				t.Error("'+' was not kept literal")
			}

			if got.v.Serial != want.opensslSerial {
				t.Errorf("Serial %q, openssl says %q", got.v.Serial, want.opensslSerial)
			}
			if o := asOpenSSL(t, got.v.Subject); o != want.opensslSubject {
				t.Errorf("Subject %q, in openssl's form %q, openssl says %q", got.v.Subject, o, want.opensslSubject)
			}
			if o := asOpenSSL(t, got.v.Issuer); o != want.opensslIssuer {
				t.Errorf("Issuer %q, in openssl's form %q, openssl says %q", got.v.Issuer, o, want.opensslIssuer)
			}
		})
	}
}

// asOpenSSL rewrites an RFC 4514 string of ours the way `openssl -nameopt
// RFC2253` writes the same name, so the two can be compared exactly. The
// known differences, where we follow RFC 4514 and openssl does not:
//
//   - attribute types without an RFC 4514 short name: we write the dotted
//     OID and #hex of the DER value (1.2.840.113549.1.9.1=#1612…), openssl
//     its own short name and the text (emailAddress=…, serialNumber=…);
//   - non-ASCII UTF-8: we write it as is, openssl escapes each byte (\C3\BC);
//   - multi-valued RDNs: we keep the encoded order of the attributes, openssl
//     reverses them along with the RDNs (RFC 4514 leaves the order open).
func asOpenSSL(t *testing.T, s string) string {
	t.Helper()
	opensslNames := map[string]string{"1.2.840.113549.1.9.1": "emailAddress", "2.5.4.5": "serialNumber"}
	var rdns []string
	for _, rdn := range splitUnescaped(s, ',') {
		attrs := splitUnescaped(rdn, '+')
		for i, a := range attrs {
			typ, val, _ := strings.Cut(a, "=")
			if short, ok := opensslNames[typ]; ok && strings.HasPrefix(val, "#") {
				der, err := hex.DecodeString(val[1:])
				if err != nil {
					t.Fatalf("bad #hex value in %q: %v", a, err)
				}
				var rv asn1.RawValue
				if _, err := asn1.Unmarshal(der, &rv); err != nil {
					t.Fatalf("bad DER in %q: %v", a, err)
				}
				typ, val = short, string(rv.Bytes) // the test certificates' values need no escaping
			}
			var b strings.Builder
			for _, c := range []byte(val) {
				if c >= 0x80 {
					fmt.Fprintf(&b, "\\%02X", c)
				} else {
					b.WriteByte(c)
				}
			}
			attrs[i] = typ + "=" + b.String()
		}
		for i, j := 0, len(attrs)-1; i < j; i, j = i+1, j-1 {
			attrs[i], attrs[j] = attrs[j], attrs[i]
		}
		rdns = append(rdns, strings.Join(attrs, "+"))
	}
	return strings.Join(rdns, ",")
}

// splitUnescaped splits s at every sep not preceded by a backslash escape.
func splitUnescaped(s string, sep byte) []string {
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

func TestLeafAndChainFunctions(t *testing.T) {
	chain, _ := loadChain(t, "testdata/alb-example.pem")
	v := Compute(chain)
	if Leaf(chain[0]) != v.Leaf || Chain(chain) != v.Chain || Chain(chain[:1]) != v.Leaf {
		t.Error("Leaf and Chain disagree with Compute")
	}
	if len(chain) != 2 || !strings.HasPrefix(v.Chain, v.Leaf) || len(v.Chain) <= len(v.Leaf) {
		t.Error("Chain does not start with Leaf")
	}
}

// checkHeaderSafe fails if s holds a byte that an HTTP header value must not
// carry: any control character, CR and LF above all.
func checkHeaderSafe(t *testing.T, field, s string) {
	t.Helper()
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c == 0x7f {
			t.Fatalf("%s holds control byte %#x at %d: %q", field, c, i, s)
		}
	}
}

func FuzzURLEncode(f *testing.F) {
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMIIB+/==\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("%zz \r\n\x00\xff+=/"))
	f.Fuzz(func(t *testing.T, src []byte) {
		enc := string(URLEncode(nil, src))
		checkHeaderSafe(t, "URLEncode", enc)
		dec, err := url.PathUnescape(enc)
		if err != nil {
			t.Fatalf("PathUnescape(%q): %v", enc, err)
		}
		if dec != string(src) {
			t.Fatalf("round trip: %q → %q → %q", src, enc, dec)
		}
	})
}

func FuzzCompute(f *testing.F) {
	files, err := filepath.Glob("testdata/*.pem")
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range files {
		chain, _ := loadChain(f, path)
		for _, c := range chain {
			f.Add(c.Raw)
		}
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return
		}
		v := Compute([]*x509.Certificate{cert, cert})
		for _, kv := range [][2]string{
			{"Chain", v.Chain}, {"Leaf", v.Leaf}, {"Serial", v.Serial},
			{"Issuer", v.Issuer}, {"Subject", v.Subject}, {"Validity", v.Validity},
		} {
			checkHeaderSafe(t, kv[0], kv[1])
		}
		if v.Serial == "" || v.Validity == "" || v.Leaf == "" {
			t.Fatalf("empty value for a parsed certificate: %+v", v)
		}
	})
}

func BenchmarkCompute(b *testing.B) {
	chain, _ := loadChain(b, "testdata/alb-example.pem")
	b.ReportAllocs()
	for b.Loop() {
		Compute(chain)
	}
}

func BenchmarkURLEncode(b *testing.B) {
	chain, _ := loadChain(b, "testdata/alb-example.pem")
	src := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: chain[0].Raw})
	dst := make([]byte, 0, 3*len(src))
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		dst = URLEncode(dst[:0], src)
	}
}
