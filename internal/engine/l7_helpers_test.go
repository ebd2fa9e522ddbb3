package engine_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/config"
	"github.com/mtlslb/mtlslb/internal/engine"
	"github.com/mtlslb/mtlslb/internal/health"
	"github.com/mtlslb/mtlslb/internal/metrics"
	"github.com/mtlslb/mtlslb/internal/pki"
	"github.com/mtlslb/mtlslb/internal/testpki"
)

// This file holds the harness of l7_test.go: targets that answer with their own name, a builder for whole
// configuration documents, an engine started on free ports, clients with or without certificates, and readers
// for the access and connection logs.

// l7Wait bounds every wait of these tests for something asynchronous (a log line, a health state).
const l7Wait = 10 * time.Second

// ---- PKI ----

// l7PKI is a PKI on disk for one load balancer: root → issuing CA → clients; the trust store bundle holds
// the root. server.pem covers 127.0.0.1, localhost and a.example; b.pem covers b.example only, for
// listeners with a second certificate chosen by SNI.
type l7PKI struct {
	dir     string
	root    *testpki.CA
	issuing *testpki.CA
}

func newL7PKI(t testing.TB) *l7PKI {
	t.Helper()
	p := &l7PKI{dir: t.TempDir(), root: testpki.NewCA(t)}
	p.issuing = p.root.Intermediate(t, "Issuing CA")
	p.write(t, "bundle.pem", p.root.BundlePEM())
	server, err := p.root.IssueServer([]string{"a.example", "localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p.writePair(t, "server", server)
	p.writePair(t, "b", p.root.Server(t, "b.example"))
	return p
}

func (p *l7PKI) write(t testing.TB, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(p.dir, name), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (p *l7PKI) writePair(t testing.TB, name string, l *pki.Leaf) {
	t.Helper()
	key, err := pki.EncodeKeyPEM(l.Key)
	if err != nil {
		t.Fatal(err)
	}
	p.write(t, name+".pem", l.ChainPEM())
	p.write(t, name+"-key.pem", key)
}

// client issues a client certificate of the issuing CA, ready for a TLS client.
func (p *l7PKI) client(t testing.TB, cn string, opts ...pki.Option) *tls.Certificate {
	t.Helper()
	c := p.issuing.Client(t, cn, opts...).TLSCertificate()
	return &c
}

// ---- targets ----

// l7Target is a backend that answers every request with its own name (body and X-Target header), counts the
// requests clients sent (never health checks: those carry health.UserAgent and get healthCode), and records
// the last one. A request for /hold blocks until release is called (or the client goes away), so tests can
// keep requests in flight.
type l7Target struct {
	name string
	addr string
	port int

	hits       atomic.Int64
	inFlight   atomic.Int64
	healthCode atomic.Int32
	delay      time.Duration // before answering each counted request (set at construction only)

	holding     chan struct{} // one value per /hold request that arrived
	release     chan struct{}
	releaseOnce sync.Once

	mu   sync.Mutex
	last seenRequest
}

// seenRequest is what a target saw of a request.
type seenRequest struct {
	proto  string
	host   string
	uri    string
	header http.Header
}

// l7TargetOptions are the optional settings of newL7Target.
type l7TargetOptions struct {
	// delay is how long the target takes to answer each request a client sent.
	delay time.Duration
}

func newL7Target(t testing.TB, name string, opts ...l7TargetOptions) *l7Target {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tg := &l7Target{name: name, addr: ln.Addr().String(), port: ln.Addr().(*net.TCPAddr).Port,
		holding: make(chan struct{}, 128), release: make(chan struct{})}
	tg.healthCode.Store(http.StatusOK)
	for _, o := range opts {
		tg.delay = o.delay
	}
	srv := &http.Server{Handler: tg, ReadHeaderTimeout: l7Wait}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		tg.unblock()
		_ = srv.Close()
	})
	return tg
}

func (tg *l7Target) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.UserAgent() == health.UserAgent {
		w.WriteHeader(int(tg.healthCode.Load()))
		return
	}
	tg.hits.Add(1)
	tg.inFlight.Add(1)
	defer tg.inFlight.Add(-1)
	tg.mu.Lock()
	tg.last = seenRequest{proto: r.Proto, host: r.Host, uri: r.RequestURI, header: r.Header.Clone()}
	tg.mu.Unlock()
	if r.URL.Path == "/hold" {
		tg.holding <- struct{}{}
		select {
		case <-tg.release:
		case <-r.Context().Done():
			return
		}
	}
	if tg.delay > 0 {
		select {
		case <-time.After(tg.delay):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("X-Target", tg.name)
	_, _ = io.WriteString(w, tg.name)
}

// unblock lets every /hold request, present and future, complete.
func (tg *l7Target) unblock() { tg.releaseOnce.Do(func() { close(tg.release) }) }

// waitHolding waits for a /hold request to arrive at the target.
func (tg *l7Target) waitHolding(t testing.TB) {
	t.Helper()
	select {
	case <-tg.holding:
	case <-time.After(l7Wait):
		t.Fatalf("no /hold request reached target %s", tg.name)
	}
}

func (tg *l7Target) lastRequest() seenRequest {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.last
}

// refusedAddr returns an address on which nothing listens (a port just released), for 502 tests.
func refusedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// ---- documents ----

// lbSpec describes a whole configuration document. YAML snippets are written from column 0 (a leading
// newline and common indentation are removed) and indented into place.
type lbSpec struct {
	// attributes are extra load balancer attributes; the access and connection logs are always on.
	attributes string
	listeners  []lbListener
	groups     []lbGroup
	// opts are the engine's options (HealthCheckInterval, Metrics, …).
	opts engine.Options
}

// lbListener is one listener of an lbSpec.
type lbListener struct {
	protocol string // HTTPS (default) or HTTP
	mode     string // off (default), passthrough, verify or optional; verify and optional use trust store "clients"
	// certificates are base names of the PKI's certificate files ("server", "b"); default ["server"].
	certificates []string
	// extra are further listener keys (header_names, mutual_authentication is written from mode).
	extra string
	// rules is the YAML list of rules; defaults the YAML list of default actions (default: forward to the
	// first target group).
	rules, defaults string
}

// lbGroup is one target group of an lbSpec.
type lbGroup struct {
	name    string
	targets []string // host:port
	weights []int    // per target; empty: no weight key
	// extra are further target group keys (attributes, protocol_version, health_check). Without a
	// health_check key, health checks are disabled, so that distribution tests see every target.
	extra string
}

// addrs returns the addresses of targets.
func addrs(ts ...*l7Target) []string {
	out := make([]string, len(ts))
	for i, tg := range ts {
		out[i] = tg.addr
	}
	return out
}

// block dedents a YAML snippet written from column 0 and indents it by n spaces.
func block(s string, n int) string {
	s = strings.TrimLeft(s, "\n")
	s = strings.TrimRight(s, " \t\n")
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	common := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		ind := len(l) - len(strings.TrimLeft(l, " "))
		if common < 0 || ind < common {
			common = ind
		}
	}
	pad := strings.Repeat(" ", n)
	var b strings.Builder
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			b.WriteString("\n")
			continue
		}
		b.WriteString(pad + l[common:] + "\n")
	}
	return b.String()
}

