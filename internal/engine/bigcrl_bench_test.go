package engine_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/config"
	"github.com/mtlslb/mtlslb/internal/pki"
	"github.com/mtlslb/mtlslb/internal/testpki"
)

// BenchmarkHandshakeWhileLargeCRLApplied measures what a reload that adds a CRL of a million entries does to
// the handshakes in flight (issue 3, item 6: no handshake should stall more than 50 ms). Four client
// goroutines run full mTLS handshakes without pause, each followed by one request, against a verify listener;
// meanwhile each iteration writes a 1 M-entry CRL of the issuing CA (which does not list the clients'
// certificate) over the fixture's CRL file and runs the reload path: config.Load, Engine.Compile,
// Engine.Apply. ns/op is that reload; B/op and allocs/op count the clients and the server too.
//
// A handshake's latency runs from dialling to reading the response's status line: with TLS 1.3 the client
// finishes its side of the handshake before the server has verified its certificate, so the response is the
// first moment the client knows the server accepted it. The apply window runs from writing the CRL until
// applyTail after Apply returned, so that it also holds the first handshakes under the new configuration;
// every handshake that overlaps it counts, however long it lasts. A baseline window as long, with the new CRL
// in place and nothing being compiled, follows each iteration.
//
// It reports the slowest handshake, the 99th and 50th percentiles and the number over 50 ms in the apply
// windows (apply-*) and in the baseline windows (quiet-*); the slowest handshake begun after Apply returned
// (after-apply-max-ms: the first handshakes of the new generation); the mean reload and Compile times; how
// many handshakes failed. To tell causes apart it also reports, from runtime/metrics, the longest GC
// stop-the-world pause and the longest wait of a runnable goroutine for a processor, and, from Linux's
// schedstat, how many of the process's threads were on average ready to run but kept from a CPU
// (*-os-wait-threads: with GOMAXPROCS at the number of cores, mostly by other processes); the verbose log counts
// the slow handshakes by the reload phase they overlap. It fails only when a handshake fails: the 50 ms
// target is a figure to read, not a bound a slow or busy machine could miss.
//
// bundle=root is the fixture as it is: the CRL's issuer is not in the CA bundle, so the CRL's signature is
// checked by the first handshake that needs it. bundle=root+issuing puts the issuing CA in the bundle, so
// the compile checks it instead.
//
//	go test -run '^$' -bench HandshakeWhileLargeCRL -benchtime 3x -count 3 ./internal/engine/
func BenchmarkHandshakeWhileLargeCRLApplied(b *testing.B) {
	for _, tc := range []struct {
		name            string
		issuingInBundle bool
	}{
		{"bundle=root", false},
		{"bundle=root+issuing", true},
	} {
		b.Run(tc.name, func(b *testing.B) { benchmarkLargeCRLApply(b, tc.issuingInBundle) })
	}
}

const (
	largeCRLEntries = 1_000_000
	largeCRLClients = 4
	// applyTail extends the apply window past Apply, to hold the first handshakes of the new generation.
	applyTail = 250 * time.Millisecond
	// stallTarget is issue 3's bound on a handshake during the reload, reported as a count, never enforced.
	stallTarget = 50 * time.Millisecond
)

