package accesslog

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"flag"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/clientcert"
	"github.com/mtlslb/mtlslb/internal/pki"
	"github.com/mtlslb/mtlslb/internal/testpki"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

var (
	stamp   = time.Date(2023, 10, 4, 17, 5, 15, 514108000, time.UTC)
	traceID = TraceID{0x31, 0x80, 0xa7, 0x30, 0x13, 0xc8, 0xca, 0x4b, 0xac, 0x2f, 0x73, 0x11, 0x59, 0xd4, 0xb0, 0xfe}
)

// fixedLeaf issues a client certificate whose logged fields (subject,
// validity, serial) are fixed; its key and signature are not logged.
func fixedLeaf(t testing.TB) *x509.Certificate {
	t.Helper()
	root, err := pki.NewRoot(pkix.Name{CommonName: "Test Root"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := root.IssueClient(pkix.Name{CommonName: "device 42", Organization: []string{"Example, Inc."}, Country: []string{"US"}},
		pki.WithSerial(new(big.Int).SetUint64(0xFEF257372D5C14D4)),
		pki.WithValidity(time.Date(2023, 9, 21, 22, 43, 21, 0, time.UTC), time.Date(2026, 6, 17, 22, 43, 21, 0, time.UTC)))
	if err != nil {
		t.Fatal(err)
	}
	return l.Cert
}

func albExampleValues() *clientcert.Values {
	return &clientcert.Values{
		Subject:  "CN=client.example,O=Example",
		Validity: "NotBefore=2023-09-21T22:43:21Z;NotAfter=2026-06-17T22:43:21Z",
		Serial:   "FEF257372D5C14D4",
	}
}

type connCase struct {
	name    string
	rec     ConnRecord
	subject string // field 8 once unquoted; "-" for none
}

func connCases(t testing.TB) []connCase {
	leaf := fixedLeaf(t)
	return []connCase{
		{"alb example", ConnRecord{
			Time: stamp, Client: netip.MustParseAddrPort("203.0.113.1:36280"), ListenerPort: 443,
			TLSVersion: tls.VersionTLS12, CipherSuite: tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			HandshakeLatency: 4 * time.Millisecond, LeafValues: albExampleValues(), Status: "Success",
			TraceID: traceID, KeyExchange: tls.X25519, ELB: "demo", Local: netip.MustParseAddr("127.0.0.1"),
		}, "CN=client.example,O=Example"},
		{"leaf certificate formatted", ConnRecord{
			Time: stamp.Add(time.Second), Client: netip.MustParseAddrPort("[2001:db8::7]:51000"), ListenerPort: 8443,
			TLSVersion: tls.VersionTLS13, CipherSuite: tls.TLS_AES_256_GCM_SHA384,
			HandshakeLatency: 12345678 * time.Nanosecond, Leaf: leaf, Status: "Success",
			TraceID: traceID, KeyExchange: tls.X25519MLKEM768, ELB: "demo", Local: netip.MustParseAddr("::1"),
		}, `CN=device 42,O=Example\, Inc.,C=US`},
		{"expired certificate", ConnRecord{
			Time: stamp, Client: netip.MustParseAddrPort("198.51.100.9:40000"), ListenerPort: 443,
			TLSVersion: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256,
			HandshakeLatency: NoLatency, Leaf: leaf, Status: "Failed:ClientCertExpired",
			TraceID: traceID, KeyExchange: tls.CurveP256, ELB: "demo", Local: netip.MustParseAddr("10.0.0.5"),
		}, `CN=device 42,O=Example\, Inc.,C=US`},
		{"no certificate in verify mode", ConnRecord{
			Time: stamp, Client: netip.MustParseAddrPort("198.51.100.9:40001"), ListenerPort: 443,
			HandshakeLatency: NoLatency, Status: "Failed:UnmappedConnectionError",
			TraceID: traceID, ELB: "demo", Local: netip.MustParseAddr("10.0.0.5"),
		}, "-"},
		{"quotes and backslashes in subject", ConnRecord{
			Time: stamp, Client: netip.MustParseAddrPort("[::ffff:192.0.2.1]:1"), ListenerPort: 443,
			TLSVersion: tls.VersionTLS12, CipherSuite: tls.TLS_RSA_WITH_AES_128_GCM_SHA256, HandshakeLatency: 0,
			LeafValues: &clientcert.Values{Subject: `CN=a\"b\\c\0Ad,O= x `, Validity: "NotBefore=2023-09-21T22:43:21Z;NotAfter=2026-06-17T22:43:21Z", Serial: "00"},
			Status:     "Success", TraceID: traceID, KeyExchange: 0, ELB: "my lb\n", Local: netip.MustParseAddr("::ffff:10.0.0.1"),
		}, `CN=a\"b\\c\0Ad,O= x `},
		{"empty subject", ConnRecord{
			Time: stamp, Client: netip.MustParseAddrPort("192.0.2.1:2"), ListenerPort: 443,
			TLSVersion: tls.VersionTLS13, CipherSuite: tls.TLS_CHACHA20_POLY1305_SHA256, HandshakeLatency: 999500 * time.Microsecond,
			LeafValues: &clientcert.Values{Subject: "", Validity: "NotBefore=2023-09-21T22:43:21Z;NotAfter=2026-06-17T22:43:21Z", Serial: "01"},
			Status:     "Success", TraceID: traceID, KeyExchange: tls.CurveP521, ELB: "demo", Local: netip.MustParseAddr("192.0.2.2"),
		}, ""},
		{"control bytes in subject", ConnRecord{
			Time: stamp, LeafValues: &clientcert.Values{Subject: "CN=x\ny\x7f"}, HandshakeLatency: NoLatency,
		}, "CN=x\ny\x7f"},
		{"zero record", ConnRecord{HandshakeLatency: NoLatency}, "-"},
	}
}

func TestConnLineGolden(t *testing.T) {
	var got bytes.Buffer
	for _, c := range connCases(t) {
		got.WriteString("# " + c.name + "\n")
		got.Write(AppendConnLine(nil, &c.rec))
	}
	checkGolden(t, filepath.Join("testdata", "conn.golden"), got.Bytes())
}

// parseConnLine splits a connection-log line into its fields the way a log
// reader would: on single spaces, field 8 running from its opening quote to
// the first unescaped closing quote. It returns field 8 unescaped.
func parseConnLine(t *testing.T, line string) []string {
	t.Helper()
	line, ok := strings.CutSuffix(line, "\n")
	if !ok || strings.ContainsAny(line, "\n\r") {
		t.Fatalf("not exactly one line: %q", line)
	}
	var fields []string
	for len(line) > 0 {
		if len(fields) == 7 && line[0] == '"' {
			var b strings.Builder
			i := 1
			for ; i < len(line) && line[i] != '"'; i++ {
				if line[i] != '\\' {
					b.WriteByte(line[i])
					continue
				}
				i++
				if i < len(line) && line[i] == 'x' {
					v, err := strconv.ParseUint(line[i+1:i+3], 16, 8)
					if err != nil {
						t.Fatalf("bad \\x escape in %q", line)
					}
					b.WriteByte(byte(v))
					i += 2
					continue
				}
				b.WriteByte(line[i])
			}
			if i >= len(line) {
				t.Fatalf("unterminated quoted field in %q", line)
			}
			fields = append(fields, b.String())
			line = line[i+1:]
		} else {
			f, rest, _ := strings.Cut(line, " ")
			fields = append(fields, f)
			line = " " + rest
			if rest == "" {
				line = ""
			}
		}
		if line != "" {
			if line[0] != ' ' {
				t.Fatalf("field %d not followed by a space: %q", len(fields), line)
			}
			line = line[1:]
		}
	}
	return fields
}

func TestConnLineParsesBack(t *testing.T) {
	fieldRE := []*regexp.Regexp{
		regexp.MustCompile(`^(-|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)$`),
		regexp.MustCompile(`^(-|[0-9a-f.:]+)$`),
		regexp.MustCompile(`^(-|\d+)$`),
		regexp.MustCompile(`^(-|\d+)$`),
		regexp.MustCompile(`^(-|TLSv1\.[23])$`),
		regexp.MustCompile(`^(-|[A-Z0-9_-]+)$`),
		regexp.MustCompile(`^(-|\d+\.\d{3})$`),
		nil, // subject: checked against the record
		regexp.MustCompile(`^(-|NotBefore=\S+Z;NotAfter=\S+Z)$`),
		regexp.MustCompile(`^(-|-?[0-9A-F]+)$`),
		regexp.MustCompile(`^(-|Success|Failed:[A-Za-z]+)$`),
		regexp.MustCompile(`^(-|TID_[0-9a-f]{32})$`),
		regexp.MustCompile(`^(-|[A-Za-z0-9]+)$`),
		regexp.MustCompile(`^\S+$`),
		regexp.MustCompile(`^(-|[0-9a-f.:]+)$`),
	}
	for _, c := range connCases(t) {
		t.Run(c.name, func(t *testing.T) {
			line := string(AppendConnLine(nil, &c.rec))
			fields := parseConnLine(t, line)
			if len(fields) != 15 {
				t.Fatalf("%d fields, want 15: %q", len(fields), fields)
			}
			if fields[7] != c.subject {
				t.Errorf("field 8 = %q, want %q", fields[7], c.subject)
			}
			for i, re := range fieldRE {
				if re != nil && !re.MatchString(fields[i]) {
					t.Errorf("field %d = %q does not match %s", i+1, fields[i], re)
				}
			}
		})
	}
}

func TestAppendConnLineNoAlloc(t *testing.T) {
	r := connCases(t)[0].rec
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { buf = AppendConnLine(buf[:0], &r) }); n != 0 {
		t.Fatalf("%v allocations per line, want 0", n)
	}
}

func TestTraceID(t *testing.T) {
	a, b := NewTraceID(), NewTraceID()
	if a == b || a == (TraceID{}) {
		t.Fatalf("trace ids %v and %v", a, b)
	}
	if !regexp.MustCompile(`^TID_[0-9a-f]{32}$`).MatchString(a.String()) {
		t.Errorf("String = %q", a.String())
	}
	if got := traceID.String(); got != "TID_3180a73013c8ca4bac2f731159d4b0fe" {
		t.Errorf("String = %q", got)
	}
	text, err := traceID.MarshalText()
	if err != nil || string(text) != traceID.String() {
		t.Errorf("MarshalText = %q, %v", text, err)
	}
}

func TestNames(t *testing.T) {
	// The reference is openssl's own table (testdata/openssl-ciphers.txt).
	// OpenSSL 3 no longer builds RC4 and 3DES, so their names come from
	// OpenSSL 1.1's table, listed here.
	legacy := map[string]string{
		"TLS_RSA_WITH_RC4_128_SHA":            "RC4-SHA",
		"TLS_RSA_WITH_3DES_EDE_CBC_SHA":       "DES-CBC3-SHA",
		"TLS_ECDHE_ECDSA_WITH_RC4_128_SHA":    "ECDHE-ECDSA-RC4-SHA",
		"TLS_ECDHE_RSA_WITH_RC4_128_SHA":      "ECDHE-RSA-RC4-SHA",
		"TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA": "ECDHE-RSA-DES-CBC3-SHA",
	}
	f, err := os.Open("testdata/openssl-ciphers.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ref := map[string]string{}
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if iana, name, ok := strings.Cut(sc.Text(), " "); ok && !strings.HasPrefix(iana, "#") {
			ref[iana] = name
		}
	}
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		t.Run(s.Name, func(t *testing.T) {
			want, ok := ref[s.Name]
			if !ok {
				want, ok = legacy[s.Name]
			}
			if !ok {
				t.Fatalf("no reference name for %s", s.Name)
			}
			if got := CipherSuiteName(s.ID); got != want {
				t.Errorf("CipherSuiteName = %q, want %q", got, want)
			}
		})
	}
	if CipherSuiteName(0) != "" || CipherSuiteName(tls.TLS_FALLBACK_SCSV) != "" {
		t.Error("non-suite has a name")
	}

	versions := map[uint16]string{tls.VersionTLS13: "TLSv1.3", tls.VersionTLS12: "TLSv1.2", tls.VersionTLS11: "TLSv1.1", tls.VersionTLS10: "TLSv1", 0: "", 0x7f1c: ""}
	for v, want := range versions {
		if got := TLSVersionName(v); got != want {
			t.Errorf("TLSVersionName(%#x) = %q, want %q", v, got, want)
		}
	}

	curves := map[tls.CurveID]string{
		tls.X25519: "X25519", tls.CurveP256: "secp256r1", tls.CurveP384: "secp384r1", tls.CurveP521: "secp521r1",
		tls.X25519MLKEM768: "X25519MLKEM768", tls.SecP256r1MLKEM768: "SecP256r1MLKEM768", tls.SecP384r1MLKEM1024: "SecP384r1MLKEM1024",
		0: "", 0xfafa: "",
	}
	for id, want := range curves {
		if got := KeyExchangeName(id); got != want {
			t.Errorf("KeyExchangeName(%v) = %q, want %q", id, got, want)
		}
	}
	// Every group crypto/tls knows by name (its String method does not fall
	// back to "CurveID(n)") must have a name here too.
	for id := range tls.CurveID(0x2000) {
		if s := id.String(); !strings.HasPrefix(s, "CurveID(") && KeyExchangeName(id) == "" {
			t.Errorf("crypto/tls knows group %s (%d), KeyExchangeName does not", s, id)
		}
	}
}

