package engine_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/engine"
	"github.com/mtlslb/mtlslb/internal/health"
	"github.com/mtlslb/mtlslb/internal/metrics"
	"github.com/mtlslb/mtlslb/internal/pki"
	"github.com/mtlslb/mtlslb/internal/testpki"
	"github.com/mtlslb/mtlslb/internal/upstream"
	"github.com/mtlslb/mtlslb/internal/upstream/upstreamtest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// End-to-end tests of layer-7 routing (issue 4): real sockets, real TLS with client certificates, real
// targets, the engine started from a YAML document as `mtlslb serve` would. The harness is in
// l7_helpers_test.go.

func TestL7Conditions(t *testing.T) {
	t.Parallel()
	target := newL7Target(t, "app")
	// Rules are listed out of priority order on purpose: 9 before 8.
	rules := ruleYAML(9, `[{ path_pattern: { values: ["/order"] } }]`, fixedYAML("rule-9")) +
		ruleYAML(8, `[{ path_pattern: { values: ["/order"] } }]`, fixedYAML("rule-8")) +
		ruleYAML(5, `[{ http_request_method: { values: [DELETE] } }, { path_pattern: { values: ["/admin/*"] } }]`, fixedYAML("rule-5")) +
		ruleYAML(10, `[{ host_header: { values: [api.example, "*.api.example"] } }]`, fixedYAML("rule-10")) +
		ruleYAML(20, `[{ path_pattern: { values: ["/img/*.png", "/exact", "/v?/x"] } }]`, fixedYAML("rule-20")) +
		ruleYAML(30, `[{ http_header: { http_header_name: x-debug, values: ["on", "y?s"] } }]`, fixedYAML("rule-30")) +
		ruleYAML(40, `[{ http_request_method: { values: [PUT, PATCH] } }]`, fixedYAML("rule-40")) +
		ruleYAML(50, `[{ query_string: { values: [{ key: version, value: v2 }, { value: "beta*" }] } }]`, fixedYAML("rule-50")) +
		ruleYAML(60, `[{ source_ip: { values: ["10.0.0.0/8", "192.0.2.0/24"] } }]`, fixedYAML("rule-60")) +
		ruleYAML(61, `[{ source_ip: { values: ["127.0.0.0/8"] } }, { path_pattern: { values: ["/src"] } }]`, fixedYAML("rule-61")) +
		ruleYAML(70, `[{ client_certificate: { subject_cn: ["admin.*"] } }]`, fixedYAML("rule-70")) +
		ruleYAML(71, `[{ client_certificate: { san_dns: ["*.svc.example"] } }]`, fixedYAML("rule-71")) +
		ruleYAML(72, `[{ client_certificate: { verified: true } }, { path_pattern: { values: ["/cert"] } }]`, fixedYAML("rule-72")) +
		ruleYAML(73, `[{ client_certificate: { verified: false } }, { path_pattern: { values: ["/cert"] } }]`, fixedYAML("rule-73"))
	l := startLB(t, lbSpec{
		listeners: []lbListener{{mode: "optional", rules: rules, defaults: fixedYAML("default")}},
		groups:    []lbGroup{{name: "app", targets: addrs(target)}},
	})
	admin := l.pki.client(t, "admin.alice")
	svc := l.pki.client(t, "svc", pki.WithSANs([]string{"api.svc.example"}, nil, nil))
	bob := l.pki.client(t, "bob")
	clients := map[*tls.Certificate]*http.Client{nil: l.client(t, clientOptions{})}
	for _, c := range []*tls.Certificate{admin, svc, bob} {
		clients[c] = l.client(t, clientOptions{cert: c})
	}

	tests := []struct {
		name   string
		method string
		path   string // with the query, if any
		header http.Header
		cert   *tls.Certificate
		want   string
	}{
		{"default action", "GET", "/", nil, nil, "default"},
		{"host exact", "GET", "/", http.Header{"Host": {"api.example"}}, nil, "rule-10"},
		{"host wildcard ignores case", "GET", "/", http.Header{"Host": {"Eu.API.Example"}}, nil, "rule-10"},
		{"host with port", "GET", "/", http.Header{"Host": {"api.example:8443"}}, nil, "rule-10"},
		{"host miss", "GET", "/", http.Header{"Host": {"other.example"}}, nil, "default"},
		{"path star", "GET", "/img/logo.png", nil, nil, "rule-20"},
		{"path question mark", "GET", "/v1/x", nil, nil, "rule-20"},
		{"path second value (OR)", "GET", "/exact", nil, nil, "rule-20"},
		{"path is case-sensitive", "GET", "/IMG/logo.png", nil, nil, "default"},
		{"path exact does not match a longer path", "GET", "/exact/more", nil, nil, "default"},
		{"header value ignores case", "GET", "/", http.Header{"X-Debug": {"ON"}}, nil, "rule-30"},
		{"header question mark", "GET", "/", http.Header{"X-Debug": {"yes"}}, nil, "rule-30"},
		{"header miss", "GET", "/", http.Header{"X-Debug": {"off"}}, nil, "default"},
		{"method PUT", "PUT", "/", nil, nil, "rule-40"},
		{"method PATCH (OR)", "PATCH", "/", nil, nil, "rule-40"},
		{"method is case-sensitive", "put", "/", nil, nil, "default"},
		{"query key and value", "GET", "/?version=v2", nil, nil, "rule-50"},
		{"query any key, wildcard value", "GET", "/?channel=beta7", nil, nil, "rule-50"},
		{"query ignores case", "GET", "/?VERSION=V2", nil, nil, "rule-50"},
		{"query miss", "GET", "/?version=v3", nil, nil, "default"},
		{"source ip and path", "GET", "/src", nil, nil, "rule-61"},
		{"source ip alone does not match another path", "GET", "/nosrc", nil, nil, "default"},
		{"AND: both conditions", "DELETE", "/admin/users", nil, nil, "rule-5"},
		{"AND: method only", "DELETE", "/other", nil, nil, "default"},
		{"AND: path only", "GET", "/admin/users", nil, nil, "default"},
		{"priority order, not document order", "GET", "/order", nil, nil, "rule-8"},
		{"client certificate subject CN", "GET", "/whoami", nil, admin, "rule-70"},
		{"client certificate SAN DNS", "GET", "/whoami", nil, svc, "rule-71"},
		{"client certificate verified", "GET", "/cert", nil, bob, "rule-72"},
		{"no client certificate: verified false", "GET", "/cert", nil, nil, "rule-73"},
		{"no client certificate: identity rules miss", "GET", "/whoami", nil, nil, "default"},
		{"other certificate: identity rules miss", "GET", "/whoami", nil, bob, "default"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A parameter naming the case finds its access-log line; no rule looks at it.
			sep := "?"
			if strings.Contains(tt.path, "?") {
				sep = "&"
			}
			tag := fmt.Sprintf("case=%d", i)
			rep := do(t, clients[tt.cert], newRequest(t, tt.method, l.url(0, tt.path+sep+tag), tt.header))
			if rep.status != http.StatusOK || rep.body != tt.want {
				t.Fatalf("%s %s answered %d %q, want 200 %q", tt.method, tt.path, rep.status, rep.body, tt.want)
			}
			wantPriority := "0"
			if n, ok := strings.CutPrefix(tt.want, "rule-"); ok {
				wantPriority = n
			}
			e := l.accessFor(t, tag)
			if e.priority != wantPriority || e.actions != "fixed-response" {
				t.Errorf("access log: matched_rule_priority %s, actions_executed %s; want %s, fixed-response\n%s", e.priority, e.actions, wantPriority, e.line)
			}
		})
	}
	if n := target.hits.Load(); n != 0 {
		t.Errorf("the target served %d requests; every rule and the default answer themselves", n)
	}
}

