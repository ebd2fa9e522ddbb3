package l4

import (
	"io"
	"net"
	"testing"
	"time"
)

// benchTargets returns the address a client connects to: the sink itself ("direct") or a TCP listener in front of it.
func benchAddr(b *testing.B, direct bool, handle func(net.Conn)) string {
	b.Helper()
	target := startTarget(b, handle)
	if direct {
		return target.addr()
	}
	return startServer(b, &Config{Group: newGroup(b, TargetGroupOptions{}, target)}).Addr().String()
}

// sink reads to EOF, then answers with one byte so that the client knows everything arrived.
func sink(c net.Conn) {
	_, _ = io.Copy(io.Discard, c)
	_, _ = c.Write([]byte{1})
}

// BenchmarkTCPThroughput moves 1 MiB per operation over one connection, to a target that discards it; "direct"
// is the same without mtlslb in between.
func BenchmarkTCPThroughput(b *testing.B) {
	for _, direct := range []bool{true, false} {
		name := "mtlslb"
		if direct {
			name = "direct"
		}
		b.Run(name, func(b *testing.B) {
			c, err := net.Dial("tcp", benchAddr(b, direct, sink))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			chunk := make([]byte, 1<<20)
			b.SetBytes(int64(len(chunk)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Write(chunk); err != nil {
					b.Fatal(err)
				}
			}
			_ = c.(*net.TCPConn).CloseWrite()
			_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
			if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
				b.Fatalf("the target did not confirm: %v", err)
			}
		})
	}
}

// BenchmarkTCPConnections opens a connection, exchanges one byte each way and closes, per operation. allocs/op
// counts the whole process (client, mtlslb, target): mtlslb's share is the difference from "direct".
func BenchmarkTCPConnections(b *testing.B) {
	for _, direct := range []bool{true, false} {
		name := "mtlslb"
		if direct {
			name = "direct"
		}
		b.Run(name, func(b *testing.B) {
			addr := benchAddr(b, direct, echo)
			buf := make([]byte, 1)
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.Write(buf); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					b.Fatal(err)
				}
				_ = c.Close()
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "conns/s")
		})
	}
}
