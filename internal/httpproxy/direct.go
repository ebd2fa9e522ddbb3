package httpproxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mtlslb/mtlslb/internal/traceid"
	"github.com/mtlslb/mtlslb/internal/upstream"
)

// The direct path forwards a plain HTTP/1.1 exchange to an HTTP1 target group on the handler's own goroutine:
// the request head is written straight from the inbound header map onto a pooled connection, the response's
// head is read into one string (response.go) and its fields and body are copied to the client. It does what
// ReverseProxy with rewrite does for such a request (same headers removed and added, same query cleaning, same
// hop-by-hop rules, same flushing, same errors and access-log fields) without net/http's Transport, whose two
// goroutines per connection, channel handoffs, context, timer and header clone per request cost more CPU than
// the proxying.
// Anything else (HTTP/2 or gRPC targets, upgrades, Expect, request bodies of unknown length, trailers) goes
// through ReverseProxy.

// directOK reports whether r can take the direct path to g.
func (g *TargetGroup) directOK(r *http.Request) bool {
	if g.direct == nil || r.URL.Opaque != "" || len(r.Trailer) > 0 {
		return false
	}
	if r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody {
		return false
	}
	return r.Header["Upgrade"] == nil && r.Header["Expect"] == nil
}

// errClientBody marks a failure to read the client's request body while sending it.
var errClientBody = errors.New("reading the client's request body")

// aLongTimeAgo is a deadline that has passed: setting it makes blocked I/O return at once.
var aLongTimeAgo = time.Unix(1, 0)

// direct forwards r to x.target over a connection of g's connection source.
func (h *Handler) direct(x *exchange, r *http.Request, g *TargetGroup) {
	src := g.direct
	ctx := r.Context()
	replayable := r.ContentLength == 0 && isIdempotent(r)
	head := getResponseHead()
	defer putResponseHead(head)
	var c *upstream.Conn
	for attempt := 0; ; attempt++ {
		var err error
		if c, err = src.Acquire(ctx, x.target.URL.Host, replayable); err != nil {
			g.fail(x, r, err)
			return
		}
		err = h.roundTrip(x, r, g, c, src.ResponseHeaderTimeout(), head)
		if err == nil {
			break
		}
		c.Discard()
		if errors.Is(err, errClientBody) && !x.gone(r) {
			h.generate(x, r, http.StatusBadRequest, "IncompleteRequestBody",
				"The request body ended before the length its Content-Length announced.")
			return
		}
		// A connection the target closed while it was idle fails before any byte of response: a request that
		// can be sent again goes on a new connection, once, as net/http's Transport does. (A client that leaves
		// while that connection is dialled is seen once the second exchange's watch starts.)
		if c.Reused() && replayable && attempt == 0 && !x.gone(r) && isConnClosed(err) {
			continue
		}
		g.fail(x, r, err)
		return
	}
	x.resp = h.cfg.Now()
	x.targetStatus = head.status
	if !h.copyResponse(x, head, c, src) {
		// The response started and cannot be finished: as ReverseProxy does, abort the client's connection
		// (or HTTP/2 stream) so that it does not take a truncated body for a whole one.
		panic(http.ErrAbortHandler)
	}
}

