package l4_test

import (
	"context"
	"log/slog"
	"net"
	"time"

	"github.com/mtlslb/mtlslb/internal/health"
	"github.com/mtlslb/mtlslb/internal/l4"
)

// A TCP listener forwards to a target group with the PROXY protocol; a reload drops a target, which drains for
// the group's deregistration delay; shutdown waits for open connections.
func Example() {
	g1, err := l4.NewTargetGroup(l4.TargetGroupOptions{
		Name:                "nginx-mtls",
		Targets:             []health.Target{{Host: "127.0.0.1", Port: 8443}, {Host: "127.0.0.1", Port: 9443}},
		Algorithm:           l4.LeastConnections,
		ProxyProtocolV2:     true,
		DeregistrationDelay: 300 * time.Second,
	})
	if err != nil {
		slog.Error("target group", "err", err)
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		slog.Error("listen", "err", err)
		return
	}
	s, err := l4.New(ln, &l4.Config{ELB: "demo", Protocol: l4.ProtocolTCP, Group: g1})
	if err != nil {
		slog.Error("listener", "err", err)
		return
	}

	// A reload: the next generation of the group names its predecessor, so 127.0.0.1:9443 drains.
	g2, err := l4.NewTargetGroup(l4.TargetGroupOptions{
		Name:                "nginx-mtls",
		Targets:             []health.Target{{Host: "127.0.0.1", Port: 8443}},
		Algorithm:           l4.LeastConnections,
		ProxyProtocolV2:     true,
		DeregistrationDelay: 300 * time.Second,
		Previous:            g1,
	})
	if err != nil {
		slog.Error("target group", "err", err)
		return
	}
	if err := s.Update(&l4.Config{ELB: "demo", Protocol: l4.ProtocolTCP, Group: g2}); err != nil {
		slog.Error("reload", "err", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = s.Shutdown(ctx)
}