// render writes the document of spec with the given listener ports.
func (spec *lbSpec) render(ports []int) string {
	var b strings.Builder
	b.WriteString("name: l7\nattributes:\n")
	b.WriteString("  connection_logs: { enabled: true, path: connection.log }\n")
	b.WriteString("  access_logs: { enabled: true, path: access.log }\n")
	b.WriteString(block(spec.attributes, 2))
	b.WriteString("trust_stores:\n  - name: clients\n    ca_certificates_bundle: bundle.pem\n")
	b.WriteString("listeners:\n")
	for i, l := range spec.listeners {
		proto := l.protocol
		if proto == "" {
			proto = "HTTPS"
		}
		fmt.Fprintf(&b, "  - port: %d\n    address: 127.0.0.1\n    protocol: %s\n", ports[i], proto)
		if proto == "HTTPS" {
			certs := l.certificates
			if len(certs) == 0 {
				certs = []string{"server"}
			}
			b.WriteString("    certificates:\n")
			for _, c := range certs {
				fmt.Fprintf(&b, "      - { certificate: %s.pem, private_key: %s-key.pem }\n", c, c)
			}
			mode := l.mode
			if mode == "" {
				mode = "off"
			}
			fmt.Fprintf(&b, "    mutual_authentication:\n      mode: %q\n", mode)
			if mode == "verify" || mode == "optional" {
				b.WriteString("      trust_store: clients\n")
			}
		}
		b.WriteString(block(l.extra, 4))
		b.WriteString("    default_actions:\n")
		if l.defaults != "" {
			b.WriteString(block(l.defaults, 6))
		} else {
			fmt.Fprintf(&b, "      - { type: forward, target_group: %s }\n", spec.groups[0].name)
		}
		if l.rules != "" {
			b.WriteString("    rules:\n")
			b.WriteString(block(l.rules, 6))
		}
	}
	b.WriteString("target_groups:\n")
	for _, g := range spec.groups {
		fmt.Fprintf(&b, "  - name: %s\n", g.name)
		if len(g.targets) == 0 {
			b.WriteString("    targets: []\n")
		} else {
			b.WriteString("    targets:\n")
		}
		for i, a := range g.targets {
			host, port, err := net.SplitHostPort(a)
			if err != nil {
				panic(fmt.Sprintf("target %q: %v", a, err))
			}
			fmt.Fprintf(&b, "      - { id: %s, port: %s", host, port)
			if i < len(g.weights) {
				fmt.Fprintf(&b, ", weight: %d", g.weights[i])
			}
			b.WriteString(" }\n")
		}
		if !strings.Contains(g.extra, "health_check:") {
			b.WriteString("    health_check: { enabled: false }\n")
		}
		b.WriteString(block(g.extra, 4))
	}
	return b.String()
}