// roundTrip writes r on c and reads the response's head into head, skipping informational responses.
func (h *Handler) roundTrip(x *exchange, r *http.Request, g *TargetGroup, c *upstream.Conn, timeout time.Duration, head *responseHead) (err error) {
	nc := c.NetConn()
	// The target's idle timeout bounds the wait for the response's head once the request is sent (as the
	// Transport path's response header timeout does), and is lifted before the body streams. A request
	// without a body is sent at once, so one deadline set now covers both; a body is sent at the client's
	// pace, so the deadline is set when it has gone.
	if timeout > 0 && r.ContentLength <= 0 {
		nc.SetDeadline(time.Now().Add(timeout))
	}
	// A client that goes away while the target has not answered ends the wait at once (460, not the target's
	// timeout): the expired deadline makes the blocked write or read on nc return. The watch starts after the
	// deadline above, which would otherwise undo an abort that came first.
	ctx := r.Context()
	if cw := clientWatcher(r); cw != nil {
		cw.WatchClient(nc)
		if ctx.Err() != nil {
			nc.SetDeadline(aLongTimeAgo)
		}
		defer func() {
			if cw.UnwatchClient() && err != nil {
				x.clientGone = true
			}
		}()
	} else {
		stop := context.AfterFunc(ctx, func() { nc.SetDeadline(aLongTimeAgo) })
		defer stop()
	}
	w := c.W
	h.writeHead(x, r, g, w)
	if r.ContentLength > 0 {
		n, err := io.Copy(w, io.LimitReader(r.Body, r.ContentLength))
		if n < r.ContentLength {
			if err == nil || x.body.err != nil {
				return errClientBody
			}
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	x.sent = h.cfg.Now()
	if timeout > 0 && r.ContentLength > 0 {
		nc.SetReadDeadline(time.Now().Add(timeout))
	}
	if err := head.read(c.R, r.Method); err != nil {
		return err
	}
	if timeout > 0 {
		nc.SetDeadline(time.Time{})
	}
	return nil
}

// ClientWatcher watches the client's side of an HTTP/1 connection for the proxy, so that a client that goes
// away aborts the exchange with the target it waits for. It does what context.AfterFunc on the request's
// context does (net/http cancels that context when a read from the client fails), without that function's
// allocations on every request, and may read the client in place of net/http, whose context then stays
// uncancelled: an exchange the watcher aborted is the client's going away whatever the context says.
type ClientWatcher interface {
	// WatchClient makes the watcher set a deadline in the past on upstream when it sees the client go away
	// (a read from the client fails), or at once if a read has already failed other than by a deadline,
	// until UnwatchClient. It may take a short while to see it (the engine's watcher: 10 ms).
	WatchClient(upstream net.Conn)
	// UnwatchClient ends the watch; once it returns, the watcher no longer touches upstream nor reads the
	// client. It reports whether the watcher set the deadline.
	UnwatchClient() (aborted bool)
}

// ClientWatcherKey is the context key of an HTTP/1 connection's ClientWatcher: http.Server's ConnContext
// stores it in the connection's context, from which every request's context is derived.
type ClientWatcherKey struct{}

// clientWatcher returns the ClientWatcher of r's connection, or nil. An HTTP/2 request has none: its context
// is also cancelled when its stream is reset, which no read of the connection shows.
func clientWatcher(r *http.Request) ClientWatcher {
	if r.ProtoMajor != 1 {
		return nil
	}
	w, _ := r.Context().Value(ClientWatcherKey{}).(ClientWatcher)
	return w
}

// writeHead writes the request head to send for r: its request line, the Host sent to targets, the client's
// headers less the hop-by-hop ones and those mtlslb owns or replaces, then mtlslb's own.
func (h *Handler) writeHead(x *exchange, r *http.Request, g *TargetGroup, w *bufio.Writer) {
	w.WriteString(r.Method)
	w.WriteByte(' ')
	if p := r.URL.EscapedPath(); p != "" {
		w.WriteString(p)
	} else {
		w.WriteByte('/')
	}
	if r.URL.ForceQuery || r.URL.RawQuery != "" {
		w.WriteByte('?')
		w.WriteString(cleanQuery(r.URL.RawQuery))
	}
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(r.Host)
	if p := portToAppend(r.Host, h.cfg.PreserveHost, h.cfg.TLS, x.ci.Port); p != "" {
		w.WriteByte(':')
		w.WriteString(p)
	}
	w.WriteString("\r\n")
	conn := r.Header["Connection"]
	for k, vs := range r.Header {
		if k == "Te" {
			// TE is hop-by-hop, but "trailers" says the client takes trailers, which the target may need
			// to know (gRPC does): ReverseProxy keeps that token alone.
			if tokenIn(vs, "trailers") {
				w.WriteString("Te: trailers\r\n")
			}
			continue
		}
		if h.dropInbound(x, k, conn) {
			continue
		}
		for _, v := range vs {
			writeField(w, k, v)
		}
	}
	x.forwardingHeaders(r.Header, wireSink{w})
	if r.ContentLength > 0 || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		w.WriteString("Content-Length: ")
		var num [20]byte
		w.Write(strconv.AppendInt(num[:0], r.ContentLength, 10))
		w.WriteString("\r\n")
	}
	w.WriteString("\r\n")
}

// dropInbound reports whether the client's header k stays out of the forwarded request: hop-by-hop headers
// (RFC 9110 §7.6.1, and those the Connection header names), the forwarding headers mtlslb sets itself, and
// every header this listener owns.
func (h *Handler) dropInbound(x *exchange, k string, conn []string) bool {
	switch k {
	case "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-Port",
		"Content-Length", "Host":
		return true
	case traceid.HeaderName:
		return x.traceID != ""
	}
	if slices.Contains(hopByHop[:], k) {
		return true
	}
	for _, o := range h.cfg.Owned {
		if strings.EqualFold(k, o) {
			return true
		}
	}
	return tokenIn(conn, k)
}

// tokenIn reports whether the comma-separated lists in values hold token, ignoring case.
func tokenIn(values []string, token string) bool {
	for _, v := range values {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), token) {
				return true
			}
		}
	}
	return false
}

func writeField(w *bufio.Writer, k, v string) {
	w.WriteString(k)
	w.WriteString(": ")
	w.WriteString(v)
	w.WriteString("\r\n")
}

// wireSink writes forwarding headers as header lines.
type wireSink struct{ w *bufio.Writer }

