package l4

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/health"
)

// named is a target that tells who it is, then echoes.
func named(name string) func(net.Conn) {
	return func(c net.Conn) {
		_, _ = c.Write([]byte(name))
		echo(c)
	}
}

// whoAnswers opens a connection through s and returns the name of the target that answered; the connection stays
// open until the test ends.
func whoAnswers(t testing.TB, s *Server) (string, net.Conn) {
	t.Helper()
	c := dial(t, s, "")
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 1)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("no answer: %v", err)
	}
	_ = c.SetReadDeadline(time.Time{})
	return string(b), c
}

func TestBalancing(t *testing.T) {
	checkLeaks(t)
	a, b, c := startTarget(t, named("a")), startTarget(t, named("b")), startTarget(t, named("c"))
	t.Run("round robin takes turns", func(t *testing.T) {
		s := startServer(t, &Config{Group: newGroup(t, TargetGroupOptions{Algorithm: RoundRobin}, a, b, c)})
		var got string
		for range 6 {
			n, conn := whoAnswers(t, s)
			got += n
			conn.Close()
		}
		if got != "abcabc" {
			t.Errorf("targets in order %q, want abcabc", got)
		}
	})
	t.Run("least connections fills the emptiest target", func(t *testing.T) {
		g := newGroup(t, TargetGroupOptions{Algorithm: LeastConnections}, a, b, c)
		s := startServer(t, &Config{Group: g})
		open := map[string][]net.Conn{}
		// Nine connections held open: whatever the order, each target ends with three.
		for range 9 {
			n, conn := whoAnswers(t, s)
			open[n] = append(open[n], conn)
		}
		if len(open["a"]) != 3 || len(open["b"]) != 3 || len(open["c"]) != 3 {
			t.Fatalf("open connections per target a=%d b=%d c=%d, want 3 each", len(open["a"]), len(open["b"]), len(open["c"]))
		}
		// Once a's connections are over, the next three go to a.
		for _, conn := range open["a"] {
			conn.Close()
		}
		eventually(t, func() bool { return g.targets[0].active.Load() == 0 })
		for i := range 3 {
			if n, _ := whoAnswers(t, s); n != "a" {
				t.Fatalf("connection %d went to %q while a had none", i, n)
			}
		}
	})
}