// fixedYAML is a fixed_response action answering 200 with body, so a test can tell which rule matched.
func fixedYAML(body string) string {
	return fmt.Sprintf(`[{ type: fixed_response, fixed_response: { status_code: "200", content_type: text/plain, message_body: %q } }]`, body)
}

// ruleYAML is one rule with the given priority, conditions (a YAML flow list) and actions.
func ruleYAML(priority int, conditions, actions string, extra ...string) string {
	s := fmt.Sprintf("- priority: %d\n  conditions: %s\n  actions: %s\n", priority, conditions, actions)
	for _, e := range extra {
		s += "  " + e + "\n"
	}
	return s
}

// ---- the load balancer ----

// lb is an engine serving an lbSpec on free ports of 127.0.0.1.
type lb struct {
	eng   *engine.Engine
	pki   *l7PKI
	ports []int // per listener
	spec  lbSpec
}

// freePort returns a port that was free a moment ago. The engine binds the document's port; a real port
// (rather than 0) makes X-Forwarded-Port, #{port} and the access log's URL carry the port the client used.
// A port taken in between makes Apply fail, and startLB tries again.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startLB starts an engine serving spec with a new PKI.
func startLB(t testing.TB, spec lbSpec) *lb {
	t.Helper()
	return startLBWith(t, newL7PKI(t), spec)
}

