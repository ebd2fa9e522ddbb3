package desync

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// pipelined is a stream of requests as a client might pipeline them, each
// with the path net/http serves and the verdict the handler must get.
// Several bodies carry text that looks like a request; a tracker that
// framed them wrongly would report a verdict for it.
type pipelined struct {
	stream []byte
	paths  []string
	want   []Verdict
}

func smugglingStream(tb testing.TB) pipelined {
	tb.Helper()
	var p pipelined
	add := func(path string, v Verdict, parts ...string) {
		p.paths = append(p.paths, path)
		p.want = append(p.want, v)
		for _, s := range parts {
			p.stream = append(p.stream, s...)
		}
	}
	smuggled := "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
	add("/one", Verdict{},
		fmt.Sprintf("POST /one HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n", len(smuggled)), smuggled,
		"\r\n") // net/http tolerates a stray CRLF after a POST
	chunk := "GET /smuggled2 HTTP/1.1\r\nHost: a\r\n\r\n"
	add("/two", Verdict{Ambiguous, ReasonBothTeClPresent},
		// Content-Length alone would end the body inside the first chunk.
		"POST /two HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
		fmt.Sprintf("%x;name=GET /x HTTP/1.1\r\n%s\r\n", len(chunk), chunk),
		"4\r\n\r\n\r\n\r\n", // data that is all line ends
		"0\r\nX-Trailer: GET /smuggled3 HTTP/1.1\r\n\r\n")
	add("/three", Verdict{Acceptable, ReasonGetHeadZeroContentLength},
		"GET /three HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")
	// To net/http Transfer_Encoding is just another header: no body follows.
	add("/four", Verdict{Ambiguous, ReasonSuspiciousHeader},
		"GET /four HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n\r\n")
	smuggled = "GET /smuggled4 HTTP/1.1\r\nHost: a\r\n\r\n"
	add("/five", Verdict{Ambiguous, ReasonUndefinedContentLengthSemantics},
		fmt.Sprintf("GET /five HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n", len(smuggled)), smuggled)
	add("/six", Verdict{},
		"POST /six HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	add("/seven", Verdict{Ambiguous, ReasonUndefinedTransferEncodingSemantics},
		// HTTP/1.0 ignores Transfer-Encoding; Content-Length frames it.
		"POST /seven HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n",
		"\n\n\n\n") // four stray line ends after a POST are dropped
	add("/eight", Verdict{},
		"GET /eight HTTP/1.1\r\nHost: a\r\n\r\n")
	return p
}

// connKey is the context key under which the test server keeps the *Conn.
type connKey struct{}

// trackingListener wraps every accepted connection in a Conn.
type trackingListener struct {
	net.Listener
	maxHead int
}

func (l trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return NewConn(c, l.maxHead), nil
}

// served is what the handler saw of one request.
type served struct {
	path string
	v    Verdict
	ok   bool
}

// startServer runs a net/http server over Conn on a loopback port. Its
// handler takes each request's verdict and reports it, on the channel and
// in X-Class and X-Reason response headers.
func startServer(tb testing.TB, maxHead int) (string, <-chan served) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	seen := make(chan served, 64)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			dc, _ := r.Context().Value(connKey{}).(*Conn)
			var s served
			if dc != nil {
				s.v, s.ok = dc.Next()
			}
			s.path = r.URL.Path
			seen <- s
			if _, err := io.Copy(io.Discard, r.Body); err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			w.Header().Set("X-Class", s.v.Class.String())
			w.Header().Set("X-Reason", s.v.Reason)
		}),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
		DisableGeneralOptionsHandler: true,
		ReadHeaderTimeout:            10 * time.Second,
	}
	go srv.Serve(trackingListener{ln, maxHead})
	tb.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), seen
}

// awaitServed returns what the handler saw of the request resp answers.
// The handler reports before it responds, so waiting long means it never ran.
func awaitServed(tb testing.TB, seen <-chan served, resp *http.Response) served {
	tb.Helper()
	select {
	case s := <-seen:
		return s
	case <-time.After(5 * time.Second):
		tb.Fatalf("no handler ran; the server answered %s", resp.Status)
	}
	return served{}
}

// dial connects to addr with a deadline that bounds the whole test.
func dial(tb testing.TB, addr string) net.Conn {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	tb.Cleanup(func() { c.Close() })
	return c
}

