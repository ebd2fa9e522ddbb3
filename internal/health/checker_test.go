package health

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// waitLimit bounds every wait of these tests; nothing should come near it.
const waitLimit = 10 * time.Second

// harness runs a Checker whose rounds the test paces by hand: the first
// round runs at Start, each tick runs one more, and every call returns only
// once its round has been applied and its changes reported.
type harness struct {
	c      *Checker
	ticks  chan time.Time
	rounds chan struct{}
	events chan change
}

func startChecker(tb testing.TB, cfg Config, targets []Target, opts Options) *harness {
	tb.Helper()
	h := &harness{ticks: make(chan time.Time), rounds: make(chan struct{}, 100), events: make(chan change, 100)}
	opts.NewTicker = func(time.Duration) (<-chan time.Time, func()) { return h.ticks, func() {} }
	onChange := opts.OnChange
	opts.OnChange = func(i int, old, new TargetHealth) {
		if onChange != nil {
			onChange(i, old, new)
		}
		h.events <- change{i, old, new}
	}
	c, err := New(cfg, targets, opts)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	c.afterRound = func() { h.rounds <- struct{}{} }
	h.c = c
	ctx, cancel := context.WithCancel(context.Background())
	c.Start(ctx)
	tb.Cleanup(func() {
		cancel()
		select {
		case <-c.Done():
		case <-time.After(waitLimit):
			tb.Errorf("checker did not stop after its context was cancelled")
		}
	})
	h.waitRound(tb)
	return h
}

func (h *harness) waitRound(tb testing.TB) {
	tb.Helper()
	select {
	case <-h.rounds:
	case <-time.After(waitLimit):
		tb.Fatal("the round did not end")
	}
}

// tick runs one more round and waits for it.
func (h *harness) tick(tb testing.TB) {
	tb.Helper()
	select {
	case h.ticks <- time.Now():
	case <-time.After(waitLimit):
		tb.Fatal("the checker took no tick")
	}
	h.waitRound(tb)
}

// untilChange returns the next change, ticking until one is reported, at
// most max times, and the number of ticks it took.
func (h *harness) untilChange(tb testing.TB, max int) (change, int) {
	tb.Helper()
	for n := 0; ; n++ {
		select {
		case ch := <-h.events:
			return ch, n
		default:
		}
		if n == max {
			tb.Fatalf("no change after %d ticks; targets: %+v", max, h.c.Describe())
		}
		h.tick(tb)
	}
}

// codeServer answers every request with the code in *code and counts them.
func codeServer(tb testing.TB, code *atomic.Int32, hits *atomic.Int32) Target {
	tb.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if got := r.Header.Get("User-Agent"); got != UserAgent {
			tb.Errorf("User-Agent %q, want %q", got, UserAgent)
		}
		if r.URL.Path != "/healthz" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if c := int(code.Load()); c >= 300 && c < 400 {
			w.Header().Set("Location", "/elsewhere")
		}
		w.WriteHeader(int(code.Load()))
	}))
	tb.Cleanup(srv.Close)
	return targetOf(tb, srv.Listener.Addr())
}

func targetOf(tb testing.TB, addr net.Addr) Target {
	tb.Helper()
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		tb.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	return Target{Host: host, Port: p}
}

func httpConfig(tb testing.TB, matcher string) Config {
	tb.Helper()
	m, err := ParseMatcher(matcher)
	if err != nil {
		tb.Fatal(err)
	}
	return Config{Protocol: ProtocolHTTP, Path: "/healthz", Interval: time.Hour, Timeout: 2 * time.Second,
		HealthyThreshold: 3, UnhealthyThreshold: 2, Matcher: m}
}

