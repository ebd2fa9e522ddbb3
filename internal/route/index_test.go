package route

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/mtlslb/mtlslb/internal/config"
)

// TestPathIndexSkipsRules shows the index at work: a listener of path rules evaluates only the rules whose
// prefix fits the path, in priority order, and falls through to Default as before.
func TestPathIndexSkipsRules(t *testing.T) {
	table := mustCompile(t, []config.Rule{
		{Priority: 10, Conditions: []config.Condition{{PathPattern: values("/api/v1/*")}}},
		{Priority: 20, Conditions: []config.Condition{{PathPattern: values("/api/*", "/v2/*")}, {HTTPRequestMethod: values("POST")}}},
		{Priority: 30, Conditions: []config.Condition{{HostHeader: values("admin.example.com")}}},
		{Priority: 40, Conditions: []config.Condition{{PathPattern: values("/api/*")}}},
		{Priority: 50, Conditions: []config.Condition{{PathPattern: values("*.php")}}},
		{Priority: 60, Conditions: []config.Condition{{PathPattern: values("/health")}}},
	})
	if table.index == nil {
		t.Fatal("no path index for a table of path rules")
	}
	cases := []struct {
		r    req
		want int
	}{
		{req{target: "/api/v1/users"}, 0},
		{req{target: "/api/v1/users", host: "admin.example.com"}, 0},
		{req{method: "POST", target: "/api/v2"}, 1},
		{req{method: "POST", target: "/v2/x"}, 1},
		{req{target: "/api/v2", host: "admin.example.com"}, 2},
		{req{target: "/api/v2"}, 3},
		{req{target: "/api"}, Default},
		{req{target: "/api/x.php"}, 3},
		{req{target: "/x.php"}, 4},
		{req{target: "/health"}, 5},
		{req{target: "/health/"}, Default},
		{req{target: "/healt"}, Default},
		{req{target: "/"}, Default},
		{req{target: "/%61pi/v1/x"}, 0}, // the decoded path, as without the index
	}
	for _, tc := range cases {
		r, ip := tc.r.build(t)
		if got := table.Match(r, ip); got != tc.want {
			t.Errorf("%s %s (host %q): Match = %d, want %d", r.Method, tc.r.target, r.Host, got, tc.want)
		}
		if got := table.scan(&request{r: r, ip: ip}, 0); got != tc.want {
			t.Errorf("%s %s: the plain scan gives %d, want %d (the test's expectation is wrong)", r.Method, tc.r.target, got, tc.want)
		}
	}
}

// TestPathIndexNotBuilt: without a path prefix to index (host rules, or paths that start with a wildcard)
// Match scans as before.
func TestPathIndexNotBuilt(t *testing.T) {
	for _, rules := range [][]config.Rule{
		one(config.Condition{HostHeader: values("a.example.com")}),
		one(config.Condition{PathPattern: values("*/x", "?y")}),
	} {
		if table := mustCompile(t, rules); table.index != nil {
			t.Errorf("%+v: built a path index", rules[0].Conditions[0])
		}
	}
}

// TestPathIndexLimits: rules past the indexed 1,024 are still found, and so are prefixes longer than the
// sixteen lengths the index looks up.
func TestPathIndexLimits(t *testing.T) {
	// Nested path prefixes of 29 lengths, /a* … /aaa…a* (29 a's), the longest first in priority.
	var rules []config.Rule
	for l := 29; l >= 1; l-- {
		rules = append(rules, config.Rule{Priority: 30 - l, Conditions: []config.Condition{{PathPattern: values("/" + strings.Repeat("a", l) + "*")}}})
	}
	// Then 1,100 rules /r0 … /r1099: in priority order, /r995 and later are past the indexed 1,024.
	for i := range 1100 {
		rules = append(rules, config.Rule{Priority: 100 + i, Conditions: []config.Condition{{PathPattern: values(fmt.Sprintf("/r%d", i))}}})
	}
	table := mustCompile(t, rules)
	if table.index == nil {
		t.Fatal("no path index")
	}
	if n := len(table.index.lengths); n != maxIndexLengths {
		t.Fatalf("%d prefix lengths kept, want %d", n, maxIndexLengths)
	}
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/" + strings.Repeat("a", 29) + "x", 0},
		{"/" + strings.Repeat("a", 24), 5},
		{"/aa", 27},
		{"/a", 28},
		{"/", Default},
		{"/r0", 29},
		{"/r994", 29 + 994},
		{"/r995", 29 + 995},
		{"/r1099", 29 + 1099},
		{"/r1100", Default},
	} {
		r := httptest.NewRequest("GET", "https://x"+tc.path, nil)
		if got := table.Match(r, netip.Addr{}); got != tc.want {
			t.Errorf("%s: Match = %d, want %d", tc.path, got, tc.want)
		}
	}
}