func TestL7Actions(t *testing.T) {
	t.Parallel()
	blue, green := newL7Target(t, "blue"), newL7Target(t, "green")
	m := metrics.New()
	rules := ruleYAML(10, `[{ path_pattern: { values: ["/weighted"] } }]`,
		`[{ type: forward, forward: { target_groups: [{ target_group: blue, weight: 80 }, { target_group: green, weight: 20 }] } }]`) +
		ruleYAML(20, `[{ path_pattern: { values: ["/sticky"] } }]`,
			`[{ type: forward, forward: { target_groups: [{ target_group: blue }, { target_group: green }], stickiness: { enabled: true, duration_seconds: 60 } } }]`) +
		ruleYAML(21, `[{ path_pattern: { values: ["/weight0"] } }]`,
			`[{ type: forward, forward: { target_groups: [{ target_group: blue, weight: 0 }, { target_group: green, weight: 5 }] } }]`) +
		ruleYAML(30, `[{ path_pattern: { values: ["/fixed"] } }]`,
			`[{ type: fixed_response, fixed_response: { status_code: "403", content_type: text/plain, message_body: "no" } }]`) +
		ruleYAML(31, `[{ path_pattern: { values: ["/fixed.json"] } }]`,
			`[{ type: fixed_response, fixed_response: { status_code: "503", content_type: application/json, message_body: '{"down":true}' } }]`) +
		ruleYAML(40, `[{ path_pattern: { values: ["/old/*"] } }]`,
			`[{ type: redirect, redirect: { path: "/new/#{path}", status_code: HTTP_302 } }]`) +
		ruleYAML(41, `[{ path_pattern: { values: ["/moved"] } }]`,
			`[{ type: redirect, redirect: { protocol: HTTPS, host: example.com, port: "443", path: "/x/#{path}", query: "from=#{host}&#{query}", status_code: HTTP_301 } }]`) +
		ruleYAML(42, `[{ path_pattern: { values: ["/plain"] } }]`,
			`[{ type: redirect, redirect: { protocol: HTTP, port: "80", status_code: HTTP_301 } }]`) +
		ruleYAML(43, `[{ path_pattern: { values: ["/port"] } }]`,
			`[{ type: redirect, redirect: { protocol: "#{protocol}", host: "#{host}", port: "8443", status_code: HTTP_302 } }]`)
	l := startLB(t, lbSpec{
		opts:      engine.Options{Metrics: m},
		listeners: []lbListener{{rules: rules}},
		groups:    []lbGroup{{name: "blue", targets: addrs(blue)}, {name: "green", targets: addrs(green)}},
	})
	c := l.client(t, clientOptions{})

	t.Run("forward to one group", func(t *testing.T) {
		if got := counts(t, c, l.url(0, "/"), nil, 5); got["blue"] != 5 {
			t.Errorf("default action answered %v, want blue only", got)
		}
	})

	t.Run("weighted forward 80/20", func(t *testing.T) {
		const n = 400
		got := counts(t, c, l.url(0, "/weighted"), nil, n)
		if got["blue"]+got["green"] != n || !withinSigmas(got["blue"], n, 0.8, 4) {
			t.Errorf("%d requests split %v; want blue within 4 standard deviations of 80%%", n, got)
		}
	})

	t.Run("weight 0 gets nothing", func(t *testing.T) {
		if got := counts(t, c, l.url(0, "/weight0"), nil, 20); got["green"] != 20 {
			t.Errorf("split %v, want green only", got)
		}
	})

	t.Run("target group stickiness", func(t *testing.T) {
		cookies := map[string]string{} // group → AWSALBTG value
		for i := 0; len(cookies) < 2; i++ {
			if i == 100 {
				t.Fatalf("100 requests reached only %v", cookies)
			}
			rep := get(t, c, l.url(0, "/sticky"), nil)
			tg, cors := cookieValue(rep.header, "AWSALBTG"), cookieLine(rep.header, "AWSALBTGCORS")
			if tg == "" || !strings.Contains(cors, "SameSite=None") || !strings.Contains(cors, "Secure") {
				t.Fatalf("response sets AWSALBTG %q and AWSALBTGCORS %q; want both, the CORS one SameSite=None; Secure", tg, cors)
			}
			cookies[rep.body] = tg
		}
		if cookies["blue"] == cookies["green"] {
			t.Fatalf("both groups have the cookie %q", cookies["blue"])
		}
		for group, v := range cookies {
			got := counts(t, c, l.url(0, "/sticky"), http.Header{"Cookie": {"AWSALBTG=" + v}}, 20)
			if got[group] != 20 {
				t.Errorf("a client with %s's cookie was sent to %v", group, got)
			}
		}
		got := counts(t, c, l.url(0, "/sticky"), http.Header{"Cookie": {"AWSALBTG=not-a-group"}}, 60)
		if got["blue"] == 0 || got["green"] == 0 {
			t.Errorf("an unknown AWSALBTG cookie pinned the client: %v", got)
		}
	})

	t.Run("fixed response", func(t *testing.T) {
		tests := []struct {
			path, status, contentType, body string
		}{
			{"/fixed", "403", "text/plain", "no"},
			{"/fixed.json", "503", "application/json", `{"down":true}`},
		}
		for _, tt := range tests {
			rep := get(t, c, l.url(0, tt.path+"?fixed"), nil)
			if strconv.Itoa(rep.status) != tt.status || rep.body != tt.body || !strings.HasPrefix(rep.header.Get("Content-Type"), tt.contentType) {
				t.Errorf("%s answered %d %q (%s), want %s %q (%s)", tt.path, rep.status, rep.body, rep.header.Get("Content-Type"), tt.status, tt.body, tt.contentType)
			}
			e := l.accessFor(t, tt.path+"?fixed")
			if e.elbStatus != tt.status || e.targetStatus != "-" || e.actions != "fixed-response" || e.errorReason != "-" || e.target != "-" {
				t.Errorf("access log of %s: elb %s target %s actions %s error %s target:port %s\n%s", tt.path, e.elbStatus, e.targetStatus, e.actions, e.errorReason, e.target, e.line)
			}
		}
	})

	t.Run("redirect", func(t *testing.T) {
		port := strconv.Itoa(l.ports[0])
		tests := []struct {
			name, path string
			status     int
			location   string
		}{
			{"path placeholder, rest kept", "/old/a/b?q=1", http.StatusFound, "https://127.0.0.1:" + port + "/new/old/a/b?q=1"},
			{"every part, default port omitted", "/moved?x=1", http.StatusMovedPermanently, "https://example.com/x/moved?from=127.0.0.1&x=1"},
			{"to HTTP on 80, port omitted", "/plain?y=2", http.StatusMovedPermanently, "http://127.0.0.1/plain?y=2"},
			{"other port", "/port", http.StatusFound, "https://127.0.0.1:8443/port"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				rep := get(t, c, l.url(0, tt.path), nil)
				if rep.status != tt.status || rep.header.Get("Location") != tt.location {
					t.Fatalf("%s answered %d Location %q, want %d %q", tt.path, rep.status, rep.header.Get("Location"), tt.status, tt.location)
				}
				e := l.accessFor(t, "https://127.0.0.1:"+port+tt.path+" ")
				if e.actions != "redirect" || e.redirect != tt.location || e.elbStatus != strconv.Itoa(tt.status) || e.targetStatus != "-" {
					t.Errorf("access log: actions %s redirect_url %s elb %s target %s\n%s", e.actions, e.redirect, e.elbStatus, e.targetStatus, e.line)
				}
			})
		}
	})

	t.Run("responses of actions are counted as generated", func(t *testing.T) {
		// ALB's HTTPCode_ELB_3XX_Count is "the number of HTTP 3XX redirection codes that originate from the
		// load balancer": redirect actions are the only source, so they must be counted as generated. Fixed
		// responses originate from the load balancer too (ALB adds HTTP_Fixed_Response_Count beside them).
		get(t, c, l.url(0, "/plain?count"), nil)
		get(t, c, l.url(0, "/fixed?count"), nil)
		for _, code := range []string{"301", "403"} {
			if got := metricValue(t, m, "mtlslb_generated_responses_total", code); got < 1 {
				t.Errorf("mtlslb_generated_responses_total{code=%q} = %v, want at least 1", code, got)
			}
		}
	})
}

