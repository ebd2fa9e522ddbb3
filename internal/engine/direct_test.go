package engine_test

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Tests of the direct HTTP/1.1 path (httpproxy/direct.go), which plain HTTP/1.1 requests to HTTP1 target
// groups take. The l7 tests run through it too; these pin what only a hand-written target or client shows:
// hop-by-hop headers both ways, query cleaning, trailers, streaming, 1xx, truncated responses, connection
// reuse and retirement, and the retry of a replayable request on a connection the target closed.

// rawTarget is an HTTP/1.1 target written by hand: each request is answered by the script for its path,
// which writes raw bytes and says whether the connection stays open.
type rawTarget struct {
	addr  string
	conns atomic.Int64 // connections accepted
	mu    sync.Mutex
	seen  []*http.Request
	// served counts requests per connection, for scripts that act on a connection's second request.
	script func(r *http.Request, nth int, w *bufio.Writer) (keep bool)
}

func newRawTarget(t testing.TB, script func(r *http.Request, nth int, w *bufio.Writer) bool) *rawTarget {
	t.Helper()
	rt := &rawTarget{script: script}
	rt.addr = serveLoopback(t, func(c net.Conn) {
		rt.conns.Add(1)
		br, bw := bufio.NewReader(c), bufio.NewWriter(c)
		for nth := 1; ; nth++ {
			c.SetDeadline(time.Now().Add(l7Wait))
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			body, _ := io.ReadAll(req.Body)
			req.Body = io.NopCloser(strings.NewReader(string(body)))
			rt.mu.Lock()
			rt.seen = append(rt.seen, req)
			rt.mu.Unlock()
			keep := rt.script(req, nth, bw)
			if bw.Flush() != nil || !keep {
				return
			}
		}
	})
	return rt
}

// serveLoopback accepts connections on a loopback port until the test ends, runs handle on each in a
// goroutine of its own and closes the connection when handle returns; it returns the address.
func serveLoopback(t testing.TB, handle func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}

func (rt *rawTarget) last() *http.Request {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.seen[len(rt.seen)-1]
}

// rawExchange sends a hand-written request over a new TLS connection to the listener and reads the
// response.
func rawExchange(t *testing.T, l *lb, request string) *http.Response {
	t.Helper()
	conn, err := tls.Dial("tcp", l.addr(0), l.tlsConfig(clientOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(l7Wait))
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the response to %q: %v", request, err)
	}
	return resp
}

func rawLB(t testing.TB, rt *rawTarget) *lb {
	return startLB(t, lbSpec{listeners: []lbListener{{}}, groups: []lbGroup{{name: "raw", targets: []string{rt.addr}}}})
}