func benchmarkLargeCRLApply(b *testing.B, issuingInBundle bool) {
	f := newFixture(b)
	if issuingInBundle {
		f.write(b, "bundle.pem", pki.EncodeCertsPEM(f.root.Cert, f.issuing.Cert))
	}
	smallCRL := pki.EncodeCRLPEM(f.issuing.CRL(b))
	client := f.issuing.Client(b, "bench.client")
	revoked := f.issuing.Client(b, "revoked.client")
	largeCRL := testpki.LargeCRL(b, f.issuing.Cert, f.issuing.Key, largeCRLEntries,
		testpki.LargeCRLOptions{Listed: []*big.Int{revoked.Cert.SerialNumber}})
	r := f.start(b, listenerYAML{mode: "verify", trustStoreExtra: fmt.Sprintf("    max_revoked_entries: %d", largeCRLEntries)})
	docPath := filepath.Join(f.dir, "lb.yaml")

	// reload is the engine's reload path, as the server runs it when a file changes.
	reload := func(crl []byte) reloadPhases {
		p := reloadPhases{start: time.Now()}
		f.write(b, "issuing.crl", crl)
		doc, err := config.Load(docPath)
		if err != nil {
			b.Fatalf("config.Load: %v", err)
		}
		doc.Listeners[0].Port = 0 // as in fixture.start: listeners are keyed by their configured address
		p.compile = time.Now()
		compiled, err := r.eng.Compile(doc)
		if err != nil {
			b.Fatalf("Compile: %v", err)
		}
		p.apply = time.Now()
		if err := r.eng.Apply(compiled); err != nil {
			b.Fatalf("Apply: %v", err)
		}
		p.applied = time.Now()
		return p
	}

	load := startHandshakeLoad(f, r.addr, client.TLSCertificate(), largeCRLClients)
	b.Cleanup(func() { load.stop() })
	load.waitWarm(b)

	var applyWindows, quietWindows, afterWindows []latencyWindow
	var applyGC, applySched, quietSched time.Duration
	var applyOSWait, quietOSWait time.Duration
	var phases []reloadPhases
	var reloadTime, compileTotal time.Duration
	b.ReportAllocs()
	for b.Loop() {
		// Start each iteration from the small CRL, with its garbage collected, so that every iteration adds
		// the large one rather than replacing it.
		b.StopTimer()
		reload(smallCRL)
		runtime.GC()
		b.StartTimer()

		before, osWait := readRuntimeHistograms(), processRunQueueWait()
		p := reload(largeCRL)
		b.StopTimer()
		from, applied := p.start, p.applied
		reloadTime += applied.Sub(from)
		compileTotal += p.apply.Sub(p.compile)
		time.Sleep(applyTail) // the window's length, not synchronisation: handshakes are measured, not awaited
		to := time.Now()
		p.end = to
		phases = append(phases, p)
		gc, sched := readRuntimeHistograms().longestSince(before)
		applyOSWait += processRunQueueWait() - osWait
		applyWindows = append(applyWindows, latencyWindow{from, to})
		afterWindows = append(afterWindows, latencyWindow{applied, to})
		applyGC, applySched = max(applyGC, gc), max(applySched, sched)

		// The large CRL is in force: the revoked client is refused. Checked outside both windows.
		if _, err := r.get(b, tlsCert(revoked), nil); err == nil {
			b.Fatal("a client the 1 M-entry CRL lists was accepted: the CRL is not in force")
		}

		runtime.GC()
		before, osWait = readRuntimeHistograms(), processRunQueueWait()
		quietFrom := time.Now()
		time.Sleep(to.Sub(from)) // a window as long as the apply window, with nothing compiled
		quietTo := time.Now()
		_, sched = readRuntimeHistograms().longestSince(before)
		quietOSWait += processRunQueueWait() - osWait
		quietSched = max(quietSched, sched)
		quietWindows = append(quietWindows, latencyWindow{quietFrom, quietTo})
		b.StartTimer()
	}
	samples := load.stop()

	apply := summarizeLatencies(samples, applyWindows)
	after := summarizeLatencies(startedIn(samples, afterWindows), afterWindows)
	quiet := summarizeLatencies(samples, quietWindows)
	var windowTime time.Duration
	for _, w := range applyWindows {
		windowTime += w.to.Sub(w.from)
	}
	failed, firstErr := load.failures()
	n := float64(len(applyWindows))
	b.ReportMetric(millis(apply.max), "apply-max-ms")
	b.ReportMetric(millis(apply.p99), "apply-p99-ms")
	b.ReportMetric(millis(apply.p50), "apply-p50-ms")
	b.ReportMetric(float64(apply.over), "apply-over-50ms")
	b.ReportMetric(millis(after.max), "after-apply-max-ms")
	b.ReportMetric(millis(quiet.max), "quiet-max-ms")
	b.ReportMetric(millis(quiet.p99), "quiet-p99-ms")
	b.ReportMetric(millis(quiet.p50), "quiet-p50-ms")
	b.ReportMetric(float64(quiet.over), "quiet-over-50ms")
	b.ReportMetric(millis(reloadTime)/n, "reload-ms")
	b.ReportMetric(millis(compileTotal)/n, "compile-ms")
	b.ReportMetric(float64(failed), "failed-handshakes")
	b.ReportMetric(millis(applyGC), "apply-max-gc-pause-ms")
	b.ReportMetric(millis(applySched), "apply-max-sched-wait-ms")
	b.ReportMetric(millis(quietSched), "quiet-max-sched-wait-ms")
	b.ReportMetric(float64(applyOSWait)/float64(windowTime), "apply-os-wait-threads")
	b.ReportMetric(float64(quietOSWait)/float64(windowTime), "quiet-os-wait-threads")
	b.Logf("GOMAXPROCS %d, %d clients, %d reloads of a %d-entry CRL (%d bytes): reload %v, compile %v on average; "+
		"apply windows: %d handshakes, max %v, p99 %v, p50 %v, %d over %v (after Apply returned: %d handshakes, max %v); quiet windows: %d handshakes, max %v, p99 %v, p50 %v, %d over %v; "+
		"in the apply windows the longest GC pause was ≤ %v and the longest wait for a processor ≤ %v (quiet: ≤ %v); "+
		"the process's threads waited for a CPU %.2f threads on average in the apply windows, %.2f in the quiet ones",
		runtime.GOMAXPROCS(0), largeCRLClients, len(applyWindows), largeCRLEntries, len(largeCRL),
		(reloadTime / time.Duration(len(applyWindows))).Round(time.Millisecond), (compileTotal / time.Duration(len(applyWindows))).Round(time.Millisecond),
		apply.n, apply.max, apply.p99, apply.p50, apply.over, stallTarget, after.n, after.max, quiet.n, quiet.max, quiet.p99, quiet.p50, quiet.over, stallTarget,
		applyGC, applySched, quietSched, float64(applyOSWait)/float64(windowTime), float64(quietOSWait)/float64(windowTime))
	b.Logf("handshakes over %v in the apply windows, by the reload phases they overlap: %s", stallTarget, slowByPhase(samples, phases))
	if failed > 0 {
		b.Errorf("%d handshakes failed; the first: %v", failed, firstErr)
	}
}