func TestL7RedirectLoopIsRefused(t *testing.T) {
	t.Parallel()
	target := newL7Target(t, "app")
	l := startLB(t, lbSpec{listeners: []lbListener{{}}, groups: []lbGroup{{name: "app", targets: addrs(target)}}})
	tests := []struct{ name, redirect string }{
		{"nothing changed", `{ status_code: HTTP_301 }`},
		{"every placeholder spelled out", `{ protocol: "#{protocol}", host: "#{host}", port: "#{port}", path: "/#{path}", query: "#{query}", status_code: HTTP_302 }`},
		{"path without its slash", `{ path: "#{path}", status_code: HTTP_301 }`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := l.spec
			spec.listeners = []lbListener{{rules: ruleYAML(1, `[{ path_pattern: { values: ["/loop"] } }]`, "[{ type: redirect, redirect: "+tt.redirect+" }]")}}
			doc := l.load(t, spec)
			_, err := l.eng.Compile(doc)
			if err == nil {
				t.Fatal("Compile accepted a redirect back to the request's own URL")
			}
			if msg := err.Error(); !strings.Contains(msg, "rules[0].actions[0]") || !strings.Contains(msg, "loop") {
				t.Errorf("error %q should name rules[0].actions[0] and say the redirect would loop", msg)
			}
		})
	}
}