func TestThresholdsAndCodes(t *testing.T) {
	tests := []struct {
		name     string
		matcher  string
		code     int
		wantHits int32 // checks made when the state changed: the threshold
		want     TargetHealth
	}{
		{name: "healthy after 3 successes", matcher: "200", code: 200, wantHits: 3,
			want: TargetHealth{State: StateHealthy}},
		{name: "range matcher", matcher: "200-299", code: 204, wantHits: 3,
			want: TargetHealth{State: StateHealthy}},
		{name: "list matcher", matcher: "200,202", code: 202, wantHits: 3,
			want: TargetHealth{State: StateHealthy}},
		{name: "unhealthy after 2 wrong codes", matcher: "200", code: 503, wantHits: 2,
			want: TargetHealth{State: StateUnhealthy, Reason: ReasonResponseCodeMismatch,
				Description: "Health checks failed with these codes: [503]", LastError: "status 503 does not match 200"}},
		{name: "redirect is not followed", matcher: "200", code: 302, wantHits: 2,
			want: TargetHealth{State: StateUnhealthy, Reason: ReasonResponseCodeMismatch,
				Description: "Health checks failed with these codes: [302]", LastError: "status 302 does not match 200"}},
		{name: "code outside a list", matcher: "200,202", code: 201, wantHits: 2,
			want: TargetHealth{State: StateUnhealthy, Reason: ReasonResponseCodeMismatch,
				Description: "Health checks failed with these codes: [201]", LastError: "status 201 does not match 200,202"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var code, hits, hitsAtChange atomic.Int32
			code.Store(int32(tt.code))
			target := codeServer(t, &code, &hits)
			h := startChecker(t, httpConfig(t, tt.matcher), []Target{target},
				Options{OnChange: func(int, TargetHealth, TargetHealth) { hitsAtChange.Store(hits.Load()) }})

			ch, _ := h.untilChange(t, 10)
			if got := hitsAtChange.Load(); got != tt.wantHits {
				t.Errorf("state changed after %d checks, want %d", got, tt.wantHits)
			}
			if ch.old.State != StateInitial || ch.old.Reason != ReasonInitialHealthChecking {
				t.Errorf("old state %s/%s, want initial/%s", ch.old.State, ch.old.Reason, ReasonInitialHealthChecking)
			}
			tt.want.Target, tt.want.HealthCheckPort = target, target.Port
			if diff := cmp.Diff(tt.want, ch.new); diff != "" {
				t.Errorf("new health (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]TargetHealth{tt.want}, h.c.Describe()); diff != "" {
				t.Errorf("Describe (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRecoveryAndFailOpen(t *testing.T) {
	var codeA, codeB, hits atomic.Int32
	codeA.Store(200)
	codeB.Store(200)
	targets := []Target{codeServer(t, &codeA, &hits), codeServer(t, &codeB, &hits)}
	cfg := httpConfig(t, "200")
	cfg.HealthyThreshold = 2
	h := startChecker(t, cfg, targets, Options{})

	expect := func(wantHealthy []int, wantFailOpen bool) {
		t.Helper()
		if got := h.c.Healthy(); !cmp.Equal(got, wantHealthy) {
			t.Errorf("Healthy() = %v, want %v", got, wantHealthy)
		}
		if got := h.c.FailingOpen(); got != wantFailOpen {
			t.Errorf("FailingOpen() = %v, want %v", got, wantFailOpen)
		}
	}
	// Before any threshold is reached nothing is healthy: fail open.
	expect([]int{0, 1}, true)
	for range 2 {
		ch, _ := h.untilChange(t, 5)
		if ch.new.State != StateHealthy {
			t.Fatalf("target %d went %s, want healthy", ch.index, ch.new.State)
		}
	}
	expect([]int{0, 1}, false)

	codeA.Store(500)
	ch, ticks := h.untilChange(t, 5)
	if ch.index != 0 || ch.new.State != StateUnhealthy || ticks != 2 {
		t.Fatalf("got %+v after %d ticks, want target 0 unhealthy after 2", ch, ticks)
	}
	expect([]int{1}, false)

	codeB.Store(404)
	ch, _ = h.untilChange(t, 5)
	if ch.index != 1 || ch.new.State != StateUnhealthy {
		t.Fatalf("got %+v, want target 1 unhealthy", ch)
	}
	// Every target unhealthy: as ALB, route to all of them.
	expect([]int{0, 1}, true)

	// One success is below the healthy threshold of 2.
	codeA.Store(200)
	h.tick(t)
	ch, ticks = h.untilChange(t, 5)
	if ch.index != 0 || ch.new.State != StateHealthy || ticks != 1 {
		t.Fatalf("got %+v after %d more ticks, want target 0 healthy after 1", ch, ticks)
	}
	expect([]int{0}, false)
}

func TestTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers; the checker gives up and closes
	}))
	t.Cleanup(srv.Close)
	cfg := httpConfig(t, "200")
	cfg.Timeout = 100 * time.Millisecond
	h := startChecker(t, cfg, []Target{targetOf(t, srv.Listener.Addr())}, Options{})
	ch, _ := h.untilChange(t, 5)
	if ch.new.State != StateUnhealthy || ch.new.Reason != ReasonTimeout || ch.new.Description != "Request timed out" {
		t.Errorf("got %+v, want unhealthy, %s, Request timed out", ch.new, ReasonTimeout)
	}
}

func TestTCPConnect(t *testing.T) {
	open, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { open.Close() })
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr()
	closed.Close() // nothing listens there now: connections are refused

	tests := []struct {
		name   string
		addr   net.Addr
		want   State
		reason Reason
	}{
		{name: "listening", addr: open.Addr(), want: StateHealthy},
		{name: "refused", addr: closedAddr, want: StateUnhealthy, reason: ReasonFailedHealthChecks},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Protocol: ProtocolTCP, Interval: time.Hour, Timeout: 2 * time.Second,
				HealthyThreshold: 2, UnhealthyThreshold: 2}
			h := startChecker(t, cfg, []Target{targetOf(t, tt.addr)}, Options{})
			ch, _ := h.untilChange(t, 5)
			if ch.new.State != tt.want || ch.new.Reason != tt.reason {
				t.Errorf("got %s/%s (%s), want %s/%s", ch.new.State, ch.new.Reason, ch.new.LastError, tt.want, tt.reason)
			}
		})
	}
}

