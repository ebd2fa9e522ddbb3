package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/httpproxy"
)

// loopback returns both ends of a TCP connection on 127.0.0.1.
func loopback(t *testing.T) (a, b net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	a, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b, err = ln.Accept()
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// watchTestWait bounds the waits of this file's tests: far longer than anything takes.
const watchTestWait = 10 * time.Second

// waitFor polls cond, under mu, until it holds, for up to watchTestWait.
func waitFor(t *testing.T, what string, cond func() bool, mu *sync.Mutex) {
	t.Helper()
	for end := time.Now().Add(watchTestWait); ; time.Sleep(time.Millisecond) {
		mu.Lock()
		ok := cond()
		mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("waited %v for %s", watchTestWait, what)
		}
	}
}

// startTargetRead starts the proxy's read of the target's response on up, blocked until the target answers
// or the watch aborts it, and returns how it ends.
func startTargetRead(up net.Conn) <-chan error {
	upRead := make(chan error, 1)
	go func() {
		_, err := up.Read(make([]byte, 1))
		upRead <- err
	}()
	return upRead
}

// checkTargetRead has the target answer unless the watch should have aborted the read, and checks that the
// read ended by the deadline's expiry exactly when it should have.
func checkTargetRead(t *testing.T, upRead <-chan error, target net.Conn, wantAborted bool) {
	t.Helper()
	if !wantAborted {
		if _, err := target.Write([]byte{'x'}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-upRead:
		if got := errors.Is(err, os.ErrDeadlineExceeded); got != wantAborted {
			t.Errorf("the target connection's read ended with %v; aborted %v, want %v", err, got, wantAborted)
		}
	case <-time.After(watchTestWait):
		t.Fatalf("the target connection's read did not return (want aborted %v)", wantAborted)
	}
}

// TestRequestTimeoutConnWatch: the watch aborts the target connection when a read from the client fails
// while it lasts, or has failed before it other than by a deadline; a read deadline that expired before it
// (net/http stopping its background read after a response) and a client leaving after it do not.
func TestRequestTimeoutConnWatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// steps drives rc, whose peer (the client) is client, while read, a read of rc (net/http's background
		// read), is pending, and returns once that read has returned.
		steps       func(t *testing.T, rc *requestTimeoutConn, client, up net.Conn, read <-chan error)
		wantAborted bool
	}{
		{"client leaves during the watch", func(t *testing.T, rc *requestTimeoutConn, client, up net.Conn, read <-chan error) {
			rc.WatchClient(up)
			client.Close()
			<-read
		}, true},
		{"client left before the watch", func(t *testing.T, rc *requestTimeoutConn, client, up net.Conn, read <-chan error) {
			client.Close()
			<-read
			rc.WatchClient(up)
		}, true},
		{"read deadline expired during the watch", func(t *testing.T, rc *requestTimeoutConn, client, up net.Conn, read <-chan error) {
			// net/http cancels the request's context on this one too.
			rc.WatchClient(up)
			rc.SetReadDeadline(time.Unix(1, 0))
			<-read
		}, true},
		{"read deadline expired before the watch", func(t *testing.T, rc *requestTimeoutConn, client, up net.Conn, read <-chan error) {
			rc.SetReadDeadline(time.Unix(1, 0))
			if err := <-read; !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("read: %v, want the deadline error", err)
			}
			rc.SetReadDeadline(time.Time{})
			rc.WatchClient(up)
		}, false},
		{"client leaves after the watch", func(t *testing.T, rc *requestTimeoutConn, client, up net.Conn, read <-chan error) {
			rc.WatchClient(up)
			if rc.UnwatchClient() {
				t.Error("UnwatchClient reported an abort before the client left")
			}
			client.Close()
			<-read
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			server, client := loopback(t)
			up, target := loopback(t)
			rc := &requestTimeoutConn{Conn: server, headerTimeout: time.Minute}
			read := make(chan error, 1)
			go func() {
				_, err := rc.Read(make([]byte, 1))
				read <- err
			}()
			// The background read reads the client itself when it starts before the watch, as here; one
			// that starts during a watch is TestRequestTimeoutConnLazyWatch's.
			waitFor(t, "the background read to start", func() bool { return rc.inRead == 1 }, &rc.mu)
			upRead := startTargetRead(up)
			tc.steps(t, rc, client, up, read)
			aborted := rc.UnwatchClient()
			checkTargetRead(t, upRead, target, tc.wantAborted)
			if aborted != tc.wantAborted {
				t.Errorf("UnwatchClient reported %v, want %v", aborted, tc.wantAborted)
			}
		})
	}
}

