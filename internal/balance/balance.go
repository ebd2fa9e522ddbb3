// Package balance picks the target of a target group for each request, the way an Application Load Balancer
// does: round robin (weighted), least outstanding requests, or weighted random, over the targets the health
// checks allow (every target when none is healthy: fail open), with slow start for targets that have just
// entered service and lb_cookie stickiness (the AWSALB cookie).
//
// A Target outlives configuration snapshots: the Registry hands the same *Target to every snapshot that keeps
// it, so its count of outstanding requests and its slow-start clock survive reloads, and a target removed from
// its group drains (see Registry.Retain). A Group belongs to one snapshot and is immutable apart from counters;
// Pick is safe for concurrent use and does not allocate.
package balance

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Algorithm is a target group's load_balancing_algorithm_type.
type Algorithm uint8

// The algorithms of ALB target groups.
const (
	RoundRobin Algorithm = iota
	LeastOutstanding
	WeightedRandom
)

// ParseAlgorithm reads the document's name of an algorithm; "" is round_robin. least_connections (layer 4)
// is least outstanding: for a connection-level balancer the outstanding work is the open connections.
func ParseAlgorithm(s string) (Algorithm, error) {
	switch s {
	case "", "round_robin":
		return RoundRobin, nil
	case "least_outstanding_requests", "least_connections":
		return LeastOutstanding, nil
	case "weighted_random":
		return WeightedRandom, nil
	}
	return 0, fmt.Errorf("unknown load balancing algorithm %q", s)
}

// String returns the document's name of a.
func (a Algorithm) String() string {
	switch a {
	case LeastOutstanding:
		return "least_outstanding_requests"
	case WeightedRandom:
		return "weighted_random"
	}
	return "round_robin"
}

// Target is one backend of a target group.
type Target struct {
	// ID is the target's address as host:port.
	ID string
	// URL is where requests to the target go (scheme://host:port).
	URL *url.URL
	// Addr is the target's IP address and port for logs; the zero value when the target is a host name.
	Addr netip.AddrPort
	// Weight is the target's share (beyond ALB; default 1, 0 means no new requests).
	Weight int
	// Cookie is the value of the AWSALB stickiness cookie that names this target: an opaque digest of the
	// group and the address, stable across restarts so that sticky clients stay put through a reload.
	Cookie string

	outstanding atomic.Int64
	started     atomic.Int64 // unix nanoseconds when the target (re)entered service; slow start counts from here
	drainUntil  atomic.Int64 // unix nanoseconds; non-zero while draining
}

// Begin counts a request (or connection) to t as outstanding; End counts it finished.
func (t *Target) Begin() { t.outstanding.Add(1) }

// End counts a request begun with Begin as finished.
func (t *Target) End() { t.outstanding.Add(-1) }

// Outstanding returns the requests in flight to t.
func (t *Target) Outstanding() int64 { return t.outstanding.Load() }

// EnterService restarts t's slow-start clock: called when a target becomes healthy again.
func (t *Target) EnterService(now time.Time) { t.started.Store(now.UnixNano()) }

// Draining reports whether t was removed from its group and until when it keeps its connections.
func (t *Target) Draining() (time.Time, bool) {
	n := t.drainUntil.Load()
	if n == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, n), true
}

// cookieFor returns the stickiness cookie value of target id in group.
func cookieFor(group, id string) string {
	sum := sha256.Sum256([]byte(group + "\x00" + id))
	return hex.EncodeToString(sum[:12])
}

// Registry keeps the Targets of every group across configuration snapshots. It is safe for concurrent use.
type Registry struct {
	mu      sync.Mutex
	targets map[targetKey]*Target
	now     func() time.Time
}

type targetKey struct{ group, id string }

// NewRegistry returns an empty Registry; now is the clock (nil: time.Now).
func NewRegistry(now func() time.Time) *Registry {
	if now == nil {
		now = time.Now
	}
	return &Registry{targets: map[targetKey]*Target{}, now: now}
}

// Target returns the target id (host:port) of group, creating it on first use with the given URL and weight.
// A target that was draining and is registered again leaves draining and starts its slow start afresh.
func (r *Registry) Target(group, id string, u *url.URL, weight int) *Target {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := targetKey{group, id}
	if t, ok := r.targets[k]; ok && t.URL.String() == u.String() && t.Weight == weight {
		if t.drainUntil.Swap(0) != 0 {
			t.EnterService(r.now())
		}
		return t
	} else if ok {
		// Same address, new URL or weight: a new Target (Targets are immutable but for counters) that keeps the
		// old one's counters' meaning: outstanding requests stay with the old object and end there.
		nt := newTarget(group, id, u, weight)
		nt.started.Store(t.started.Load())
		r.targets[k] = nt
		return nt
	}
	t := newTarget(group, id, u, weight)
	t.EnterService(r.now())
	r.targets[k] = t
	return t
}

