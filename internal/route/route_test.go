package route

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/mtlslb/mtlslb/internal/config"
)

// req describes a request for the table tests.
type req struct {
	method string // default GET
	target string // default "/"
	host   string // overrides the target's host when set
	header http.Header
	ip     string // client address; empty is the invalid Addr
}

func (q req) build(tb testing.TB) (*http.Request, netip.Addr) {
	tb.Helper()
	method, target := q.method, q.target
	if method == "" {
		method = http.MethodGet
	}
	if target == "" {
		target = "/"
	}
	r := httptest.NewRequest(method, target, nil)
	if q.host != "" {
		r.Host = q.host
	}
	for k, vs := range q.header {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	var ip netip.Addr
	if q.ip != "" {
		ip = netip.MustParseAddr(q.ip)
	}
	return r, ip
}

// one builds a one-condition rule of priority 1.
func one(c config.Condition) []config.Rule {
	return []config.Rule{{Priority: 1, Conditions: []config.Condition{c}}}
}

func values(v ...string) *config.ValuesCondition { return &config.ValuesCondition{Values: v} }

func header(name string, v ...string) *config.HTTPHeaderCondition {
	return &config.HTTPHeaderCondition{HTTPHeaderName: name, Values: v}
}

func query(kv ...string) *config.QueryStringCondition {
	q := &config.QueryStringCondition{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Values = append(q.Values, config.QueryStringPair{Key: kv[i], Value: kv[i+1]})
	}
	return q
}

func mustCompile(tb testing.TB, rules []config.Rule) *Table {
	tb.Helper()
	t, err := Compile(rules)
	if err != nil {
		tb.Fatalf("Compile: %v", err)
	}
	return t
}

func TestConditions(t *testing.T) {
	tests := []struct {
		name  string
		cond  config.Condition
		req   req
		match bool
	}{
		// host_header: case-insensitive, port ignored, wildcards.
		{"host exact", config.Condition{HostHeader: values("api.example.com")}, req{host: "api.example.com"}, true},
		{"host case-insensitive", config.Condition{HostHeader: values("API.Example.com")}, req{host: "api.EXAMPLE.com"}, true},
		{"host port ignored", config.Condition{HostHeader: values("api.example.com")}, req{host: "api.example.com:8443"}, true},
		{"host other", config.Condition{HostHeader: values("api.example.com")}, req{host: "www.example.com"}, false},
		{"host star", config.Condition{HostHeader: values("*.example.com")}, req{host: "a.b.example.com"}, true},
		{"host star needs the dot", config.Condition{HostHeader: values("*.example.com")}, req{host: "example.com"}, false},
		{"host question one char", config.Condition{HostHeader: values("api?.example.com")}, req{host: "api2.example.com"}, true},
		{"host question not zero", config.Condition{HostHeader: values("api?.example.com")}, req{host: "api.example.com"}, false},
		{"host OR second", config.Condition{HostHeader: values("a.example.com", "b.example.com")}, req{host: "b.example.com"}, true},
		{"host IPv6 literal", config.Condition{HostHeader: values("*")}, req{host: "[::1]:443"}, true},
		{"host whole string", config.Condition{HostHeader: values("example.com")}, req{host: "example.com.evil.net"}, false},

		// path_pattern: case-sensitive, path only.
		{"path prefix", config.Condition{PathPattern: values("/api/*")}, req{target: "/api/v1/users"}, true},
		{"path star empty", config.Condition{PathPattern: values("/api/*")}, req{target: "/api/"}, true},
		{"path no slash", config.Condition{PathPattern: values("/api/*")}, req{target: "/api"}, false},
		{"path case-sensitive", config.Condition{PathPattern: values("/api/*")}, req{target: "/API/v1"}, false},
		{"path not query", config.Condition{PathPattern: values("/a")}, req{target: "/a?x=/b"}, true},
		{"path query not matched", config.Condition{PathPattern: values("*x=1*")}, req{target: "/a?x=1"}, false},
		{"path decoded", config.Condition{PathPattern: values("/admin/*")}, req{target: "/%61dmin/x"}, true},
		{"path question", config.Condition{PathPattern: values("/v?/x")}, req{target: "/v2/x"}, true},
		{"path question multibyte", config.Condition{PathPattern: values("/?")}, req{target: "/%C3%A9"}, true},
		{"path middle star", config.Condition{PathPattern: values("/img/*.png")}, req{target: "/img/a/b.png"}, true},
		{"path middle star miss", config.Condition{PathPattern: values("/img/*.png")}, req{target: "/img/a/b.jpg"}, false},

		// http_header: name and value case-insensitive.
		{"header exact", config.Condition{HTTPHeader: header("X-Debug", "1")}, req{header: http.Header{"X-Debug": {"1"}}}, true},
		{"header name case", config.Condition{HTTPHeader: header("x-debug", "on")}, req{header: http.Header{"X-Debug": {"ON"}}}, true},
		{"header value wildcard", config.Condition{HTTPHeader: header("User-Agent", "*Mobile*")}, req{header: http.Header{"User-Agent": {"Mozilla/5.0 (iPhone) mobile Safari"}}}, true},
		{"header absent", config.Condition{HTTPHeader: header("X-Debug", "*")}, req{}, false},
		{"header empty value star", config.Condition{HTTPHeader: header("X-Debug", "*")}, req{header: http.Header{"X-Debug": {""}}}, true},
		{"header second line", config.Condition{HTTPHeader: header("X-Env", "prod")}, req{header: http.Header{"X-Env": {"dev", "prod"}}}, true},
		{"header miss", config.Condition{HTTPHeader: header("X-Env", "prod")}, req{header: http.Header{"X-Env": {"production"}}}, false},
		{"header host", config.Condition{HTTPHeader: header("host", "*.example.com:8443")}, req{host: "a.example.com:8443"}, true},

		// http_request_method: exact, case-sensitive.
		{"method exact", config.Condition{HTTPRequestMethod: values("POST")}, req{method: "POST"}, true},
		{"method OR", config.Condition{HTTPRequestMethod: values("PUT", "PATCH")}, req{method: "PATCH"}, true},
		{"method case-sensitive", config.Condition{HTTPRequestMethod: values("POST")}, req{method: "post"}, false},
		{"method other", config.Condition{HTTPRequestMethod: values("POST")}, req{method: "GET"}, false},
		{"method custom", config.Condition{HTTPRequestMethod: values("CUSTOM_VERB")}, req{method: "CUSTOM_VERB"}, true},

		// query_string: pairs ORed, case-insensitive, wildcards, key optional.
		{"query pair", config.Condition{QueryString: query("version", "v1")}, req{target: "/?version=v1"}, true},
		{"query case-insensitive", config.Condition{QueryString: query("Version", "V1")}, req{target: "/?VERSION=v1"}, true},
		{"query among others", config.Condition{QueryString: query("version", "v1")}, req{target: "/?a=b&version=v1&c"}, true},
		{"query value wildcard", config.Condition{QueryString: query("version", "v*")}, req{target: "/?version=v10"}, true},
		{"query key wildcard", config.Condition{QueryString: query("ver*", "v1")}, req{target: "/?verbose=v1"}, true},
		{"query any key", config.Condition{QueryString: query("", "debug")}, req{target: "/?mode=debug"}, true},
		{"query OR pairs", config.Condition{QueryString: query("a", "1", "b", "2")}, req{target: "/?b=2"}, true},
		{"query value mismatch", config.Condition{QueryString: query("version", "v1")}, req{target: "/?version=v2"}, false},
		{"query key mismatch", config.Condition{QueryString: query("version", "v1")}, req{target: "/?release=v1"}, false},
		{"query no query", config.Condition{QueryString: query("", "*")}, req{target: "/"}, false},
		{"query flag without =", config.Condition{QueryString: query("flag", "*")}, req{target: "/?flag"}, true},
		{"query escaped star literal", config.Condition{QueryString: query("q", `a\*`)}, req{target: "/?q=a*"}, true},
		{"query escaped star not wildcard", config.Condition{QueryString: query("q", `a\*`)}, req{target: "/?q=ab"}, false},
		{"query raw encoded", config.Condition{QueryString: query("q", "a%2fb")}, req{target: "/?q=a%2Fb"}, true},
		{"query encoded & is not a separator", config.Condition{QueryString: query("q", "a")}, req{target: "/?q=a%26q%3Db"}, false},

		// source_ip: CIDRs against the client address.
		{"ipv4 in", config.Condition{SourceIP: values("192.0.2.0/24")}, req{ip: "192.0.2.77"}, true},
		{"ipv4 out", config.Condition{SourceIP: values("192.0.2.0/24")}, req{ip: "192.0.3.1"}, false},
		{"ipv4 mapped", config.Condition{SourceIP: values("192.0.2.0/24")}, req{ip: "::ffff:192.0.2.1"}, true},
		{"ipv6 in", config.Condition{SourceIP: values("2001:db8::/32")}, req{ip: "2001:db8:1::5"}, true},
		{"ipv6 out", config.Condition{SourceIP: values("2001:db8::/32")}, req{ip: "2001:db9::5"}, false},
		{"ipv6 zone ignored", config.Condition{SourceIP: values("fe80::/10")}, req{ip: "fe80::1%eth0"}, true},
		{"ip OR", config.Condition{SourceIP: values("10.0.0.0/8", "2001:db8::/32")}, req{ip: "2001:db8::1"}, true},
		{"ip host bits masked", config.Condition{SourceIP: values("192.0.2.7/24")}, req{ip: "192.0.2.200"}, true},
		{"ip invalid client", config.Condition{SourceIP: values("0.0.0.0/0", "::/0")}, req{}, false},
		{"ip all v4 not v6", config.Condition{SourceIP: values("0.0.0.0/0")}, req{ip: "2001:db8::1"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			table := mustCompile(t, one(tc.cond))
			r, ip := tc.req.build(t)
			want := Default
			if tc.match {
				want = 0
			}
			if got := table.Match(r, ip); got != want {
				t.Errorf("Match = %d, want %d", got, want)
			}
		})
	}
}

func TestPrioritiesAndLogic(t *testing.T) {
	rules := []config.Rule{
		{Priority: 30, Conditions: []config.Condition{{PathPattern: values("/*")}}},
		{Priority: 10, Conditions: []config.Condition{
			{PathPattern: values("/api/*")},
			{HostHeader: values("api.example.com")},
		}},
		{Priority: 20, Conditions: []config.Condition{
			{HTTPHeader: header("X-Debug", "1")},
			{HTTPHeader: header("X-Env", "dev")},
		}},
		{Priority: 5, Conditions: []config.Condition{{SourceIP: values("203.0.113.0/24")}, {HTTPRequestMethod: values("DELETE")}}},
	}
	table := mustCompile(t, rules)
	tests := []struct {
		name     string
		req      req
		want     int
		priority int
	}{
		{"AND both hold", req{target: "/api/x", host: "api.example.com"}, 1, 10},
		{"AND one fails falls through", req{target: "/api/x", host: "www.example.com"}, 0, 30},
		{"two headers ANDed", req{target: "/x", header: http.Header{"X-Debug": {"1"}, "X-Env": {"dev"}}}, 2, 20},
		{"two headers one missing", req{target: "/x", header: http.Header{"X-Debug": {"1"}}}, 0, 30},
		{"lowest priority wins", req{method: "DELETE", target: "/api/x", host: "api.example.com", ip: "203.0.113.9"}, 3, 5},
		{"source ip alone not enough", req{method: "GET", target: "/api/x", host: "api.example.com", ip: "203.0.113.9"}, 1, 10},
		{"default", req{target: "*"}, Default, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, ip := tc.req.build(t)
			got := table.Match(r, ip)
			if got != tc.want {
				t.Fatalf("Match = %d, want %d", got, tc.want)
			}
			if p := table.Priority(got); p != tc.priority {
				t.Errorf("Priority(%d) = %d, want %d", got, p, tc.priority)
			}
		})
	}
	if table.Len() != len(rules) {
		t.Errorf("Len = %d, want %d", table.Len(), len(rules))
	}
}

