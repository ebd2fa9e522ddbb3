package health

import (
	"fmt"
	"strconv"
	"time"

	"github.com/mtlslb/mtlslb/internal/config"
)

// FromConfig compiles a target group's health check from the configuration
// document, after its defaults were applied and it was validated. A
// grpc_code matcher makes the check a gRPC one (GRPC target groups).
func FromConfig(hc config.HealthCheck) (Config, error) {
	cfg := Config{
		Disabled:           hc.Enabled != nil && !*hc.Enabled,
		Protocol:           Protocol(hc.Protocol),
		Path:               hc.Path,
		Interval:           time.Duration(hc.IntervalSeconds) * time.Second,
		Timeout:            time.Duration(hc.TimeoutSeconds) * time.Second,
		HealthyThreshold:   hc.HealthyThresholdCount,
		UnhealthyThreshold: hc.UnhealthyThresholdCount,
	}
	if hc.Port != config.TrafficPort && hc.Port != "" {
		n, err := strconv.Atoi(hc.Port)
		if err != nil || n < 1 || n > 65535 {
			return Config{}, fmt.Errorf("compiling health check: port %q is neither %q nor 1–65535", hc.Port, config.TrafficPort)
		}
		cfg.Port = n
	}
	if hc.Matcher != nil && (cfg.Protocol == ProtocolHTTP || cfg.Protocol == ProtocolHTTPS) {
		parse := ParseMatcher
		code := hc.Matcher.HTTPCode
		if hc.Matcher.GRPCCode != "" {
			parse, code = ParseGRPCMatcher, hc.Matcher.GRPCCode
			cfg.GRPC = true
		}
		m, err := parse(code)
		if err != nil {
			return Config{}, fmt.Errorf("compiling health check: %w", err)
		}
		cfg.Matcher = m
	}
	if err := cfg.validate(); err != nil {
		return Config{}, fmt.Errorf("compiling health check: %w", err)
	}
	return cfg, nil
}

// TargetsFromConfig returns the checked targets of a target group.
func TargetsFromConfig(targets []config.Target) []Target {
	out := make([]Target, len(targets))
	for i, t := range targets {
		out[i] = Target{Host: t.ID, Port: t.Port}
	}
	return out
}