// startLBWith starts an engine serving spec with the files of p.
func startLBWith(t testing.TB, p *l7PKI, spec lbSpec) *lb {
	t.Helper()
	for attempt := 0; ; attempt++ {
		l := &lb{pki: p, spec: spec}
		for range spec.listeners {
			l.ports = append(l.ports, freePort(t))
		}
		l.eng = engine.New(spec.opts)
		err := l.apply(spec)
		if err == nil {
			t.Cleanup(func() { _ = l.eng.Shutdown(context.Background()) })
			return l
		}
		_ = l.eng.Shutdown(context.Background())
		if !errors.Is(err, syscall.EADDRINUSE) || attempt == 4 {
			t.Fatalf("starting the load balancer: %v", err)
		}
	}
}

// load writes spec's document for l's ports and loads it as `mtlslb serve` would.
func (l *lb) load(t testing.TB, spec lbSpec) *config.Document {
	t.Helper()
	doc, err := l.loadDoc(spec)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func (l *lb) loadDoc(spec lbSpec) (*config.Document, error) {
	path := filepath.Join(l.pki.dir, "lb.yaml")
	text := spec.render(l.ports)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		return nil, err
	}
	doc, err := config.Load(path)
	if err != nil {
		return nil, fmt.Errorf("config.Load: %w\n%s", err, text)
	}
	return doc, nil
}

// apply compiles and applies spec on the running engine (the first call starts it).
func (l *lb) apply(spec lbSpec) error {
	doc, err := l.loadDoc(spec)
	if err != nil {
		return err
	}
	compiled, err := l.eng.Compile(doc)
	if err != nil {
		return fmt.Errorf("Compile: %w\n%s", err, spec.render(l.ports))
	}
	if err := l.eng.Apply(compiled); err != nil {
		return fmt.Errorf("Apply: %w", err)
	}
	l.spec = spec
	return nil
}

// reapply applies a new document to the running engine, failing the test on error.
func (l *lb) reapply(t testing.TB, spec lbSpec) {
	t.Helper()
	if err := l.apply(spec); err != nil {
		t.Fatal(err)
	}
}

func (l *lb) addr(i int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(l.ports[i])) }

// url returns the URL of path on listener i.
func (l *lb) url(i int, path string) string {
	scheme := "https"
	if l.spec.listeners[i].protocol == "HTTP" {
		scheme = "http"
	}
	return scheme + "://" + l.addr(i) + path
}

// clientOptions say how a test client connects.
type clientOptions struct {
	cert        *tls.Certificate // nil: no client certificate
	serverName  string           // TLS server name (SNI unless an IP address); default 127.0.0.1
	h2          bool             // offer HTTP/2 through ALPN
	noKeepAlive bool
}

// client returns an HTTP client for the load balancer: it trusts the PKI's root, presents opts.cert, and does
// not follow redirects (tests look at them).
func (l *lb) client(t testing.TB, opts clientOptions) *http.Client {
	t.Helper()
	tr := &http.Transport{
		TLSClientConfig:     l.tlsConfig(opts),
		DisableKeepAlives:   opts.noKeepAlive,
		ForceAttemptHTTP2:   opts.h2,
		MaxIdleConnsPerHost: 64,
	}
	if !opts.h2 {
		tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		Timeout:       l7Wait,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func (l *lb) tlsConfig(opts clientOptions) *tls.Config {
	cfg := &tls.Config{RootCAs: l.pki.root.Pool(), ServerName: opts.serverName}
	if cfg.ServerName == "" {
		cfg.ServerName = "127.0.0.1"
	}
	if opts.cert != nil {
		c := *opts.cert
		// GetClientCertificate, not Certificates: it answers a request that names no acceptable CAs too.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
	}
	return cfg
}

// reply is a response read in full.
type reply struct {
	status int
	header http.Header
	body   string
	proto  int // ProtoMajor
}

// do sends req and reads the whole response; a transport error fails the test.
func do(t testing.TB, c *http.Client, req *http.Request) reply {
	t.Helper()
	rep, err := tryDo(c, req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	return rep
}

func tryDo(c *http.Client, req *http.Request) (reply, error) {
	resp, err := c.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: string(body), proto: resp.ProtoMajor}, nil
}

// get sends GET url with the headers of hdr (a "Host" entry sets the Host header).
func get(t testing.TB, c *http.Client, url string, hdr http.Header) reply {
	t.Helper()
	return do(t, c, newRequest(t, http.MethodGet, url, hdr))
}

func newRequest(t testing.TB, method, url string, hdr http.Header) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v[0]
			continue
		}
		req.Header[k] = v
	}
	return req
}

