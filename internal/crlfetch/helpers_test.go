package crlfetch

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mtlslb/mtlslb/internal/crl"
	"github.com/mtlslb/mtlslb/internal/pki"
	"github.com/mtlslb/mtlslb/internal/testpki"
)

// reply is what crlServer answers. A zero status means 200 with body, or
// 304 when the request's If-None-Match equals etag.
type reply struct {
	status       int
	body         []byte
	etag         string
	lastModified string
	// chunked leaves Content-Length out, so the client learns the size only
	// by reading.
	chunked bool
	// endless streams garbage until the client hangs up.
	endless bool
}

// crlServer is a real HTTP server on 127.0.0.1 whose answer a test changes
// as it goes. It runs outside any synctest bubble (its goroutines wait on
// the network, which a bubble cannot treat as durably blocked), so it
// shares only mutex-guarded data with the test.
type crlServer struct {
	*httptest.Server

	mu       sync.Mutex
	reply    reply
	requests []http.Header
	// endlessDone receives the byte count of an endless body once the
	// client has hung up on it. It is created outside any bubble.
	endlessDone chan int64
}

func newCRLServer(tb testing.TB) *crlServer {
	tb.Helper()
	return startCRLServer(tb, httptest.NewServer)
}

// newTLSCRLServer is newCRLServer over HTTPS, with httptest's certificate.
func newTLSCRLServer(tb testing.TB) *crlServer {
	tb.Helper()
	return startCRLServer(tb, httptest.NewTLSServer)
}

func startCRLServer(tb testing.TB, start func(http.Handler) *httptest.Server) *crlServer {
	tb.Helper()
	s := &crlServer{endlessDone: make(chan int64, 1)}
	s.Server = start(http.HandlerFunc(s.serve))
	tb.Cleanup(s.Close)
	return s
}

func (s *crlServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	rp := s.reply
	s.requests = append(s.requests, r.Header.Clone())
	s.mu.Unlock()

	switch {
	case rp.status != 0:
		w.WriteHeader(rp.status)
		return
	case rp.endless:
		w.WriteHeader(http.StatusOK)
		chunk := bytes.Repeat([]byte{0x30}, 32<<10)
		var n int64
		for {
			m, err := w.Write(chunk)
			n += int64(m)
			if err != nil {
				break
			}
		}
		select {
		case s.endlessDone <- n:
		default:
		}
		return
	}
	if rp.etag != "" {
		w.Header().Set("ETag", rp.etag)
		if r.Header.Get("If-None-Match") == rp.etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	if rp.lastModified != "" {
		w.Header().Set("Last-Modified", rp.lastModified)
		if rp.etag == "" && r.Header.Get("If-Modified-Since") == rp.lastModified {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	w.Header().Set("Content-Type", "application/pkix-crl")
	if rp.chunked {
		w.WriteHeader(http.StatusOK)
		for chunk := range slicesChunk(rp.body, 512) {
			w.Write(chunk)
			w.(http.Flusher).Flush()
		}
		return
	}
	w.Write(rp.body)
}

func slicesChunk(b []byte, n int) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(b) > 0 {
			m := min(n, len(b))
			if !yield(b[:m]) {
				return
			}
			b = b[m:]
		}
	}
}

// set changes the server's answer.
func (s *crlServer) set(rp reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reply = rp
}

// requestCount returns how many requests the server has received.
func (s *crlServer) requestCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

// lastRequest returns the headers of the last request.
func (s *crlServer) lastRequest(tb testing.TB) http.Header {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.requests) == 0 {
		tb.Fatal("the server received no request")
	}
	return s.requests[len(s.requests)-1]
}

// attemptRecorder is an http.RoundTripper that notes, on the bubble's clock,
// when each request leaves, then sends it for real.
type attemptRecorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	at   []time.Time
}

func (r *attemptRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.at = append(r.at, time.Now())
	r.mu.Unlock()
	return r.next.RoundTrip(req)
}

func (r *attemptRecorder) times() []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.at...)
}

// newTestClient returns a client to be created inside the bubble. Keep-alive
// is off: an idle connection's reader goroutine waits on the network, and a
// bubble whose goroutine waits on the network never advances its clock.
func newTestClient(tlsConfig *tls.Config) (*http.Client, *attemptRecorder) {
	rec := &attemptRecorder{next: &http.Transport{DisableKeepAlives: true, TLSClientConfig: tlsConfig}}
	return &http.Client{Transport: rec}, rec
}

// logBuffer collects log lines for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) count(substr string) int {
	return strings.Count(b.String(), substr)
}

// harness is one Fetcher under test with what it talks to.
type harness struct {
	f       *Fetcher
	srv     *crlServer
	rec     *attemptRecorder
	logs    *logBuffer
	mu      sync.Mutex
	updates []*crl.CRL
}

// newHarness builds a Fetcher for srv inside the current bubble. change
// adjusts the options before New.
func newHarness(tb testing.TB, srv *crlServer, change func(*Options)) *harness {
	tb.Helper()
	client, rec := newTestClient(nil)
	h := &harness{srv: srv, rec: rec, logs: &logBuffer{}}
	opts := Options{
		URL:      srv.URL + "/ca.crl",
		CacheDir: tb.TempDir(),
		Client:   client,
		Interval: time.Hour,
		Logger:   slog.New(slog.NewTextHandler(io.MultiWriter(h.logs, tlog{tb}), &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnUpdate: func(c *crl.CRL, der []byte) {
			if !bytes.Equal(c.Raw(), der) {
				tb.Errorf("OnUpdate: DER bytes differ from the CRL's")
			}
			h.mu.Lock()
			h.updates = append(h.updates, c)
			h.mu.Unlock()
		},
	}
	if change != nil {
		change(&opts)
	}
	f, err := New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	h.f = f
	return h
}

// tlog sends log lines to the test's log, shown on failure.
type tlog struct{ tb testing.TB }

func (w tlog) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// start runs the Fetcher until the test ends, and waits for it to return.
func (h *harness) start(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.f.Start(ctx)
	}()
	tb.Cleanup(func() {
		cancel()
		<-done
	})
}

// updateNumbers returns the cRLNumbers OnUpdate received, in order.
func (h *harness) updateNumbers() []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	var ns []int64
	for _, c := range h.updates {
		ns = append(ns, c.Number().Int64())
	}
	return ns
}

// currentNumber returns the cRLNumber of the Fetcher's copy, or -1.
func (h *harness) currentNumber(tb testing.TB) int64 {
	tb.Helper()
	c, der, ok := h.f.Current()
	if !ok {
		return -1
	}
	if !bytes.Equal(c.Raw(), der) {
		tb.Fatal("Current: DER bytes differ from the CRL's")
	}
	return c.Number().Int64()
}

// issueCRL returns a DER CRL of ca with the given number, valid from
// thisUpdate for validity.
func issueCRL(tb testing.TB, ca *testpki.CA, number int64, thisUpdate time.Time, validity time.Duration, opts ...pki.Option) []byte {
	tb.Helper()
	opts = append([]pki.Option{
		pki.WithCRLNumber(big.NewInt(number)),
		pki.WithThisUpdate(thisUpdate),
		pki.WithNextUpdate(thisUpdate.Add(validity)),
	}, opts...)
	return ca.CRLWith(tb, nil, opts...)
}

// sleepUntil advances the bubble's clock to t and lets every goroutine that
// was due run to a stop.
func sleepUntil(t time.Time) {
	time.Sleep(time.Until(t))
	synctest.Wait()
}