func TestL7Algorithms(t *testing.T) {
	t.Parallel()

	t.Run("round_robin is exact with weights", func(t *testing.T) {
		t.Parallel()
		a, b, c := newL7Target(t, "a"), newL7Target(t, "b"), newL7Target(t, "c")
		l := startLB(t, lbSpec{listeners: []lbListener{{}}, groups: []lbGroup{{name: "app",
			targets: addrs(a, b, c), weights: []int{1, 2, 3}, extra: "attributes: { load_balancing_algorithm_type: round_robin }"}}})
		got := counts(t, l.client(t, clientOptions{}), l.url(0, "/"), nil, 60)
		if got["a"] != 10 || got["b"] != 20 || got["c"] != 30 {
			t.Errorf("60 requests over weights 1:2:3 split %v, want exactly a:10 b:20 c:30", got)
		}
	})

	t.Run("least_outstanding_requests avoids a slow target", func(t *testing.T) {
		t.Parallel()
		a, b := newL7Target(t, "a"), newL7Target(t, "b")
		slow := newL7Target(t, "slow", l7TargetOptions{delay: 150 * time.Millisecond})
		l := startLB(t, lbSpec{listeners: []lbListener{{}}, groups: []lbGroup{{name: "app",
			targets: addrs(a, b, slow), extra: "attributes: { load_balancing_algorithm_type: least_outstanding_requests }"}}})
		c := l.client(t, clientOptions{})
		const workers, each = 6, 20
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for range workers {
			wg.Go(func() {
				for range each {
					req, _ := http.NewRequest(http.MethodGet, l.url(0, "/"), nil)
					if rep, err := tryDo(c, req); err != nil || rep.status != http.StatusOK {
						errs <- fmt.Errorf("request: %v (status %d)", err, rep.status)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		total := a.hits.Load() + b.hits.Load() + slow.hits.Load()
		// Round robin would give the slow target a third; least outstanding requests must give it far less.
		if total != workers*each || slow.hits.Load()*6 > total {
			t.Errorf("a %d, b %d, slow %d of %d requests; the slow target should get under a sixth", a.hits.Load(), b.hits.Load(), slow.hits.Load(), total)
		}
	})

	t.Run("weighted_random within chi-square bounds", func(t *testing.T) {
		t.Parallel()
		a, b, c := newL7Target(t, "a"), newL7Target(t, "b"), newL7Target(t, "c")
		l := startLB(t, lbSpec{listeners: []lbListener{{}}, groups: []lbGroup{{name: "app",
			targets: addrs(a, b, c), weights: []int{1, 2, 3}, extra: "attributes: { load_balancing_algorithm_type: weighted_random }"}}})
		const n = 600
		got := counts(t, l.client(t, clientOptions{}), l.url(0, "/"), nil, n)
		// Two degrees of freedom: P(X² > 20) ≈ 4.5e-5, so a correct balancer fails about once in 22,000 runs.
		if x2 := chiSquare([]int{got["a"], got["b"], got["c"]}, []float64{1.0 / 6, 2.0 / 6, 3.0 / 6}); x2 > 20 {
			t.Errorf("%d requests over weights 1:2:3 split %v: chi-square %.1f > 20", n, got, x2)
		}
	})

	t.Run("lb_cookie stickiness", func(t *testing.T) {
		t.Parallel()
		a, b, c := newL7Target(t, "a"), newL7Target(t, "b"), newL7Target(t, "c")
		l := startLB(t, lbSpec{listeners: []lbListener{{}}, groups: []lbGroup{{name: "app", targets: addrs(a, b, c),
			extra: "attributes: { stickiness: { enabled: true, type: lb_cookie, cookie_duration_seconds: 120 } }"}}})
		cl := l.client(t, clientOptions{})
		cookies := map[string]string{} // target → AWSALB value
		for range 3 {
			rep := get(t, cl, l.url(0, "/"), nil)
			v := cookieValue(rep.header, "AWSALB")
			if v == "" || !strings.Contains(cookieLine(rep.header, "AWSALBCORS"), "SameSite=None") {
				t.Fatalf("response sets AWSALB %q and AWSALBCORS %q", v, cookieLine(rep.header, "AWSALBCORS"))
			}
			cookies[rep.body] = v
		}
		if len(cookies) != 3 {
			t.Fatalf("three new clients went to %v; round robin should reach every target", cookies)
		}
		for target, v := range cookies {
			if got := counts(t, cl, l.url(0, "/"), http.Header{"Cookie": {"AWSALB=" + v}}, 10); got[target] != 10 {
				t.Errorf("a client with %s's cookie was sent to %v", target, got)
			}
		}
		got := map[string]int{}
		for range 9 {
			rep := get(t, cl, l.url(0, "/"), http.Header{"Cookie": {"AWSALB=0123456789abcdef01234567"}})
			got[rep.body]++
			if v := cookieValue(rep.header, "AWSALB"); v != cookies[rep.body] {
				t.Errorf("after an unknown cookie, the response names %q, want %s's cookie %q", v, rep.body, cookies[rep.body])
			}
		}
		if got["a"] != 3 || got["b"] != 3 || got["c"] != 3 {
			t.Errorf("clients with an unknown cookie were sent to %v, want round robin", got)
		}
	})
}

func TestL7HealthChecks(t *testing.T) {
	t.Parallel()
	a, b, c := newL7Target(t, "a"), newL7Target(t, "b"), newL7Target(t, "c")
	c.healthCode.Store(http.StatusInternalServerError)
	l := startLB(t, lbSpec{
		// ALB's shortest interval is 5 s; the engine's test hook makes it 50 ms.
		opts:      engine.Options{HealthCheckInterval: 50 * time.Millisecond},
		listeners: []lbListener{{}},
		groups: []lbGroup{{name: "app", targets: addrs(a, b, c), extra: `
health_check:
  path: /healthz
  healthy_threshold_count: 2
  unhealthy_threshold_count: 2
  matcher: { http_code: "200-299" }`}},
	})
	cl := l.client(t, clientOptions{})
	hits := func() [3]int64 { return [3]int64{a.hits.Load(), b.hits.Load(), c.hits.Load()} }

	l.waitHealth(t, "app", map[string]health.State{a.addr: health.StateHealthy, b.addr: health.StateHealthy, c.addr: health.StateUnhealthy})
	th := l.healthStates(t, "app")[c.addr]
	if th.Reason != health.ReasonResponseCodeMismatch || !strings.Contains(th.Description, "[500]") {
		t.Errorf("unhealthy target: reason %q description %q, want %s naming [500]", th.Reason, th.Description, health.ReasonResponseCodeMismatch)
	}
	before := hits()
	counts(t, cl, l.url(0, "/"), nil, 30)
	after := hits()
	if after[2] != before[2] || after[0]-before[0] != 15 || after[1]-before[1] != 15 {
		t.Errorf("with c unhealthy, 30 requests went a:%d b:%d c:%d; want 15, 15, 0", after[0]-before[0], after[1]-before[1], after[2]-before[2])
	}

	// Every target unhealthy: fail open, as ALB.
	a.healthCode.Store(http.StatusServiceUnavailable)
	b.healthCode.Store(http.StatusServiceUnavailable)
	l.waitHealth(t, "app", map[string]health.State{a.addr: health.StateUnhealthy, b.addr: health.StateUnhealthy, c.addr: health.StateUnhealthy})
	before = hits()
	counts(t, cl, l.url(0, "/"), nil, 30)
	after = hits()
	for i := range after {
		if after[i]-before[i] != 10 {
			t.Errorf("failing open, 30 requests went a:%d b:%d c:%d; want 10 each", after[0]-before[0], after[1]-before[1], after[2]-before[2])
			break
		}
	}

	// c recovers: it alone is healthy, so it alone gets traffic.
	c.healthCode.Store(http.StatusNoContent)
	l.waitHealth(t, "app", map[string]health.State{a.addr: health.StateUnhealthy, b.addr: health.StateUnhealthy, c.addr: health.StateHealthy})
	if got := counts(t, cl, l.url(0, "/"), nil, 10); got["c"] != 10 {
		t.Errorf("with only c healthy, requests went to %v", got)
	}
}

func TestL7Draining(t *testing.T) {
	t.Parallel()
	a, b := newL7Target(t, "a"), newL7Target(t, "b")
	const delay = 2 * time.Second
	spec := lbSpec{listeners: []lbListener{{}}, groups: []lbGroup{{name: "app", targets: addrs(a, b),
		extra: fmt.Sprintf("attributes: { deregistration_delay_timeout_seconds: %d }", int(delay/time.Second))}}}
	l := startLB(t, spec)
	cl := l.client(t, clientOptions{})

	// Two requests held by the targets: round robin sends one to each.
	held := make(chan reply, 2)
	for range 2 {
		req := newRequest(t, http.MethodGet, l.url(0, "/hold"), nil)
		go func() {
			rep, err := tryDo(cl, req)
			if err != nil {
				rep.body = err.Error()
			}
			held <- rep
		}()
	}
	a.waitHolding(t)
	b.waitHolding(t)

	spec.groups = []lbGroup{{name: "app", targets: addrs(a), extra: spec.groups[0].extra}}
	l.reapply(t, spec)
	deregistered := time.Now()
	th, ok := l.healthStates(t, "app")[b.addr]
	if !ok || th.State != health.StateDraining || th.Reason != health.ReasonDeregistrationInProgress {
		t.Errorf("deregistered target: %+v, want state draining, reason %s", th, health.ReasonDeregistrationInProgress)
	}
	bHits := b.hits.Load()
	if got := counts(t, cl, l.url(0, "/"), nil, 10); got["a"] != 10 {
		t.Errorf("after deregistration, new requests went to %v; want a only", got)
	}
	if b.hits.Load() != bHits {
		t.Errorf("the draining target received %d new requests", b.hits.Load()-bHits)
	}

	// The requests in flight complete.
	a.unblock()
	b.unblock()
	got := map[string]int{}
	for range 2 {
		rep := <-held
		if rep.status != http.StatusOK {
			t.Errorf("a request in flight during deregistration ended with %d %q", rep.status, rep.body)
		}
		got[rep.body]++
	}
	if got["a"] != 1 || got["b"] != 1 {
		t.Errorf("held requests answered %v, want one from a and one from b", got)
	}

	eventually(t, "the drained target to leave describe-target-health", func() (bool, string) {
		m := l.healthStates(t, "app")
		_, listed := m[b.addr]
		return !listed && len(m) == 1, describeHealth(m)
	})
	if el := time.Since(deregistered); el < delay-200*time.Millisecond {
		t.Errorf("the target stopped draining after %v, before its delay of %v", el, delay)
	}
}

func TestL7Protocols(t *testing.T) {
	t.Parallel()

	t.Run("HTTP/2 from the client", func(t *testing.T) {
		t.Parallel()
		target := newL7Target(t, "app")
		l := startLB(t, lbSpec{listeners: []lbListener{{}}, groups: []lbGroup{{name: "app", targets: addrs(target)}}})
		rep := get(t, l.client(t, clientOptions{h2: true}), l.url(0, "/h2?x=1"), nil)
		if rep.status != http.StatusOK || rep.proto != 2 || rep.body != "app" {
			t.Fatalf("answered %d over HTTP/%d (%q), want 200 over HTTP/2 from the target", rep.status, rep.proto, rep.body)
		}
		if seen := target.lastRequest(); seen.uri != "/h2?x=1" || seen.proto != "HTTP/1.1" {
			t.Errorf("the target saw %s %s, want /h2?x=1 over HTTP/1.1 (an HTTP1 target group)", seen.uri, seen.proto)
		}
		e := l.accessFor(t, "/h2?x=1")
		if e.typ != "h2" || !strings.HasSuffix(e.request, " HTTP/2.0") {
			t.Errorf("access log type %s request %q, want h2 and HTTP/2.0\n%s", e.typ, e.request, e.line)
		}
	})

	t.Run("HTTP/2 disabled", func(t *testing.T) {
		t.Parallel()
		target := newL7Target(t, "app")
		l := startLB(t, lbSpec{attributes: "http2_enabled: false", listeners: []lbListener{{}}, groups: []lbGroup{{name: "app", targets: addrs(target)}}})
		if rep := get(t, l.client(t, clientOptions{h2: true}), l.url(0, "/"), nil); rep.proto != 1 {
			t.Errorf("with http2_enabled false the client spoke HTTP/%d", rep.proto)
		}
	})

	t.Run("WebSocket echo", func(t *testing.T) {
		t.Parallel()
		ws := upstreamtest.NewWebSocketEcho(t)
		l := startLB(t, lbSpec{listeners: []lbListener{{}}, groups: []lbGroup{{name: "ws", targets: []string{ws}}}})
		cfg := l.tlsConfig(clientOptions{})
		cfg.NextProtos = []string{"http/1.1"}
		conn, err := tls.Dial("tcp", l.addr(0), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(l7Wait))
		got, err := upstreamtest.WebSocketRoundTrip(conn, "127.0.0.1", "/chat", []byte("hello through mtlslb"))
		if err != nil || string(got) != "hello through mtlslb" {
			t.Fatalf("echo: %q, %v", got, err)
		}
		conn.Close()
		e := l.accessFor(t, "/chat")
		if e.typ != "wss" || e.elbStatus != "101" || e.targetGroup != "ws" {
			t.Errorf("access log type %s status %s group %s, want wss 101 ws\n%s", e.typ, e.elbStatus, e.targetGroup, e.line)
		}
	})

	t.Run("HTTP listener redirects to HTTPS", func(t *testing.T) {
		t.Parallel()
		target := newL7Target(t, "app")
		l := startLB(t, lbSpec{
			listeners: []lbListener{{protocol: "HTTP",
				defaults: `[{ type: redirect, redirect: { protocol: HTTPS, port: "443", status_code: HTTP_301 } }]`}},
			groups: []lbGroup{{name: "app", targets: addrs(target)}},
		})
		rep := get(t, l.client(t, clientOptions{}), l.url(0, "/login?next=%2Fhome"), nil)
		if want := "https://127.0.0.1/login?next=%2Fhome"; rep.status != http.StatusMovedPermanently || rep.header.Get("Location") != want {
			t.Fatalf("answered %d Location %q, want 301 %q", rep.status, rep.header.Get("Location"), want)
		}
		e := l.accessFor(t, "/login")
		if e.typ != "http" || e.actions != "redirect" || e.cipher != "-" || e.protocol != "-" {
			t.Errorf("access log type %s actions %s cipher %s protocol %s, want http redirect - -\n%s", e.typ, e.actions, e.cipher, e.protocol, e.line)
		}
	})
}

func TestL7GeneratedResponses(t *testing.T) {
	t.Parallel()
	app := newL7Target(t, "app")
	slow := newL7Target(t, "slow", l7TargetOptions{delay: 30 * time.Second})
	m := metrics.New()
	rules := ruleYAML(10, `[{ path_pattern: { values: ["/refused"] } }]`, `[{ type: forward, target_group: refused }]`) +
		ruleYAML(11, `[{ path_pattern: { values: ["/empty"] } }]`, `[{ type: forward, target_group: empty }]`) +
		ruleYAML(12, `[{ path_pattern: { values: ["/slow"] } }]`, `[{ type: forward, target_group: slow }]`) +
		ruleYAML(20, `[{ host_header: { values: [a.example] } }]`, `[{ type: forward, target_group: app }]`, "require_client_certificate: true") +
		ruleYAML(21, `[{ host_header: { values: [b.example] } }]`, `[{ type: forward, target_group: app }]`) +
		ruleYAML(22, `[{ path_pattern: { values: ["/private/*"] } }]`, `[{ type: forward, target_group: app }]`, "require_client_certificate: true")
	l := startLB(t, lbSpec{
		// The idle timeout bounds the wait for a target's response (504).
		attributes: "idle_timeout_seconds: 1",
		opts:       engine.Options{Metrics: m},
		listeners:  []lbListener{{mode: "optional", certificates: []string{"server", "b"}, rules: rules}},
		groups: []lbGroup{
			{name: "app", targets: addrs(app)},
			{name: "refused", targets: []string{refusedAddr(t)}},
			{name: "empty"},
			{name: "slow", targets: addrs(slow)},
		},
	})
	plain := l.client(t, clientOptions{noKeepAlive: true})
	sniA := l.client(t, clientOptions{noKeepAlive: true, serverName: "a.example"})
	sniB := l.client(t, clientOptions{noKeepAlive: true, serverName: "b.example"})
	xff := func(n int) string {
		ips := make([]string, n)
		for i := range ips {
			ips[i] = fmt.Sprintf("192.0.2.%d", i+1)
		}
		return strings.Join(ips, ", ")
	}

	tests := []struct {
		name     string
		client   *http.Client
		method   string
		path     string
		header   http.Header
		status   int
		reason   string // error_reason; "-" for none
		body     string // a fragment of the body
		priority string
	}{
		{"400 header line over 16 KiB", plain, "GET", "/", http.Header{"X-Big": {strings.Repeat("a", 17<<10)}}, 400, "RequestHeaderTooLarge", "16 KiB", "-"},
		{"405 TRACE", plain, "TRACE", "/", nil, 405, "MethodNotAllowed", "TRACE", "-"},
		{"463 31 X-Forwarded-For addresses", plain, "GET", "/", http.Header{"X-Forwarded-For": {xff(31)}}, 463, "TooManyForwardedForAddresses", "30", "-"},
		{"30 X-Forwarded-For addresses pass", plain, "GET", "/", http.Header{"X-Forwarded-For": {xff(30)}}, 200, "-", "app", "0"},
		{"502 target refuses", plain, "GET", "/refused", nil, 502, upstream.ReasonTargetConnectionError, "refused", "10"},
		{"503 no registered targets", plain, "GET", "/empty", nil, 503, "NoRegisteredTargets", "no registered targets", "11"},
		{"504 target too slow", plain, "GET", "/slow", nil, 504, upstream.ReasonTargetResponseTimeout, "slow", "12"},
		{"403 page for a browser", plain, "GET", "/private/x", http.Header{"Accept": {"text/html,application/xhtml+xml"}}, 403, "ClientCertificateRequired", "<h1>403 Forbidden</h1>", "22"},
		{"403 JSON for an API client", plain, "GET", "/private/x", http.Header{"Accept": {"application/json"}}, 403, "ClientCertificateRequired", `"error":"ClientCertificateRequired"`, "22"},
		{"403 on a protected host", sniA, "GET", "/", http.Header{"Host": {"a.example"}}, 403, "ClientCertificateRequired", "client certificate", "20"},
		{"public host on its own connection", sniB, "GET", "/", http.Header{"Host": {"b.example"}}, 200, "-", "app", "21"},
		{"421 SNI a.example, Host b.example", sniA, "GET", "/", http.Header{"Host": {"b.example"}}, 421, "MisdirectedRequest", "b.example", "-"},
		{"421 SNI b.example, Host a.example", sniB, "GET", "/", http.Header{"Host": {"a.example"}}, 421, "MisdirectedRequest", "a.example", "-"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tag := fmt.Sprintf("?case=%d", i)
			rep := do(t, tt.client, newRequest(t, tt.method, l.url(0, tt.path+tag), tt.header))
			if rep.status != tt.status || !strings.Contains(rep.body, tt.body) {
				t.Fatalf("answered %d %q, want %d with %q", rep.status, rep.body, tt.status, tt.body)
			}
			e := l.accessFor(t, tt.path+tag)
			if e.elbStatus != strconv.Itoa(tt.status) || e.errorReason != tt.reason || e.priority != tt.priority {
				t.Errorf("access log: elb_status_code %s error_reason %s matched_rule_priority %s; want %d %s %s\n%s",
					e.elbStatus, e.errorReason, e.priority, tt.status, tt.reason, tt.priority, e.line)
			}
			if tt.reason != "-" && e.targetStatus != "-" {
				t.Errorf("access log: target_status_code %s on a generated response\n%s", e.targetStatus, e.line)
			}
			if tt.status == http.StatusForbidden {
				if tt.priority != "-" && e.actions != "-" {
					t.Errorf("access log: actions_executed %q, want - (the rule's forward did not run)\n%s", e.actions, e.line)
				}
			}
		})
	}

	t.Run("the 403 page", func(t *testing.T) {
		rep := get(t, plain, l.url(0, "/private/page"), http.Header{"Accept": {"application/json"}})
		var page struct {
			Status  int    `json:"status"`
			Error   string `json:"error"`
			Message string `json:"message"`
		}
		if err := json.Unmarshal([]byte(rep.body), &page); err != nil || rep.header.Get("Content-Type") != "application/json" {
			t.Fatalf("JSON page %q (%s): %v", rep.body, rep.header.Get("Content-Type"), err)
		}
		if page.Status != 403 || page.Error != "ClientCertificateRequired" || !strings.Contains(page.Message, "certificate") {
			t.Errorf("JSON page %+v", page)
		}
		rep = get(t, plain, l.url(0, "/private/page"), http.Header{"Accept": {"text/html"}})
		if !strings.HasPrefix(rep.header.Get("Content-Type"), "text/html") || !strings.Contains(rep.body, "requires a verified client certificate") {
			t.Errorf("HTML page (%s):\n%s", rep.header.Get("Content-Type"), rep.body)
		}
	})

	t.Run("counted as generated", func(t *testing.T) {
		for _, code := range []string{"400", "403", "405", "421", "463", "502", "503", "504"} {
			if got := metricValue(t, m, "mtlslb_generated_responses_total", code); got < 1 {
				t.Errorf("mtlslb_generated_responses_total{code=%q} = %v", code, got)
			}
		}
		if got := metricValue(t, m, "mtlslb_generated_responses_total", "200"); got != 0 {
			t.Errorf("target answers counted as generated: %v", got)
		}
	})
	if n := app.hits.Load(); n != 2 {
		t.Errorf("the app target served %d requests, want 2 (the two that passed)", n)
	}
}

func TestL7ForwardedHeaders(t *testing.T) {
	t.Parallel()
	const inboundTrace = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"
	rootRE := regexp.MustCompile(`^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$`)
	selfRE := regexp.MustCompile(`^Self=1-[0-9a-f]{8}-[0-9a-f]{24};` + regexp.QuoteMeta(inboundTrace) + `$`)
	tests := []struct {
		mode                string
		withXFF, withoutXFF string // "" means absent
	}{
		{"append", "203.0.113.7, 127.0.0.1", "127.0.0.1"},
		{"preserve", "203.0.113.7", ""},
		{"remove", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			t.Parallel()
			target := newL7Target(t, "app")
			l := startLB(t, lbSpec{attributes: "xff_header_processing_mode: " + tt.mode,
				listeners: []lbListener{{}}, groups: []lbGroup{{name: "app", targets: addrs(target)}}})
			c := l.client(t, clientOptions{})

			get(t, c, l.url(0, "/with"), http.Header{"X-Forwarded-For": {"203.0.113.7"}, "X-Amzn-Trace-Id": {inboundTrace}})
			seen := target.lastRequest()
			if got := strings.Join(seen.header.Values("X-Forwarded-For"), ","); got != tt.withXFF {
				t.Errorf("with an inbound X-Forwarded-For the target got %q, want %q", got, tt.withXFF)
			}
			if got := seen.header.Get("X-Amzn-Trace-Id"); !selfRE.MatchString(got) {
				t.Errorf("X-Amzn-Trace-Id %q: want a Self= field added before the client's %q", got, inboundTrace)
			}
			if e := l.accessFor(t, "/with"); e.traceID != seen.header.Get("X-Amzn-Trace-Id") {
				t.Errorf("access log trace_id %q, the target got %q", e.traceID, seen.header.Get("X-Amzn-Trace-Id"))
			}

			get(t, c, l.url(0, "/without"), nil)
			seen = target.lastRequest()
			if got := strings.Join(seen.header.Values("X-Forwarded-For"), ","); got != tt.withoutXFF {
				t.Errorf("without an inbound X-Forwarded-For the target got %q, want %q", got, tt.withoutXFF)
			}
			tid := seen.header.Get("X-Amzn-Trace-Id")
			if !rootRE.MatchString(tid) {
				t.Fatalf("X-Amzn-Trace-Id %q, want a new Root=1-<epoch>-<24 hex>", tid)
			}
			if epoch, _ := strconv.ParseInt(tid[7:15], 16, 64); time.Since(time.Unix(epoch, 0)).Abs() > time.Minute {
				t.Errorf("trace id epoch %s is not now", tid[7:15])
			}
			if got := seen.header.Get("X-Forwarded-Proto"); got != "https" {
				t.Errorf("X-Forwarded-Proto %q, want https", got)
			}
			if got, want := seen.header.Get("X-Forwarded-Port"), strconv.Itoa(l.ports[0]); got != want {
				t.Errorf("X-Forwarded-Port %q, want the listener's port %s", got, want)
			}

			get(t, c, l.url(0, "/malformed"), http.Header{"X-Amzn-Trace-Id": {"Root=not-an-id"}})
			if got := target.lastRequest().header.Get("X-Amzn-Trace-Id"); !rootRE.MatchString(got) {
				t.Errorf("a malformed inbound trace id became %q, want a fresh Root", got)
			}
		})
	}
}

func TestL7ClientCannotInjectIdentity(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"off", "passthrough", "verify", "optional"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			target := newL7Target(t, "app")
			l := startLB(t, lbSpec{listeners: []lbListener{{mode: mode}}, groups: []lbGroup{{name: "app", targets: addrs(target)}}})
			for _, withCert := range []bool{false, true} {
				if mode == "verify" && !withCert {
					continue // verify mode refuses a client without a certificate
				}
				opts := clientOptions{}
				if withCert {
					opts.cert = l.pki.client(t, "real.client")
				}
				hdr := spoofed()
				hdr.Del("Connection") // keep every spoofed header in the request itself
				if rep := get(t, l.client(t, opts), l.url(0, "/"), hdr); rep.status != http.StatusOK {
					t.Fatalf("status %d", rep.status)
				}
				seen := target.lastRequest().header
				for name, values := range seen {
					lower := strings.ToLower(name)
					if !strings.HasPrefix(lower, "x-amzn-mtls") && !strings.HasPrefix(lower, "x-amzn-tls") {
						continue
					}
					for _, v := range values {
						if v == "spoof" || v == "CN=admin" || v == "CN=evil" || v == "00" {
							t.Errorf("certificate %t: the client's %s: %q reached the target", withCert, name, v)
						}
					}
					if len(values) != 1 {
						t.Errorf("certificate %t: %s sent %d times", withCert, name, len(values))
					}
				}
				wantSubject := ""
				if withCert && (mode == "verify" || mode == "optional") {
					wantSubject = "CN=real.client"
				}
				if got := seen.Get("X-Amzn-Mtls-Clientcert-Subject"); got != wantSubject {
					t.Errorf("certificate %t: subject header %q, want %q", withCert, got, wantSubject)
				}
				if got := seen.Get("X-Amzn-Mtls-Clientcert") != ""; got != (withCert && mode == "passthrough") {
					t.Errorf("certificate %t: X-Amzn-Mtls-Clientcert present %t", withCert, got)
				}
			}
		})
	}
}

