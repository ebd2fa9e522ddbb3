package l4

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mtlslb/mtlslb/internal/health"
)

// Algorithm is a layer-4 target group's load_balancing_algorithm_type.
type Algorithm uint8

// The algorithms of layer-4 target groups.
const (
	// RoundRobin gives each usable target a new connection in turn.
	RoundRobin Algorithm = iota
	// LeastConnections gives a new connection to the usable target with the fewest open ones, counted across
	// listeners and configuration generations.
	LeastConnections
)

// ParseAlgorithm reads the document's name of an algorithm: "" or "round_robin", "least_connections" (and its
// layer-7 spelling "least_outstanding_requests", which for connections means the same).
func ParseAlgorithm(s string) (Algorithm, error) {
	switch s {
	case "", "round_robin":
		return RoundRobin, nil
	case "least_connections", "least_outstanding_requests":
		return LeastConnections, nil
	}
	return 0, fmt.Errorf("load balancing algorithm %q: a layer-4 target group uses round_robin or least_connections", s)
}

// String returns the document's name of a.
func (a Algorithm) String() string {
	if a == LeastConnections {
		return "least_connections"
	}
	return "round_robin"
}

// The state and reason of a draining target in Describe, in ALB's words (describe-target-health).
const (
	StateDraining                  health.State  = "draining"
	ReasonDeregistrationInProgress health.Reason = "Target.DeregistrationInProgress"
	descDeregistration                           = "Target deregistration is in progress"
	descHealthDisabled                           = "Health checks disabled"
)

// TargetGroupOptions configures NewTargetGroup.
type TargetGroupOptions struct {
	// Name is the target group's name, for logs.
	Name string
	// Targets are the registered targets: an IP address or a host name (resolved on every connection), and a
	// port.
	Targets []health.Target
	// Algorithm picks among the usable targets.
	Algorithm Algorithm
	// ProxyProtocolV2 sends a PROXY v2 header to the target before the client's first byte.
	ProxyProtocolV2 bool
	// DeregistrationDelay is how long a target left out of the next generation keeps its connections (0 closes
	// them at once).
	DeregistrationDelay time.Duration
	// Health, when set, is the group's health checker, created over Targets in the same order; the caller starts
	// and stops it. Without one every target is usable.
	Health *health.Checker
	// Previous is the group of the same name in the running configuration, if any: targets it shares with this
	// group keep their connections and connection counts, and the ones this group drops start draining when a
	// Server first uses this group. Without it, nothing drains.
	Previous *TargetGroup
	// Logger receives drain events (nil: discarded).
	Logger *slog.Logger
}

// TargetGroup is one configuration generation's view of a target group. It is immutable but for counters and safe
// for concurrent use.
type TargetGroup struct {
	name    string
	targets []*target // aligned with TargetGroupOptions.Targets
	algo    Algorithm
	proxyV2 bool
	delay   time.Duration
	health  *health.Checker
	log     *slog.Logger
	next    atomic.Uint64

	// removed are the targets of Previous (and those still draining from before it) that this group does not
	// have; activate starts their drain.
	removed   []removedTarget
	activated sync.Once
	active    atomic.Bool // activate ran
}

type removedTarget struct {
	t     *target
	delay time.Duration // the delay of the group it was removed from
}

// target is one backend and its live connections. It outlives generations: successive TargetGroups that register
// the same address share it.
type target struct {
	reg    health.Target
	addr   string       // host:port, also the identity across generations
	active atomic.Int64 // connections picked and not yet finished, for LeastConnections

	mu       sync.Mutex
	conns    map[*conn]struct{}
	draining bool
	drains   uint64 // counts drains, so that a timer of an earlier drain cannot end a later one
	timer    *time.Timer
	// expired is set when a drain's delay ran out: a connection picked from an older generation just before it
	// (a reload in progress on another listener) is refused rather than kept forever.
	expired bool
}