func TestConnThroughServer(t *testing.T) {
	p := smugglingStream(t)
	writers := map[string]func(net.Conn) error{
		"one write": func(c net.Conn) error {
			_, err := c.Write(p.stream)
			return err
		},
		"byte by byte": func(c net.Conn) error {
			for i := range p.stream {
				if _, err := c.Write(p.stream[i : i+1]); err != nil {
					return err
				}
			}
			return nil
		},
	}
	for name, write := range writers {
		t.Run(name, func(t *testing.T) {
			addr, seen := startServer(t, 0)
			c := dial(t, addr)
			errc := make(chan error, 1)
			go func() { errc <- write(c) }()

			br := bufio.NewReader(c)
			for i, path := range p.paths {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("response %d (%s): %v", i, path, err)
				}
				resp.Body.Close()
				s := awaitServed(t, seen, resp)
				if s.path != path || !s.ok || s.v != p.want[i] {
					t.Errorf("request %d: handler saw %s with %+v (ok %t), want %s with %+v", i, s.path, s.v, s.ok, path, p.want[i])
				}
				if got := resp.Header.Get("X-Class"); got != p.want[i].Class.String() {
					t.Errorf("request %d: X-Class %q, want %q", i, got, p.want[i].Class)
				}
			}
			if err := <-errc; err != nil {
				t.Fatalf("write: %v", err)
			}
			select {
			case s := <-seen:
				t.Errorf("handler saw an extra request %s with %+v", s.path, s.v)
			default:
			}
		})
	}
}