// counts sends n GET requests for url on c, each with hdr, and counts the answers by body (the target's name).
func counts(t testing.TB, c *http.Client, url string, hdr http.Header, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		rep := get(t, c, url, hdr)
		if rep.status != http.StatusOK {
			t.Fatalf("GET %s: status %d (%q)", url, rep.status, rep.body)
		}
		got[rep.body]++
	}
	return got
}

// ---- responses and metrics ----

// cookieLine returns the Set-Cookie line that sets name, or "".
func cookieLine(h http.Header, name string) string {
	for _, line := range h.Values("Set-Cookie") {
		if strings.HasPrefix(line, name+"=") {
			return line
		}
	}
	return ""
}

// cookieValue returns the value a Set-Cookie line of h gives name, or "".
func cookieValue(h http.Header, name string) string {
	v, _, _ := strings.Cut(strings.TrimPrefix(cookieLine(h, name), name+"="), ";")
	return v
}

// metricValue sums the samples of a counter with the given code label, read from the exposition format.
func metricValue(t testing.TB, m *metrics.Metrics, name, code string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	var sum float64
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") || !strings.Contains(line, `code="`+code+`"`) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

// ---- logs ----

// accessEntry is one access-log line, split into ALB's fields (alb-compat §6), quotes removed.
type accessEntry struct {
	line                                                          string
	typ, time, elb, client, target                                string
	requestTime, targetTime, responseTime                         string
	elbStatus, targetStatus, received, sent                       string
	request, userAgent, cipher, protocol, targetGroup, traceID    string
	domain, chosenCert, priority, creationTime, actions, redirect string
	errorReason, targetList, targetStatusList, class, classReason string
	connTraceID                                                   string
}

// accessFields is the number of fields of an access-log line.
const accessFields = 30

func parseAccess(t testing.TB, line string) accessEntry {
	t.Helper()
	f := splitConnLine(line)
	if len(f) != accessFields {
		t.Fatalf("access log line has %d fields, want %d: %q", len(f), accessFields, line)
	}
	for i := range f {
		f[i] = unquoteLogField(f[i])
	}
	return accessEntry{line: line,
		typ: f[0], time: f[1], elb: f[2], client: f[3], target: f[4],
		requestTime: f[5], targetTime: f[6], responseTime: f[7],
		elbStatus: f[8], targetStatus: f[9], received: f[10], sent: f[11],
		request: f[12], userAgent: f[13], cipher: f[14], protocol: f[15], targetGroup: f[16], traceID: f[17],
		domain: f[18], chosenCert: f[19], priority: f[20], creationTime: f[21], actions: f[22], redirect: f[23],
		errorReason: f[24], targetList: f[25], targetStatusList: f[26], class: f[27], classReason: f[28],
		connTraceID: f[29],
	}
}

// unquoteLogField removes the quotes of a quoted field and undoes its \" and \\ escapes (\xHH stays as
// written: tests compare against plain ASCII).
func unquoteLogField(s string) string {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return s
	}
	s = s[1 : len(s)-1]
	return strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(s)
}