// TestRealHandshakeRecord fills records from real loopback handshakes'
// ConnectionState, as the listener will, and checks that every name
// resolves.
func TestRealHandshakeRecord(t *testing.T) {
	ca := testpki.NewCA(t)
	server := ca.Server(t, "127.0.0.1")
	client := ca.Client(t, "client.example")
	tests := []struct {
		name    string
		version uint16
		want    string
	}{
		{"tls12", tls.VersionTLS12, "TLSv1.2"},
		{"tls13", tls.VersionTLS13, "TLSv1.3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
				Certificates: []tls.Certificate{server.TLSCertificate()},
				ClientAuth:   tls.RequireAndVerifyClientCert,
				ClientCAs:    ca.Pool(),
				MaxVersion:   tt.version,
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			states := make(chan tls.ConnectionState, 1)
			go func() {
				defer close(states)
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				tc := c.(*tls.Conn)
				if tc.Handshake() == nil {
					states <- tc.ConnectionState()
				}
			}()
			conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{client.TLSCertificate()}})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			cs, ok := <-states
			if !ok {
				t.Fatal("server handshake failed")
			}
			r := ConnRecord{
				Time: time.Now(), Client: netip.MustParseAddrPort(conn.LocalAddr().String()), ListenerPort: 443,
				TLSVersion: cs.Version, CipherSuite: cs.CipherSuite, HandshakeLatency: time.Millisecond,
				Leaf: cs.PeerCertificates[0], Status: "Success", TraceID: NewTraceID(), KeyExchange: cs.CurveID,
				ELB: "demo", Local: netip.MustParseAddr("127.0.0.1"),
			}
			fields := parseConnLine(t, string(AppendConnLine(nil, &r)))
			if len(fields) != 15 || fields[4] != tt.want || fields[5] == "-" || fields[12] == "-" || fields[7] != "CN=client.example" {
				t.Errorf("fields %q", fields)
			}
		})
	}
}