// TestServerRefusesBeforeHandler pins down what doc.go says net/http
// refuses itself: the handler never runs, so no mode can forward these.
func TestServerRefusesBeforeHandler(t *testing.T) {
	tests := []struct {
		name   string
		req    string
		status int
		class  Verdict // what ALB would have said
	}{
		{"differing Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400, Verdict{Severe, ReasonMultipleContentLength}},
		{"same Content-Length spelled differently", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 05\r\n\r\n12345", 400, Verdict{Ambiguous, ReasonDuplicateContentLength}},
		{"Content-Length list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1,1\r\n\r\na", 400, Verdict{Severe, ReasonBadContentLength}},
		{"empty Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 400, Verdict{}},
		{"gzip coding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501, Verdict{}},
		{"chunked twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 501, Verdict{Severe, ReasonMultipleTransferEncodingChunked}},
		{"two Transfer-Encoding fields", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501, Verdict{Severe, ReasonMultipleTransferEncodingChunked}},
		{"unknown coding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 501, Verdict{Severe, ReasonBadTransferEncoding}},
		{"NUL in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", 400, Verdict{Severe, ReasonBadHeader}},
		{"control byte in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n", 400, Verdict{Acceptable, ReasonNonCompliantHeader}},
		{"empty name", "GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n", 400, Verdict{Ambiguous, ReasonEmptyHeader}},
		{"look-alike with a space", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", 400, Verdict{Ambiguous, ReasonSuspiciousHeader}},
		{"space before a colon", "GET / HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n", 400, Verdict{Acceptable, ReasonNonCompliantHeader}},
		{"obs-text in a name", "GET / HTTP/1.1\r\nHost: a\r\nX-Caf\xc3\xa9: b\r\n\r\n", 400, Verdict{Acceptable, ReasonNonCompliantHeader}},
		{"DEL in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n", 400, Verdict{Acceptable, ReasonNonCompliantHeader}},
		{"control byte before Content-Length", "POST / HTTP/1.1\r\nHost: a\r\n\x01Content-Length: 1\r\n\r\na", 400, Verdict{Ambiguous, ReasonSuspiciousHeader}},
		{"no colon", "GET / HTTP/1.1\r\nHost: a\r\nMy-header\r\n\r\n", 400, Verdict{Ambiguous, ReasonMissingHeaderColon}},
		{"folded first header", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400, Verdict{Ambiguous, ReasonMultilineHeader}},
		{"space in target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400, Verdict{Acceptable, ReasonSpaceInURI}},
		{"tab in target", "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 400, Verdict{Ambiguous, ReasonAmbiguousURI}},
		{"no target", "GET  HTTP/1.1\r\nHost: a\r\n\r\n", 400, Verdict{}},
		{"tabs in request line", "GET\t/\tHTTP/1.1\r\nHost: a\r\n\r\n", 400, Verdict{Severe, ReasonBadMethod}},
		{"white space after version", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400, Verdict{Acceptable, ReasonNonCompliantVersion}},
		{"HTTP/0.9", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505, Verdict{Acceptable, ReasonNonCompliantVersion}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Classify([]byte(tc.req)); got != tc.class {
				t.Errorf("Classify = %+v, want %+v", got, tc.class)
			}
			addr, seen := startServer(t, 0)
			c := dial(t, addr)
			if _, err := io.WriteString(c, tc.req); err != nil {
				t.Fatalf("write: %v", err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("read response: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
			select {
			case s := <-seen:
				t.Errorf("handler ran for %s", s.path)
			default:
			}
		})
	}
}

// TestServerServesNonCompliant pins down the other half of doc.go: these
// reach the handler, with the verdict Classify gives.
func TestServerServesNonCompliant(t *testing.T) {
	tests := []struct {
		name string
		req  string
		want Verdict
	}{
		{"both framings", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 99\r\n\r\n0\r\n\r\n", Verdict{Ambiguous, ReasonBothTeClPresent}},
		{"duplicate Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na", Verdict{Ambiguous, ReasonDuplicateContentLength}},
		{"look-alike with an underscore", "POST / HTTP/1.1\r\nHost: a\r\nContent_Length: 5\r\n\r\n", Verdict{Ambiguous, ReasonSuspiciousHeader}},
		{"folded header", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", Verdict{Ambiguous, ReasonMultilineHeader}},
		{"GET with a body", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\na", Verdict{Ambiguous, ReasonUndefinedContentLengthSemantics}},
		{"GET chunked", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Verdict{Ambiguous, ReasonUndefinedTransferEncodingSemantics}},
		{"HTTP/1.0 chunked", "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", Verdict{Ambiguous, ReasonUndefinedTransferEncodingSemantics}},
		{"bare LF", "GET / HTTP/1.1\nHost: a\n\n", Verdict{Acceptable, ReasonNonCrLfLineTermination}},
		{"HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", Verdict{Acceptable, ReasonNonCompliantVersion}},
		{"OPTIONS *, given DisableGeneralOptionsHandler", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", Verdict{}},
		{"GET with Content-Length 0", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", Verdict{Acceptable, ReasonGetHeadZeroContentLength}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr, seen := startServer(t, 0)
			c := dial(t, addr)
			if _, err := io.WriteString(c, tc.req); err != nil {
				t.Fatalf("write: %v", err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("read response: %v", err)
			}
			resp.Body.Close()
			s := awaitServed(t, seen, resp)
			if !s.ok || s.v != tc.want {
				t.Errorf("handler got %+v (ok %t), want %+v", s.v, s.ok, tc.want)
			}
		})
	}
}

// pipeConn feeds pieces through a Conn on net.Pipe, each piece one Write
// and so never merged with the next in a Read, reading readSize bytes at a
// time, and returns the Conn once everything went through.
func pipeConn(tb testing.TB, pieces [][]byte, maxHead, readSize int) *Conn {
	tb.Helper()
	client, server := net.Pipe()
	dc := NewConn(server, maxHead)
	errc := make(chan error, 1)
	go func() {
		defer client.Close()
		for _, p := range pieces {
			if _, err := client.Write(p); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	buf := make([]byte, readSize)
	for {
		if _, err := dc.Read(buf); err != nil {
			break
		}
	}
	if err := <-errc; err != nil {
		tb.Fatalf("write: %v", err)
	}
	return dc
}

// verdicts takes up to max verdicts from c.
func verdicts(c *Conn, max int) []Verdict {
	var vs []Verdict
	for range max {
		v, ok := c.Next()
		if !ok {
			break
		}
		vs = append(vs, v)
	}
	return vs
}

func equalVerdicts(a, b []Verdict) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestConnEverySplitPoint(t *testing.T) {
	p := smugglingStream(t)
	for k := 1; k < len(p.stream); k++ {
		dc := pipeConn(t, [][]byte{p.stream[:k], p.stream[k:]}, 0, 4096)
		if got := verdicts(dc, len(p.want)+1); !equalVerdicts(got, p.want) {
			t.Fatalf("split at %d: verdicts %+v, want %+v", k, got, p.want)
		}
	}
}

func TestConnSmallReads(t *testing.T) {
	p := smugglingStream(t)
	for _, size := range []int{1, 2, 3, 7, 64} {
		dc := pipeConn(t, [][]byte{p.stream}, 0, size)
		if got := verdicts(dc, len(p.want)+1); !equalVerdicts(got, p.want) {
			t.Errorf("reads of %d: verdicts %+v, want %+v", size, got, p.want)
		}
	}
}

func TestConnRandomSplits(t *testing.T) {
	p := smugglingStream(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		var pieces [][]byte
		for rest := p.stream; len(rest) > 0; {
			n := 1 + rng.IntN(min(len(rest), 40))
			pieces, rest = append(pieces, rest[:n]), rest[n:]
		}
		dc := pipeConn(t, pieces, 0, 4096)
		if got := verdicts(dc, len(p.want)+1); !equalVerdicts(got, p.want) {
			t.Fatalf("pieces %q: verdicts %+v, want %+v", pieces, got, p.want)
		}
	}
}

func TestConnStops(t *testing.T) {
	ok := "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n"
	long := "GET /" + strings.Repeat("a", 100) + " HTTP/1.1\r\nHost: a\r\n\r\n"
	tests := []struct {
		name    string
		stream  string
		maxHead int
		want    []Verdict // then the sticky verdict, repeated
	}{
		{
			name: "head over the limit", stream: ok + long + ok, maxHead: 64,
			want: []Verdict{{}, {Severe, ReasonHeadTooLarge}, {Severe, ReasonHeadTooLarge}},
		},
		{
			name: "head exactly at the limit", stream: ok + ok, maxHead: len(ok),
			want: []Verdict{{}, {}},
		},
		{
			name: "request line over the limit with no line end", stream: ok + strings.Repeat("A", 5000), maxHead: 1024,
			want: []Verdict{{}, {Severe, ReasonHeadTooLarge}},
		},
		{
			name:   "corrupt chunk size",
			stream: "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGET /x HTTP/1.1\r\n\r\n" + ok,
			want:   []Verdict{{}, {Severe, ReasonUnknownBoundary}, {Severe, ReasonUnknownBoundary}},
		},
		{
			name:   "chunk data without its CRLF",
			stream: "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n" + ok,
			want:   []Verdict{{}, {Severe, ReasonUnknownBoundary}},
		},
		{
			name:   "chunk size with bare LF",
			stream: "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\na\r\n0\r\n\r\n" + ok,
			want:   []Verdict{{}, {Severe, ReasonUnknownBoundary}},
		},
		{
			name:   "chunk size of 17 digits",
			stream: "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n00000000000000001\r\na\r\n0\r\n\r\n" + ok,
			want:   []Verdict{{}, {Severe, ReasonUnknownBoundary}},
		},
		{
			name:   "head net/http refuses",
			stream: "POST /g HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n" + ok,
			want:   []Verdict{{}, {Severe, ReasonUnknownBoundary}},
		},
		{
			name:   "stray CRLF after a GET",
			stream: ok + "\r\n" + ok,
			want:   []Verdict{{}, {Ambiguous, ReasonMissingURI}, {Severe, ReasonUnknownBoundary}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dc := pipeConn(t, [][]byte{[]byte(tc.stream)}, tc.maxHead, 4096)
			got := verdicts(dc, len(tc.want))
			if !equalVerdicts(got, tc.want) {
				t.Errorf("verdicts %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestConnNextWithoutRequest(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	dc := NewConn(server, 0)
	if v, ok := dc.Next(); ok {
		t.Errorf("Next on a fresh Conn = %+v, true; want false", v)
	}
	if dc.NetConn() != server {
		t.Errorf("NetConn does not return the wrapped connection")
	}
}

func TestConnQueueBound(t *testing.T) {
	req := "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
	dc := pipeConn(t, [][]byte{[]byte(strings.Repeat(req, maxQueued+10))}, 0, 4096)
	got := verdicts(dc, maxQueued+2)
	if len(got) != maxQueued+2 || got[maxQueued-1] != (Verdict{}) || got[maxQueued] != (Verdict{Severe, ReasonUnknownBoundary}) {
		t.Errorf("after %d queued verdicts got %+v, want Compliant then UnknownRequestBoundary", maxQueued, got[maxQueued-1:])
	}
}

func TestTrackerMemoryBounded(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	garbage := make([]byte, 1<<20)
	for i := range garbage {
		garbage[i] = byte(rng.UintN(256))
	}
	const maxHead = 8 << 10
	tr := tracker{maxHead: maxHead, emit: func([]byte, Verdict) bool { return true }}
	tr.startHead()
	for rest := garbage; len(rest) > 0; {
		n := min(len(rest), 1+rng.IntN(3000))
		tr.feed(rest[:n])
		rest = rest[n:]
		if cap(tr.head) > 2*maxHead {
			t.Fatalf("head buffer grew to %d bytes, limit %d", cap(tr.head), maxHead)
		}
	}
}

func TestTrackerAllocatesNothingOnceWarm(t *testing.T) {
	p := smugglingStream(t)
	c := &Conn{}
	c.t.maxHead = DefaultMaxHead
	c.t.emit = c.push
	c.t.startHead()
	run := func() {
		// Uneven pieces, so that heads span feeds and get copied.
		for rest := p.stream; len(rest) > 0; {
			n := min(len(rest), 37)
			c.t.feed(rest[:n])
			rest = rest[n:]
		}
		for range p.want {
			c.Next()
		}
	}
	run() // grow the buffers once
	if n := testing.AllocsPerRun(20, run); n != 0 {
		t.Errorf("tracking a pipelined stream allocates %v times", n)
	}
}

func BenchmarkConnFeed(b *testing.B) {
	p := smugglingStream(b)
	c := &Conn{}
	c.t.maxHead = DefaultMaxHead
	c.t.emit = c.push
	c.t.startHead()
	b.ReportAllocs()
	b.SetBytes(int64(len(p.stream)))
	for b.Loop() {
		c.t.feed(p.stream)
		for range p.want {
			c.Next()
		}
	}
	if c.t.phase == phaseStopped {
		b.Fatalf("tracker stopped: %s", c.t.stopReason)
	}
}
