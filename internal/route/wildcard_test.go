package route

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mtlslb/mtlslb/internal/config"
)

func TestPattern(t *testing.T) {
	tests := []struct {
		name          string
		pattern       string
		fold, escapes bool
		subject       string
		match         bool
	}{
		{"empty matches empty", "", false, false, "", true},
		{"empty not nonempty", "", false, false, "a", false},
		{"star matches empty", "*", false, false, "", true},
		{"star matches all", "*", false, false, "anything/at?all", true},
		{"question needs one", "?", false, false, "", false},
		{"question one byte", "?", false, false, "a", true},
		{"question one rune", "?", false, false, "é", true},
		{"question not two", "?", false, false, "ab", false},
		{"question invalid byte", "?", false, false, "\xff", true},
		{"literal", "abc", false, false, "abc", true},
		{"literal case", "abc", false, false, "ABC", false},
		{"literal folded", "abc", true, false, "ABC", true},
		{"fold ascii only", "k", true, false, "\u212a", false},
		{"fold pattern upper", "ABC", true, false, "abc", true},
		{"star backtracks", "*a*b", false, false, "xaxxaxb", true},
		{"star backtrack fails", "*a*b", false, false, "xaxxaxc", false},
		{"double star", "a**b", false, false, "ab", true},
		{"suffix", "*.png", false, false, "a.png.png", true},
		{"suffix miss", "*.png", false, false, "a.pngx", false},
		{"question and star", "?*?", false, false, "ab", true},
		{"question and star short", "?*?", false, false, "a", false},
		{"no escapes backslash literal", `a\*`, false, false, `a\xyz`, true},
		{"escaped star", `a\*`, false, true, "a*", true},
		{"escaped star not wildcard", `a\*`, false, true, "ab", false},
		{"escaped question", `\?`, false, true, "?", true},
		{"escaped backslash", `\\*`, false, true, `\abc`, true},
		{"lone backslash", `a\b`, false, true, `a\b`, true},
		{"trailing backslash", `a\`, false, true, `a\`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := CompilePattern(tc.pattern, tc.fold, tc.escapes)
			if got := p.Match(tc.subject); got != tc.match {
				t.Errorf("CompilePattern(%q, %v, %v).Match(%q) = %v, want %v", tc.pattern, tc.fold, tc.escapes, tc.subject, got, tc.match)
			}
			if got, want := p.Match(tc.subject), referenceMatch(t, tc.pattern, tc.subject, tc.fold, tc.escapes); got != want {
				t.Errorf("reference disagrees: %v, reference %v", got, want)
			}
		})
	}
}

// referenceMatch matches through a regexp built from the pattern: the
// obviously right but slow implementation the matcher must agree with.
func referenceMatch(tb testing.TB, pattern, subject string, fold, escapes bool) bool {
	tb.Helper()
	var re strings.Builder
	re.WriteString(`^(?s:`)
	lit := func(r rune) {
		switch {
		case fold && 'a' <= r && r <= 'z':
			fmt.Fprintf(&re, "[%c%c]", r, r-'a'+'A')
		case fold && 'A' <= r && r <= 'Z':
			fmt.Fprintf(&re, "[%c%c]", r, r-'A'+'a')
		default:
			re.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	rs := []rune(pattern)
	for i := 0; i < len(rs); i++ {
		switch r := rs[i]; {
		case escapes && r == '\\' && i+1 < len(rs) && strings.ContainsRune(`*?\`, rs[i+1]):
			i++
			lit(rs[i])
		case r == '*':
			re.WriteString(`.*`)
		case r == '?':
			re.WriteString(`.`)
		default:
			lit(r)
		}
	}
	re.WriteString(`)$`)
	return regexp.MustCompile(re.String()).MatchString(subject)
}

func FuzzWildcard(f *testing.F) {
	seeds := []struct {
		pattern, subject string
	}{
		{"/api/*", "/api/v1"}, {"*.example.com", "A.EXAMPLE.COM"}, {"?", "é"}, {"*a*b?c", "xxaxbbxc"},
		{`a\*b`, "a*b"}, {`\\?`, `\x`}, {"**??**", "ab"}, {"", ""}, {"*\xff*", "a\xffb"}, {"?*", "\xe2\x82"},
	}
	for _, s := range seeds {
		f.Add(s.pattern, s.subject, true, true)
		f.Add(s.pattern, s.subject, false, false)
	}
	f.Fuzz(func(t *testing.T, pattern, subject string, fold, escapes bool) {
		if len(pattern) > 256 || len(subject) > 1024 {
			return
		}
		p := CompilePattern(pattern, fold, escapes)
		got := p.Match(subject)
		// regexp cannot express a pattern that is not UTF-8; the matcher
		// still must not panic on one (checked above).
		if !utf8.ValidString(pattern) {
			return
		}
		if want := referenceMatch(t, pattern, subject, fold, escapes); got != want {
			t.Fatalf("CompilePattern(%q, fold %v, escapes %v).Match(%q) = %v, reference %v", pattern, fold, escapes, subject, got, want)
		}
	})
}

// FuzzCompile feeds arbitrary rules, as a JSON document would carry them,
// to Compile, and every table it accepts to Match, with and without the
// path index.
func FuzzCompile(f *testing.F) {
	f.Add(`[{"priority":1,"conditions":[{"path_pattern":{"values":["/api/*"]}},{"host_header":{"values":["*.example.com"]}}]}]`, "/api/x?a=b", "a.example.com")
	f.Add(`[{"priority":2,"conditions":[{"http_header":{"http_header_name":"X-A","values":["?"]}},{"query_string":{"values":[{"value":"\\*"}]}}]}]`, "/?k=*", "h")
	f.Add(`[{"priority":3,"conditions":[{"source_ip":{"values":["10.0.0.0/8","::/0"]}},{"http_request_method":{"values":["GET"]}}]}]`, "/", "")
	f.Add(`[{"priority":1,"conditions":[{}]},{"priority":1,"conditions":[{"source_ip":{"values":["x"]}}]}]`, "/", "")
	f.Fuzz(func(t *testing.T, doc, target, host string) {
		var rules []config.Rule
		if json.Unmarshal([]byte(doc), &rules) != nil {
			return
		}
		table, err := Compile(rules)
		if err != nil {
			return
		}
		r, err := http.NewRequest(http.MethodGet, "http://x/", nil)
		if err != nil {
			t.Fatal(err)
		}
		if u, err := r.URL.Parse(target); err == nil {
			r.URL = u
		}
		r.Host = host
		r.Header.Set("X-A", target)
		i := table.Match(r, netip.MustParseAddr("10.1.2.3"))
		if i != Default && (i < 0 || i >= len(rules)) {
			t.Fatalf("Match = %d, outside the %d rules", i, len(rules))
		}
		if j := table.scan(&request{r: r, ip: netip.MustParseAddr("10.1.2.3")}, 0); j != i {
			t.Fatalf("Match = %d with the path index, %d without", i, j)
		}
	})
}

// BenchmarkMatch matches against 100 rules where only the last (and then
// the default) applies: the worst case, every rule evaluated.
func BenchmarkMatch(b *testing.B) {
	rules := make([]config.Rule, 0, 100)
	for i := range 100 {
		var c []config.Condition
		switch i % 4 {
		case 0:
			c = []config.Condition{{PathPattern: values(fmt.Sprintf("/svc%d/*", i), fmt.Sprintf("/legacy%d/*.php", i))}}
		case 1:
			c = []config.Condition{{HostHeader: values(fmt.Sprintf("svc%d.example.com", i), "*.internal")}, {PathPattern: values("/api/*")}}
		case 2:
			c = []config.Condition{{HTTPHeader: header("X-Tenant", fmt.Sprintf("tenant-%d-*", i))}, {HTTPRequestMethod: values("POST", "PUT")}}
		case 3:
			c = []config.Condition{{QueryString: query("svc", fmt.Sprintf("%d", i), "", "beta*")}, {SourceIP: values("10.0.0.0/8")}}
		}
		rules = append(rules, config.Rule{Priority: i + 1, Conditions: c})
	}
	table := mustCompile(b, rules)
	cases := []struct {
		name string
		r    *http.Request
		want int
	}{
		{"last rule", httptest.NewRequest("GET", "https://a.example.com/svc96/x/y", nil), 96},
		{"default", httptest.NewRequest("POST", "https://www.example.com/api/users?id=7&sort=name", nil), Default},
	}
	ip := netip.MustParseAddr("192.0.2.1")
	for _, tc := range cases {
		tc.r.Header.Set("X-Tenant", "tenant-unknown-42")
		tc.r.Header.Set("User-Agent", "bench")
		b.Run(tc.name, func(b *testing.B) {
			if got := table.Match(tc.r, ip); got != tc.want {
				b.Fatalf("Match = %d, want %d", got, tc.want)
			}
			b.ReportAllocs()
			for b.Loop() {
				table.Match(tc.r, ip)
			}
		})
	}
}

// TestMatchDoesNotAllocate keeps the per-request path free of allocations.
func TestMatchDoesNotAllocate(t *testing.T) {
	table := mustCompile(t, []config.Rule{
		{Priority: 1, Conditions: []config.Condition{{HostHeader: values("*.example.com")}, {PathPattern: values("/a/*")}}},
		{Priority: 2, Conditions: []config.Condition{{HTTPHeader: header("X-A", "*b*")}, {QueryString: query("k", "v*")}}},
		{Priority: 3, Conditions: []config.Condition{{SourceIP: values("2001:db8::/32")}, {HTTPRequestMethod: values("GET")}}},
	})
	r := httptest.NewRequest("GET", "https://x.example.com:8443/b/c?z=1&k=value", nil)
	r.Header.Set("X-A", "abc")
	ip := netip.MustParseAddr("::ffff:192.0.2.1")
	if allocs := testing.AllocsPerRun(100, func() { table.Match(r, ip) }); allocs != 0 {
		t.Errorf("Match allocates %v times per call", allocs)
	}
}
