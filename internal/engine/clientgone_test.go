package engine_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// Tests of what the direct path does when the client goes away while the target has not answered: the
// exchange with the target is aborted at once and the request is logged 460 ClientClosedConnection. An
// HTTP/1 connection's watcher (requestTimeoutConn) notices it from the failed read of the client; an HTTP/2
// stream's context does.

// clientGonePrompt is how soon after the client leaves mtlslb must have closed the target's connection: far
// below the response header timeout (the idle timeout, 60 s by default) that ends the wait otherwise.
const clientGonePrompt = 5 * time.Second

// silentTarget is an HTTP/1.1 target that reads one request on each connection and never answers. It reports
// the path of each request it read, then how that connection ended: nil or a reset when mtlslb closed it,
// a deadline error when it was still open after l7Wait.
type silentTarget struct {
	addr  string
	got   chan string
	ended chan error
}

func newSilentTarget(t testing.TB) *silentTarget {
	t.Helper()
	st := &silentTarget{got: make(chan string, 8), ended: make(chan error, 8)}
	st.addr = serveLoopback(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(l7Wait))
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		st.got <- req.URL.Path
		_, err = io.Copy(io.Discard, c)
		st.ended <- err
	})
	return st
}

func TestDirectClientGoneAbortsTarget(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, path, typ string
		// send sends GET path to the listener and returns what makes the client go away.
		send func(t *testing.T, l *lb, path string) (leave func())
	}{
		{
			// net/http's background read of the connection fails: the watcher path.
			name: "h1 client closes its connection", path: "/gone-h1", typ: "https",
			send: func(t *testing.T, l *lb, path string) func() {
				conn, err := tls.Dial("tcp", l.addr(0), l.tlsConfig(clientOptions{}))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { conn.Close() })
				if _, err := io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
					t.Fatal(err)
				}
				return func() { conn.Close() }
			},
		},
		{
			// The stream is reset while the connection stays up: only the request's context says so, the
			// context.AfterFunc path.
			name: "h2 client resets its stream", path: "/gone-h2", typ: "h2",
			send: func(t *testing.T, l *lb, path string) func() {
				ctx, cancel := context.WithCancel(context.Background())
				req := newRequest(t, http.MethodGet, l.url(0, path), nil).WithContext(ctx)
				c := l.client(t, clientOptions{h2: true})
				done := make(chan struct{})
				go func() {
					defer close(done)
					_, _ = tryDo(c, req)
				}()
				t.Cleanup(func() { cancel(); <-done })
				return func() { cancel(); <-done }
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := newSilentTarget(t)
			l := startLB(t, lbSpec{listeners: []lbListener{{}}, groups: []lbGroup{{name: "silent", targets: []string{st.addr}}}})
			leave := tc.send(t, l, tc.path)
			select {
			case p := <-st.got:
				if p != tc.path {
					t.Fatalf("the target received %s, want %s", p, tc.path)
				}
			case <-time.After(l7Wait):
				t.Fatal("the request never reached the target")
			}

			left := time.Now()
			leave()
			select {
			case err := <-st.ended:
				if errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("the target's connection was still open %v after the client left", l7Wait)
				}
				if d := time.Since(left); d > clientGonePrompt {
					t.Errorf("mtlslb closed the target's connection %v after the client left, want under %v", d, clientGonePrompt)
				}
			case <-time.After(l7Wait + time.Second):
				t.Fatal("the target's connection did not end")
			}

			e := l.accessFor(t, tc.path)
			if e.elbStatus != "460" || e.errorReason != "ClientClosedConnection" || e.typ != tc.typ {
				t.Errorf("access log: %s %s %q, want %s 460 ClientClosedConnection\n%s", e.typ, e.elbStatus, e.errorReason, tc.typ, e.line)
			}
		})
	}
}

// TestDirectKeepAliveKeepsTarget: after each response net/http stops its background read of the client by
// expiring the read deadline, and may parse the next request from what it had already read (pipelining)
// without reading the connection again; during a slow exchange the watcher reads the client in net/http's
// place, and may take the first byte of a pipelined request. Neither is the client going away: every request of a kept-alive
// connection is answered over the same target connection.
func TestDirectKeepAliveKeepsTarget(t *testing.T) {
	t.Parallel()
	rt := newRawTarget(t, func(r *http.Request, _ int, w *bufio.Writer) bool {
		if strings.Contains(r.URL.Path, "slow") {
			// Longer than the watcher's delay: it reads the client in net/http's place meanwhile.
			time.Sleep(100 * time.Millisecond)
		}
		answer(w, "200 OK", r.Method+" "+r.URL.Path)
		return true
	})
	l := rawLB(t, rt)
	conn, err := tls.Dial("tcp", l.addr(0), l.tlsConfig(clientOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(l7Wait))
	br := bufio.NewReader(conn)
	get := func(path string) string { return "GET " + path + " HTTP/1.1\r\nHost: a\r\n\r\n" }
	for _, step := range []struct {
		name, requests string
		answers        []string // method and path of each request, as the target saw them
	}{
		{"GET", get("/ka/1"), []string{"GET /ka/1"}},
		// The background read starts only once the body has been read.
		{"POST with a body", "POST /ka/2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", []string{"POST /ka/2"}},
		{"two pipelined GETs", get("/ka/3") + get("/ka/4"), []string{"GET /ka/3", "GET /ka/4"}},
		{"GET after them", get("/ka/5"), []string{"GET /ka/5"}},
		// The watcher's own read is stopped when the response comes, and leaves the connection as it found it.
		{"slow GET", get("/ka/slow6"), []string{"GET /ka/slow6"}},
		{"GET after it", get("/ka/7"), []string{"GET /ka/7"}},
		// A request pipelined while the target takes its time over the previous one: the watcher's read takes
		// its first byte, which net/http must still get.
		{"GET pipelined behind a slow one", get("/ka/slow8") + "\x00" + get("/ka/9"), []string{"GET /ka/slow8", "GET /ka/9"}},
		{"POST with a body pipelined behind a slow GET", get("/ka/slow10") + "\x00" + "POST /ka/11 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
			[]string{"GET /ka/slow10", "POST /ka/11"}},
		// A fast request and a slow one pipelined together, then another: the slow one's background read may
		// start before its watch, and the fast one's skipped read must not make the watcher read beside it.
		{"fast and slow GETs pipelined", get("/ka/12") + get("/ka/slow13"), []string{"GET /ka/12", "GET /ka/slow13"}},
		{"GET after the pair", get("/ka/14"), []string{"GET /ka/14"}},
	} {
		// A NUL separates what is sent at once from what is sent 30 ms later.
		now, later, _ := strings.Cut(step.requests, "\x00")
		if _, err := io.WriteString(conn, now); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if later != "" {
			time.Sleep(30 * time.Millisecond)
			if _, err := io.WriteString(conn, later); err != nil {
				t.Fatalf("%s: %v", step.name, err)
			}
		}
		for _, p := range step.answers {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("%s: reading the response to %s: %v", step.name, p, err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK || string(body) != p {
				t.Fatalf("%s: %s answered %d %q (%v), want 200 %q", step.name, p, resp.StatusCode, body, err, p)
			}
		}
	}
	if n := rt.conns.Load(); n != 1 {
		t.Errorf("the target accepted %d connections, want 1: a request's exchange was aborted", n)
	}
}