func TestEmptyTable(t *testing.T) {
	table := mustCompile(t, nil)
	r, ip := req{}.build(t)
	if got := table.Match(r, ip); got != Default {
		t.Errorf("Match = %d, want Default", got)
	}
}

func TestCompileErrors(t *testing.T) {
	long := "/" + strings.Repeat("a", MaxPatternLength)
	rule := func(p int, cs ...config.Condition) config.Rule { return config.Rule{Priority: p, Conditions: cs} }
	tests := []struct {
		name  string
		rules []config.Rule
		want  []string // substrings of the error, each required
	}{
		{"duplicate priority", []config.Rule{rule(7, config.Condition{PathPattern: values("/a")}), rule(7, config.Condition{PathPattern: values("/b")})},
			[]string{"rules[1].priority: 7 is also the priority of rules[0]"}},
		{"priority zero", []config.Rule{rule(0, config.Condition{PathPattern: values("/a")})}, []string{"rules[0].priority: 0 is not between 1 and 50000"}},
		{"priority too high", []config.Rule{rule(50001, config.Condition{PathPattern: values("/a")})}, []string{"rules[0].priority"}},
		{"no conditions", []config.Rule{rule(1)}, []string{"rules[0].conditions: required"}},
		{"empty condition", []config.Rule{rule(1, config.Condition{})}, []string{"rules[0].conditions[0]: needs one of"}},
		{"two kinds in one", []config.Rule{rule(1, config.Condition{PathPattern: values("/a"), HostHeader: values("a.b")})}, []string{"one condition per entry"}},
		{"bad CIDR", []config.Rule{rule(1, config.Condition{SourceIP: values("192.0.2.0/33")})}, []string{"source_ip.values[0]", "not a CIDR"}},
		{"bare IP not CIDR", []config.Rule{rule(1, config.Condition{SourceIP: values("192.0.2.1")})}, []string{"not a CIDR"}},
		{"no values", []config.Rule{rule(1, config.Condition{PathPattern: values()})}, []string{"path_pattern.values: required"}},
		{"empty value", []config.Rule{rule(1, config.Condition{HostHeader: values("")})}, []string{"host_header.values[0]: empty"}},
		{"pattern too long", []config.Rule{rule(1, config.Condition{PathPattern: values(long)})}, []string{"129 characters; at most 128"}},
		{"too many values per condition", []config.Rule{rule(1, config.Condition{PathPattern: values("/a", "/b", "/c", "/d")})}, []string{"4 values; a condition has at most 3"}},
		{"too many values per rule", []config.Rule{rule(1,
			config.Condition{PathPattern: values("/a", "/b", "/c")},
			config.Condition{HostHeader: values("a.b", "c.d", "e.f")})}, []string{"6 values in all; a rule has at most 5"}},
		{"too many wildcards", []config.Rule{rule(1, config.Condition{PathPattern: values("/*/*/*"), HostHeader: nil},
			config.Condition{HostHeader: values("*.?.*")})}, []string{"6 wildcards"}},
		{"two path conditions", []config.Rule{rule(1, config.Condition{PathPattern: values("/a")}, config.Condition{PathPattern: values("/b")})},
			[]string{"path_pattern is also conditions[0]"}},
		{"host bad char", []config.Rule{rule(1, config.Condition{HostHeader: values("a_b.com")})}, []string{"not a host pattern"}},
		{"path space", []config.Rule{rule(1, config.Condition{PathPattern: values("/a b")})}, []string{"not a path pattern"}},
		{"method lower-case", []config.Rule{rule(1, config.Condition{HTTPRequestMethod: values("get")})}, []string{"not a method"}},
		{"method wildcard", []config.Rule{rule(1, config.Condition{HTTPRequestMethod: values("P*")})}, []string{"not a method"}},
		{"header name wildcard", []config.Rule{rule(1, config.Condition{HTTPHeader: header("X-*", "1")})}, []string{"http_header_name"}},
		{"header name empty", []config.Rule{rule(1, config.Condition{HTTPHeader: header("", "1")})}, []string{"http_header_name"}},
		{"header value control", []config.Rule{rule(1, config.Condition{HTTPHeader: header("X-A", "a\nb")})}, []string{"not a header value pattern"}},
		{"query empty value", []config.Rule{rule(1, config.Condition{QueryString: query("k", "")})}, []string{"query_string.values[0].value: empty"}},
		{"query key with =", []config.Rule{rule(1, config.Condition{QueryString: query("a=b", "c")})}, []string{"values[0].key"}},
		{"query no pairs", []config.Rule{rule(1, config.Condition{QueryString: query()})}, []string{"query_string.values: required"}},
		{"every problem reported", []config.Rule{
			rule(1, config.Condition{SourceIP: values("nope")}),
			rule(2, config.Condition{PathPattern: values("")}),
		}, []string{"rules[0].conditions[0].source_ip", "rules[1].conditions[0].path_pattern"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			table, err := Compile(tc.rules)
			if err == nil {
				t.Fatalf("Compile succeeded, want an error containing %q", tc.want)
			}
			if table != nil {
				t.Errorf("Compile returned a table with its error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestLimitsAccepted checks the edges that must still compile.
func TestLimitsAccepted(t *testing.T) {
	max := "/" + strings.Repeat("a", MaxPatternLength-1)
	rules := []config.Rule{
		{Priority: MinPriority, Conditions: []config.Condition{{PathPattern: values(max, "/b", "/c")}, {HostHeader: values("a.b", "c.d")}}},
		{Priority: MaxPriority, Conditions: []config.Condition{{PathPattern: values("/*/*/*")}, {QueryString: query("?", `\*`, "", "*")}}},
	}
	mustCompile(t, rules)
}

func ExampleTable_Match() {
	rules := []config.Rule{
		{Priority: 20, Conditions: []config.Condition{{PathPattern: &config.ValuesCondition{Values: []string{"/*"}}}}},
		{Priority: 10, Conditions: []config.Condition{
			{PathPattern: &config.ValuesCondition{Values: []string{"/api/*"}}},
			{HostHeader: &config.ValuesCondition{Values: []string{"*.example.com"}}},
		}},
	}
	table, err := Compile(rules)
	if err != nil {
		fmt.Println(err)
		return
	}
	r := httptest.NewRequest("GET", "https://API.example.com/api/users?id=7", nil)
	i := table.Match(r, netip.MustParseAddr("192.0.2.1"))
	fmt.Println(i, table.Priority(i))
	// Output: 1 10
}

func TestNilTable(t *testing.T) {
	var table *Table
	r, ip := req{}.build(t)
	if got := table.Match(r, ip); got != Default {
		t.Errorf("Match = %d, want Default", got)
	}
	if table.Len() != 0 || table.Priority(0) != 0 {
		t.Errorf("Len = %d, Priority(0) = %d, want 0 and 0", table.Len(), table.Priority(0))
	}
}
