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
//
// That failed read is net/http's background read, which it starts on every request once the request's body
// is read, and stops after the response by expiring the read deadline. On a kept-alive connection this costs
// a read that finds nothing, a park and a wake-up and three deadline changes per request: about 1.7 µs of
// 26 µs of CPU in bench/l7 (README, "The background read"). Most exchanges end well before a client could be
// seen to leave, so while an exchange watches the client, the background read is answered at once with
// nothing (net/http then does not read, nor stop the read, until its next request), and the watcher reads
// the client itself only if the exchange lasts longer than watchDelay. A byte that read finds (a pipelined
// request) is kept for net/http's next read.
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

	// watchDelay is how long an exchange runs before the watcher reads the client itself (0: clientWatchDelay).
	watchDelay time.Duration
	// lazy: a watch is on and the watcher has not started reading, so net/http's background read is answered
	// with nothing (skipped records that it was). skipped lasts until the response is written, or net/http
	// reads for its next request.
	lazy, skipped bool
	// timer starts the watcher's own read (watchClientNow) watchDelay after WatchClient; made on first use.
	timer *time.Timer
	// ownRead is set while the watcher's own read runs, stopping once UnwatchClient has expired its
	// deadline; readDone is signalled when it returns. stashed says ownBuf holds a byte it read, for
	// net/http's next read.
	ownRead, stopping, stashed bool
	readDone                   sync.Cond
	ownBuf                     [1]byte
	// inRead counts the reads of net/http in progress: the watcher does not read beside one.
	inRead int
}

// clientWatchDelay is how long an exchange watching the client goes without reading it (watchDelay): a client
// that leaves is noticed this much later at most, and exchanges shorter than it save net/http's background
// read.
const clientWatchDelay = 10 * time.Millisecond

// clientGoneDeadline is a deadline that has passed: setting it makes blocked I/O return at once.
var clientGoneDeadline = time.Unix(1, 0)

const body408 = "408 Request Timeout: the request was not complete before the timeout (RequestTimeout)\n"

var response408 = []byte("HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n" +
	"Content-Length: " + strconv.Itoa(len(body408)) + "\r\n\r\n" + body408)

func (c *requestTimeoutConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	// Never two reads of the client at once: the watcher's own read ends on data, an error or UnwatchClient.
	c.waitOwnReadLocked()
	switch {
	case len(p) == 1 && c.lazy:
		// net/http's background read during an exchange (every other read of net/http's, for a request's
		// head or body, asks for a buffer's worth): the watcher stands in for it.
		c.skipped = true
		c.mu.Unlock()
		return 0, nil
	case c.stashed && len(p) > 0:
		p[0] = c.ownBuf[0]
		c.stashed = false
		c.skipped = false
		c.readLocked(1)
		c.mu.Unlock()
		return 1, nil
	}
	if len(p) != 1 {
		// A read for the next request: the background read skipped, if any, was the previous request's.
		c.skipped = false
	}
	c.inRead++
	c.mu.Unlock()
	n, err := c.Conn.Read(p)
	deadline := err != nil && errors.Is(err, os.ErrDeadlineExceeded)
	c.mu.Lock()
	c.inRead--
	c.readLocked(n)
	fire := c.failedLocked(err, deadline)
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

// readLocked records n bytes read from the client.
func (c *requestTimeoutConn) readLocked(n int) {
	if n > 0 && !c.pending {
		c.pending, c.pendingSince = true, time.Now()
	}
}

// failedLocked records the outcome of a read of the client that ended with err, and reports whether it is the
// header timeout, to be answered 408.
func (c *requestTimeoutConn) failedLocked(err error, deadline bool) (fire bool) {
	fire = deadline && c.pending && !c.sent && time.Since(c.pendingSince) >= c.headerTimeout-c.headerTimeout/10
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
	return fire
}

func (c *requestTimeoutConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.pending = false
	// A response: the background read skipped, if any, was this request's. The next request's may read the
	// client itself (it may start before the watch) and must not meet the watcher's read.
	c.skipped = false
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// WatchClient implements httpproxy.ClientWatcher.
func (c *requestTimeoutConn) WatchClient(upstream net.Conn) {
	c.mu.Lock()
	c.watched, c.aborted = upstream, false
	if c.gone {
		c.abortLocked()
	} else {
		c.lazy = true
		d := c.watchDelay
		if d <= 0 {
			d = clientWatchDelay
		}
		if c.timer == nil {
			c.timer = time.AfterFunc(d, c.watchClientNow)
		} else {
			c.timer.Reset(d)
		}
	}
	c.mu.Unlock()
}

// watchClientNow runs watchDelay into a watch: if net/http's background read was skipped, the watcher reads
// the client in its place until the client goes away, sends a byte, or UnwatchClient stops it. A call left
// over from an earlier watch (the timer fired as it ended) may run early in the next one; that only starts
// the watch early.
func (c *requestTimeoutConn) watchClientNow() {
	c.mu.Lock()
	if !c.lazy {
		c.mu.Unlock()
		return // unwatched meanwhile
	}
	c.lazy = false // a background read that comes from now on reads the client itself
	if !c.skipped || c.stashed || c.inRead > 0 {
		c.mu.Unlock()
		return
	}
	c.ownRead = true
	c.mu.Unlock()
	n, err := c.Conn.Read(c.ownBuf[:])
	c.mu.Lock()
	c.ownRead = false
	c.stashed = n == 1
	if !c.stopping {
		c.failedLocked(err, err != nil && errors.Is(err, os.ErrDeadlineExceeded))
	}
	c.readDone.Broadcast()
	c.mu.Unlock()
}

// waitOwnReadLocked waits, under mu, until the watcher's own read, if any, has returned.
func (c *requestTimeoutConn) waitOwnReadLocked() {
	if !c.ownRead {
		return
	}
	if c.readDone.L == nil {
		c.readDone.L = &c.mu
	}
	for c.ownRead {
		c.readDone.Wait()
	}
}

// UnwatchClient implements httpproxy.ClientWatcher.
func (c *requestTimeoutConn) UnwatchClient() bool {
	c.mu.Lock()
	aborted := c.aborted
	c.watched, c.aborted = nil, false
	c.lazy = false
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.ownRead {
		// Stop the watcher's read as net/http stops its own, and give the connection back with no deadline,
		// as net/http left it.
		c.stopping = true
		_ = c.Conn.SetReadDeadline(clientGoneDeadline)
		c.waitOwnReadLocked()
		c.stopping = false
		_ = c.Conn.SetReadDeadline(time.Time{})
	}
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