// handshakeLoad is client goroutines running handshakes and requests without pause.
type handshakeLoad struct {
	stopFlag atomic.Bool
	stopOnce sync.Once
	wg       sync.WaitGroup
	done     atomic.Int64 // successful handshakes so far
	mu       sync.Mutex
	samples  []handshakeSample
	failed   int
	firstErr error
}

// handshakeSample is one handshake and request: when it started, how long it took, whether it failed.
type handshakeSample struct {
	start  time.Time
	d      time.Duration
	failed bool
}

func startHandshakeLoad(f *fixture, addr string, cert tls.Certificate, clients int) *handshakeLoad {
	l := &handshakeLoad{}
	for range clients {
		cfg := &tls.Config{RootCAs: f.root.Pool(), ServerName: "127.0.0.1", Certificates: []tls.Certificate{cert}}
		l.wg.Go(func() {
			// Each client keeps its own samples, so that recording one takes no lock.
			samples := make([]handshakeSample, 0, 1<<14)
			for !l.stopFlag.Load() {
				start := time.Now()
				err := timedHandshakeAndGet(addr, cfg)
				samples = append(samples, handshakeSample{start: start, d: time.Since(start), failed: err != nil})
				if err != nil {
					l.mu.Lock()
					if l.failed++; l.firstErr == nil {
						l.firstErr = err
					}
					l.mu.Unlock()
					continue
				}
				l.done.Add(1)
			}
			l.mu.Lock()
			l.samples = append(l.samples, samples...)
			l.mu.Unlock()
		})
	}
	return l
}

