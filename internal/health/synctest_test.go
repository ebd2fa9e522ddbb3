package health

import (
	"context"
	"net"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// pipeDial connects to nothing real: in a synctest bubble only in-memory
// connections let the fake clock run, so these tests check the timing of
// the state machine with ALB's default figures; the tests beside them check
// real sockets.
func pipeDial(behave func() string) DialFunc {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		switch behave() {
		case "refuse":
			return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
		case "hang":
			<-ctx.Done()
			return nil, ctx.Err()
		}
		client, server := net.Pipe()
		server.Close()
		return client, nil
	}
}

// albTCPDefaults are NLB's TCP check defaults as the config package sets
// them: every 30 s, 10 s timeout, 5 to become healthy, 2 to become unhealthy.
func albTCPDefaults() Config {
	return Config{Protocol: ProtocolTCP, Interval: 30 * time.Second, Timeout: 10 * time.Second,
		HealthyThreshold: 5, UnhealthyThreshold: 2}
}

func TestTimingWithDefaults(t *testing.T) {
	tests := []struct {
		name     string
		behave   string
		becomes  time.Duration // since Start
		want     State
		reason   Reason
		failOpen bool
	}{
		// Checks at 0, 30, 60, 90 and 120 s: the fifth success makes it healthy.
		{name: "healthy after 5 checks", behave: "connect", becomes: 120 * time.Second, want: StateHealthy},
		// Checks at 0 and 30 s.
		{name: "refused twice", behave: "refuse", becomes: 30 * time.Second, want: StateUnhealthy,
			reason: ReasonFailedHealthChecks, failOpen: true},
		// Checks at 0 and 30 s, each giving up 10 s later.
		{name: "timed out twice", behave: "hang", becomes: 40 * time.Second, want: StateUnhealthy,
			reason: ReasonTimeout, failOpen: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, err := New(albTCPDefaults(), []Target{{Host: "192.0.2.1", Port: 443}},
					Options{Dial: pipeDial(func() string { return tt.behave })})
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(t.Context())
				start := time.Now()
				c.Start(ctx)

				time.Sleep(tt.becomes - time.Second)
				synctest.Wait()
				if got := c.Describe()[0]; got.State != StateInitial || got.Reason != ReasonInitialHealthChecking {
					t.Fatalf("at %v: %s/%s, want still initial", time.Since(start), got.State, got.Reason)
				}
				time.Sleep(2 * time.Second)
				synctest.Wait()
				got := c.Describe()[0]
				if got.State != tt.want || got.Reason != tt.reason {
					t.Fatalf("at %v: %s/%s, want %s/%s", time.Since(start), got.State, got.Reason, tt.want, tt.reason)
				}
				if c.FailingOpen() != tt.failOpen || len(c.Healthy()) != 1 {
					t.Errorf("Healthy() = %v, FailingOpen() = %v, want [0], %v", c.Healthy(), c.FailingOpen(), tt.failOpen)
				}

				// Cancelling stops every goroutine of the bubble; synctest.Test
				// would report any left blocked.
				cancel()
				synctest.Wait()
				select {
				case <-c.Done():
				default:
					t.Fatal("checker still running after cancel")
				}
			})
		})
	}
}

// TestFlapping checks that counts are of consecutive results: failures
// interleaved with successes never make a healthy target unhealthy.
func TestFlapping(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := 0
		behave := func() string {
			n++ // checks are sequential with one target
			if n <= 5 || n%2 == 0 {
				return "connect"
			}
			return "refuse"
		}
		var changes []State
		c, err := New(albTCPDefaults(), []Target{{Host: "192.0.2.1", Port: 443}}, Options{
			Dial:     pipeDial(behave),
			OnChange: func(_ int, _, new TargetHealth) { changes = append(changes, new.State) },
		})
		if err != nil {
			t.Fatal(err)
		}
		c.Start(t.Context())
		time.Sleep(30 * time.Minute)
		synctest.Wait()
		if len(changes) != 1 || changes[0] != StateHealthy {
			t.Errorf("changes %v, want only [healthy]", changes)
		}
		if th := c.Describe()[0]; th.State != StateHealthy {
			t.Errorf("state %s, want healthy", th.State)
		}
	})
}
