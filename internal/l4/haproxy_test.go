package l4

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/health"
	"github.com/mtlslb/mtlslb/internal/proxyproto"
	"github.com/mtlslb/mtlslb/internal/tlsconfig"
)

// haproxyConf puts HAProxy on both sides of mtlslb, to check the PROXY protocol against the implementation that
// defines it: two TCP frontends relay to mtlslb with send-proxy-v2 and send-proxy (mtlslb decodes), and an HTTP
// frontend with accept-proxy answers with the client address and authority TLV it decoded from mtlslb's header.
const haproxyConf = `global
    maxconn 64
defaults
    timeout connect 5s
    timeout client 5s
    timeout server 5s
frontend relay_v2
    mode tcp
    bind 127.0.0.1:%[1]d
    default_backend mtlslb_v2
backend mtlslb_v2
    mode tcp
    server lb %[4]s send-proxy-v2
frontend relay_v1
    mode tcp
    bind 127.0.0.1:%[2]d
    default_backend mtlslb_v1
backend mtlslb_v1
    mode tcp
    server lb %[4]s send-proxy
frontend from_mtlslb
    mode http
    bind 127.0.0.1:%[3]d accept-proxy
    http-request return status 200 content-type text/plain lf-string "src=%%[src] authority=%%[fc_pp_authority]"
`

func findHAProxy(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/haproxy"); err == nil {
		return "/usr/sbin/haproxy"
	}
	t.Skip("haproxy is not installed (bench/l4/install-deps.sh installs it)")
	return ""
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestHAProxyInterop checks mtlslb's PROXY protocol decoder and encoder against HAProxy's.
func TestHAProxyInterop(t *testing.T) {
	bin := findHAProxy(t)
	f := newPKI(t)

	// mtlslb's TCP listener trusts loopback (HAProxy) and forwards to a target that reports the PROXY header it
	// gets from mtlslb, which carries the client address mtlslb decoded from HAProxy's.
	headers := make(chan proxyproto.Header, 2)
	inbound := startServer(t, &Config{ProxyTrusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Group: newGroup(t, TargetGroupOptions{ProxyProtocolV2: true}, startTarget(t, proxyEcho(headers)))})

	relayV2, relayV1, httpPort := freePort(t), freePort(t), freePort(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(conf, fmt.Appendf(nil, haproxyConf, relayV2, relayV1, httpPort, inbound.Addr()), 0o600); err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	cmd := exec.Command(bin, "-db", "-f", conf)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting haproxy: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	ok := poll(5*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", httpPort), time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	if !ok {
		t.Fatalf("haproxy does not listen:\n%s", out.String())
	}

	for _, tt := range []struct {
		name string
		port int
	}{{"HAProxy send-proxy-v2 to mtlslb", relayV2}, {"HAProxy send-proxy (v1) to mtlslb", relayV1}} {
		t.Run(tt.name, func(t *testing.T) {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
			c, err := d.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", tt.port))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, _ = c.Write([]byte("ping"))
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			b := make([]byte, 4)
			if _, err := io.ReadFull(c, b); err != nil || string(b) != "ping" {
				t.Fatalf("echo through HAProxy and mtlslb: %q, %v\n%s", b, err, out.String())
			}
			h := <-headers
			if h.Source.Addr() != netip.MustParseAddr("127.0.0.2") || h.Source.Port() != uint16(c.LocalAddr().(*net.TCPAddr).Port) {
				t.Errorf("the target saw %v; want the client %v that HAProxy named", h.Source, c.LocalAddr())
			}
		})
	}

	t.Run("mtlslb TLS listener to HAProxy accept-proxy", func(t *testing.T) {
		g, err := NewTargetGroup(TargetGroupOptions{Name: "haproxy", ProxyProtocolV2: true,
			Targets: []health.Target{{Host: "127.0.0.1", Port: httpPort}}})
		if err != nil {
			t.Fatal(err)
		}
		s := startServer(t, &Config{Protocol: ProtocolTLS, Mode: tlsconfig.ModeVerify,
			TLS: f.listenerTLS(t, tlsconfig.ModeVerify, nil), Group: g})
		c := tls.Client(dial(t, s, "127.0.0.2"), f.clientTLS(f.good))
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: lb.example\r\nConnection: close\r\n\r\n")
		resp, err := io.ReadAll(bufio.NewReader(c))
		if err != nil && len(resp) == 0 {
			t.Fatalf("no answer from HAProxy: %v\n%s", err, out.String())
		}
		// HAProxy parsed the header, TLVs included (it refuses a malformed TLV list), and found the SNI in the
		// authority TLV.
		if want := "src=127.0.0.2 authority=lb.example"; !strings.Contains(string(resp), want) {
			t.Fatalf("HAProxy answered %q, want %q\n%s", resp, want, out.String())
		}
	})
}