func newTarget(group, id string, u *url.URL, weight int) *Target {
	t := &Target{ID: id, URL: u, Weight: weight, Cookie: cookieFor(group, id)}
	if ap, err := netip.ParseAddrPort(id); err == nil {
		t.Addr = ap
	}
	return t
}

// Drained is a target whose deregistration delay has run out: its connections should be closed.
type Drained struct {
	Group  string
	Target *Target
}

// Retain keeps the targets of keep (group → targets) and starts draining every other one: a draining target
// gets no new requests (no snapshot lists it any more) and is forgotten after its group's delay, given by
// delay(group). Retain returns the targets whose delay ran out since the last call, for the caller to close
// their connections, and the earliest time a draining target will run out (zero if none), for the caller to
// call Retain again then.
func (r *Registry) Retain(keep map[string][]*Target, delay func(group string) time.Duration) ([]Drained, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	live := map[*Target]bool{}
	for _, ts := range keep {
		for _, t := range ts {
			live[t] = true
		}
	}
	var done []Drained
	var next time.Time
	for k, t := range r.targets {
		if live[t] {
			t.drainUntil.Store(0)
			continue
		}
		until := t.drainUntil.Load()
		if until == 0 {
			d := delay(k.group)
			until = now.Add(d).UnixNano()
			if d <= 0 {
				until = now.UnixNano()
			}
			t.drainUntil.Store(until)
		}
		if until <= now.UnixNano() {
			delete(r.targets, k)
			done = append(done, Drained{Group: k.group, Target: t})
			continue
		}
		if u := time.Unix(0, until); next.IsZero() || u.Before(next) {
			next = u
		}
	}
	return done, next
}

// DrainingTargets returns the targets of group that are draining.
func (r *Registry) DrainingTargets(group string) []*Target {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*Target
	for k, t := range r.targets {
		if k.group == group && t.drainUntil.Load() != 0 {
			out = append(out, t)
		}
	}
	return out
}

