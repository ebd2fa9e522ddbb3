// Command l4bench is the load generator, the target and the mtlslb layer-4 listener of the comparison in
// bench/l4/compare.sh (mtlslb against HAProxy mode tcp and nginx stream). It lives in the main module because its
// serve command runs internal/l4 directly, without the engine, so that the figures measure the forwarding alone.
//
//	l4bench ports N                                   print N free loopback ports
//	l4bench sink -listen 127.0.0.1:9000               target: read to EOF, answer one byte, close
//	l4bench serve -listen 127.0.0.1:9001 -target 127.0.0.1:9000
//	l4bench load -addr 127.0.0.1:9001 -bytes 1073741824   one connection, bytes/s
//	l4bench load -addr 127.0.0.1:9001 -conns -c 32 -d 5s  short connections, connections/s
//
// A short connection writes one byte, closes its write side and waits for the target's byte: the same exchange
// through every proxy, and a whole connection lifetime (accept, connect to the target, half-close, close).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mtlslb/mtlslb/internal/health"
	"github.com/mtlslb/mtlslb/internal/l4"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "l4bench:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: l4bench ports|sink|serve|load [flags]")
	}
	switch args[0] {
	case "ports":
		return ports(args[1:])
	case "sink":
		return sink(args[1:])
	case "serve":
		return serve(args[1:])
	case "load":
		return load(args[1:])
	}
	return fmt.Errorf("unknown command %q", args[0])
}

func ports(args []string) error {
	n := 1
	if len(args) > 0 {
		var err error
		if n, err = strconv.Atoi(args[0]); err != nil {
			return err
		}
	}
	// Hold every listener until all are chosen, so that the ports differ.
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		lns = append(lns, ln)
		fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	}
	return nil
}

// untilSignal returns a context cancelled by SIGINT or SIGTERM.
func untilSignal() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func sink(args []string) error {
	fs := flag.NewFlagSet("sink", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	ctx, stop := untilSignal()
	defer stop()
	go func() { <-ctx.Done(); ln.Close() }()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		go func() {
			defer c.Close()
			// net.Conn's WriteTo copies into io.Discard with a pooled buffer: the target costs the same behind
			// every proxy.
			_, _ = io.Copy(io.Discard, c)
			_, _ = c.Write([]byte{1})
		}()
	}
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	target := fs.String("target", "", "target host:port")
	proxyV2 := fs.Bool("proxy-v2", false, "send a PROXY v2 header to the target")
	if err := fs.Parse(args); err != nil {
		return err
	}
	host, portText, err := net.SplitHostPort(*target)
	if err != nil {
		return fmt.Errorf("-target: %w", err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return fmt.Errorf("-target: %w", err)
	}
	g, err := l4.NewTargetGroup(l4.TargetGroupOptions{Name: "bench", ProxyProtocolV2: *proxyV2,
		Targets: []health.Target{{Host: host, Port: port}}})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := l4.New(ln, &l4.Config{ELB: "bench", Group: g, Logger: log})
	if err != nil {
		return err
	}
	ctx, stop := untilSignal()
	defer stop()
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.Shutdown(sctx)
}

func load(args []string) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	addr := fs.String("addr", "", "address to connect to")
	size := fs.Int64("bytes", 1<<30, "bytes to send over one connection")
	conns := fs.Bool("conns", false, "measure short connections per second instead of bytes per second")
	workers := fs.Int("c", 32, "concurrent connections (-conns)")
	d := fs.Duration("d", 5*time.Second, "duration (-conns)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *conns {
		return loadConns(*addr, *workers, *d)
	}
	return loadBytes(*addr, *size)
}

// loadBytes sends size bytes over one connection and prints bytes per second, counted from the first byte to the
// target's confirmation that it read them all.
func loadBytes(addr string, size int64) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 1<<20)
	start := time.Now()
	for left := size; left > 0; {
		n := int64(len(buf))
		if left < n {
			n = left
		}
		if _, err := c.Write(buf[:n]); err != nil {
			return err
		}
		left -= n
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return err
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		return fmt.Errorf("waiting for the target's confirmation: %w", err)
	}
	el := time.Since(start)
	fmt.Printf("bytes_per_second %.0f\n", float64(size)/el.Seconds())
	return nil
}

// loadConns runs workers loops of short connections for d and prints connections per second.
func loadConns(addr string, workers int, d time.Duration) error {
	var done, failed atomic.Int64
	var firstErr error
	var once sync.Once
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := []byte{0}
			for time.Now().Before(deadline) {
				if err := shortConn(addr, b); err != nil {
					failed.Add(1)
					once.Do(func() { firstErr = err })
					continue
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	fmt.Printf("conns_per_second %.0f\n", float64(done.Load())/el.Seconds())
	if n := failed.Load(); n > 0 {
		fmt.Fprintf(os.Stderr, "l4bench: %d connections failed, the first with: %v\n", n, firstErr)
	}
	return nil
}

func shortConn(addr string, b []byte) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(b); err != nil {
		return err
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return err
	}
	_, err = io.ReadFull(c, b)
	return err
}
