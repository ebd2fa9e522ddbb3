package accesslog

import (
	"bytes"
	"crypto/tls"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const accessTraceHeader = "Self=1-67891234-12456789abcdef0123456789;Root=1-58337262-36d228ad5d99923122bbe354"

type accessCase struct {
	name string
	rec  AccessRecord
	// fields whose unquoted value the parse-back test checks, by index
	want map[int]string
}

func accessCases() []accessCase {
	created := stamp.Add(-12 * time.Millisecond)
	return []accessCase{
		{"alb https example", AccessRecord{
			Type: TypeHTTPS, Time: stamp, ELB: "demo",
			Client: netip.MustParseAddrPort("192.168.131.39:2817"), Target: netip.MustParseAddrPort("10.0.0.1:80"),
			RequestProcessingTime: 86 * time.Millisecond, TargetProcessingTime: 48 * time.Millisecond, ResponseProcessingTime: 37 * time.Millisecond,
			ELBStatusCode: 200, TargetStatusCode: 200, ReceivedBytes: 0, SentBytes: 57,
			Method: "GET", URL: "https://www.example.com:443/", Proto: "HTTP/1.1", UserAgent: "curl/7.46.0",
			TLSCipher: tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLSVersion: tls.VersionTLS12, TargetGroup: "my-targets",
			TraceID: accessTraceHeader, DomainName: "www.example.com", ChosenCert: "www-example-com",
			MatchedRulePriority: 1, RequestCreationTime: created, Actions: []Action{ActionAuthenticate, ActionForward},
			ConnTraceID: traceID,
		}, map[int]string{12: "GET https://www.example.com:443/ HTTP/1.1", 13: "curl/7.46.0", 17: accessTraceHeader, 22: "authenticate,forward", 25: "10.0.0.1:80", 26: "200"}},
		{"h2 over ipv6 with a retry", AccessRecord{
			Type: TypeH2, Time: stamp, ELB: "demo",
			Client: netip.MustParseAddrPort("[2001:db8::7]:51000"), Target: netip.MustParseAddrPort("[2001:db8::20]:8080"),
			RequestProcessingTime: 0, TargetProcessingTime: 1500 * time.Microsecond, ResponseProcessingTime: 0,
			ELBStatusCode: 200, TargetStatusCode: 200, ReceivedBytes: 812, SentBytes: 2048,
			Method: "POST", URL: "https://api.example.com:443/v1/items?id=7&x=%20", Proto: "HTTP/2.0", UserAgent: "Go-http-client/2.0",
			TLSCipher: tls.TLS_AES_128_GCM_SHA256, TLSVersion: tls.VersionTLS13, TargetGroup: "api",
			TraceID: accessTraceHeader, DomainName: "api.example.com", ChosenCert: "session-reused",
			MatchedRulePriority: 20, RequestCreationTime: created, Actions: []Action{ActionForward},
			TargetPortList:       []netip.AddrPort{netip.MustParseAddrPort("[2001:db8::21]:8080"), netip.MustParseAddrPort("[2001:db8::20]:8080")},
			TargetStatusCodeList: []int{502, 200},
			Classification:       "Acceptable", ConnTraceID: traceID,
		}, map[int]string{3: "2001:db8::7:51000", 25: "2001:db8::21:8080 2001:db8::20:8080", 26: "502 200", 27: "Acceptable"}},
		{"redirect without target", AccessRecord{
			Type: TypeHTTP, Time: stamp, ELB: "demo", Client: netip.MustParseAddrPort("203.0.113.1:36280"),
			RequestProcessingTime: 0, TargetProcessingTime: NotApplicable, ResponseProcessingTime: NotApplicable,
			ELBStatusCode: 301, ReceivedBytes: 79, SentBytes: 243,
			Method: "GET", URL: "http://www.example.com:80/login", Proto: "HTTP/1.1", UserAgent: "curl/8.0",
			MatchedRulePriority: PriorityDefault, RequestCreationTime: created, Actions: []Action{ActionRedirect},
			RedirectURL: "https://www.example.com:443/login", ConnTraceID: traceID,
		}, map[int]string{4: "-", 6: "-1", 9: "-", 16: "-", 23: "https://www.example.com:443/login", 25: "-", 26: "-"}},
		{"malformed request", AccessRecord{
			Type: TypeHTTPS, Time: stamp, ELB: "demo", Client: netip.MustParseAddrPort("198.51.100.9:40000"),
			RequestProcessingTime: NotApplicable, TargetProcessingTime: NotApplicable, ResponseProcessingTime: NotApplicable,
			ELBStatusCode: 400, ReceivedBytes: 31, SentBytes: 0,
			TLSCipher: tls.TLS_AES_256_GCM_SHA384, TLSVersion: tls.VersionTLS13,
			MatchedRulePriority: PriorityNone, RequestCreationTime: created,
			ErrorReason: "ClientMalformedRequest", Classification: "Severe", ClassificationReason: "BadContentLength",
			ConnTraceID: traceID,
		}, map[int]string{12: "- - -", 13: "-", 20: "-", 22: "-", 24: "ClientMalformedRequest", 28: "BadContentLength"}},
		{"rule evaluation error", AccessRecord{
			Type: TypeGRPCS, Time: stamp, Client: netip.MustParseAddrPort("198.51.100.9:40001"),
			RequestProcessingTime: NotApplicable, TargetProcessingTime: NotApplicable, ResponseProcessingTime: NotApplicable,
			ELBStatusCode: 500, Method: "POST", URL: "https://grpc.example.com:443/pkg.Svc/Call", Proto: "HTTP/2.0",
			MatchedRulePriority: PriorityError, RequestCreationTime: created, Actions: []Action{ActionFixedResponse},
		}, map[int]string{0: "grpcs", 20: "-1", 29: "-"}},
		{"hostile client values", AccessRecord{
			Type: TypeWSS, Time: stamp, ELB: "my lb\n", Client: netip.MustParseAddrPort("[::ffff:192.0.2.1]:1"),
			Target: netip.MustParseAddrPort("10.0.0.2:443"), TargetProcessingTime: time.Second, ELBStatusCode: 101, TargetStatusCode: 101,
			Method: "GET", URL: "https://x.example:443/a b\"c\\d\r\n\x00é", Proto: "HTTP/1.1",
			UserAgent: "evil\" \"injected\nline\x7f\u2603", DomainName: "x\".example", TargetGroup: "tg one",
			RequestCreationTime: created, Actions: []Action{ActionForward}, ConnTraceID: traceID,
		}, map[int]string{
			2: "my_lb_", 3: "192.0.2.1:1", 12: "GET https://x.example:443/a b\"c\\d\r\n\x00é HTTP/1.1",
			13: "evil\" \"injected\nline\x7f\u2603", 16: "tg_one", 19: "-", 18: "x\".example",
		}},
		{"zero record", AccessRecord{MatchedRulePriority: PriorityNone}, map[int]string{1: "-", 3: "-", 12: "- - -", 21: "-", 29: "-"}},
	}
}

func TestAccessLineGolden(t *testing.T) {
	var got bytes.Buffer
	for _, c := range accessCases() {
		got.WriteString("# " + c.name + "\n")
		got.Write(AppendAccessLine(nil, &c.rec))
	}
	checkGolden(t, filepath.Join("testdata", "access.golden"), got.Bytes())
}

// accessQuoted marks the quoted fields of an access-log line, by index.
var accessQuoted = map[int]bool{12: true, 13: true, 17: true, 18: true, 19: true, 22: true, 23: true, 24: true, 25: true, 26: true, 27: true, 28: true}

// parseAccessLine splits an access-log line the way a log reader would: on
// single spaces, a quoted field running from its opening quote to the
// first unescaped closing quote. Quoted fields are returned unescaped.
func parseAccessLine(t testing.TB, line string) []string {
	t.Helper()
	line, ok := strings.CutSuffix(line, "\n")
	if !ok || strings.ContainsAny(line, "\n\r") {
		t.Fatalf("not exactly one line: %q", line)
	}
	var fields []string
	for len(line) > 0 {
		if accessQuoted[len(fields)] {
			if line[0] != '"' {
				t.Fatalf("field %d not quoted: %q", len(fields)+1, line)
			}
			var b strings.Builder
			i := 1
			for ; i < len(line) && line[i] != '"'; i++ {
				if line[i] != '\\' {
					b.WriteByte(line[i])
					continue
				}
				i++
				if i < len(line) && line[i] == 'x' {
					if i+3 > len(line) {
						t.Fatalf("short \\x escape in %q", line)
					}
					v, err := strconv.ParseUint(line[i+1:i+3], 16, 8)
					if err != nil {
						t.Fatalf("bad \\x escape in %q", line)
					}
					b.WriteByte(byte(v))
					i += 2
					continue
				}
				if i < len(line) {
					b.WriteByte(line[i])
				}
			}
			if i >= len(line) {
				t.Fatalf("unterminated quoted field %d in %q", len(fields)+1, line)
			}
			fields = append(fields, b.String())
			line = line[i+1:]
		} else {
			f, rest, found := strings.Cut(line, " ")
			fields = append(fields, f)
			line = rest
			if found && rest == "" {
				t.Fatalf("line ends with a space")
			}
			continue
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

// splitRequest splits the unescaped "request" field of a line (raw, not
// parsed) into method, URL and protocol, unescaping each.
func requestParts(t testing.TB, line string) []string {
	t.Helper()
	// The request is field 13; the twelve before it are unquoted and hold
	// no space (but may hold a '"', from a configured name). Its raw text
	// has no unescaped space but the two separators.
	start := 0
	for range 12 {
		start += strings.IndexByte(line[start:], ' ') + 1
	}
	end := start + 1
	for ; line[end] != '"'; end++ {
		if line[end] == '\\' {
			end++
		}
	}
	parts := strings.Split(line[start+1:end], " ")
	if len(parts) != 3 {
		t.Fatalf("request %q has %d parts", line[start:end+1], len(parts))
	}
	for i, p := range parts {
		parts[i] = parseAccessLine(t, strings.Repeat("- ", 12)+`"`+p+`"`+"\n")[12]
	}
	return parts
}

func TestAccessLineParsesBack(t *testing.T) {
	fieldRE := []*regexp.Regexp{
		regexp.MustCompile(`^(-|http|https|h2|grpcs|ws|wss)$`),
		regexp.MustCompile(`^(-|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)$`),
		regexp.MustCompile(`^\S+$`),
		regexp.MustCompile(`^(-|[0-9a-f.:]+:\d+)$`),
		regexp.MustCompile(`^(-|[0-9a-f.:]+:\d+)$`),
		regexp.MustCompile(`^(-1|\d+\.\d{3})$`),
		regexp.MustCompile(`^(-1|\d+\.\d{3})$`),
		regexp.MustCompile(`^(-1|\d+\.\d{3})$`),
		regexp.MustCompile(`^(-|\d{3})$`),
		regexp.MustCompile(`^(-|\d{3})$`),
		regexp.MustCompile(`^\d+$`),
		regexp.MustCompile(`^\d+$`),
		nil, nil, // request, user_agent: checked against the record
		regexp.MustCompile(`^(-|[A-Z0-9_-]+)$`),
		regexp.MustCompile(`^(-|TLSv1(\.[123])?)$`),
		regexp.MustCompile(`^\S+$`),
		nil, nil, nil,
		regexp.MustCompile(`^(-|-1|\d+)$`),
		regexp.MustCompile(`^(-|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)$`),
		regexp.MustCompile(`^(-|[a-z-]+(,[a-z-]+)*)$`),
		nil, nil,
		regexp.MustCompile(`^(-|[0-9a-f.:]+:\d+( [0-9a-f.:]+:\d+)*)$`),
		regexp.MustCompile(`^(-|\d{3}( \d{3})*)$`),
		nil, nil,
		regexp.MustCompile(`^(-|TID_[0-9a-f]{32})$`),
	}
	for _, c := range accessCases() {
		t.Run(c.name, func(t *testing.T) {
			line := string(AppendAccessLine(nil, &c.rec))
			fields := parseAccessLine(t, line)
			if len(fields) != 30 {
				t.Fatalf("%d fields, want 30: %q", len(fields), fields)
			}
			for i, re := range fieldRE {
				if re != nil && !re.MatchString(fields[i]) {
					t.Errorf("field %d = %q does not match %s", i+1, fields[i], re)
				}
			}
			for i, want := range c.want {
				if fields[i] != want {
					t.Errorf("field %d = %q, want %q", i+1, fields[i], want)
				}
			}
			parts := requestParts(t, line)
			for i, want := range []string{c.rec.Method, c.rec.URL, c.rec.Proto} {
				if want == "" {
					want = "-"
				}
				if parts[i] != want {
					t.Errorf("request part %d = %q, want %q", i+1, parts[i], want)
				}
			}
		})
	}
}

func TestAccessUserAgentCut(t *testing.T) {
	r := AccessRecord{UserAgent: strings.Repeat("a", maxUserAgent+100)}
	fields := parseAccessLine(t, string(AppendAccessLine(nil, &r)))
	if got := len(fields[13]); got != maxUserAgent {
		t.Errorf("user_agent of %d bytes, want %d", got, maxUserAgent)
	}
}

func TestAppendAccessLineNoAlloc(t *testing.T) {
	r := accessCases()[0].rec
	buf := make([]byte, 0, 2048)
	if n := testing.AllocsPerRun(100, func() { buf = AppendAccessLine(buf[:0], &r) }); n != 0 {
		t.Fatalf("%v allocations per line, want 0", n)
	}
}

func TestWriteAccess(t *testing.T) {
	var out bytes.Buffer
	w, err := NewWriter(WriterOptions{Path: "-", Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	r := accessCases()[0].rec
	w.WriteAccess(&r)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), string(AppendAccessLine(nil, &r)); got != want {
		t.Errorf("wrote %q, want %q", got, want)
	}
	if s := w.Stats(); s.Lines != 1 || s.Dropped != 0 {
		t.Errorf("stats %+v", s)
	}
}

func BenchmarkAppendAccessLine(b *testing.B) {
	r := accessCases()[0].rec
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendAccessLine(buf[:0], &r)
	}
}

// FuzzAppendAccessLine feeds arbitrary client-controlled values (request
// line, User-Agent, SNI) and a configured name to the formatter: the line
// must stay one line of 30 fields, and the values must come back.
func FuzzAppendAccessLine(f *testing.F) {
	f.Add("GET", "https://x:443/a b", "HTTP/1.1", "ua\"\\\x00\n\xff", "sni", "demo")
	f.Add("", "", "", "", "", "")
	f.Add("\"", "\\", " ", "\\x41", "\"-\"", "a b")
	f.Add("0", "0", "0", "0", "0", "\"") // a quote in the ELB name
	f.Fuzz(func(t *testing.T, method, url, proto, ua, sni, elb string) {
		r := AccessRecord{
			Type: TypeHTTPS, Time: stamp, ELB: elb, Client: netip.MustParseAddrPort("192.0.2.1:2"),
			Method: method, URL: url, Proto: proto, UserAgent: ua, DomainName: sni, ConnTraceID: traceID,
		}
		line := string(AppendAccessLine(nil, &r))
		fields := parseAccessLine(t, line)
		if len(fields) != 30 {
			t.Fatalf("%d fields: %q", len(fields), fields)
		}
		orDash := func(s string) string {
			if s == "" {
				return "-"
			}
			return s
		}
		parts := requestParts(t, line)
		for i, want := range []string{method, url, proto} {
			if parts[i] != orDash(want) {
				t.Fatalf("request part %d = %q, want %q", i+1, parts[i], orDash(want))
			}
		}
		if len(ua) <= maxUserAgent && fields[13] != orDash(ua) {
			t.Fatalf("user_agent = %q, want %q", fields[13], ua)
		}
		if fields[18] != orDash(sni) {
			t.Fatalf("domain_name = %q, want %q", fields[18], sni)
		}
	})
}

func ExampleAppendAccessLine() {
	r := AccessRecord{
		Type: TypeHTTPS, Time: time.Date(2023, 10, 4, 17, 5, 15, 514108000, time.UTC), ELB: "demo",
		Client: netip.MustParseAddrPort("192.0.2.10:2817"), Target: netip.MustParseAddrPort("10.0.0.1:80"),
		RequestProcessingTime: time.Millisecond, TargetProcessingTime: 48 * time.Millisecond,
		ELBStatusCode: 200, TargetStatusCode: 200, ReceivedBytes: 120, SentBytes: 57,
		Method: "GET", URL: "https://www.example.com:443/", Proto: "HTTP/1.1", UserAgent: "curl/8.5.0",
		TLSCipher: tls.TLS_AES_128_GCM_SHA256, TLSVersion: tls.VersionTLS13, TargetGroup: "web",
		TraceID: "Root=1-651d9c2b-0123456789abcdef01234567", DomainName: "www.example.com", ChosenCert: "www",
		RequestCreationTime: time.Date(2023, 10, 4, 17, 5, 15, 465000000, time.UTC), Actions: []Action{ActionForward},
	}
	os.Stdout.Write(AppendAccessLine(nil, &r))
	// Output:
	// https 2023-10-04T17:05:15.514108Z demo 192.0.2.10:2817 10.0.0.1:80 0.001 0.048 0.000 200 200 120 57 "GET https://www.example.com:443/ HTTP/1.1" "curl/8.5.0" TLS_AES_128_GCM_SHA256 TLSv1.3 web "Root=1-651d9c2b-0123456789abcdef01234567" "www.example.com" "www" 0 2023-10-04T17:05:15.465000Z "forward" "-" "-" "10.0.0.1:80" "200" "-" "-" -
}
