package engine

import (
	"context"
	"errors"
	"net"
	"os"
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
			// The proxy's read of the target's response, blocked until the target answers or the watch
			// aborts it.
			upRead := make(chan error, 1)
			go func() {
				_, err := up.Read(make([]byte, 1))
				upRead <- err
			}()
			tc.steps(t, rc, client, up, read)
			aborted := rc.UnwatchClient()
			if !tc.wantAborted {
				// The target answers: the read gets its byte unless the deadline was expired.
				if _, err := target.Write([]byte{'x'}); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case err := <-upRead:
				if got := errors.Is(err, os.ErrDeadlineExceeded); got != tc.wantAborted {
					t.Errorf("the target connection's read ended with %v; aborted %v, want %v", err, got, tc.wantAborted)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("the target connection's read did not return (want aborted %v)", tc.wantAborted)
			}
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