func BenchmarkAppendConnLine(b *testing.B) {
	r := connCases(b)[0].rec
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendConnLine(buf[:0], &r)
	}
}

func BenchmarkAppendConnLineFromCertificate(b *testing.B) {
	r := connCases(b)[2].rec
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendConnLine(buf[:0], &r)
	}
}

func BenchmarkNewTraceID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		NewTraceID()
	}
}

// FuzzAppendConnLine feeds arbitrary subjects (client-controlled) and
// free-text fields to the formatter: the line must stay one line of 15
// fields, and field 8 must give the subject back.
func FuzzAppendConnLine(f *testing.F) {
	f.Add(`CN=a\"b\\c,O= x `, "Success", "demo")
	f.Add("\"\\\x00\n\r\x7f\xff", "Failed:ClientCertExpired", "my lb\n")
	f.Add("", "", "")
	f.Fuzz(func(t *testing.T, subject, status, elb string) {
		r := ConnRecord{
			Time: stamp, Client: netip.MustParseAddrPort("192.0.2.1:2"), HandshakeLatency: NoLatency,
			LeafValues: &clientcert.Values{Subject: subject, Validity: "NotBefore=2023-09-21T22:43:21Z;NotAfter=2026-06-17T22:43:21Z", Serial: "01"},
			Status:     status, TraceID: traceID, ELB: elb,
		}
		fields := parseConnLine(t, string(AppendConnLine(nil, &r)))
		if len(fields) != 15 {
			t.Fatalf("%d fields: %q", len(fields), fields)
		}
		if fields[7] != subject {
			t.Fatalf("field 8 = %q, want %q", fields[7], subject)
		}
	})
}

// checkGolden compares got with the golden file at path, rewriting it with -update.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("lines differ from %s (run go test -update to rewrite):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}
