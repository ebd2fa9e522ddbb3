package listen

import (
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/testpki"
)

// TestSlowClientDoesNotBlockOthers: a client that connects and sends nothing is cut off at the handshake
// deadline and reported once, while a good client arriving after it is served at once.
func TestSlowClientDoesNotBlockOthers(t *testing.T) {
	ca := testpki.NewCA(t)
	cfg := &tls.Config{Certificates: []tls.Certificate{ca.Server(t, "127.0.0.1").TLSCertificate()}}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var outcomes []error
	done := make(chan struct{}, 4)
	l := New(inner, Options{
		HandshakeTimeout: 2 * time.Second,
		NewTraceID:       func() [16]byte { return [16]byte{1} },
		Setup:            func(c *Conn) *tls.Config { c.State = "gen-1"; return cfg },
		Done: func(h Handshake) bool {
			mu.Lock()
			outcomes = append(outcomes, h.Err)
			mu.Unlock()
			if h.Conn.State != "gen-1" || h.Conn.TraceID != [16]byte{1} {
				t.Errorf("connection identity not carried: %v %x", h.Conn.State, h.Conn.TraceID)
			}
			done <- struct{}{}
			return true
		},
	})
	defer l.Close()

	slow, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()

	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	good, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	select {
	case c := <-accepted:
		if FromTLS(c) == nil {
			t.Error("FromTLS found no Conn beneath the accepted connection")
		}
		// Served while the silent client's handshake is still pending: nothing waited behind it.
		mu.Lock()
		pending := len(outcomes) == 1 && outcomes[0] == nil
		mu.Unlock()
		if !pending {
			t.Errorf("outcomes when the good client was accepted: %v; want only its own success", outcomes)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the good client was never accepted")
	}
	<-done
	<-done // the silent client's deadline
	mu.Lock()
	defer mu.Unlock()
	failures := 0
	for _, e := range outcomes {
		if e != nil {
			failures++
		}
	}
	if len(outcomes) != 2 || failures != 1 {
		t.Fatalf("outcomes %v: want one success and one deadline failure", outcomes)
	}
}

func TestCloseEndsAccept(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := New(inner, Options{Setup: func(*Conn) *tls.Config { return &tls.Config{} }, Done: func(Handshake) bool { return true }})
	errc := make(chan error, 1)
	go func() { _, err := l.Accept(); errc <- err }()
	l.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept did not return after Close")
	}
}