func answer(w *bufio.Writer, head, body string) {
	w.WriteString("HTTP/1.1 " + head + "\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}

func TestDirectRequestHeadersAndQuery(t *testing.T) {
	t.Parallel()
	rt := newRawTarget(t, func(r *http.Request, _ int, w *bufio.Writer) bool {
		answer(w, "200 OK", "ok")
		return true
	})
	l := rawLB(t, rt)
	resp := rawExchange(t, l, "GET /q?b=2&a=1 HTTP/1.1\r\nHost: app.example\r\n"+
		"Connection: X-Secret, keep-alive\r\nX-Secret: s\r\nKeep-Alive: timeout=5\r\nTe: trailers, deflate\r\n"+
		"Proxy-Authorization: Basic eDp5\r\nForwarded: for=192.0.2.1\r\nX-Forwarded-Host: evil.example\r\n"+
		"X-Forwarded-Proto: http\r\nX-Forwarded-Port: 1\r\nX-Amzn-Mtls-Clientcert-Subject: CN=forged\r\n"+
		"X-Kept: yes\r\nX-Kept: twice\r\n\r\n")
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := rt.last()
	if got.RequestURI != "/q?b=2&a=1" {
		t.Errorf("target got URI %q, want the client's query unchanged", got.RequestURI)
	}
	for _, k := range []string{"Connection", "X-Secret", "Keep-Alive", "Proxy-Authorization", "Forwarded",
		"X-Forwarded-Host", "X-Amzn-Mtls-Clientcert-Subject"} {
		if v := got.Header[k]; v != nil {
			t.Errorf("target got %s: %q; it must not be forwarded", k, v)
		}
	}
	if v := got.Header.Values("Te"); len(v) != 1 || v[0] != "trailers" {
		t.Errorf("target got Te %q, want just trailers", v)
	}
	if v := got.Header.Values("X-Kept"); len(v) != 2 || v[0] != "yes" || v[1] != "twice" {
		t.Errorf("target got X-Kept %q, want both values in order", v)
	}
	if v := got.Header.Get("X-Forwarded-Proto"); v != "https" {
		t.Errorf("X-Forwarded-Proto %q, want https", v)
	}
	if v := got.Header.Values("X-Forwarded-Port"); len(v) != 1 || v[0] == "1" {
		t.Errorf("X-Forwarded-Port %q, want the listener's port alone", v)
	}
	if v := got.Header.Get("X-Forwarded-For"); v != "127.0.0.1" {
		t.Errorf("X-Forwarded-For %q, want 127.0.0.1", v)
	}
	if got.Host != "app.example:"+strconv.Itoa(l.ports[0]) {
		t.Errorf("Host %q, want app.example with the listener's port", got.Host)
	}
	if got.ContentLength != 0 || got.Header["Content-Length"] != nil {
		t.Errorf("a GET without a body was sent with Content-Length %q", got.Header["Content-Length"])
	}

	for _, tc := range []struct{ query, want string }{
		{"a=1;b=2&c=3", "/q?c=3"},       // a semicolon: re-encoded from what ParseQuery keeps
		{"x=%zz&y=1", "/q?y=1"},         // a bad escape
		{"x=%41&y=%2", "/q?x=A"},        // a cut escape at the end
		{"k=v%20w&e=", "/q?k=v%20w&e="}, // valid: unchanged
	} {
		resp := rawExchange(t, l, "GET /q?"+tc.query+" HTTP/1.1\r\nHost: a\r\n\r\n")
		resp.Body.Close()
		if got := rt.last().RequestURI; got != tc.want {
			t.Errorf("query %q reached the target as %q, want %q", tc.query, got, tc.want)
		}
	}

	resp = rawExchange(t, l, "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")
	resp.Body.Close()
	got = rt.last()
	if b, _ := io.ReadAll(got.Body); string(b) != "hello" || got.ContentLength != 5 {
		t.Errorf("target got body %q with length %d, want hello (5)", b, got.ContentLength)
	}
	resp = rawExchange(t, l, "DELETE /d HTTP/1.1\r\nHost: a\r\n\r\n")
	resp.Body.Close()
	if got := rt.last().Header.Get("Content-Length"); got != "0" {
		t.Errorf("DELETE without a body went with Content-Length %q, want 0 (as net/http sends)", got)
	}
}

func TestDirectResponses(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	rt := newRawTarget(t, func(r *http.Request, nth int, w *bufio.Writer) bool {
		switch r.URL.Path {
		case "/hop":
			w.WriteString("HTTP/1.1 200 OK\r\nConnection: X-Resp\r\nX-Resp: secret\r\nKeep-Alive: timeout=5\r\n" +
				"X-Ok: 1\r\nContent-Length: 2\r\n\r\nok")
		case "/trailer":
			w.WriteString("HTTP/1.1 200 OK\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\n\r\n" +
				"5\r\nhello\r\n0\r\nX-Sum: 42\r\n\r\n")
		case "/stream":
			w.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n" +
				"6\r\nfirst\n\r\n")
			w.Flush()
			<-release
			w.WriteString("7\r\nsecond\n\r\n0\r\n\r\n")
		case "/early":
			w.WriteString("HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
			answer(w, "200 OK", "after hints")
		case "/cut":
			w.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
			return false
		case "/close":
			answer(w, "200 OK\r\nConnection: close", "bye")
			return false
		default:
			answer(w, "200 OK", "ok")
		}
		return true
	})
	l := rawLB(t, rt)
	c := l.client(t, clientOptions{})

	rep := get(t, c, l.url(0, "/hop"), nil)
	if rep.header.Get("X-Ok") != "1" || rep.header["X-Resp"] != nil || rep.header["Keep-Alive"] != nil {
		t.Errorf("/hop: client got headers %v; want X-Ok, and neither X-Resp nor Keep-Alive", rep.header)
	}

	resp, err := c.Get(l.url(0, "/trailer"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello" || resp.Trailer.Get("X-Sum") != "42" {
		t.Errorf("/trailer: body %q, trailer %v; want hello and X-Sum: 42", body, resp.Trailer)
	}

	resp, err = c.Get(l.url(0, "/stream"))
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	close(release)
	if err != nil || line != "first\n" {
		t.Errorf("/stream: the first chunk did not reach the client before the target went on: %q, %v", line, err)
	}
	resp.Body.Close()

	if rep := get(t, c, l.url(0, "/early"), nil); rep.status != 200 || rep.body != "after hints" {
		t.Errorf("/early: %d %q, want the final response", rep.status, rep.body)
	}

	resp, err = c.Get(l.url(0, "/cut"))
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Errorf("/cut: the client read a truncated response as complete")
	}

	get(t, c, l.url(0, "/warm"), nil)
	before := rt.conns.Load()
	get(t, c, l.url(0, "/close"), nil)
	get(t, c, l.url(0, "/after-close"), nil)
	if n := rt.conns.Load() - before; n != 1 {
		t.Errorf("after a Connection: close response the next request took %d new connections, want 1", n)
	}
	before = rt.conns.Load()
	for range 20 {
		get(t, c, l.url(0, "/again"), nil)
	}
	if n := rt.conns.Load() - before; n != 0 {
		t.Errorf("20 sequential requests opened %d target connections, want them all on the pooled one", n)
	}
}

func TestDirectStaleConnections(t *testing.T) {
	t.Parallel()
	// The target closes the connection after /idle-close without saying so (a keep-alive timeout), and
	// drops the second request of any connection on /drop without answering (a close racing the request).
	rt := newRawTarget(t, func(r *http.Request, nth int, w *bufio.Writer) bool {
		switch {
		case r.URL.Path == "/idle-close":
			answer(w, "200 OK", "ok")
			return false
		case strings.HasPrefix(r.URL.Path, "/drop") && nth == 2:
			return false
		}
		answer(w, "200 OK", "ok")
		return true
	})
	l := rawLB(t, rt)
	c := l.client(t, clientOptions{})

	get(t, c, l.url(0, "/idle-close"), nil)
	time.Sleep(50 * time.Millisecond) // the FIN reaches mtlslb's idle connection
	req := newRequest(t, http.MethodPost, l.url(0, "/post"), nil)
	req.Body = io.NopCloser(strings.NewReader("payload"))
	req.ContentLength = 7
	if rep := do(t, c, req); rep.status != http.StatusOK {
		t.Errorf("a POST after the target closed the idle connection: %d %q, want 200 on a new connection", rep.status, rep.body)
	}

	get(t, c, l.url(0, "/drop-first"), nil)
	if rep := get(t, c, l.url(0, "/drop-get"), nil); rep.status != http.StatusOK {
		t.Errorf("a GET the target dropped on a reused connection: %d, want 200 after one retry", rep.status)
	}
	get(t, c, l.url(0, "/drop-again"), nil)
	req = newRequest(t, http.MethodPost, l.url(0, "/drop-post"), nil)
	req.Body = io.NopCloser(strings.NewReader("once"))
	req.ContentLength = 4
	rep := do(t, c, req)
	if rep.status != http.StatusBadGateway {
		t.Errorf("a POST the target dropped: %d, want 502 (a request with a body is never sent twice)", rep.status)
	}
	if e := l.accessFor(t, "/drop-post"); e.errorReason != "TargetConnectionError" && e.errorReason != "TargetResponseError" {
		t.Errorf("dropped POST logged error_reason %q", e.errorReason)
	}
}

func TestDirectIncompleteRequestBody(t *testing.T) {
	t.Parallel()
	rt := newRawTarget(t, func(r *http.Request, _ int, w *bufio.Writer) bool {
		answer(w, "200 OK", "ok")
		return true
	})
	l := rawLB(t, rt)
	conn, err := tls.Dial("tcp", l.addr(0), l.tlsConfig(clientOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(l7Wait))
	io.WriteString(conn, "POST /short HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
	conn.CloseWrite()
	// The client stopped sending mid-body: mtlslb answers 400, or, having seen the client close its side,
	// nothing (460). Never 200, and the target never sees the request.
	if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("a body shorter than its Content-Length: %d, want 400 or no answer", resp.StatusCode)
		}
	}
	e := l.accessFor(t, "/short")
	if !(e.elbStatus == "400" && e.errorReason == "IncompleteRequestBody") && !(e.elbStatus == "460" && e.errorReason == "ClientClosedConnection") {
		t.Errorf("access log: %s %q, want 400 IncompleteRequestBody or 460 ClientClosedConnection", e.elbStatus, e.errorReason)
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for _, r := range rt.seen {
		if r.URL.Path == "/short" {
			t.Errorf("the target received the request with its incomplete body")
		}
	}
}

// FuzzDirectTargetResponse sends requests through the direct path to a target that answers with the fuzzer's
// bytes: whatever a target sends, mtlslb answers with a status of its own (502), forwards a response it could
// parse, or aborts the client's connection, and keeps serving.
func FuzzDirectTargetResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n2\r\nok\r\n0\r\nX-T: 1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
		"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nuntil close",
		"HTTP/1.1 999 Odd\r\nConnection: X-A\r\nX-A: 1\r\nContent-Length: 0\r\n\r\n",
		"garbage\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	var current atomic.Pointer[[]byte]
	rt := newRawTarget(f, func(r *http.Request, _ int, w *bufio.Writer) bool {
		if r.URL.Path == "/health" {
			answer(w, "200 OK", "ok")
			return true
		}
		w.Write(*current.Load())
		return false
	})
	l := rawLB(f, rt)
	c := l.client(f, clientOptions{})
	f.Fuzz(func(t *testing.T, data []byte) {
		current.Store(&data)
		resp, err := c.Get(l.url(0, "/fuzz"))
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode < 100 {
				t.Fatalf("status %d", resp.StatusCode)
			}
		}
		if rep := get(t, c, l.url(0, "/health"), nil); rep.status != http.StatusOK {
			t.Fatalf("after the target sent %q, a good request got %d", data, rep.status)
		}
	})
}

// TestDirectRefusedResponses sends responses the direct path's reader refuses or frames strictly: each is
// answered 502 with TargetResponseError (or forwarded without what must stay on the target's hop), and the
// next request on the same client connection is served.
func TestDirectRefusedResponses(t *testing.T) {
	t.Parallel()
	huge := "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-Filler: "+strings.Repeat("a", 1000)+"\r\n", 70) + "Content-Length: 0\r\n\r\n"
	responses := map[string]string{
		"/huge":    huge,
		"/folded":  "HTTP/1.1 200 OK\r\nX-A: 1\r\n  more\r\nContent-Length: 0\r\n\r\n",
		"/low":     "HTTP/1.1 099 Low\r\nContent-Length: 0\r\n\r\n",
		"/lengths": "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
		"/coding":  "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
		"/named":   "HTTP/1.1 200 OK\r\nConnection: X-Secret, close\r\nX-Secret: s\r\nX-Ok: 1\r\nContent-Length: 2\r\n\r\nok",
		"/both":    "HTTP/1.1 200 OK\r\nContent-Length: 50\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
	}
	rt := newRawTarget(t, func(r *http.Request, _ int, w *bufio.Writer) bool {
		if s, ok := responses[r.URL.Path]; ok {
			w.WriteString(s)
			return false
		}
		answer(w, "200 OK", "ok")
		return true
	})
	l := rawLB(t, rt)
	c := l.client(t, clientOptions{})
	for _, path := range []string{"/huge", "/folded", "/low", "/lengths", "/coding"} {
		if rep := get(t, c, l.url(0, path), nil); rep.status != http.StatusBadGateway {
			t.Errorf("%s: %d %q, want 502", path, rep.status, rep.body)
		}
		if e := l.accessFor(t, path); e.elbStatus != "502" || e.errorReason != "TargetResponseError" {
			t.Errorf("%s: access log %s %q, want 502 TargetResponseError", path, e.elbStatus, e.errorReason)
		}
		if rep := get(t, c, l.url(0, "/next"), nil); rep.status != http.StatusOK {
			t.Errorf("after %s, the next request got %d", path, rep.status)
		}
	}
	// A request body of unknown length takes net/http's Transport, which bounds the head alike.
	req := newRequest(t, http.MethodPost, l.url(0, "/huge"), nil)
	req.Body = io.NopCloser(strings.NewReader("streamed"))
	req.ContentLength = -1
	if rep := do(t, c, req); rep.status != http.StatusBadGateway {
		t.Errorf("/huge through the Transport: %d %q, want 502", rep.status, rep.body)
	}
	// A field that the target's Connection field names stays on the target's hop, also when that field says
	// close (http.ReadResponse dropped the Connection field then, and with it the list of names).
	rep := get(t, c, l.url(0, "/named"), nil)
	if rep.status != http.StatusOK || rep.header["X-Secret"] != nil || rep.header.Get("X-Ok") != "1" {
		t.Errorf("/named: %d, headers %v; want 200 with X-Ok and without X-Secret", rep.status, rep.header)
	}
	// Transfer-Encoding overrides Content-Length, which does not reach the client.
	rep = get(t, c, l.url(0, "/both"), nil)
	if rep.status != http.StatusOK || rep.body != "ok" || rep.header["Content-Length"] != nil && rep.header.Get("Content-Length") != "2" {
		t.Errorf("/both: %d %q, headers %v; want 200 ok, the target's Content-Length gone", rep.status, rep.body, rep.header)
	}
}

