package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// loadgenConfig is a parsed `tool loadgen` command line.
type loadgenConfig struct {
	target   *url.URL
	conns    int
	duration time.Duration
	warmup   time.Duration
	rate     float64 // requests per second over all connections; 0 sends as fast as answers come
	paths    []string
	tls      *tls.Config // nil for http:// URLs
	show     bool
}

// result is the JSON line `tool loadgen` prints.
type result struct {
	URL         string   `json:"url"`
	Paths       []string `json:"paths"`
	Connections int      `json:"connections"`
	Rate        float64  `json:"rate,omitempty"`
	DurationS   float64  `json:"duration_s"`
	Requests    uint64   `json:"requests"`
	// Errors are requests that got no complete response (connection refused, reset, malformed answer).
	Errors uint64 `json:"errors"`
	// StatusErrors are complete responses whose status was not 200.
	StatusErrors uint64  `json:"status_errors"`
	RPS          float64 `json:"rps"`
	// ConnectionsOpened counts TCP connections (and so TLS handshakes) over the whole run, warm-up included;
	// with keep-alive working it equals Connections.
	ConnectionsOpened uint64  `json:"connections_opened"`
	P50us             float64 `json:"p50_us"`
	P90us             float64 `json:"p90_us"`
	P99us             float64 `json:"p99_us"`
	P999us            float64 `json:"p999_us"`
	MaxUs             float64 `json:"max_us"`
	FirstError        string  `json:"first_error,omitempty"`
	// TLS is the version and cipher suite of the first connection, so that a reader can check every system
	// negotiated the same.
	TLS string `json:"tls,omitempty"`
}

func runLoadgen(args []string, stdout, stderr io.Writer) error {
	cfg, err := parseLoadgen(args, stderr)
	if err != nil {
		return err
	}
	if cfg.show {
		return showOnce(cfg, stdout)
	}
	res := generateLoad(cfg)
	line, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	fmt.Fprintf(stdout, "%s\n", line)
	fmt.Fprintf(stderr, "loadgen: %s c=%d %.1fs: %.0f req/s, %d errors, %d non-200, %d connections opened; latency p50 %s p90 %s p99 %s p99.9 %s max %s\n",
		res.URL, res.Connections, res.DurationS, res.RPS, res.Errors, res.StatusErrors, res.ConnectionsOpened,
		us(res.P50us), us(res.P90us), us(res.P99us), us(res.P999us), us(res.MaxUs))
	if res.FirstError != "" {
		fmt.Fprintf(stderr, "loadgen: first error: %s\n", res.FirstError)
	}
	if res.Requests == 0 {
		return errors.New("no request succeeded")
	}
	return nil
}

func us(v float64) string {
	return time.Duration(v * float64(time.Microsecond)).Round(time.Microsecond).String()
}

func parseLoadgen(args []string, stderr io.Writer) (loadgenConfig, error) {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rawURL := fs.String("url", "", "http:// or https:// URL; its path is requested unless -paths is given")
	conns := fs.Int("c", 64, "persistent connections, each with one request in flight")
	duration := fs.Duration("d", 10*time.Second, "measured duration")
	warmup := fs.Duration("warmup", time.Second, "load sent before measuring (connections are opened then)")
	rate := fs.Float64("rate", 0, "total requests per second, paced per connection (0: closed loop, as fast as possible); latency is then measured from each request's scheduled time")
	paths := fs.String("paths", "", "comma-separated request paths, used in turn on each connection")
	certFile := fs.String("cert", "", "client certificate (PEM) for https")
	keyFile := fs.String("key", "", "client key (PEM)")
	caFile := fs.String("ca", "", "CA bundle (PEM) that verifies the server; system roots when empty")
	show := fs.Bool("show", false, "send one request, print the response, and exit")
	if err := fs.Parse(args); err != nil {
		return loadgenConfig{}, errUsage
	}
	cfg := loadgenConfig{conns: *conns, duration: *duration, warmup: *warmup, rate: *rate, show: *show}
	u, err := url.Parse(*rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintf(stderr, "tool loadgen: -url must be an absolute http:// or https:// URL, got %q\n", *rawURL)
		return loadgenConfig{}, errUsage
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
	}
	cfg.target = u
	if cfg.conns < 1 || cfg.duration <= 0 || cfg.warmup < 0 || cfg.rate < 0 {
		fmt.Fprintln(stderr, "tool loadgen: -c must be at least 1, -d positive, -warmup and -rate not negative")
		return loadgenConfig{}, errUsage
	}
	for p := range strings.SplitSeq(*paths, ",") {
		if p = strings.TrimSpace(p); p != "" {
			if !strings.HasPrefix(p, "/") {
				fmt.Fprintf(stderr, "tool loadgen: path %q does not start with /\n", p)
				return loadgenConfig{}, errUsage
			}
			cfg.paths = append(cfg.paths, p)
		}
	}
	if len(cfg.paths) == 0 {
		cfg.paths = []string{u.RequestURI()}
	}
	if u.Scheme == "https" {
		cfg.tls, err = clientTLS(u.Hostname(), *certFile, *keyFile, *caFile)
		if err != nil {
			return loadgenConfig{}, err
		}
	}
	return cfg, nil
}