func TestL7AccessLog(t *testing.T) {
	t.Parallel()
	app := newL7Target(t, "app")
	rules := ruleYAML(10, `[{ path_pattern: { values: ["/fwd/*"] } }]`, `[{ type: forward, target_group: app }]`) +
		ruleYAML(20, `[{ path_pattern: { values: ["/fixed"] } }]`, `[{ type: fixed_response, fixed_response: { status_code: "404", message_body: gone } }]`) +
		ruleYAML(30, `[{ path_pattern: { values: ["/go"] } }]`, `[{ type: redirect, redirect: { host: example.org, status_code: HTTP_302 } }]`) +
		ruleYAML(40, `[{ path_pattern: { values: ["/empty"] } }]`, `[{ type: forward, target_group: empty }]`)
	l := startLB(t, lbSpec{listeners: []lbListener{{rules: rules}},
		groups: []lbGroup{{name: "app", targets: addrs(app)}, {name: "empty"}}})
	port := strconv.Itoa(l.ports[0])
	h1 := l.client(t, clientOptions{serverName: "localhost"})
	for _, p := range []string{"/fwd/a?q=1", "/", "/fixed", "/go", "/empty"} {
		get(t, h1, l.url(0, p), http.Header{"User-Agent": {"l7-test \"quoted\""}})
	}
	get(t, l.client(t, clientOptions{h2: true, serverName: "localhost"}), l.url(0, "/fwd/h2"), nil)

	tests := []struct {
		fragment                                                     string
		typ, elb, target, priority, actions, redirect, reason, group string
		targetStatus                                                 string
	}{
		{"/fwd/a?q=1 ", "https", "200", app.addr, "10", "forward", "-", "-", "app", "200"},
		{":" + port + "/ ", "https", "200", app.addr, "0", "forward", "-", "-", "app", "200"},
		{"/fixed ", "https", "404", "-", "20", "fixed-response", "-", "-", "-", "-"},
		{"/go ", "https", "302", "-", "30", "redirect", "https://example.org:" + port + "/go", "-", "-", "-"},
		{"/empty ", "https", "503", "-", "40", "forward", "-", "NoRegisteredTargets", "empty", "-"},
		{"/fwd/h2 ", "h2", "200", app.addr, "10", "forward", "-", "-", "app", "200"},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSpace(tt.fragment), func(t *testing.T) {
			e := l.accessFor(t, tt.fragment)
			checks := []struct{ field, got, want string }{
				{"type", e.typ, tt.typ},
				{"elb", e.elb, "l7"},
				{"elb_status_code", e.elbStatus, tt.elb},
				{"target_status_code", e.targetStatus, tt.targetStatus},
				{"target:port", e.target, tt.target},
				{"target_group_arn", e.targetGroup, tt.group},
				{"matched_rule_priority", e.priority, tt.priority},
				{"actions_executed", e.actions, tt.actions},
				{"redirect_url", e.redirect, tt.redirect},
				{"error_reason", e.errorReason, tt.reason},
				{"domain_name", e.domain, "localhost"},
				{"ssl_protocol", e.protocol, "TLSv1.3"},
				{"target:port_list", e.targetList, tt.target},
				{"target_status_code_list", e.targetStatusList, tt.targetStatus},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s = %q, want %q", c.field, c.got, c.want)
				}
			}
			if tt.typ == "https" && e.userAgent != `l7-test "quoted"` {
				t.Errorf("user_agent = %q", e.userAgent)
			}
			if !strings.HasPrefix(e.request, "GET https://127.0.0.1:"+port+"/") {
				t.Errorf("request = %q, want GET https://127.0.0.1:%s/…", e.request, port)
			}
			for _, ts := range []string{e.time, e.creationTime} {
				if _, err := time.Parse("2006-01-02T15:04:05.000000Z", ts); err != nil {
					t.Errorf("timestamp %q: %v", ts, err)
				}
			}
			if tt.targetStatus == "200" && (e.requestTime == "-1" || e.targetTime == "-1" || e.responseTime == "-1") {
				t.Errorf("processing times %s %s %s of a forwarded request", e.requestTime, e.targetTime, e.responseTime)
			}
			if tt.targetStatus == "-" && (e.targetTime != "-1" || e.responseTime != "-1") {
				t.Errorf("target and response processing times %s %s, want -1 without a target", e.targetTime, e.responseTime)
			}
			conn := l.connFor(t, e.client)
			if e.connTraceID != conn[11] || !strings.HasPrefix(e.connTraceID, "TID_") {
				t.Errorf("conn_trace_id %s, the connection log says %s for client %s", e.connTraceID, conn[11], e.client)
			}
		})
	}
	// Keep-alive: the five HTTP/1.1 requests shared one connection, hence one conn_trace_id.
	ids := map[string]bool{}
	for _, e := range l.accessLog(t) {
		if e.typ == "https" {
			ids[e.connTraceID] = true
		}
	}
	if len(ids) != 1 {
		t.Errorf("requests of one keep-alive connection logged %d conn_trace_ids", len(ids))
	}
}