// waitWarm waits until the clients have completed a hundred handshakes, so that connection set-up and the
// first handshakes' one-time costs (the CRL's signature verdict, for one) are behind the measurement.
func (l *handshakeLoad) waitWarm(b *testing.B) {
	b.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for l.done.Load() < 100 {
		if time.Now().After(deadline) {
			failed, err := l.failures()
			b.Fatalf("clients completed %d handshakes in 30 s (%d failed: %v)", l.done.Load(), failed, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop stops the clients and returns every sample. It may be called more than once.
func (l *handshakeLoad) stop() []handshakeSample {
	l.stopOnce.Do(func() {
		l.stopFlag.Store(true)
		l.wg.Wait()
	})
	return l.samples
}

func (l *handshakeLoad) failures() (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failed, l.firstErr
}

// timedHandshakeAndGet runs a full handshake and one request on a new connection, and reads the status line.
func timedHandshakeAndGet(addr string, cfg *tls.Config) error {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"); err != nil {
		return fmt.Errorf("request: %w", err)
	}
	var buf [16]byte
	n, err := io.ReadAtLeast(conn, buf[:], 12)
	if err != nil {
		return fmt.Errorf("response: %w", err)
	}
	if string(buf[9:12]) != "200" {
		return fmt.Errorf("response: status line %q", buf[:n])
	}
	return nil
}

// reloadPhases are the moments of one reload: it starts writing the CRL and loading the document, compiles,
// applies, and its apply window ends applyTail after Apply returned.
type reloadPhases struct {
	start, compile, apply, applied, end time.Time
}

// slowByPhase counts the handshakes slower than stallTarget that overlap each phase of the reloads (one
// handshake may overlap several).
func slowByPhase(samples []handshakeSample, reloads []reloadPhases) string {
	var load, compile, apply, after int
	overlaps := func(s handshakeSample, from, to time.Time) bool {
		return s.start.Before(to) && s.start.Add(s.d).After(from)
	}
	for _, s := range samples {
		if s.d <= stallTarget {
			continue
		}
		for _, p := range reloads {
			if !overlaps(s, p.start, p.end) {
				continue
			}
			if overlaps(s, p.start, p.compile) {
				load++
			}
			if overlaps(s, p.compile, p.apply) {
				compile++
			}
			if overlaps(s, p.apply, p.applied) {
				apply++
			}
			if overlaps(s, p.applied, p.end) {
				after++
			}
		}
	}
	return fmt.Sprintf("writing the CRL and loading the document %d, Compile %d, Apply %d, after Apply %d", load, compile, apply, after)
}

// startedIn returns the samples that started in one of windows.
func startedIn(samples []handshakeSample, windows []latencyWindow) []handshakeSample {
	var in []handshakeSample
	for _, s := range samples {
		for _, w := range windows {
			if !s.start.Before(w.from) && s.start.Before(w.to) {
				in = append(in, s)
				break
			}
		}
	}
	return in
}

// latencyWindow is a span of time handshakes are attributed to.
type latencyWindow struct{ from, to time.Time }

// latencySummary describes the handshakes that overlap some windows.
type latencySummary struct {
	n             int
	max, p99, p50 time.Duration
	over          int // slower than stallTarget
}

func summarizeLatencies(samples []handshakeSample, windows []latencyWindow) latencySummary {
	var ds []time.Duration
	for _, s := range samples {
		end := s.start.Add(s.d)
		for _, w := range windows {
			if s.start.Before(w.to) && end.After(w.from) {
				ds = append(ds, s.d)
				break
			}
		}
	}
	if len(ds) == 0 {
		return latencySummary{}
	}
	slices.Sort(ds)
	sum := latencySummary{n: len(ds), max: ds[len(ds)-1], p99: ds[len(ds)*99/100], p50: ds[len(ds)/2]}
	for _, d := range ds {
		if d > stallTarget {
			sum.over++
		}
	}
	return sum
}

// runtimeHistograms are the runtime/metrics histograms that explain a stall inside the process: the GC's
// stop-the-world pauses (stopping included) and how long runnable goroutines waited for a processor.
type runtimeHistograms [2]*metrics.Float64Histogram

func readRuntimeHistograms() runtimeHistograms {
	s := []metrics.Sample{{Name: "/sched/pauses/total/gc:seconds"}, {Name: "/sched/latencies:seconds"}}
	metrics.Read(s)
	var h runtimeHistograms
	for i := range s {
		if s[i].Value.Kind() == metrics.KindFloat64Histogram {
			h[i] = s[i].Value.Float64Histogram()
		}
	}
	return h
}

// longestSince returns upper bounds of the longest GC pause and the longest scheduling wait counted since
// before.
func (h runtimeHistograms) longestSince(before runtimeHistograms) (gcPause, schedWait time.Duration) {
	longest := func(now, then *metrics.Float64Histogram) time.Duration {
		if now == nil || then == nil {
			return 0
		}
		var d time.Duration
		for i, c := range now.Counts {
			if i < len(then.Counts) && c > then.Counts[i] {
				// Counts[i] covers [Buckets[i], Buckets[i+1]).
				d = time.Duration(min(now.Buckets[i+1], 3600) * float64(time.Second))
			}
		}
		return d
	}
	return longest(h[0], before[0]), longest(h[1], before[1])
}

// processRunQueueWait returns how long the process's threads have waited in Linux's run queues, from each
// thread's schedstat (0 where the system does not say). Over a window, divided by its length, it is the
// average number of the process's threads ready to run but kept from a CPU: by other processes, or by threads
// of this one beyond GOMAXPROCS (those in system calls).
func processRunQueueWait() time.Duration {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return 0
	}
	var total time.Duration
	for _, t := range tasks {
		data, err := os.ReadFile(filepath.Join("/proc/self/task", t.Name(), "schedstat"))
		if err != nil {
			continue // the thread exited
		}
		fields := strings.Fields(string(data))
		if len(fields) < 2 {
			continue
		}
		if ns, err := strconv.ParseInt(fields[1], 10, 64); err == nil {
			total += time.Duration(ns)
		}
	}
	return total
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
