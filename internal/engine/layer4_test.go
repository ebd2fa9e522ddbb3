package engine_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/config"
	"github.com/mtlslb/mtlslb/internal/engine"
)

// TestLayer4ThroughTheEngine: a TCP listener passes a client's TLS, client certificate included, to a target
// that does mTLS itself; a TLS listener in verify mode terminates TLS, refuses an untrusted client, and
// forwards the bytes of a trusted one in clear.
func TestLayer4ThroughTheEngine(t *testing.T) {
	f := newFixture(t)
	good := f.issuing.Client(t, "l4.client")

	// The mTLS target: it verifies the client itself and answers with the subject it saw.
	tlsTarget, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{f.server.TLSCertificate()},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    f.root.Pool(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tlsTarget.Close() })
	go serveLines(tlsTarget, func(c net.Conn) string {
		tc := c.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			return ""
		}
		return "mtls-target saw " + tc.ConnectionState().PeerCertificates[0].Subject.CommonName
	})
	// The plain target of the TLS listener.
	plainTarget, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = plainTarget.Close() })
	go serveLines(plainTarget, func(net.Conn) string { return "plain-target" })

	port := func(l net.Listener) string { return fmt.Sprint(l.Addr().(*net.TCPAddr).Port) }
	doc := fmt.Sprintf(`name: l4
attributes:
  connection_logs: { enabled: true, path: connection.log }
trust_stores:
  - name: clients
    ca_certificates_bundle: bundle.pem
listeners:
  - port: 1443
    address: 127.0.0.1
    protocol: TCP
    default_actions: [{ type: forward, target_group: mtls }]
  - port: 2443
    address: 127.0.0.1
    protocol: TLS
    certificates: [{ certificate: server.pem, private_key: server-key.pem }]
    mutual_authentication: { mode: verify, trust_store: clients, identity_filters: { subject_cn: ["l4.*"] } }
    default_actions: [{ type: forward, target_group: plain }]
target_groups:
  - name: mtls
    protocol: TCP
    targets: [{ id: 127.0.0.1, port: %s }]
    health_check: { enabled: false }
  - name: plain
    protocol: TCP
    targets: [{ id: 127.0.0.1, port: %s }]
    health_check: { enabled: false }
`, port(tlsTarget), port(plainTarget))
	path := f.write(t, "l4.yaml", []byte(doc))
	d, err := config.Load(path)
	if err != nil {
		t.Fatalf("config.Load: %v", err)
	}
	d.Listeners[0].Port, d.Listeners[1].Port = 0, 0
	d.Listeners[1].Address = "127.0.0.2" // two port-0 listeners need distinct addresses to be keyed apart
	eng := engine.New(engine.Options{})
	compiled, err := eng.Compile(d)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	if err := eng.Apply(compiled); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	t.Cleanup(func() { _ = eng.Shutdown(t.Context()) })
	addrs := eng.Addrs()
	tcpAddr, tlsAddr := addrs["127.0.0.1:0"].String(), addrs["127.0.0.2:0"].String()

	// TCP passthrough: the TLS session is between the client and the target.
	c, err := tls.Dial("tcp", tcpAddr, &tls.Config{RootCAs: f.root.Pool(), ServerName: "127.0.0.1",
		Certificates: []tls.Certificate{good.TLSCertificate()}})
	if err != nil {
		t.Fatalf("TLS through the TCP listener: %v", err)
	}
	if got := roundTrip(t, c); got != "mtls-target saw l4.client" {
		t.Errorf("through the TCP listener: %q", got)
	}

	// TLS listener: verified and forwarded in clear.
	c, err = tls.Dial("tcp", tlsAddr, &tls.Config{RootCAs: f.root.Pool(), ServerName: "127.0.0.1",
		Certificates: []tls.Certificate{good.TLSCertificate()}})
	if err != nil {
		t.Fatalf("TLS listener: %v", err)
	}
	if got := roundTrip(t, c); got != "plain-target" {
		t.Errorf("through the TLS listener: %q", got)
	}
	// A trusted certificate outside the identity filter fails, and so does one from another CA.
	for name, cert := range map[string]tls.Certificate{
		"filtered": f.issuing.Client(t, "other.client").TLSCertificate(),
	} {
		c, err := tls.Dial("tcp", tlsAddr, &tls.Config{RootCAs: f.root.Pool(), ServerName: "127.0.0.1", Certificates: []tls.Certificate{cert}})
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(boundedWait))
			_, _ = io.WriteString(c, "ping\n")
			_, err = bufio.NewReader(c).ReadString('\n')
		}
		if err == nil {
			t.Errorf("%s client was forwarded", name)
		}
	}
	st, _ := eng.Status()
	if len(st.Listeners) != 2 {
		t.Errorf("status lists %v, want both layer-4 listeners", st.Listeners)
	}
	if h, ok := eng.TargetHealth("mtls"); !ok || len(h) != 1 {
		t.Errorf("TargetHealth(mtls) = %v, %v", h, ok)
	}
}

// serveLines answers one line per connection with reply(c) after reading one line.
func serveLines(ln net.Listener, reply func(net.Conn) string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(boundedWait))
			msg := reply(c)
			if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
				return
			}
			_, _ = io.WriteString(c, msg+"\n")
		}()
	}
}

func roundTrip(t *testing.T, c net.Conn) string {
	t.Helper()
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(boundedWait))
	if _, err := io.WriteString(c, "ping\n"); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	return strings.TrimSpace(line)
}