func TestL7PerRouteClientCertificatePolicy(t *testing.T) {
	t.Parallel()
	public, admin, ops := newL7Target(t, "public"), newL7Target(t, "admin"), newL7Target(t, "ops")
	rules := ruleYAML(10, `[{ path_pattern: { values: ["/admin/*"] } }]`, `[{ type: forward, target_group: admin }]`, "require_client_certificate: true") +
		ruleYAML(20, `[{ client_certificate: { subject_cn: ["ops-*"] } }]`, `[{ type: forward, target_group: ops }]`)
	l := startLB(t, lbSpec{listeners: []lbListener{{mode: "optional", rules: rules, defaults: `[{ type: forward, target_group: public }]`}},
		groups: []lbGroup{{name: "public", targets: addrs(public)}, {name: "admin", targets: addrs(admin)}, {name: "ops", targets: addrs(ops)}}})
	alice := l.pki.client(t, "alice")
	opsCert := l.pki.client(t, "ops-7")
	stranger := testpki.NewCA(t).Client(t, "stranger").TLSCertificate()
	now := time.Now()
	expired := l.pki.client(t, "expired", pki.WithValidity(now.Add(-48*time.Hour), now.Add(-time.Hour)))

	tests := []struct {
		name   string
		cert   *tls.Certificate
		path   string
		status int
		body   string // the target's name, or a fragment of the 403 page
	}{
		{"no certificate, public route", nil, "/", 200, "public"},
		{"no certificate, protected route", nil, "/admin/users", 403, "requires a verified client certificate"},
		{"verified certificate, protected route", alice, "/admin/users", 200, "admin"},
		{"verified certificate, public route", alice, "/", 200, "public"},
		{"routed by subject CN", opsCert, "/deploy", 200, "ops"},
		{"protected route first by priority", opsCert, "/admin/x", 200, "admin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := get(t, l.client(t, clientOptions{cert: tt.cert}), l.url(0, tt.path), http.Header{"Accept": {"text/html"}})
			if rep.status != tt.status || !strings.Contains(rep.body, tt.body) {
				t.Errorf("answered %d %q, want %d with %q", rep.status, rep.body, tt.status, tt.body)
			}
		})
	}

	failures := []struct {
		name   string
		cert   *tls.Certificate
		status string
	}{
		{"untrusted certificate fails the handshake", &stranger, "Failed:ClientCertUntrusted"},
		{"expired certificate fails the handshake", expired, "Failed:ClientCertExpired"},
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := net.Dial("tcp", l.addr(0))
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			conn := tls.Client(raw, l.tlsConfig(clientOptions{cert: tt.cert}))
			_ = conn.SetDeadline(time.Now().Add(l7Wait))
			if err := conn.Handshake(); err == nil {
				// TLS 1.3: the client finishes its side first and learns of the refusal on its first read.
				_, _ = fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
				if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err == nil {
					t.Fatalf("a client whose certificate fails verification got %s", resp.Status)
				}
			}
			if line := l.connFor(t, raw.LocalAddr().String()); line[10] != tt.status {
				t.Errorf("tls_verify_status %s, want %s", line[10], tt.status)
			}
		})
	}
	if n := public.hits.Load() + admin.hits.Load() + ops.hits.Load(); n != 5 {
		t.Errorf("targets served %d requests, want 5", n)
	}
}

