package l4

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/mtlslb/mtlslb/internal/health"
	"github.com/mtlslb/mtlslb/internal/proxyproto"
)

// ProxyHealthDial returns a health.DialFunc for the health checks of a target group with proxy_protocol_v2: after
// connecting it sends a PROXY v2 header with the LOCAL command. A target configured for the PROXY protocol
// expects a header on every connection and refuses, or answers 400 to, one without; LOCAL tells it that the
// connection is the load balancer's own, so it uses the real addresses. d's zero value works.
func ProxyHealthDial(d *net.Dialer) health.DialFunc {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, address)
		if err != nil {
			return nil, err
		}
		if dl, ok := ctx.Deadline(); ok {
			_ = c.SetWriteDeadline(dl)
		}
		var buf [16]byte
		if _, err := c.Write(proxyproto.AppendV2Local(buf[:0])); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("sending PROXY header to %s: %w", address, err)
		}
		_ = c.SetWriteDeadline(time.Time{})
		return c, nil
	}
}
