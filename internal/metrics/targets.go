package metrics

import (
	"iter"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// TargetStates counts the targets of one target group by health state, in
// the words of describe-target-health.
type TargetStates struct {
	// Initial targets have not yet passed or failed enough checks in a row.
	Initial int
	// Healthy targets passed their health checks.
	Healthy int
	// Unhealthy targets failed their health checks.
	Unhealthy int
	// Unavailable targets belong to a group whose health checks are off.
	Unavailable int
	// Draining targets left the group and keep their connections until their
	// deregistration delay is over.
	Draining int
}

// SetTargetGroups makes every scrape count the targets of the target groups
// that groups yields, by name, replacing any earlier source. groups is called
// once per scrape, from the scrape's goroutine, so it must be safe for
// concurrent use; reading the running configuration there means a group that
// leaves the configuration leaves the metrics with it. A group yielded twice
// is exported once, with its first counts. nil stops exporting target
// counts.
func (m *Metrics) SetTargetGroups(groups iter.Seq2[string, TargetStates]) {
	if m == nil {
		return
	}
	if groups == nil {
		m.targetGroups.source.Store(nil)
		return
	}
	m.targetGroups.source.Store(&groups)
}

// targetGroupCollector exports the target counts. It reads them when scraped
// rather than being told of every health change, so the health checkers need
// no hook and the counts are never stale by more than one scrape.
type targetGroupCollector struct {
	targets *prometheus.Desc
	source  atomic.Pointer[iter.Seq2[string, TargetStates]]
}

func newTargetGroupCollector() *targetGroupCollector {
	return &targetGroupCollector{
		targets: prometheus.NewDesc("mtlslb_targets",
			"Targets of a target group by health state (initial, healthy, unhealthy, unavailable when health checks are off, draining). ALB CloudWatch: HealthyHostCount (state=\"healthy\") and UnHealthyHostCount (state=\"unhealthy\").",
			[]string{labelTargetGroup, labelState}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *targetGroupCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.targets
}

// Collect implements prometheus.Collector.
func (c *targetGroupCollector) Collect(ch chan<- prometheus.Metric) {
	src := c.source.Load()
	if src == nil {
		return
	}
	// A group exported twice would make the registry fail the whole scrape.
	seen := map[string]bool{}
	for name, st := range *src {
		// Names are validated by the configuration, but an invalid UTF-8
		// label value would fail the whole scrape, so it is made valid here
		// rather than trusted.
		name = strings.ToValidUTF8(name, "\uFFFD")
		if seen[name] {
			continue
		}
		seen[name] = true
		for _, s := range []struct {
			state string
			n     int
		}{
			{"initial", st.Initial},
			{"healthy", st.Healthy},
			{"unhealthy", st.Unhealthy},
			{"unavailable", st.Unavailable},
			{"draining", st.Draining},
		} {
			ch <- prometheus.MustNewConstMetric(c.targets, prometheus.GaugeValue, float64(s.n), name, s.state)
		}
	}
}