func TestHTTPS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	trusting := x509.NewCertPool()
	trusting.AddCert(srv.Certificate())

	tests := []struct {
		name   string
		tls    *tls.Config
		want   State
		reason Reason
	}{
		{name: "target certificate not verified, as ALB", tls: nil, want: StateHealthy},
		{name: "verified against its CA", tls: &tls.Config{RootCAs: trusting, ServerName: "example.com"}, want: StateHealthy},
		{name: "verified against another CA", tls: &tls.Config{RootCAs: x509.NewCertPool()},
			want: StateUnhealthy, reason: ReasonFailedHealthChecks},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := httpConfig(t, "200")
			cfg.Protocol, cfg.Path, cfg.HealthyThreshold = ProtocolHTTPS, "/", 2
			h := startChecker(t, cfg, []Target{targetOf(t, srv.Listener.Addr())}, Options{TLSConfig: tt.tls})
			ch, _ := h.untilChange(t, 5)
			if ch.new.State != tt.want || ch.new.Reason != tt.reason {
				t.Errorf("got %s/%s (%s), want %s/%s", ch.new.State, ch.new.Reason, ch.new.LastError, tt.want, tt.reason)
			}
		})
	}
}

func TestCancelStopsEveryGoroutine(t *testing.T) {
	var code, hits atomic.Int32
	code.Store(200)
	arrived := make(chan struct{}, 1)
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
	}))
	t.Cleanup(hang.Close)
	targets := []Target{codeServer(t, &code, &hits), codeServer(t, &code, &hits), targetOf(t, hang.Listener.Addr())}
	before := runtime.NumGoroutine()

	cfg := httpConfig(t, "200")
	cfg.Timeout = time.Hour // only the cancellation can end the hanging check
	c, err := New(cfg, targets, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.Start(ctx)
	// Cancel in the middle of the first round, while a check waits on the
	// hanging target.
	select {
	case <-arrived:
	case <-time.After(waitLimit):
		t.Fatal("the hanging target was never checked")
	}
	cancel()
	select {
	case <-c.Done():
	case <-time.After(waitLimit):
		t.Fatal("checker did not stop")
	}
	if got := c.Describe()[2].State; got != StateInitial {
		t.Errorf("the cut-short round was applied: target 2 is %s", got)
	}
	// The transport's connection goroutines end just after the connections
	// close, so give them a moment.
	deadline := time.Now().Add(waitLimit)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDisabled(t *testing.T) {
	cfg := Config{Disabled: true, Protocol: ProtocolTCP, Interval: time.Second, Timeout: time.Second,
		HealthyThreshold: 2, UnhealthyThreshold: 2}
	c, err := New(cfg, []Target{{Host: "127.0.0.1", Port: 1}, {Host: "127.0.0.1", Port: 2}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c.Start(context.Background())
	<-c.Done()
	if got := c.Healthy(); !cmp.Equal(got, []int{0, 1}) {
		t.Errorf("Healthy() = %v, want every target", got)
	}
	for _, th := range c.Describe() {
		if th.State != StateUnavailable || th.Reason != ReasonHealthCheckDisabled {
			t.Errorf("got %+v, want unavailable, %s", th, ReasonHealthCheckDisabled)
		}
	}
}

func TestNewBadInput(t *testing.T) {
	good := Config{Protocol: ProtocolHTTP, Path: "/", Interval: time.Second, Timeout: time.Second,
		HealthyThreshold: 2, UnhealthyThreshold: 2, Matcher: mustMatcher(t, "200")}
	target := []Target{{Host: "127.0.0.1", Port: 80}}
	tests := []struct {
		name    string
		edit    func(*Config)
		targets []Target
	}{
		{name: "unknown protocol", edit: func(c *Config) { c.Protocol = "UDP" }},
		{name: "no matcher", edit: func(c *Config) { c.Matcher = Matcher{} }},
		{name: "relative path", edit: func(c *Config) { c.Path = "healthz" }},
		{name: "port too high", edit: func(c *Config) { c.Port = 70000 }},
		{name: "no interval", edit: func(c *Config) { c.Interval = 0 }},
		{name: "negative timeout", edit: func(c *Config) { c.Timeout = -time.Second }},
		{name: "zero threshold", edit: func(c *Config) { c.UnhealthyThreshold = 0 }},
		{name: "target without host", targets: []Target{{Port: 80}}},
		{name: "target without port", targets: []Target{{Host: "127.0.0.1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			if tt.edit != nil {
				tt.edit(&cfg)
			}
			targets := target
			if tt.targets != nil {
				targets = tt.targets
			}
			if c, err := New(cfg, targets, Options{}); err == nil {
				t.Fatalf("New succeeded: %+v", c.cfg)
			} else {
				t.Log(err)
			}
		})
	}
}

func TestHealthyDoesNotAllocate(t *testing.T) {
	c, err := New(Config{Protocol: ProtocolTCP, Interval: time.Second, Timeout: time.Second,
		HealthyThreshold: 2, UnhealthyThreshold: 2}, []Target{{Host: "127.0.0.1", Port: 1}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _ = c.Healthy() }); n != 0 {
		t.Errorf("Healthy allocates %v times", n)
	}
}

func BenchmarkHealthy(b *testing.B) {
	targets := make([]Target, 16)
	for i := range targets {
		targets[i] = Target{Host: "127.0.0.1", Port: 1000 + i}
	}
	c, err := New(Config{Protocol: ProtocolTCP, Interval: time.Second, Timeout: time.Second,
		HealthyThreshold: 2, UnhealthyThreshold: 2}, targets, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if len(c.Healthy()) == 0 {
				b.Fatal("no targets")
			}
		}
	})
}

func mustMatcher(tb testing.TB, s string) Matcher {
	tb.Helper()
	m, err := ParseMatcher(s)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}
