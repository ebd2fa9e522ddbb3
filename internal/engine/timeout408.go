package engine

import (
	"errors"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/mtlslb/mtlslb/internal/httpproxy"
)

// requestTimeoutConn answers 408 Request Timeout, as ALB does, to a client that began a request and did not
// finish its head before the header timeout. net/http closes such a connection without a word; a client that
// was idle between requests is still closed silently (that is the idle timeout, not an error).
//
// It works on what crosses the connection: bytes read since the last response was written are the start of a
// request. net/http sets a read deadline only while it reads a request head or waits for the next one, so a
// deadline error here is always one of those two.
//
// It is also the connection's httpproxy.ClientWatcher: every read net/http makes of the client goes through
// it, so it sees the failed read that makes net/http cancel a request's context, and aborts the target
// connection the request waits on, without allocating per request as context.AfterFunc does.
type requestTimeoutConn struct {
	net.Conn
	onTimeout func() // counts and logs the 408
	// headerTimeout is the server's ReadHeaderTimeout. net/http also expires reads on purpose (to take a
	// connection over for a WebSocket upgrade, or to stop a background read), so only a deadline error that
	// comes a header timeout after the request's first byte is the timeout.
	headerTimeout time.Duration

	mu           sync.Mutex
	pending      bool // bytes of a request have been read since the last write
	pendingSince time.Time
	sent         bool
	// watched is the target connection a request waits on (WatchClient); aborted says its deadline was
	// expired. gone says a read from the client failed other than by a deadline: the client is gone.
	watched net.Conn
	aborted bool
	gone    bool
}

// clientGoneDeadline is a deadline that has passed: setting it makes blocked I/O return at once.
var clientGoneDeadline = time.Unix(1, 0)

const body408 = "408 Request Timeout: the request was not complete before the timeout (RequestTimeout)\n"

var response408 = []byte("HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n" +
	"Content-Length: " + strconv.Itoa(len(body408)) + "\r\n\r\n" + body408)

func (c *requestTimeoutConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	deadline := err != nil && errors.Is(err, os.ErrDeadlineExceeded)
	c.mu.Lock()
	if n > 0 && !c.pending {
		c.pending, c.pendingSince = true, time.Now()
	}
	fire := deadline && c.pending && !c.sent && time.Since(c.pendingSince) >= c.headerTimeout-c.headerTimeout/10
	if fire {
		c.sent = true
	}
	if err != nil {
		// net/http cancels the request's context on any failed read but the deadline error it causes itself
		// to stop its background read, which it does only once the handler has returned, so with nothing
		// watched. That one says nothing of the client, and must not abort the next request's exchange.
		c.gone = c.gone || !deadline
		if c.watched != nil {
			c.abortLocked()
		}
	}
	c.mu.Unlock()
	if fire {
		// The deadline that expired was the read side's; the write side has its own.
		_, _ = c.Conn.Write(response408)
		if c.onTimeout != nil {
			c.onTimeout()
		}
	}
	return n, err
}

func (c *requestTimeoutConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.pending = false
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// WatchClient implements httpproxy.ClientWatcher.
func (c *requestTimeoutConn) WatchClient(upstream net.Conn) {
	c.mu.Lock()
	c.watched, c.aborted = upstream, false
	if c.gone {
		c.abortLocked()
	}
	c.mu.Unlock()
}

// UnwatchClient implements httpproxy.ClientWatcher.
func (c *requestTimeoutConn) UnwatchClient() bool {
	c.mu.Lock()
	aborted := c.aborted
	c.watched, c.aborted = nil, false
	c.mu.Unlock()
	return aborted
}

// abortLocked expires the watched connection's deadline; under mu, so that it cannot reach a connection
// UnwatchClient has given back (setting a deadline does not block).
func (c *requestTimeoutConn) abortLocked() {
	_ = c.watched.SetDeadline(clientGoneDeadline)
	c.watched, c.aborted = nil, true
}

// NetConn returns the wrapped connection (listen.FromTLS looks through it).
func (c *requestTimeoutConn) NetConn() net.Conn { return c.Conn }

// CloseWrite passes a half-close on when the wrapped connection supports it.
func (c *requestTimeoutConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// requestTimedOut counts a 408 and writes its access-log line.
func requestTimedOut(rt *listenerRuntime, g *listenerGen, ci *httpproxy.ConnInfo) {
	rt.m.Request(408)
	rt.m.Generated(408)
	g.handler.LogGenerated(ci, 408, "RequestTimeout")
}