// TestPathIndexAgreesWithScan compares the indexed Match with the plain scan over random tables, built so
// that prefixes nest and collide: more than the indexed 1,024 rules (the rest are scanned after the
// candidates), more than 16 prefix lengths (the longer ones are cut), rules without a path condition and
// values that start with a wildcard.
func TestPathIndexAgreesWithScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 5, 63, 64, 65, 200, 1100} {
		rules := randomPathRules(rng, n)
		table := mustCompile(t, rules)
		if table.index == nil {
			if n >= 63 {
				t.Fatalf("%d rules: no index", n)
			}
			continue // every rule of the few starts with a wildcard
		}
		if n > 200 && len(table.index.lengths) != maxIndexLengths {
			t.Errorf("%d rules: %d prefix lengths kept, want %d", n, len(table.index.lengths), maxIndexLengths)
		}
		hits, candidates := 0, 0
		for range 3000 {
			r := httptest.NewRequest(randomMethod(rng), "https://x"+randomPath(rng), nil)
			r.Host = []string{"a.example.com", "b.example.com"}[rng.IntN(2)]
			in := request{r: r}
			want := table.scan(&in, 0)
			if got := table.Match(r, netip.Addr{}); got != want {
				t.Fatalf("%d rules, %s %s: Match = %d, the plain scan %d", n, r.Method, r.URL.Path, got, want)
			}
			if want != Default {
				hits++
			}
			var cand [indexWords]uint64
			for _, w := range table.index.candidates(r.URL.Path, &cand) {
				candidates += bits.OnesCount64(w)
			}
		}
		if n >= 63 && hits < 300 {
			t.Errorf("%d rules: only %d of 3000 requests matched a rule: the test does not exercise the index", n, hits)
		}
		if indexed := min(n, indexWords*64); n >= 63 && candidates > 3000*indexed*3/4 {
			t.Errorf("%d rules: %d candidates per request on average: the index does not narrow the rules", n, candidates/3000)
		}
	}
}

// randomPathRules makes n rules of path patterns over a small alphabet, so that paths often fit them.
func randomPathRules(rng *rand.Rand, n int) []config.Rule {
	rules := make([]config.Rule, n)
	for i := range rules {
		var conds []config.Condition
		switch rng.IntN(10) {
		case 0:
			conds = append(conds, config.Condition{HostHeader: values("a.example.com")})
		case 1:
			conds = append(conds, config.Condition{HTTPRequestMethod: values("POST")})
		}
		if len(conds) == 0 || rng.IntN(2) == 0 {
			vs := make([]string, 1+rng.IntN(3))
			for wildcards := 6; wildcards > MaxWildcardsPerRule; { // ALB's limit per rule
				wildcards = 0
				for k := range vs {
					vs[k] = randomPathPattern(rng)
					wildcards += strings.Count(vs[k], "*") + strings.Count(vs[k], "?")
				}
			}
			conds = append(conds, config.Condition{PathPattern: values(vs...)})
		}
		// Priorities out of order, so that priority order and the order of the list differ.
		rules[i] = config.Rule{Priority: 1 + (i*7919)%50000, Conditions: conds}
	}
	return rules
}

func randomPathPattern(rng *rand.Rand) string {
	var b strings.Builder
	if rng.IntN(8) == 0 {
		b.WriteByte("*?"[rng.IntN(2)])
	} else {
		b.WriteByte('/')
	}
	for range rng.IntN(20) {
		switch k := rng.IntN(20); {
		case k == 0 && strings.Count(b.String(), "*") < 2:
			b.WriteByte('*')
		case k == 1:
			b.WriteByte('?')
		default:
			b.WriteByte("/ab"[rng.IntN(3)])
		}
	}
	return b.String()
}

func randomPath(rng *rand.Rand) string {
	var b strings.Builder
	b.WriteByte('/')
	for range rng.IntN(22) {
		b.WriteByte("/ab"[rng.IntN(3)])
	}
	return b.String()
}

func randomMethod(rng *rand.Rand) string {
	if rng.IntN(4) == 0 {
		return http.MethodPost
	}
	return http.MethodGet
}

// FuzzPathIndex checks the indexed Match against the plain scan: rules are the fuzzer's lines, each a
// priority's worth of up to three path patterns separated by spaces (a line starting with "host " is a
// host_header rule instead).
func FuzzPathIndex(f *testing.F) {
	f.Add("/api/*\n/api/v1/* /v2\n*.php\nhost a.example.com\n/a?c/*", "/api/v1/x")
	f.Add("/a\n/a/b\n/a/b/c /a/b*", "/a/b/c")
	f.Fuzz(func(t *testing.T, lines, path string) {
		var rules []config.Rule
		for i, line := range strings.Split(lines, "\n") {
			c := config.Condition{PathPattern: values(strings.Fields(line)...)}
			if h, ok := strings.CutPrefix(line, "host "); ok {
				c = config.Condition{HostHeader: values(h)}
			}
			rules = append(rules, config.Rule{Priority: i + 1, Conditions: []config.Condition{c}})
		}
		table, err := Compile(rules)
		if err != nil {
			return
		}
		r, err := http.NewRequest(http.MethodGet, "http://a.example.com/", nil)
		if err != nil {
			t.Fatal(err)
		}
		r.URL.Path = path
		got, want := table.Match(r, netip.Addr{}), table.scan(&request{r: r}, 0)
		if got != want {
			t.Fatalf("path %q: Match = %d, the plain scan %d", path, got, want)
		}
	})
}

// BenchmarkMatchPathRules is the rules of bench/l7/compare.sh: 100 rules /svc0/* … /svc99/*, requests
// spread over ten of them. "index" is Match, "scan" the plain scan it replaces, in the same process.
func BenchmarkMatchPathRules(b *testing.B) {
	rules := make([]config.Rule, 100)
	for i := range rules {
		rules[i] = config.Rule{Priority: i + 1, Conditions: []config.Condition{{PathPattern: values(fmt.Sprintf("/svc%d/*", i))}}}
	}
	table := mustCompile(b, rules)
	var reqs []*http.Request
	for i := range 10 {
		reqs = append(reqs, httptest.NewRequest("GET", fmt.Sprintf("https://x/svc%d/x", i*99/9), nil))
	}
	ip := netip.MustParseAddr("192.0.2.1")
	b.Run("index", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			table.Match(reqs[i%len(reqs)], ip)
			i++
		}
	})
	b.Run("scan", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			in := request{r: reqs[i%len(reqs)], ip: ip}
			table.scan(&in, 0)
			i++
		}
	})
}