func TestL7GRPC(t *testing.T) {
	t.Parallel()
	target := upstreamtest.NewGRPCServer(t, nil) // h2c with prior knowledge
	l := startLB(t, lbSpec{listeners: []lbListener{{}},
		groups: []lbGroup{{name: "rpc", targets: []string{target}, extra: "protocol_version: GRPC"}}})
	cc, err := grpc.NewClient(l.addr(0), grpc.WithTransportCredentials(credentials.NewTLS(l.tlsConfig(clientOptions{}))))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), l7Wait)
	defer cancel()

	t.Run("unary", func(t *testing.T) {
		var trailer metadata.MD
		got, err := upstreamtest.EchoUnary(ctx, cc, "ping", grpc.Trailer(&trailer))
		if err != nil || got != "ping" {
			t.Fatalf("unary echo: %q, %v", got, err)
		}
		if v := trailer.Get(upstreamtest.TrailerKey); len(v) != 1 || v[0] != "ping" {
			t.Errorf("trailer %s = %q, want [ping]", upstreamtest.TrailerKey, v)
		}
	})
	t.Run("unary error status", func(t *testing.T) {
		_, err := upstreamtest.EchoUnary(ctx, cc, upstreamtest.FailValue)
		if status.Code(err) != codes.NotFound {
			t.Errorf("error %v, want code NotFound from the target", err)
		}
	})
	t.Run("server stream", func(t *testing.T) {
		got, err := upstreamtest.EchoServerStream(ctx, cc, "s")
		if err != nil || len(got) != upstreamtest.StreamReplies || got[0] != "s 0" {
			t.Errorf("server stream: %q, %v", got, err)
		}
	})
	t.Run("bidi stream", func(t *testing.T) {
		got, err := upstreamtest.EchoBidi(ctx, cc, []string{"one", "two", "three"})
		if err != nil || strings.Join(got, ",") != "one,two,three" {
			t.Errorf("bidi stream: %q, %v", got, err)
		}
	})
	e := l.findAccess(t, "a gRPC call", func(e accessEntry) bool { return strings.Contains(e.request, upstreamtest.MethodUnary) })
	if e.typ != "grpcs" || e.targetGroup != "rpc" {
		t.Errorf("access log type %s group %s, want grpcs rpc\n%s", e.typ, e.targetGroup, e.line)
	}
}
