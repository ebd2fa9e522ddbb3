package health

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mtlslb/mtlslb/internal/config"
)

func TestFromConfig(t *testing.T) {
	off := false
	tests := []struct {
		name string
		tg   config.TargetGroup
		want Config
	}{
		{
			name: "HTTP defaults are ALB's",
			tg:   config.TargetGroup{Name: "app", Protocol: config.ProtocolHTTP},
			want: Config{Protocol: ProtocolHTTP, Path: "/", Interval: 30 * time.Second, Timeout: 5 * time.Second,
				HealthyThreshold: 5, UnhealthyThreshold: 2, Matcher: mustMatcher(t, "200")},
		},
		{
			name: "TCP defaults are NLB's",
			tg:   config.TargetGroup{Name: "db", Protocol: config.ProtocolTLS},
			want: Config{Protocol: ProtocolTCP, Interval: 30 * time.Second, Timeout: 10 * time.Second,
				HealthyThreshold: 5, UnhealthyThreshold: 2},
		},
		{
			name: "everything set",
			tg: config.TargetGroup{Name: "app", Protocol: config.ProtocolHTTPS, HealthCheck: config.HealthCheck{
				Port: "8443", Path: "/healthz?deep=1", IntervalSeconds: 10, TimeoutSeconds: 3,
				HealthyThresholdCount: 3, UnhealthyThresholdCount: 4, Matcher: &config.Matcher{HTTPCode: "200-399"},
			}},
			want: Config{Protocol: ProtocolHTTPS, Port: 8443, Path: "/healthz?deep=1", Interval: 10 * time.Second,
				Timeout: 3 * time.Second, HealthyThreshold: 3, UnhealthyThreshold: 4, Matcher: mustMatcher(t, "200-399")},
		},
		{
			name: "disabled",
			tg:   config.TargetGroup{Name: "app", Protocol: config.ProtocolTCP, HealthCheck: config.HealthCheck{Enabled: &off}},
			want: Config{Disabled: true, Protocol: ProtocolTCP, Interval: 30 * time.Second, Timeout: 10 * time.Second,
				HealthyThreshold: 5, UnhealthyThreshold: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := &config.Document{TargetGroups: []config.TargetGroup{tt.tg}}
			config.SetDefaults(doc)
			got, err := FromConfig(doc.TargetGroups[0].HealthCheck)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b Matcher) bool { return a == b })); diff != "" {
				t.Errorf("FromConfig (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFromConfigBadInput(t *testing.T) {
	tests := []struct {
		name string
		hc   config.HealthCheck
	}{
		{"bad port", config.HealthCheck{Protocol: "TCP", Port: "http", IntervalSeconds: 30, TimeoutSeconds: 10,
			HealthyThresholdCount: 5, UnhealthyThresholdCount: 2}},
		{"bad matcher", config.HealthCheck{Protocol: "HTTP", Path: "/", IntervalSeconds: 30, TimeoutSeconds: 5,
			HealthyThresholdCount: 5, UnhealthyThresholdCount: 2, Matcher: &config.Matcher{HTTPCode: "200-599"}}},
		{"gRPC matcher out of range", config.HealthCheck{Protocol: "HTTP", Path: "/", IntervalSeconds: 30, TimeoutSeconds: 5,
			HealthyThresholdCount: 5, UnhealthyThresholdCount: 2, Matcher: &config.Matcher{GRPCCode: "100"}}},
		{"no defaults applied", config.HealthCheck{Protocol: "HTTP"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := FromConfig(tt.hc); err == nil {
				t.Fatalf("FromConfig = %+v, want an error", got)
			} else {
				t.Log(err)
			}
		})
	}
}
