package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startTarget serves the target on a free loopback port until the test ends, and returns its address.
func startTarget(t testing.TB, certDir string) string {
	t.Helper()
	var tlsArgs [3]string
	if certDir != "" {
		tlsArgs = [3]string{filepath.Join(certDir, fileServer), filepath.Join(certDir, fileServerKey), filepath.Join(certDir, fileClientCA)}
	}
	conf, err := targetTLS(tlsArgs[0], tlsArgs[1], tlsArgs[2])
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- serveTarget(ln, conf, newTargetResponses(200), io.Discard) }()
	t.Cleanup(func() {
		ln.Close()
		if err := <-done; err != nil {
			t.Errorf("serveTarget: %v", err)
		}
	})
	return ln.Addr().String()
}

func TestLoadgenAgainstTarget(t *testing.T) {
	dir := t.TempDir()
	if err := writePKI(dir, time.Now()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		tls     bool
		rate    float64
		wantTLS string
	}{
		{name: "plain closed loop"},
		{name: "mtls closed loop", tls: true, wantTLS: "TLS 1.3 "},
		{name: "mtls paced", tls: true, rate: 400, wantTLS: "TLS 1.3 "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := loadgenConfig{conns: 4, duration: 300 * time.Millisecond, warmup: 50 * time.Millisecond, rate: tt.rate,
				paths: []string{"/svc0/x", "/svc1/x"}}
			if tt.tls {
				cfg.target = &url.URL{Scheme: "https", Host: startTarget(t, dir)}
				conf, err := clientTLS("127.0.0.1", filepath.Join(dir, fileClient), filepath.Join(dir, fileClientKey), filepath.Join(dir, fileServerCA))
				if err != nil {
					t.Fatal(err)
				}
				cfg.tls = conf
			} else {
				cfg.target = &url.URL{Scheme: "http", Host: startTarget(t, "")}
			}
			res := generateLoad(cfg)
			if res.Requests == 0 || res.Errors != 0 || res.StatusErrors != 0 {
				t.Fatalf("result %+v: want requests and no errors", res)
			}
			// Keep-alive held: one connection (and handshake) per worker, none reopened.
			if res.ConnectionsOpened != uint64(cfg.conns) {
				t.Errorf("opened %d connections, want %d", res.ConnectionsOpened, cfg.conns)
			}
			if !strings.HasPrefix(res.TLS, tt.wantTLS) || (tt.wantTLS == "" && res.TLS != "") {
				t.Errorf("tls = %q, want prefix %q", res.TLS, tt.wantTLS)
			}
			if tt.rate > 0 && (res.RPS < tt.rate*0.8 || res.RPS > tt.rate*1.2) {
				t.Errorf("paced at %.0f req/s, sent %.0f", tt.rate, res.RPS)
			}
			if res.P50us <= 0 || res.P99us < res.P50us || res.MaxUs < res.P99us {
				t.Errorf("latencies p50 %v p99 %v max %v are not ordered", res.P50us, res.P99us, res.MaxUs)
			}
		})
	}
}

func TestClientWithoutCertificateIsRefused(t *testing.T) {
	dir := t.TempDir()
	if err := writePKI(dir, time.Now()); err != nil {
		t.Fatal(err)
	}
	conf, err := clientTLS("127.0.0.1", "", "", filepath.Join(dir, fileServerCA))
	if err != nil {
		t.Fatal(err)
	}
	cfg := loadgenConfig{target: &url.URL{Scheme: "https", Host: startTarget(t, dir)}, conns: 1,
		duration: 100 * time.Millisecond, paths: []string{"/"}, tls: conf}
	res := generateLoad(cfg)
	if res.Requests != 0 || res.Errors == 0 || res.FirstError == "" {
		t.Errorf("result %+v: want every request refused", res)
	}
}

