package listen

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"
)

// Conn is an accepted connection and what mtlslb knows about it. It is the net.Conn beneath the *tls.Conn.
type Conn struct {
	net.Conn
	// TraceID identifies the connection in the connection log and in the access log of each of its requests.
	TraceID [16]byte
	// Accepted is when the TCP connection was accepted; handshake latency is measured from here.
	Accepted time.Time
	// State is what the Setup callback attached when the connection was accepted: the listener generation
	// whose TLS configuration the handshake used. It never changes for the life of the connection, so a
	// connection is served entirely by the configuration it was authenticated under.
	State any
	// Values is set by the Handshake callback after a successful handshake (for example the client-certificate
	// header values, computed once per connection).
	Values any
}

// Handshake describes one finished handshake attempt.
type Handshake struct {
	Conn    *Conn
	TLS     *tls.Conn // nil on a plain (HTTP) listener
	Err     error     // nil on success
	Latency time.Duration
}

// Options configures a Listener.
type Options struct {
	// Setup is called for every accepted connection before its handshake. It returns the TLS configuration to
	// use, or nil for a plain connection (no handshake: Done is called at once), and sets c.State. It must not
	// block.
	Setup func(c *Conn) *tls.Config
	// Wrap, when set, is given each connection that Done kept and returns the connection Accept yields (for
	// example one that watches the bytes of HTTP/1 requests). It must keep a NetConn method leading to c.
	Wrap func(c net.Conn, h Handshake) net.Conn
	// Done is called exactly once per accepted connection, when its handshake has succeeded or failed. For a
	// successful handshake it may set c.Values; returning false closes the connection instead of serving it.
	Done func(h Handshake) bool
	// HandshakeTimeout bounds the handshake (default 10 s).
	HandshakeTimeout time.Duration
	// NewTraceID returns a fresh connection trace id.
	NewTraceID func() [16]byte
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Listener accepts connections from an inner listener, handshakes them concurrently and yields the
// successful ones. It implements net.Listener.
type Listener struct {
	inner net.Listener
	opts  Options
	ready chan net.Conn

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // accept loop and handshakes in flight
	once   sync.Once

	errMu sync.Mutex
	err   error // the accept loop's terminal error
}

// New starts accepting on inner. Close stops it.
func New(inner net.Listener, opts Options) *Listener {
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = 10 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Listener{inner: inner, opts: opts, ready: make(chan net.Conn), ctx: ctx, cancel: cancel}
	l.wg.Add(1)
	go l.acceptLoop()
	return l
}

func (l *Listener) acceptLoop() {
	defer l.wg.Done()
	var backoff time.Duration
	for {
		raw, err := l.inner.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Temporary exhaustion (EMFILE and friends surface as timeouts): back off as net/http does,
				// rather than spinning or giving up the socket.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				select {
				case <-time.After(backoff):
					continue
				case <-l.ctx.Done():
					return
				}
			}
			l.errMu.Lock()
			l.err = err
			l.errMu.Unlock()
			l.cancel()
			return
		}
		backoff = 0
		c := &Conn{Conn: raw, Accepted: l.opts.Now()}
		if l.opts.NewTraceID != nil {
			c.TraceID = l.opts.NewTraceID()
		}
		cfg := l.opts.Setup(c)
		// Reserve the WaitGroup slot before the goroutine starts, so Close cannot return while a handshake
		// it did not see is about to begin.
		l.wg.Add(1)
		go l.handshake(c, cfg)
	}
}

func (l *Listener) handshake(c *Conn, cfg *tls.Config) {
	defer l.wg.Done()
	var out net.Conn = c
	h := Handshake{Conn: c}
	if cfg != nil {
		tc := tls.Server(c, cfg)
		ctx, cancel := context.WithTimeout(l.ctx, l.opts.HandshakeTimeout)
		h.Err = tc.HandshakeContext(ctx)
		cancel()
		h.TLS, out = tc, tc
	}
	h.Latency = l.opts.Now().Sub(c.Accepted)
	keep := l.opts.Done(h)
	if h.Err != nil || !keep {
		_ = out.Close()
		return
	}
	if l.opts.Wrap != nil {
		out = l.opts.Wrap(out, h)
	}
	select {
	case l.ready <- out:
	case <-l.ctx.Done():
		_ = out.Close()
	}
}

// Accept returns the next connection whose handshake succeeded.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.ctx.Done():
		// Close cancels ctx too, possibly before the accept loop has recorded why it stopped; either way
		// the caller learns the listener is done.
		l.errMu.Lock()
		defer l.errMu.Unlock()
		if l.err != nil {
			return nil, l.err
		}
		return nil, net.ErrClosed
	}
}

// Close stops accepting, aborts handshakes in flight and waits for them to finish. Connections already handed
// out by Accept are not affected: their server drains them.
func (l *Listener) Close() error {
	var err error
	l.once.Do(func() {
		err = l.inner.Close()
		l.cancel()
		l.wg.Wait()
	})
	return err
}

// Addr returns the address the listener accepts on.
func (l *Listener) Addr() net.Addr { return l.inner.Addr() }

// FromTLS returns the Conn beneath a connection that this package accepted, or nil. It looks through every
// layer that has a NetConn method (*tls.Conn, Wrap's connections).
func FromTLS(c net.Conn) *Conn {
	for range 4 {
		switch v := c.(type) {
		case *Conn:
			return v
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return nil
		}
	}
	return nil
}