// NewTargetGroup returns a target group; it starts nothing.
func NewTargetGroup(opts TargetGroupOptions) (*TargetGroup, error) {
	g := &TargetGroup{
		name:    opts.Name,
		algo:    opts.Algorithm,
		proxyV2: opts.ProxyProtocolV2,
		delay:   max(opts.DeregistrationDelay, 0),
		health:  opts.Health,
		log:     opts.Logger,
	}
	if g.log == nil {
		g.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Algorithm != RoundRobin && opts.Algorithm != LeastConnections {
		return nil, fmt.Errorf("target group %q: unknown algorithm %d", opts.Name, opts.Algorithm)
	}
	if opts.Health != nil && len(opts.Health.Describe()) != len(opts.Targets) {
		return nil, fmt.Errorf("target group %q: the health checker has %d targets, the group %d",
			opts.Name, len(opts.Health.Describe()), len(opts.Targets))
	}
	prev := map[string]*target{}
	if p := opts.Previous; p != nil {
		for _, r := range p.removed {
			prev[r.t.addr] = r.t
		}
		for _, t := range p.targets {
			prev[t.addr] = t
		}
	}
	mine := map[string]*target{}
	var problems []error
	for i, reg := range opts.Targets {
		if reg.Host == "" || reg.Port < 1 || reg.Port > 65535 {
			problems = append(problems, fmt.Errorf("target %d (%s:%d): needs a host and a port between 1 and 65535", i, reg.Host, reg.Port))
			continue
		}
		addr := net.JoinHostPort(reg.Host, strconv.Itoa(reg.Port))
		t := mine[addr]
		if t == nil {
			t = prev[addr]
		}
		if t == nil {
			t = &target{reg: reg, addr: addr}
		}
		mine[addr] = t
		g.targets = append(g.targets, t)
	}
	if err := errors.Join(problems...); err != nil {
		return nil, fmt.Errorf("target group %q: %w", opts.Name, err)
	}
	if p := opts.Previous; p != nil {
		for _, r := range p.removed {
			// Carried on while they drain (for Describe and a later re-registration), or while Previous never ran
			// and so never started their drain; others are forgotten, so that the list does not grow with reloads.
			if mine[r.t.addr] == nil && (!p.active.Load() || r.t.isDraining()) {
				mine[r.t.addr] = r.t
				g.removed = append(g.removed, r)
			}
		}
		for _, t := range p.targets {
			if mine[t.addr] == nil {
				mine[t.addr] = t // once, even when Previous registered it twice
				g.removed = append(g.removed, removedTarget{t: t, delay: p.delay})
			}
		}
	}
	return g, nil
}

// Name returns the target group's name.
func (g *TargetGroup) Name() string { return g.name }

// ProxyProtocolV2 reports whether targets get a PROXY v2 header.
func (g *TargetGroup) ProxyProtocolV2() bool { return g.proxyV2 }

// activate makes g the current generation of its target group, once: targets it registers stop draining, and the
// targets it dropped start.
func (g *TargetGroup) activate() {
	g.activated.Do(func() {
		for _, t := range g.targets {
			t.undrain()
		}
		for _, r := range g.removed {
			r.t.drain(g, r.delay)
		}
		g.active.Store(true)
	})
}

// pick returns the target for a new connection and counts it as active, or nil when the group has no target.
// The caller must call t.active.Add(-1) when the connection ends.
func (g *TargetGroup) pick() *target {
	n := len(g.targets)
	if n == 0 {
		return nil
	}
	var usable []int // nil: every target
	if g.health != nil {
		usable = g.health.Healthy() // fails open: every target when none is healthy
		if len(usable) == 0 {
			return nil
		}
		n = len(usable)
	}
	at := func(i int) *target {
		if usable != nil {
			return g.targets[usable[i]]
		}
		return g.targets[i]
	}
	start := int((g.next.Add(1) - 1) % uint64(n))
	best := at(start)
	if g.algo == LeastConnections {
		// Scanning from a rotating start spreads ties instead of always favouring the first target.
		for k := 1; k < n; k++ {
			if t := at((start + k) % n); t.active.Load() < best.active.Load() {
				best = t
			}
		}
	}
	best.active.Add(1)
	return best
}

// Describe returns the health of every registered target, in registration order, followed by the targets that are
// draining after being left out of this generation.
func (g *TargetGroup) Describe() []health.TargetHealth {
	var out []health.TargetHealth
	if g.health != nil {
		out = g.health.Describe()
	} else {
		out = make([]health.TargetHealth, 0, len(g.targets))
		for _, t := range g.targets {
			out = append(out, health.TargetHealth{Target: t.reg, HealthCheckPort: t.reg.Port,
				State: health.StateUnavailable, Reason: health.ReasonHealthCheckDisabled, Description: descHealthDisabled})
		}
	}
	for _, r := range g.removed {
		if r.t.isDraining() {
			out = append(out, health.TargetHealth{Target: r.t.reg, HealthCheckPort: r.t.reg.Port,
				State: StateDraining, Reason: ReasonDeregistrationInProgress, Description: descDeregistration})
		}
	}
	return out
}

// dial connects to t, resolving its host name if it has one. (Dialer.DialTCP would skip parsing the address, but
// it binds the socket to ":0" before connecting, and bind's port choice fails under connection churn that
// connect's own choice survives.)
func (t *target) dial(ctx context.Context, d *net.Dialer) (*net.TCPConn, error) {
	c, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil // a "tcp" dial always returns one
}

// add registers c as one of t's connections; false means t's drain is over and c must not be used.
func (t *target) add(c *conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.expired {
		return false
	}
	if t.conns == nil {
		t.conns = map[*conn]struct{}{}
	}
	t.conns[c] = struct{}{}
	return true
}

// remove forgets c; a draining target whose last connection ends has finished draining.
func (t *target) remove(c *conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.conns, c)
	if t.draining && len(t.conns) == 0 {
		t.stopDrainLocked()
	}
}

// drain starts t's deregistration: its connections are closed after delay unless they end first. A target without
// connections has nothing to drain.
func (t *target) drain(g *TargetGroup, delay time.Duration) {
	t.mu.Lock()
	if t.draining || t.expired || len(t.conns) == 0 {
		t.mu.Unlock()
		return
	}
	t.draining = true
	t.drains++
	seq, n := t.drains, len(t.conns)
	t.timer = time.AfterFunc(delay, func() { t.expire(g, seq) })
	t.mu.Unlock()
	g.log.Info("target draining", "target_group", g.name, "target", t.addr, "connections", n, "deregistration_delay", delay)
}

// expire closes the connections of a target whose deregistration delay ran out.
func (t *target) expire(g *TargetGroup, seq uint64) {
	t.mu.Lock()
	if !t.draining || t.drains != seq {
		t.mu.Unlock()
		return
	}
	conns := make([]*conn, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	t.stopDrainLocked()
	t.expired = true
	t.mu.Unlock()
	for _, c := range conns {
		c.abort(reasonDeregistered)
	}
	g.log.Info("target deregistered: delay over, connections closed", "target_group", g.name, "target", t.addr,
		"connections", len(conns))
}

func (t *target) stopDrainLocked() {
	t.draining = false
	if t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
}

// undrain puts t back in service: it was registered again.
func (t *target) undrain() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopDrainLocked()
	t.expired = false
}

func (t *target) isDraining() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.draining
}
