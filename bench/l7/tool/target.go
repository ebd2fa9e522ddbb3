package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
)

// targetBody is the ~100-byte body of every ordinary answer.
const targetBody = "ok: mtlslb bench target. This body is one hundred bytes long so that it looks like a small reply.\n"

// targetResponses are the fixed answers, built once so a request costs a write of a ready slice.
type targetResponses struct {
	keepAlive, close []byte
}

func newTargetResponses(status int) targetResponses {
	head := "HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\nContent-Type: text/plain\r\nContent-Length: " + strconv.Itoa(len(targetBody)) + "\r\n"
	return targetResponses{
		keepAlive: []byte(head + "\r\n" + targetBody),
		close:     []byte(head + "Connection: close\r\n\r\n" + targetBody),
	}
}

func runTarget(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("target", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address (loopback)")
	certFile := fs.String("cert", "", "serve TLS with this certificate (PEM); plain HTTP when empty")
	keyFile := fs.String("key", "", "private key of -cert (PEM)")
	status := fs.Int("status", http.StatusOK, "status code of every answer (echo requests excepted)")
	clientCA := fs.String("client-ca", "", "with -cert: require client certificates issued by these CAs (PEM)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *status < 200 || *status > 599 || *status == http.StatusNoContent || *status == http.StatusNotModified {
		fmt.Fprintln(stderr, "tool target: -status must be a code from 200 to 599 that allows a body")
		return errUsage
	}
	tlsConf, err := targetTLS(*certFile, *keyFile, *clientCA)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	fmt.Fprintf(stderr, "target: serving on %s (tls=%t)\n", ln.Addr(), tlsConf != nil)
	return serveTarget(ln, tlsConf, newTargetResponses(*status), stderr)
}

// targetTLS returns the TLS configuration of the target, or nil for plain HTTP.
func targetTLS(certFile, keyFile, clientCA string) (*tls.Config, error) {
	if certFile == "" {
		if clientCA != "" {
			return nil, errors.New("-client-ca needs -cert")
		}
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load server certificate: %w", err)
	}
	conf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}
	if clientCA != "" {
		pem, err := os.ReadFile(clientCA)
		if err != nil {
			return nil, fmt.Errorf("read client CA bundle: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificate in %s", clientCA)
		}
		conf.ClientCAs = pool
		conf.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return conf, nil
}

// serveTarget accepts connections until ln is closed, then waits for the connections in flight.
func serveTarget(ln net.Listener, tlsConf *tls.Config, resp targetResponses, stderr io.Writer) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("accept: %w", err)
		}
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
		}
		if tlsConf != nil {
			c = tls.Server(c, tlsConf)
		}
		wg.Go(func() {
			defer c.Close()
			if err := serveTargetConn(c, resp); err != nil {
				fmt.Fprintf(stderr, "target: %s: %v\n", c.RemoteAddr(), err)
			}
		})
	}
}

// serveTargetConn answers the requests of one connection. Responses are flushed only when no further
// pipelined request is already buffered, so a keep-alive request costs one read and one write.
func serveTargetConn(c net.Conn, resp targetResponses) error {
	br := bufio.NewReaderSize(c, 32<<10)
	bw := bufio.NewWriterSize(c, 8<<10)
	var head bytes.Buffer
	for {
		head.Reset()
		r, err := readRequest(br, &head)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) {
				return nil
			}
			bw.WriteString("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			bw.Flush()
			return err
		}
		switch {
		case r.echo:
			conn := ""
			if r.close {
				conn = "Connection: close\r\n"
			}
			fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n", head.Len(), conn)
			bw.Write(head.Bytes())
		case r.close:
			bw.Write(resp.close)
		default:
			bw.Write(resp.keepAlive)
		}
		if br.Buffered() == 0 || r.close {
			if err := bw.Flush(); err != nil {
				return fmt.Errorf("write: %w", err)
			}
		}
		if r.close {
			return nil
		}
	}
}
