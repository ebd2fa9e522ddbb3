package health_test

import (
	"context"
	"log/slog"

	"github.com/mtlslb/mtlslb/internal/config"
	"github.com/mtlslb/mtlslb/internal/health"
)

// A snapshot builds one Checker per target group, starts it with its own
// context and asks it for usable targets on each request.
func ExampleChecker() {
	doc := &config.Document{TargetGroups: []config.TargetGroup{{
		Name:     "app",
		Protocol: config.ProtocolHTTP,
		Targets:  []config.Target{{ID: "127.0.0.1", Port: 8080}, {ID: "127.0.0.1", Port: 8081}},
	}}}
	config.SetDefaults(doc)
	tg := doc.TargetGroups[0]

	cfg, err := health.FromConfig(tg.HealthCheck)
	if err != nil {
		slog.Error("health check", "target_group", tg.Name, "err", err)
		return
	}
	checker, err := health.New(cfg, health.TargetsFromConfig(tg.Targets), health.Options{
		OnChange: func(i int, old, new health.TargetHealth) {
			slog.Info("target health", "target_group", tg.Name, "target", new.Target,
				"from", old.State, "to", new.State, "reason", new.Reason)
		},
	})
	if err != nil {
		slog.Error("health check", "target_group", tg.Name, "err", err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background()) // the snapshot's context
	checker.Start(ctx)

	usable := checker.Healthy() // on each request: the balancer picks among these
	_ = usable

	cancel() // the snapshot is replaced
	<-checker.Done()
}
