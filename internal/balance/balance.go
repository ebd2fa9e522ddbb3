// Package balance picks the target of a target group for each request or connection.
//
// For now it offers round robin over a static list; health, weights, slow start and draining arrive with
// layer-7 routing. A TargetGroup is immutable apart from its counter and belongs to one configuration
// snapshot.
package balance

import (
	"net/url"
	"sync/atomic"
)

// Target is one backend: an address and the URL requests to it are sent to.
type Target struct {
	Addr string   // host:port
	URL  *url.URL // scheme://host:port
}

// TargetGroup is a named set of targets picked in turn.
type TargetGroup struct {
	Name    string
	targets []Target
	next    atomic.Uint64
}

// NewTargetGroup returns a target group over targets, which it does not copy and the caller must not change.
func NewTargetGroup(name string, targets []Target) *TargetGroup {
	return &TargetGroup{Name: name, targets: targets}
}

// Len returns the number of registered targets.
func (g *TargetGroup) Len() int { return len(g.targets) }

// Targets returns the registered targets; the slice must not be modified.
func (g *TargetGroup) Targets() []Target { return g.targets }

// Pick returns the next target in round-robin order, or nil if the group has none. It is safe for concurrent
// use and does not allocate.
func (g *TargetGroup) Pick() *Target {
	n := uint64(len(g.targets))
	if n == 0 {
		return nil
	}
	return &g.targets[(g.next.Add(1)-1)%n]
}