// logLines flushes the logs and returns the lines of the named log file.
func (l *lb) logLines(t testing.TB, name string) []string {
	t.Helper()
	if err := l.eng.FlushLogs(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(l.pki.dir, name))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

// accessLog returns every access-log line written so far.
func (l *lb) accessLog(t testing.TB) []accessEntry {
	t.Helper()
	var out []accessEntry
	for _, line := range l.logLines(t, "access.log") {
		out = append(out, parseAccess(t, line))
	}
	return out
}

// findAccess waits for an access-log line that match accepts (lines are written once the response is sent,
// which can be just after the client read it) and returns it.
func (l *lb) findAccess(t testing.TB, what string, match func(accessEntry) bool) accessEntry {
	t.Helper()
	deadline := time.Now().Add(l7Wait)
	for {
		entries := l.accessLog(t)
		for _, e := range entries {
			if match(e) {
				return e
			}
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, e := range entries {
				b.WriteString(e.line + "\n")
			}
			t.Fatalf("no access-log line for %s; the log holds:\n%s", what, b.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// accessFor finds the access-log line of the request whose "request" field contains fragment.
func (l *lb) accessFor(t testing.TB, fragment string) accessEntry {
	t.Helper()
	return l.findAccess(t, fragment, func(e accessEntry) bool { return strings.Contains(e.request, fragment) })
}

// connFor waits for the connection-log line of the connection from client (ip:port) and returns its fields.
func (l *lb) connFor(t testing.TB, client string) []string {
	t.Helper()
	host, port, _ := net.SplitHostPort(client)
	deadline := time.Now().Add(l7Wait)
	for {
		for _, line := range l.logLines(t, "connection.log") {
			f := splitConnLine(line)
			if len(f) == 15 && f[1] == host && f[2] == port {
				return f
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection-log line for client %s", client)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ---- waiting and statistics ----

// eventually polls cond until it holds or l7Wait passes; what describes cond for the failure message, which
// also shows last, cond's account of the state it saw.
func eventually(t testing.TB, what string, cond func() (ok bool, last string)) {
	t.Helper()
	deadline := time.Now().Add(l7Wait)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last seen: %s", what, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// healthStates returns the health of each target of group (draining ones included) by host:port.
func (l *lb) healthStates(t testing.TB, group string) map[string]health.TargetHealth {
	t.Helper()
	ths, ok := l.eng.TargetHealth(group)
	if !ok {
		t.Fatalf("TargetHealth(%q): no such group", group)
	}
	out := map[string]health.TargetHealth{}
	for _, th := range ths {
		out[net.JoinHostPort(th.Target.Host, strconv.Itoa(th.Target.Port))] = th
	}
	return out
}

func describeHealth(m map[string]health.TargetHealth) string {
	var parts []string
	for a, th := range m {
		parts = append(parts, fmt.Sprintf("%s=%s(%s)", a, th.State, th.Reason))
	}
	return strings.Join(parts, " ")
}

// waitHealth waits until every target of group named in want has the wanted state (and nothing else is listed).
func (l *lb) waitHealth(t testing.TB, group string, want map[string]health.State) {
	t.Helper()
	eventually(t, fmt.Sprintf("health of %s to be %v", group, want), func() (bool, string) {
		got := l.healthStates(t, group)
		if len(got) != len(want) {
			return false, describeHealth(got)
		}
		for a, st := range want {
			if got[a].State != st {
				return false, describeHealth(got)
			}
		}
		return true, ""
	})
}

// chiSquare returns Pearson's statistic of observed counts against expected shares (which sum to 1).
func chiSquare(observed []int, shares []float64) float64 {
	n := 0
	for _, o := range observed {
		n += o
	}
	var x2 float64
	for i, o := range observed {
		e := float64(n) * shares[i]
		x2 += (float64(o) - e) * (float64(o) - e) / e
	}
	return x2
}

// withinSigmas reports whether k successes of n trials with probability p lie within z standard deviations
// of the mean of the binomial distribution.
func withinSigmas(k, n int, p, z float64) bool {
	mean := float64(n) * p
	sd := math.Sqrt(float64(n) * p * (1 - p))
	return math.Abs(float64(k)-mean) <= z*sd
}