// TestDirectResponsesWithoutBody: a response to HEAD, a 204 and a 304 have no body whatever their
// Content-Length says; the client gets the length as the target stated it, and the pooled target connection
// carries the next request (a reader that waited for the announced bytes would hang or misframe it).
func TestDirectResponsesWithoutBody(t *testing.T) {
	t.Parallel()
	rt := newRawTarget(t, func(r *http.Request, _ int, w *bufio.Writer) bool {
		switch {
		case r.Method == http.MethodHead:
			w.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 42\r\nX-Head: 1\r\n\r\n")
		case r.URL.Path == "/204":
			w.WriteString("HTTP/1.1 204 No Content\r\nX-Empty: 1\r\n\r\n")
		case r.URL.Path == "/304":
			w.WriteString("HTTP/1.1 304 Not Modified\r\nContent-Length: 42\r\nEtag: \"v1\"\r\n\r\n")
		default:
			answer(w, "200 OK", "after")
		}
		return true
	})
	l := rawLB(t, rt)
	c := l.client(t, clientOptions{})
	get(t, c, l.url(0, "/warm"), nil)
	before := rt.conns.Load()
	rep := do(t, c, newRequest(t, http.MethodHead, l.url(0, "/head"), nil))
	if rep.status != http.StatusOK || rep.header.Get("Content-Length") != "42" || rep.header.Get("X-Head") != "1" || rep.body != "" {
		t.Errorf("HEAD: %d %q, headers %v; want 200, Content-Length 42, no body", rep.status, rep.body, rep.header)
	}
	if rep := get(t, c, l.url(0, "/next"), nil); rep.status != http.StatusOK || rep.body != "after" {
		t.Errorf("after HEAD: %d %q, want 200 after", rep.status, rep.body)
	}
	if rep := get(t, c, l.url(0, "/204"), nil); rep.status != http.StatusNoContent || rep.header.Get("X-Empty") != "1" || rep.body != "" {
		t.Errorf("/204: %d %q, headers %v", rep.status, rep.body, rep.header)
	}
	if rep := get(t, c, l.url(0, "/304"), nil); rep.status != http.StatusNotModified || rep.header.Get("Etag") != `"v1"` || rep.body != "" {
		t.Errorf("/304: %d %q, headers %v", rep.status, rep.body, rep.header)
	}
	if rep := get(t, c, l.url(0, "/last"), nil); rep.status != http.StatusOK || rep.body != "after" {
		t.Errorf("after 204 and 304: %d %q, want 200 after", rep.status, rep.body)
	}
	if n := rt.conns.Load() - before; n != 0 {
		t.Errorf("the exchanges without a body opened %d new target connections, want 0 (the pooled one reused)", n)
	}
}