// clientTLS returns a TLS 1.3-only client configuration with the client certificate, if any.
func clientTLS(serverName, certFile, keyFile, caFile string) (*tls.Config, error) {
	conf := &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS13, MaxVersion: tls.VersionTLS13}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("load client certificate: %w", err)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read CA bundle: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificate in %s", caFile)
		}
		conf.RootCAs = pool
	}
	return conf, nil
}

// showOnce sends one request with net/http (whose completeness matters more here than its cost) and prints the
// status, headers and body.
func showOnce(cfg loadgenConfig, stdout io.Writer) error {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg.tls}}
	u := *cfg.target
	u.Path, u.RawQuery = "", ""
	resp, err := client.Get(u.String() + cfg.paths[0])
	if err != nil {
		return fmt.Errorf("request: %w", err)
	}
	defer resp.Body.Close()
	fmt.Fprintf(stdout, "%s %s\n", resp.Proto, resp.Status)
	resp.Header.Write(stdout)
	fmt.Fprintln(stdout)
	if _, err := io.Copy(stdout, resp.Body); err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	return nil
}

// Phases of a run, shared by the workers through an atomic.
const (
	phaseWarmup = iota
	phaseMeasure
	phaseDone
)

// worker is one connection's share of the load. Each keeps its own counters and histogram, merged at the end,
// so the request loop touches no shared memory but the phase.
type worker struct {
	cfg      *loadgenConfig
	requests [][]byte
	first    int // index of the first path this worker sends, so the mix spreads over connections
	phase    *atomic.Int32
	deadline time.Time // no I/O may block past this, whatever the server does
	interval time.Duration
	start    time.Time // first scheduled send in paced mode

	tlsState                       string // of the first connection
	hist                           histogram
	done, errs, statusErrs, opened uint64
	firstErr                       error
}