// TestConnContextClientWatcher: the requests of an HTTP/1 connection find its watcher in their context, with
// no allocation; those of an HTTP/2 connection (not wrapped) find none. Not parallel: AllocsPerRun counts the
// whole process's allocations.
func TestConnContextClientWatcher(t *testing.T) {
	server, _ := loopback(t)
	rc := &requestTimeoutConn{Conn: server, headerTimeout: time.Minute}
	// As net/http derives a request's context from the connection's.
	ctx, cancel := context.WithCancel(connContext(context.Background(), rc))
	defer cancel()
	if w, _ := ctx.Value(httpproxy.ClientWatcherKey{}).(httpproxy.ClientWatcher); w != httpproxy.ClientWatcher(rc) {
		t.Errorf("an HTTP/1 connection's context holds watcher %v, want its connection", w)
	}
	if n := testing.AllocsPerRun(100, func() {
		w, _ := ctx.Value(httpproxy.ClientWatcherKey{}).(httpproxy.ClientWatcher)
		w.WatchClient(server)
		w.UnwatchClient()
	}); n != 0 {
		t.Errorf("finding the watcher and watching allocate %v times, want 0", n)
	}
	if w := connContext(context.Background(), server).Value(httpproxy.ClientWatcherKey{}); w != nil {
		t.Errorf("a connection without the HTTP/1 wrapper has watcher %v", w)
	}
}

// TestRequestTimeoutConnLazyWatch: net/http's background read that starts during a watch is answered at once
// with nothing, and the watcher reads the client itself once the exchange has lasted watchDelay: a client
// that leaves then still aborts the exchange, a byte it sends is kept for net/http's next read, and an
// exchange that ends first leaves the connection untouched, with no read pending and no deadline.
func TestRequestTimeoutConnLazyWatch(t *testing.T) {
	t.Parallel()
	const delay = 5 * time.Millisecond
	for _, tc := range []struct {
		name string
		// steps drives rc, whose peer is client, during a watch of up, once net/http's background read has
		// been answered; the test then ends the watch.
		steps       func(t *testing.T, rc *requestTimeoutConn, client net.Conn)
		wantAborted bool
		// wantNext is what net/http's next read gets once the watch has ended and the client has sent "next".
		wantNext string
	}{
		{"client leaves during a long exchange", func(t *testing.T, rc *requestTimeoutConn, client net.Conn) {
			client.Close()
			waitFor(t, "the abort", func() bool { return rc.aborted }, &rc.mu)
		}, true, ""},
		{"short exchange", func(t *testing.T, rc *requestTimeoutConn, client net.Conn) {}, false, "next"},
		{"client pipelines during a long exchange", func(t *testing.T, rc *requestTimeoutConn, client net.Conn) {
			if _, err := io.WriteString(client, "GET /"); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the watcher's read to keep the byte", func() bool { return rc.stashed }, &rc.mu)
		}, false, "GET /next"},
		{"exchange ends while the watcher reads", func(t *testing.T, rc *requestTimeoutConn, client net.Conn) {
			waitFor(t, "the watcher's read", func() bool { return rc.ownRead }, &rc.mu)
		}, false, "next"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			server, client := loopback(t)
			up, target := loopback(t)
			rc := &requestTimeoutConn{Conn: server, headerTimeout: time.Minute, watchDelay: delay}
			upRead := startTargetRead(up)
			rc.WatchClient(up)
			if n, err := rc.Read(make([]byte, 1)); n != 0 || err != nil {
				t.Fatalf("the background read during the watch returned %d, %v; want 0, nil at once", n, err)
			}
			tc.steps(t, rc, client)
			if aborted := rc.UnwatchClient(); aborted != tc.wantAborted {
				t.Errorf("UnwatchClient reported %v, want %v", aborted, tc.wantAborted)
			}
			checkTargetRead(t, upRead, target, tc.wantAborted)
			if tc.wantNext == "" {
				return
			}
			// Past watchDelay: a timer left running would now start a read, and take "next".
			time.Sleep(3 * delay)
			if _, err := io.WriteString(client, "next"); err != nil {
				t.Fatal(err)
			}
			rc.SetReadDeadline(time.Now().Add(watchTestWait))
			var got []byte
			buf := make([]byte, 64)
			for len(got) < len(tc.wantNext) {
				n, err := rc.Read(buf)
				if err != nil {
					t.Fatalf("net/http's next read after %q: %v", got, err)
				}
				got = append(got, buf[:n]...)
			}
			if string(got) != tc.wantNext {
				t.Errorf("net/http's next reads got %q, want %q", got, tc.wantNext)
			}
		})
	}
}

