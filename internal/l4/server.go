package l4

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Server serves one layer-4 listener: it accepts connections on a listening socket and forwards each one with the
// configuration generation current when it was accepted.
type Server struct {
	ln  net.Listener
	gen atomic.Pointer[generation]

	// ctx bounds target dials; it is cancelled when Shutdown stops waiting.
	ctx    context.Context
	cancel context.CancelFunc

	acceptDone chan struct{}
	wg         sync.WaitGroup // one per connection being served
	closing    atomic.Bool
	closeOnce  sync.Once

	mu    sync.Mutex
	conns map[*conn]struct{}

	bufs sync.Pool // *[]byte of copyBufferSize, for the directions that cannot splice
}

// New starts serving ln with cfg. The Server owns ln from then on; Shutdown closes it.
func New(ln net.Listener, cfg *Config) (*Server, error) {
	g, err := compile(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{ln: ln, ctx: ctx, cancel: cancel, acceptDone: make(chan struct{}), conns: map[*conn]struct{}{}}
	g.cfg.Group.activate()
	s.gen.Store(g)
	go s.acceptLoop()
	return s, nil
}

// Update makes cfg the configuration of new connections. Connections already accepted keep theirs. When cfg's
// target group is a successor of the previous one (TargetGroupOptions.Previous), the targets it dropped start
// draining now.
func (s *Server) Update(cfg *Config) error {
	g, err := compile(cfg)
	if err != nil {
		return err
	}
	g.cfg.Group.activate()
	s.gen.Store(g)
	return nil
}

// Addr returns the listening address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Shutdown stops accepting, closes the connections still reading a PROXY header or handshaking (they carry no
// traffic yet), and waits for the forwarding ones to end on their own until ctx is done; then it closes them and
// returns ctx's error. It returns once every connection goroutine has exited.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		_ = s.ln.Close()
	})
	<-s.acceptDone
	s.each(func(c *conn) {
		if !c.forwarding.Load() {
			c.abort(reasonShutdown)
		}
	})
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.cancel()
		s.each(func(c *conn) { c.abort(reasonShutdown) })
		<-done
		return ctx.Err()
	}
}

func (s *Server) each(f func(*conn)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		f(c)
	}
}

func (s *Server) acceptLoop() {
	defer close(s.acceptDone)
	var backoff time.Duration
	for {
		raw, err := s.ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Temporary exhaustion (EMFILE and friends): back off as net/http does rather than spin or give
				// up the socket.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				t := time.NewTimer(backoff)
				select {
				case <-t.C:
				case <-s.ctx.Done():
					t.Stop()
					return
				}
				continue
			}
			s.gen.Load().log.Error("layer-4 listener stopped accepting", "addr", s.ln.Addr().String(), "err", err)
			return
		}
		backoff = 0
		g := s.gen.Load()
		c := newConn(s, g, raw)
		g.cfg.Metrics.ConnAccepted()
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		// The slot is reserved before the goroutine starts and Shutdown waits for the accept loop before it waits
		// for the slots, so no connection can start unseen.
		s.wg.Add(1)
		go s.serve(c)
	}
}

func (s *Server) serve(c *conn) {
	defer s.wg.Done()
	c.run()
	// Both sockets are closed by now, whichever way the connection ended.
	c.g.cfg.Metrics.ConnClosed()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}
