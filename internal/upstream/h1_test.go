package upstream

import (
	"context"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// TestConnSource checks the direct path's connection source against a real listener: an idle connection is
// lent again, one the target closed is not, a retired source closes what is given back, and idle
// connections past the idle timeout are swept.
func TestConnSource(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int64
	serverSide := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			serverSide <- c
		}
	}()
	rt, err := NewPool().Transport(Config{Protocol: ProtocolHTTP, Version: VersionHTTP1})
	if err != nil {
		t.Fatal(err)
	}
	src := Direct(rt)
	if src == nil {
		t.Fatal("an HTTP1 transport has no connection source")
	}
	addr := ln.Addr().String()
	ctx := context.Background()

	c1, err := src.Acquire(ctx, addr, false)
	if err != nil {
		t.Fatal(err)
	}
	s1 := <-serverSide
	src.Release(c1, true)
	c2, err := src.Acquire(ctx, addr, false)
	if err != nil {
		t.Fatal(err)
	}
	if c2 != c1 || !c2.Reused() {
		t.Fatalf("an idle open connection was not lent again")
	}
	src.Release(c2, true)

	// The target closes it while idle: the liveness check retires it and a new one is dialled.
	s1.Close()
	time.Sleep(20 * time.Millisecond)
	c3, err := src.Acquire(ctx, addr, false)
	if err != nil {
		t.Fatal(err)
	}
	s3 := <-serverSide
	if c3 == c1 || c3.Reused() || accepted.Load() != 2 {
		t.Fatalf("a connection the target closed was lent again (accepted %d)", accepted.Load())
	}

	// Bytes the target sent unasked also retire a connection.
	src.Release(c3, true)
	io.WriteString(s3, "HTTP/1.1 200 OK\r\n\r\n")
	time.Sleep(20 * time.Millisecond)
	c4, err := src.Acquire(ctx, addr, false)
	if err != nil {
		t.Fatal(err)
	}
	if c4 == c3 {
		t.Fatalf("a connection with unread bytes from the target was lent again")
	}
	<-serverSide

	// Not reusable, or given back to a retired source: closed.
	src.Release(c4, false)
	if _, err := c4.NetConn().Write([]byte("x")); err == nil {
		t.Errorf("a connection released as not reusable is still open")
	}
	c5, err := src.Acquire(ctx, addr, false)
	if err != nil {
		t.Fatal(err)
	}
	<-serverSide
	src.closeIdle(true)
	src.Release(c5, true)
	if _, err := c5.NetConn().Write([]byte("x")); err == nil {
		t.Errorf("a connection given back to a retired source is still open")
	}
}

func TestConnSourceSweep(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	rt, err := NewPool().Transport(Config{Protocol: ProtocolHTTP, Version: VersionHTTP1})
	if err != nil {
		t.Fatal(err)
	}
	src := Direct(rt)
	old, err := src.Acquire(context.Background(), ln.Addr().String(), false)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := src.Acquire(context.Background(), ln.Addr().String(), false)
	if err != nil {
		t.Fatal(err)
	}
	src.Release(old, true)
	src.mu.Lock()
	old.idleSince = time.Now().Add(-2 * idleConnTimeout)
	src.lastSweep = time.Time{}
	src.mu.Unlock()
	src.Release(fresh, true) // sweeps
	src.mu.Lock()
	idle := append([]*Conn(nil), src.idle[ln.Addr().String()]...)
	src.mu.Unlock()
	if len(idle) != 1 || idle[0] != fresh {
		t.Fatalf("after a sweep the idle list is %v, want just the fresh connection", idle)
	}
	if _, err := old.NetConn().Write([]byte("x")); err == nil {
		t.Errorf("a swept connection is still open")
	}
}

func TestDirectOnlyForHTTP1(t *testing.T) {
	t.Parallel()
	for _, v := range []string{VersionHTTP2, VersionGRPC} {
		rt, err := NewPool().Transport(Config{Protocol: ProtocolHTTP, Version: v})
		if err != nil {
			t.Fatal(err)
		}
		if Direct(rt) != nil {
			t.Errorf("%s transport offers the HTTP/1.1 direct path", v)
		}
	}
}