// generateLoad runs the load and returns its result.
func generateLoad(cfg loadgenConfig) result {
	requests := make([][]byte, len(cfg.paths))
	for i, p := range cfg.paths {
		requests[i] = []byte("GET " + p + " HTTP/1.1\r\nHost: " + cfg.target.Host + "\r\nUser-Agent: mtlslb-bench-loadgen\r\nAccept: */*\r\n\r\n")
	}
	var phase atomic.Int32
	begin := time.Now()
	workers := make([]*worker, cfg.conns)
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{
			cfg:      &cfg,
			requests: requests,
			first:    i % len(requests),
			phase:    &phase,
			deadline: begin.Add(cfg.warmup + cfg.duration + 10*time.Second),
		}
		if cfg.rate > 0 {
			w.interval = time.Duration(float64(cfg.conns) / cfg.rate * float64(time.Second))
			// Stagger the connections over one interval so paced requests do not arrive in bursts.
			w.start = begin.Add(w.interval * time.Duration(i) / time.Duration(cfg.conns))
		}
		workers[i] = w
		wg.Go(w.run)
	}
	time.Sleep(cfg.warmup)
	measureStart := time.Now()
	phase.Store(phaseMeasure)
	time.Sleep(cfg.duration)
	phase.Store(phaseDone)
	elapsed := time.Since(measureStart)
	wg.Wait()

	var total histogram
	res := result{URL: cfg.target.String(), Paths: cfg.paths, Connections: cfg.conns, Rate: cfg.rate, DurationS: elapsed.Seconds()}
	for _, w := range workers {
		total.merge(&w.hist)
		res.Requests += w.done
		res.Errors += w.errs
		res.StatusErrors += w.statusErrs
		res.ConnectionsOpened += w.opened
		if res.FirstError == "" && w.firstErr != nil {
			res.FirstError = w.firstErr.Error()
		}
		if res.TLS == "" {
			res.TLS = w.tlsState
		}
	}
	res.RPS = float64(res.Requests) / elapsed.Seconds()
	micro := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	res.P50us = micro(total.quantile(0.50))
	res.P90us = micro(total.quantile(0.90))
	res.P99us = micro(total.quantile(0.99))
	res.P999us = micro(total.quantile(0.999))
	res.MaxUs = micro(total.max)
	return res
}

// run sends requests on one persistent connection, reopening it only when the server closes it or an error
// breaks it, until the run is over.
func (w *worker) run() {
	var (
		conn net.Conn
		br   *bufio.Reader
	)
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	next := w.start
	for i := w.first; ; i++ {
		if w.phase.Load() == phaseDone {
			return
		}
		if conn == nil {
			c, err := w.dial()
			if err != nil {
				w.fail(err)
				time.Sleep(10 * time.Millisecond) // a refused dial must not spin
				continue
			}
			conn = c
			if br == nil {
				br = bufio.NewReaderSize(conn, 16<<10)
			} else {
				br.Reset(conn)
			}
		}
		sent := time.Now()
		if w.interval > 0 {
			if wait := next.Sub(sent); wait > 0 {
				// On schedule: latency counts from the actual send, so the timer's own lateness in waking
				// this goroutine is not charged to the server.
				time.Sleep(wait)
				sent = time.Now()
			} else {
				// Behind schedule because the previous answer came late: latency counts from when this
				// request was due, so a server that stalls is charged for the requests it delayed (no
				// coordinated omission).
				sent = next
			}
			next = next.Add(w.interval)
		}
		measuring := w.phase.Load() == phaseMeasure
		status, closeConn, err := w.roundTrip(conn, br, w.requests[i%len(w.requests)])
		latency := time.Since(sent)
		if err != nil {
			if measuring {
				w.fail(err)
			}
			conn.Close()
			conn = nil
			continue
		}
		if measuring {
			w.done++
			w.hist.record(latency)
			if status != http.StatusOK {
				w.statusErrs++
				if w.firstErr == nil {
					w.firstErr = fmt.Errorf("status %d", status)
				}
			}
		}
		if closeConn {
			conn.Close()
			conn = nil
		}
	}
}

func (w *worker) fail(err error) {
	w.errs++
	if w.firstErr == nil {
		w.firstErr = err
	}
}

// dial opens a connection and, for https, completes the TLS handshake.
func (w *worker) dial() (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d := net.Dialer{}
	c, err := d.DialContext(ctx, "tcp", w.cfg.target.Host)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	w.opened++
	c.SetDeadline(w.deadline)
	if w.cfg.tls == nil {
		return c, nil
	}
	tc := tls.Client(c, w.cfg.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("tls handshake: %w", err)
	}
	if w.tlsState == "" {
		cs := tc.ConnectionState()
		w.tlsState = tls.VersionName(cs.Version) + " " + tls.CipherSuiteName(cs.CipherSuite) + " " + cs.CurveID.String()
	}
	return tc, nil
}

func (w *worker) roundTrip(conn net.Conn, br *bufio.Reader, req []byte) (status int, closeConn bool, err error) {
	if _, err := conn.Write(req); err != nil {
		return 0, false, fmt.Errorf("write request: %w", err)
	}
	return readResponse(br)
}