func TestReport(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, v any) {
		t.Helper()
		var b []byte
		switch v := v.(type) {
		case string:
			b = []byte(v)
		default:
			var err error
			if b, err = json.Marshal(v); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for round, rps := range []float64{1000, 3000, 2000} {
		r := func(rps, p99 float64) result {
			return result{RPS: rps, P50us: 100, P99us: p99, Requests: uint64(rps * 10), DurationS: 10, Connections: 64, ConnectionsOpened: 64}
		}
		write(fmt.Sprintf("direct.throughput.r%d.json", round+1), r(10*rps, 500))
		write(fmt.Sprintf("direct.throughput.r%d.cpu", round+1), "-1 100 10 50 20 80000")
		write(fmt.Sprintf("nginx.throughput.r%d.json", round+1), r(rps, 800))
		write(fmt.Sprintf("nginx.throughput.r%d.cpu", round+1), "500 100 10 0 10 40000")
		write(fmt.Sprintf("mtlslb.throughput.r%d.json", round+1), r(rps/2, 1500))
		write(fmt.Sprintf("mtlslb.throughput.r%d.cpu", round+1), "1000 100 10 0 10 40000")
	}
	var out, errOut bytes.Buffer
	if err := runReport([]string{"-dir", dir, "-systems", "direct,mtlslb,nginx,haproxy", "-output", "json"}, &out, &errOut); err != nil {
		t.Fatalf("runReport: %v (%s)", err, errOut.String())
	}
	var got comparison
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Systems) != 3 {
		t.Fatalf("got %d systems, want 3 (haproxy has no results)", len(got.Systems))
	}
	m := got.Systems[1]
	checks := []struct {
		name      string
		got, want float64
	}{
		{"mtlslb median rps", m.RPS, 1000},
		{"mtlslb ratio to nginx", m.RatioNginx, 0.5},
		{"mtlslb p99 added", m.P99AddedUs, 1000},
		{"mtlslb proxy cores", m.ProxyCPU, 1},
		{"mtlslb cpu per request", m.CPUusPerReq, 1000},
		{"direct foreign cores", got.Systems[0].ForeignCPU, 0.05},
		{"direct rounds", float64(got.Systems[0].Rounds), 3},
		{"mtlslb irq per request", m.IRQusPerReq, 10},
		{"mtlslb segments per request", m.SegmentsPerReq, 4},
	}
	for _, c := range checks {
		if d := c.got - c.want; d < -1e-9 || d > 1e-9 {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	out.Reset()
	if err := runReport([]string{"-dir", dir}, &out, &errOut); err != nil {
		t.Fatalf("runReport table: %v", err)
	}
	if !strings.Contains(out.String(), "mtlslb") || !strings.Contains(out.String(), "0.50") {
		t.Errorf("table lacks the mtlslb row or its ratio:\n%s", out.String())
	}
}

func TestCommandLineErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
	}{
		{name: "no command", args: nil, code: 2},
		{name: "unknown command", args: []string{"fly"}, code: 2},
		{name: "loadgen without url", args: []string{"loadgen"}, code: 2},
		{name: "loadgen relative path", args: []string{"loadgen", "-url", "http://127.0.0.1:1/", "-paths", "svc0/x"}, code: 2},
		{name: "loadgen no connections", args: []string{"loadgen", "-url", "http://127.0.0.1:1/", "-c", "0"}, code: 2},
		{name: "pki without dir", args: []string{"pki"}, code: 2},
		{name: "target bad status", args: []string{"target", "-status", "99"}, code: 2},
		{name: "report without dir", args: []string{"report"}, code: 2},
		{name: "missing client cert", args: []string{"loadgen", "-url", "https://127.0.0.1:1/", "-cert", "/nonexistent", "-key", "/nonexistent"}, code: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code := run(tt.args, io.Discard, io.Discard); code != tt.code {
				t.Errorf("run(%q) = %d, want %d", tt.args, code, tt.code)
			}
		})
	}
}

func TestFreePorts(t *testing.T) {
	below := ephemeralStart()
	ports, err := freePorts(5, below)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p < 10000 || p >= below || seen[p] {
			t.Errorf("port %d: want distinct ports in [10000, %d)", p, below)
		}
		seen[p] = true
	}
	if _, err := freePorts(5, 10003); err == nil {
		t.Error("freePorts found 5 ports in a range of 3")
	}
}