// TestRequestTimeoutConnLateBackgroundRead: a background read that starts after watchDelay reads the client
// itself, as one that starts before the watch does, and sees the client leave.
func TestRequestTimeoutConnLateBackgroundRead(t *testing.T) {
	t.Parallel()
	server, client := loopback(t)
	up, _ := loopback(t)
	rc := &requestTimeoutConn{Conn: server, headerTimeout: time.Minute, watchDelay: time.Millisecond}
	rc.WatchClient(up)
	waitFor(t, "watchDelay to pass", func() bool { return !rc.lazy }, &rc.mu)
	read := make(chan error, 1)
	go func() {
		_, err := rc.Read(make([]byte, 1))
		read <- err
	}()
	waitFor(t, "the background read to start", func() bool { return rc.inRead == 1 }, &rc.mu)
	client.Close()
	if err := <-read; err == nil {
		t.Error("the background read returned no error when the client left")
	}
	if !rc.UnwatchClient() {
		t.Error("UnwatchClient reported no abort")
	}
}

// TestRequestTimeoutConnNoConcurrentRead: a pipelined request whose head net/http had already read runs its
// background read at once, before its watch; the background read the previous request skipped must not make
// the watcher read the client as well, whose stopping would then fail net/http's read with a deadline it did
// not set (net/http would cancel the connection's context).
func TestRequestTimeoutConnNoConcurrentRead(t *testing.T) {
	t.Parallel()
	server, client := loopback(t)
	up, _ := loopback(t)
	rc := &requestTimeoutConn{Conn: server, headerTimeout: time.Minute, watchDelay: time.Millisecond}
	// The first request: its background read comes during the watch and is skipped; its response is written.
	rc.WatchClient(up)
	if n, err := rc.Read(make([]byte, 1)); n != 0 || err != nil {
		t.Fatalf("the first background read returned %d, %v; want 0, nil", n, err)
	}
	rc.UnwatchClient()
	if _, err := rc.Write([]byte("HTTP/1.1 200 OK\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	// The second request's background read, before its watch.
	read := make(chan string, 1)
	go func() {
		b := make([]byte, 1)
		n, err := rc.Read(b)
		read <- fmt.Sprintf("%q %v", b[:n], err)
	}()
	waitFor(t, "the background read to start", func() bool { return rc.inRead == 1 }, &rc.mu)
	rc.WatchClient(up)
	time.Sleep(20 * time.Millisecond) // well past watchDelay
	rc.UnwatchClient()
	if _, err := io.WriteString(client, "x"); err != nil {
		t.Fatal(err)
	}
	if got := <-read; got != `"x" <nil>` {
		t.Errorf("net/http's background read got %s, want \"x\" <nil>", got)
	}
}