// GroupConfig is what a Group needs besides its targets.
type GroupConfig struct {
	Name      string
	Algorithm Algorithm
	// SlowStart is the slow-start duration; 0 is off.
	SlowStart time.Duration
	// Healthy returns the indexes of the targets that may receive requests (the health checker's view, failing
	// open); nil means every target. The returned slice must not change after it was returned: a new state is a
	// new slice.
	Healthy func() []int
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Group is one snapshot's view of a target group.
type Group struct {
	cfg     GroupConfig
	targets []*Target
	rr      atomic.Uint64
	view    atomic.Pointer[view]
	mu      sync.Mutex // serialises rebuilding the view
}

// view is what Pick derives from one health state: the eligible targets and, per algorithm, their order.
type view struct {
	src   []int     // the Healthy slice this view was built from (compared by identity)
	elig  []*Target // eligible targets: healthy, weight > 0
	seq   []uint16  // weighted round robin: indexes into elig, spread out
	sums  []int     // weighted random: prefix sums of weights
	total int
}

// NewGroup returns a Group over targets (from a Registry), which it does not copy.
func NewGroup(cfg GroupConfig, targets []*Target) *Group {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Group{cfg: cfg, targets: targets}
}

// Name returns the target group's name.
func (g *Group) Name() string { return g.cfg.Name }

// Len returns the number of registered targets.
func (g *Group) Len() int { return len(g.targets) }

// Targets returns the registered targets; the slice must not be modified.
func (g *Group) Targets() []*Target { return g.targets }

// Algorithm returns the group's algorithm.
func (g *Group) Algorithm() Algorithm { return g.cfg.Algorithm }

func (g *Group) currentView() *view {
	var h []int
	if g.cfg.Healthy != nil {
		h = g.cfg.Healthy()
	}
	v := g.view.Load()
	if v != nil && sameSlice(v.src, h) {
		return v
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if v = g.view.Load(); v != nil && sameSlice(v.src, h) {
		return v
	}
	v = g.buildView(h)
	g.view.Store(v)
	return v
}

// sameSlice reports whether a and b are the same slice (not merely equal): health states are published as new
// slices, so identity is the cheap test of "nothing changed".
func sameSlice(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	return len(a) == 0 || &a[0] == &b[0]
}

func (g *Group) buildView(h []int) *view {
	v := &view{src: h}
	add := func(t *Target) {
		if t.Weight > 0 {
			v.elig = append(v.elig, t)
		}
	}
	if g.cfg.Healthy == nil {
		for _, t := range g.targets {
			add(t)
		}
	} else {
		for _, i := range h {
			if i >= 0 && i < len(g.targets) {
				add(g.targets[i])
			}
		}
	}
	for _, t := range v.elig {
		v.total += t.Weight
		v.sums = append(v.sums, v.total)
	}
	v.seq = smoothSequence(v.elig)
	return v
}

// smoothSequence lays out one round of weighted round robin, each target appearing Weight times, spread
// evenly (nginx's smooth weighted round robin, computed once per health state instead of per request).
func smoothSequence(ts []*Target) []uint16 {
	total := 0
	for _, t := range ts {
		total += t.Weight
	}
	seq := make([]uint16, 0, total)
	cur := make([]int, len(ts))
	for range total {
		best := -1
		for i, t := range ts {
			cur[i] += t.Weight
			if best < 0 || cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= total
		seq = append(seq, uint16(best))
	}
	return seq
}

// Pick returns the target for a request, or nil when the group has no eligible target. sticky is the value of
// the client's AWSALB cookie ("" for none); stuck reports that it named an eligible target, which was chosen.
func (g *Group) Pick(sticky string) (t *Target, stuck bool) {
	v := g.currentView()
	n := len(v.elig)
	if n == 0 {
		return nil, false
	}
	if sticky != "" {
		for _, t := range v.elig {
			if t.Cookie == sticky {
				return t, true
			}
		}
	}
	switch g.cfg.Algorithm {
	case LeastOutstanding:
		return g.leastOutstanding(v), false
	case WeightedRandom:
		return g.weightedRandom(v), false
	}
	return g.roundRobin(v), false
}

// share is the fraction of its weight that t gets during slow start, in (0, 1].
func (g *Group) share(t *Target, now int64) float64 {
	if g.cfg.SlowStart <= 0 {
		return 1
	}
	el := float64(now - t.started.Load())
	f := el / float64(g.cfg.SlowStart)
	if f >= 1 {
		return 1
	}
	// ALB starts a target with a small share rather than none, so a target in slow start is never starved.
	return max(f, 0.05)
}

func (g *Group) roundRobin(v *view) *Target {
	var now int64
	if g.cfg.SlowStart > 0 {
		now = g.cfg.Now().UnixNano()
	}
	// A target in slow start lets a turn pass with probability 1-share; after len(seq) declined turns the
	// next target takes it regardless, so Pick always ends.
	for range len(v.seq) {
		t := v.elig[v.seq[(g.rr.Add(1)-1)%uint64(len(v.seq))]]
		if g.cfg.SlowStart <= 0 {
			return t
		}
		if s := g.share(t, now); s >= 1 || rand.Float64() < s {
			return t
		}
	}
	return v.elig[v.seq[(g.rr.Add(1)-1)%uint64(len(v.seq))]]
}

func (g *Group) leastOutstanding(v *view) *Target {
	var now int64
	if g.cfg.SlowStart > 0 {
		now = g.cfg.Now().UnixNano()
	}
	n := len(v.elig)
	// Ties go round robin, so equal targets share the load instead of the first one taking it all.
	start := int((g.rr.Add(1) - 1) % uint64(n))
	var best *Target
	bestCost := 0.0
	for k := range n {
		t := v.elig[(start+k)%n]
		cost := float64(t.outstanding.Load()+1) / (float64(t.Weight) * g.share(t, now))
		if best == nil || cost < bestCost {
			best, bestCost = t, cost
		}
	}
	return best
}

func (g *Group) weightedRandom(v *view) *Target {
	var now int64
	if g.cfg.SlowStart > 0 {
		now = g.cfg.Now().UnixNano()
	}
	for range len(v.elig) {
		x := rand.IntN(v.total)
		lo, hi := 0, len(v.sums)-1
		for lo < hi {
			m := (lo + hi) / 2
			if v.sums[m] > x {
				hi = m
			} else {
				lo = m + 1
			}
		}
		t := v.elig[lo]
		if s := g.share(t, now); s >= 1 || rand.Float64() < s {
			return t
		}
	}
	return v.elig[rand.IntN(len(v.elig))]
}

// WeightedChoice picks an index from weights (each ≥ 0, at least one > 0) with probability proportional to
// its weight: the choice among the target groups of a weighted forward action. It does not allocate.
func WeightedChoice(weights []int, total int) int {
	x := rand.IntN(total)
	for i, w := range weights {
		if x < w {
			return i
		}
		x -= w
	}
	return len(weights) - 1
}