func TestUnhealthyTargetGetsNoNewConnections(t *testing.T) {
	checkLeaks(t)
	a, b := startTarget(t, named("a")), startTarget(t, named("b"))
	dead := startTarget(t, named("d"))
	deadTarget := dead.healthTarget(t)
	dead.close() // nothing listens on its port any more: TCP checks fail

	changes := make(chan health.TargetHealth, 16)
	targets := []health.Target{a.healthTarget(t), deadTarget, b.healthTarget(t)}
	checker, err := health.New(health.Config{Protocol: health.ProtocolTCP, Interval: 20 * time.Millisecond,
		Timeout: time.Second, HealthyThreshold: 1, UnhealthyThreshold: 1}, targets,
		health.Options{OnChange: func(_ int, _, h health.TargetHealth) { changes <- h }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	checker.Start(ctx)
	t.Cleanup(func() { cancel(); <-checker.Done() })
	for seen := map[int]health.State{}; len(seen) < 3; {
		h := <-changes
		seen[h.Target.Port] = h.State
	}

	g, err := NewTargetGroup(TargetGroupOptions{Name: "tg", Targets: targets, Health: checker})
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, &Config{Group: g})
	for range 6 {
		n, conn := whoAnswers(t, s) // a refused dial would fail here
		if n == "d" {
			t.Fatal("the unhealthy target was picked")
		}
		conn.Close()
	}
	states := map[health.State]int{}
	for _, h := range g.Describe() {
		states[h.State]++
	}
	if states[health.StateHealthy] != 2 || states[health.StateUnhealthy] != 1 {
		t.Errorf("Describe states %v, want 2 healthy and 1 unhealthy", states)
	}
}

func TestAllUnhealthyFailsOpen(t *testing.T) {
	checkLeaks(t)
	a := startTarget(t, named("a"))
	// A health check port where nothing listens makes a unhealthy while its traffic port works.
	deadPort := startTarget(t, echo)
	port := deadPort.healthTarget(t).Port
	deadPort.close()
	changed := make(chan struct{}, 4)
	checker, err := health.New(health.Config{Protocol: health.ProtocolTCP, Port: port, Interval: 20 * time.Millisecond,
		Timeout: time.Second, HealthyThreshold: 1, UnhealthyThreshold: 1}, []health.Target{a.healthTarget(t)},
		health.Options{OnChange: func(int, health.TargetHealth, health.TargetHealth) { changed <- struct{}{} }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	checker.Start(ctx)
	t.Cleanup(func() { cancel(); <-checker.Done() })
	<-changed
	if !checker.FailingOpen() {
		t.Fatalf("checker not failing open: %+v", checker.Describe())
	}
	g, err := NewTargetGroup(TargetGroupOptions{Name: "tg", Targets: []health.Target{a.healthTarget(t)}, Health: checker})
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, &Config{Group: g})
	if n, _ := whoAnswers(t, s); n != "a" {
		t.Fatalf("got %q", n)
	}
}

func TestDraining(t *testing.T) {
	checkLeaks(t)
	a, b := startTarget(t, named("a")), startTarget(t, named("b"))
	l := newLogs(t)
	const delay = 300 * time.Millisecond
	g1 := newGroup(t, TargetGroupOptions{DeregistrationDelay: delay, Logger: l.slog}, a, b)
	s := startServer(t, &Config{Group: g1, Logger: l.slog})
	_, ca := whoAnswers(t, s) // round robin: a
	_, cb := whoAnswers(t, s) // b

	// The next generation drops a.
	g2 := newGroup(t, TargetGroupOptions{DeregistrationDelay: delay, Previous: g1, Logger: l.slog}, b)
	if err := s.Update(&Config{Group: g2, Logger: l.slog}); err != nil {
		t.Fatal(err)
	}
	l.waitLog("target draining", a.addr())
	states := map[health.State]int{}
	for _, h := range g2.Describe() {
		states[h.State]++
	}
	if states[StateDraining] != 1 || len(g2.Describe()) != 2 {
		t.Errorf("Describe %+v, want b and a draining", g2.Describe())
	}
	// a gets no new connection, but its open one still works.
	for range 3 {
		if n, c := whoAnswers(t, s); n != "b" {
			t.Fatalf("new connection went to %q while a drains", n)
		} else {
			c.Close()
		}
	}
	if _, err := ca.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(ca, make([]byte, 1)); err != nil {
		t.Fatalf("a draining target's connection failed before the delay: %v", err)
	}
	// At the delay, a's connection is cut; b's, kept by the new generation, is not.
	start := time.Now()
	_ = ca.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := ca.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read on the drained connection: %v", err)
	}
	if d := time.Since(start); d > 3*delay {
		t.Errorf("drained after %v, want about %v", d, delay)
	}
	l.waitLog("target deregistered", a.addr(), "connections=1")
	if _, err := cb.Write([]byte("y")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(cb, make([]byte, 1)); err != nil {
		t.Fatalf("the kept target's connection was cut: %v", err)
	}
	if len(g2.Describe()) != 1 {
		t.Errorf("Describe after the drain: %+v", g2.Describe())
	}
}

func TestDrainingTargetRegisteredAgain(t *testing.T) {
	checkLeaks(t)
	a, b := startTarget(t, named("a")), startTarget(t, named("b"))
	const delay = 200 * time.Millisecond
	g1 := newGroup(t, TargetGroupOptions{DeregistrationDelay: delay}, a, b)
	s := startServer(t, &Config{Group: g1})
	_, ca := whoAnswers(t, s)
	g2 := newGroup(t, TargetGroupOptions{DeregistrationDelay: delay, Previous: g1}, b)
	if err := s.Update(&Config{Group: g2}); err != nil {
		t.Fatal(err)
	}
	g3 := newGroup(t, TargetGroupOptions{DeregistrationDelay: delay, Previous: g2}, a, b)
	if err := s.Update(&Config{Group: g3}); err != nil {
		t.Fatal(err)
	}
	for _, h := range g3.Describe() {
		if h.State == StateDraining {
			t.Errorf("a is draining after it was registered again: %+v", h)
		}
	}
	time.Sleep(2 * delay) // the first drain's delay passes: nothing may happen
	if _, err := ca.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	_ = ca.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(ca, make([]byte, 1)); err != nil {
		t.Fatalf("the connection of a target registered again was cut: %v", err)
	}
}

func TestDeregistrationWithoutDelay(t *testing.T) {
	checkLeaks(t)
	a := startTarget(t, named("a"))
	g1 := newGroup(t, TargetGroupOptions{}, a)
	s := startServer(t, &Config{Group: g1})
	_, ca := whoAnswers(t, s)
	if err := s.Update(&Config{Group: newGroup(t, TargetGroupOptions{Previous: g1})}); err != nil {
		t.Fatal(err)
	}
	if _, err := readAll(t, ca); err == nil {
		t.Error("connection to a target deregistered with delay 0 ended in order; want it cut")
	}
	// The group has no target: a new connection is refused (possibly before connect returns).
	if c, err := dialErr(t, s, ""); err == nil {
		if b, err := readAll(t, c); err == nil || len(b) > 0 {
			t.Errorf("connection to an empty group: %q, %v", b, err)
		}
	}
}

func TestNewTargetGroupErrors(t *testing.T) {
	tests := []struct {
		name string
		opts TargetGroupOptions
	}{
		{"no host", TargetGroupOptions{Targets: []health.Target{{Port: 80}}}},
		{"port 0", TargetGroupOptions{Targets: []health.Target{{Host: "127.0.0.1"}}}},
		{"port too big", TargetGroupOptions{Targets: []health.Target{{Host: "127.0.0.1", Port: 65536}}}},
		{"unknown algorithm", TargetGroupOptions{Algorithm: 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewTargetGroup(tt.opts); err == nil {
				t.Fatal("NewTargetGroup accepted it")
			}
		})
	}
	checker, err := health.New(health.Config{Protocol: health.ProtocolTCP, Interval: time.Second, Timeout: time.Second,
		HealthyThreshold: 1, UnhealthyThreshold: 1}, []health.Target{{Host: "127.0.0.1", Port: 1}}, health.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewTargetGroup(TargetGroupOptions{Health: checker}); err == nil {
		t.Error("NewTargetGroup accepted a checker of another target list")
	}
}

func TestParseNames(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Algorithm
	}{{"", RoundRobin}, {"round_robin", RoundRobin}, {"least_connections", LeastConnections}, {"least_outstanding_requests", LeastConnections}} {
		if got, err := ParseAlgorithm(tt.in); err != nil || got != tt.want {
			t.Errorf("ParseAlgorithm(%q) = %v, %v", tt.in, got, err)
		}
	}
	if _, err := ParseAlgorithm("weighted_random"); err == nil {
		t.Error("ParseAlgorithm accepted weighted_random")
	}
	for _, tt := range []struct {
		in   string
		want Protocol
	}{{"TCP", ProtocolTCP}, {"TLS", ProtocolTLS}} {
		if got, err := ParseProtocol(tt.in); err != nil || got != tt.want || got.String() != tt.in {
			t.Errorf("ParseProtocol(%q) = %v, %v", tt.in, got, err)
		}
	}
	if _, err := ParseProtocol("HTTPS"); err == nil {
		t.Error("ParseProtocol accepted HTTPS")
	}
}
