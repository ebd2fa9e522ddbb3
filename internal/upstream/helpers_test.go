package upstream

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/testpki"
)

// fixture is the PKI of a test: the CA of the targets, a CA nobody trusts, and the CA the targets
// trust for upstream client certificates.
type fixture struct {
	targetCA   *testpki.CA
	otherCA    *testpki.CA
	clientCA   *testpki.CA
	server     tls.Certificate // for 127.0.0.1, from targetCA
	namedSrv   tls.Certificate // for target.example, from targetCA
	client     tls.Certificate // CN clientCN, from clientCA
	foreignCli tls.Certificate // CN clientCN, from otherCA
}

const clientCN = "mtlslb-upstream"

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{targetCA: testpki.NewCA(t), otherCA: testpki.NewCA(t), clientCA: testpki.NewCA(t)}
	f.server = f.targetCA.Server(t, "127.0.0.1").TLSCertificate()
	f.namedSrv = f.targetCA.Server(t, "target.example").TLSCertificate()
	f.client = f.clientCA.Client(t, clientCN).TLSCertificate()
	f.foreignCli = f.otherCA.Client(t, clientCN).TLSCertificate()
	return f
}

// serverTLS is a target's TLS configuration; requireClient turns on upstream mutual TLS.
func (f *fixture) serverTLS(requireClient bool) *tls.Config {
	c := &tls.Config{Certificates: []tls.Certificate{f.server}}
	if requireClient {
		c.ClientAuth = tls.RequireAndVerifyClientCert
		c.ClientCAs = f.clientCA.Pool()
	}
	return c
}

// reparsed returns a new parse of c: equal content, different pointer, as after a reload.
func reparsed(t testing.TB, c *x509.Certificate) *x509.Certificate {
	t.Helper()
	p, err := x509.ParseCertificate(c.Raw)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func protocols(set ...func(*http.Protocols, bool)) http.Protocols {
	var p http.Protocols
	for _, s := range set {
		s(&p, true)
	}
	return p
}

// countingTarget is an HTTP target that counts the connections it accepted and reports each close.
type countingTarget struct {
	addr     string
	accepted atomic.Int64
	closed   chan struct{}
}

func newCountingTarget(t testing.TB, tlsConfig *tls.Config, protos http.Protocols) *countingTarget {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ct := &countingTarget{addr: ln.Addr().String(), closed: make(chan struct{}, 64)}
	srv := &http.Server{
		Handler:   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) }),
		Protocols: &protos,
		ErrorLog:  log.New(io.Discard, "", 0),
		ConnState: func(_ net.Conn, s http.ConnState) {
			switch s {
			case http.StateNew:
				ct.accepted.Add(1)
			case http.StateClosed:
				select {
				case ct.closed <- struct{}{}:
				default:
				}
			}
		},
	}
	if tlsConfig != nil {
		srv.TLSConfig = tlsConfig
		go srv.ServeTLS(ln, "", "")
	} else {
		go srv.Serve(ln)
	}
	t.Cleanup(func() { srv.Close() })
	return ct
}

// waitClosed waits until the target has seen a connection close.
func (ct *countingTarget) waitClosed(t testing.TB) {
	t.Helper()
	select {
	case <-ct.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("target saw no connection close within 5 s")
	}
}

// rawTarget accepts connections and hands each to serve, for targets that misbehave below HTTP.
func rawTarget(t testing.TB, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		close(done)
		ln.Close()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c)
				<-done
			}()
		}
	}()
	return ln.Addr().String()
}

// readRequest consumes one HTTP/1 request, so that closing afterwards sends FIN rather than RST.
func readRequest(c net.Conn) *bufio.Reader {
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err == nil {
		io.Copy(io.Discard, req.Body)
	}
	return br
}

// roundTrip sends a request through rt and returns the response with its body read.
func roundTrip(ctx context.Context, t testing.TB, rt http.RoundTripper, url, body string) (*http.Response, string, error) {
	t.Helper()
	var r io.Reader
	method := http.MethodGet
	if body != "" {
		r = strings.NewReader(body)
		method = http.MethodPost
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp, "", err
	}
	return resp, string(b), nil
}

// closeTracker is a request body that records whether it was closed.
type closeTracker struct {
	io.Reader
	closed bool
}

func (c *closeTracker) Close() error {
	c.closed = true
	return nil
}