func (s wireSink) set(name string, values []string) {
	for _, v := range values {
		writeField(s.w, name, v)
	}
}

func (s wireSink) setOne(name, value string) { writeField(s.w, name, value) }

func (s wireSink) appendXFF(prior []string, client string) {
	s.w.WriteString("X-Forwarded-For: ")
	for _, p := range prior {
		s.w.WriteString(p)
		s.w.WriteString(", ")
	}
	s.w.WriteString(client)
	s.w.WriteString("\r\n")
}

// copyResponse sends the response whose head is head to the client and gives c back to src, reusable when
// the whole response was read and its head allows. It reports false when the response could not be finished
// after its head went out.
func (h *Handler) copyResponse(x *exchange, head *responseHead, c *upstream.Conn, src *upstream.ConnSource) bool {
	dst := x.w.Header()
	// One backing array holds the value of every field whose name comes once, as most do; a name that comes
	// again gets a slice of its own when its second value is appended.
	values := make([]string, len(head.fields))
	for i, f := range head.fields {
		if head.hopByHop(f.name) {
			continue
		}
		if prior, ok := dst[f.name]; ok {
			dst[f.name] = append(prior, f.value)
			continue
		}
		values[i] = f.value
		dst[f.name] = values[i : i+1 : i+1]
	}
	announced := head.trailers
	if len(announced) > 0 {
		dst.Add("Trailer", strings.Join(announced, ", "))
	}
	x.w.WriteHeader(head.status)

	streaming := head.length < 0 || isEventStream(head.contentType)
	body := head.body(c.R)
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if _, werr := x.w.Write(buf[:n]); werr != nil {
				c.Discard()
				return false
			}
			if streaming {
				x.w.Flush()
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			h.cfg.Logger.Warn("target response cut short", "target_group", x.group.Name, "target", x.target.ID, "err", rerr)
			c.Discard()
			return false
		}
	}
	if !head.chunked {
		src.Release(c, !head.close)
		return true
	}
	if err := head.readTrailers(c.R); err != nil {
		h.cfg.Logger.Warn("target response cut short", "target_group", x.group.Name, "target", x.target.ID, "err", err)
		c.Discard()
		return false
	}
	src.Release(c, !head.close)
	trailers := head.fields
	if len(announced) == 0 && len(trailers) == 0 {
		return true
	}
	x.w.Flush()
	for _, f := range trailers {
		if !slices.Contains(announced, f.name) {
			// A trailer the head did not announce: net/http sends those under TrailerPrefix, and then all of
			// them that way, as the proxy did before.
			for _, f := range trailers {
				dst.Add(http.TrailerPrefix+f.name, f.value)
			}
			return true
		}
	}
	for _, f := range trailers {
		dst[f.name] = append(dst[f.name], f.value)
	}
	return true
}

// hopByHop reports whether the field name of a response stays on this hop: the hop-by-hop fields, and those
// its Connection field names.
func (h *responseHead) hopByHop(name string) bool {
	return slices.Contains(hopByHop[:], name) || len(h.connection) > 0 && tokenIn(h.connection, name)
}

// hopByHop are the hop-by-hop headers (RFC 9110 §7.6.1, and ReverseProxy's list), removed in both directions.
var hopByHop = [...]string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// isEventStream reports whether a response of content type ct streams server-sent events, which are flushed
// as they come.
func isEventStream(ct string) bool {
	if !strings.Contains(ct, "event-stream") {
		return false
	}
	mt, _, _ := mime.ParseMediaType(ct)
	return mt == "text/event-stream"
}

// isIdempotent reports whether r may be sent twice (RFC 9110 §9.2.2, and the Idempotency-Key header
// net/http's Transport also honours).
func isIdempotent(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return r.Header["Idempotency-Key"] != nil || r.Header["X-Idempotency-Key"] != nil
}

// isConnClosed reports whether err says the connection was closed or reset under the request, rather than
// that the target answered badly or late.
func isConnClosed(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	_, reason := upstream.ErrorReason(err)
	return reason == upstream.ReasonTargetConnectionError
}

// cleanQuery returns the query to forward: as the client wrote it, unless it holds a semicolon or a bad
// percent escape, which targets could split or decode differently from one another; then it is re-encoded
// from what url.ParseQuery makes of it (what ReverseProxy does).
func cleanQuery(q string) string {
	for i := 0; i < len(q); i++ {
		switch q[i] {
		case ';':
			return reencodeQuery(q)
		case '%':
			if i+2 >= len(q) || !isHex(q[i+1]) || !isHex(q[i+2]) {
				return reencodeQuery(q)
			}
			i += 2
		}
	}
	return q
}

func reencodeQuery(q string) string {
	v, _ := url.ParseQuery(q)
	return v.Encode()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
