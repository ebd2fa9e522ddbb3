package crl

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"math/bits"
	mrand "math/rand/v2"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/der"
	"github.com/mtlslb/mtlslb/internal/testpki"
)

// Scale benchmarks: the revocation index at 10 million entries, the
// "beyond" of alb-compat.md §4. Every large CRL is generated inside the
// benchmark that needs it, so a plain go test never pays for one, and
// nothing is cached on disk.

// largeCRL returns the DER of a v2 CRL of ca with n entries built around
// testNow, listing the serials of listed spread evenly through the list and
// random serials drawn from rng (testpki.LargeCRL) for the rest.
func largeCRL(tb testing.TB, ca *testCA, n int, listed []*x509.Certificate, rng *mrand.ChaCha8) []byte {
	tb.Helper()
	serials := make([]*big.Int, len(listed))
	for i, c := range listed {
		serials[i] = c.SerialNumber
	}
	return testpki.LargeCRL(tb, ca.cert, ca.key, n, testpki.LargeCRLOptions{Listed: serials, Now: testNow, Rand: rng})
}

// scaleLeaves issues n leaves of ca with random 16-octet serials (as CAs
// issue them), all for one public key: only their serials and issuer
// matter to Check, and one key keeps a thousand leaves cheap.
func scaleLeaves(tb testing.TB, ca *testCA, n int, rng *mrand.ChaCha8) []*x509.Certificate {
	tb.Helper()
	pub := newKey(tb).Public()
	leaves := make([]*x509.Certificate, n)
	serial := make([]byte, 16)
	for i := range leaves {
		_, _ = rng.Read(serial)
		serial[0] = serial[0]&0x7f | 0x01
		tmpl := &x509.Certificate{
			SerialNumber: new(big.Int).SetBytes(serial),
			Subject:      pkix.Name{CommonName: fmt.Sprintf("scale client %d", i)},
			NotBefore:    testNow.Add(-24 * time.Hour),
			NotAfter:     testNow.Add(30 * 24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		leaves[i] = ca.sign(tb, tmpl, pub)
	}
	return leaves
}

// TestLargeCRL checks that Parse and a Set read the large CRLs of the scale
// benchmarks (testpki.LargeCRL) as crypto/x509 does, at sizes a plain go
// test affords (each length form of revokedCertificates but the four-octet
// one): the signature verifies over the real tbsCertList, the serials are
// what the generator promises, and listed leaves are revoked.
func TestLargeCRL(t *testing.T) {
	c := newChain(t)
	rng := mrand.NewChaCha8([32]byte{1})
	listed := scaleLeaves(t, c.inter, 3, rng)
	good := scaleLeaves(t, c.inter, 1, rng)[0]
	for _, tc := range []struct {
		name    string
		entries int
		listed  []*x509.Certificate
	}{
		{"one entry, listed", 1, listed[:1]},
		{"one-octet long length", 5, listed},
		{"three-octet long length", 20_000, listed},
		{"none listed", 500, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := largeCRL(t, c.inter, tc.entries, tc.listed, rng)
			rl, err := x509.ParseRevocationList(data)
			if err != nil {
				t.Fatalf("crypto/x509: %v", err)
			}
			if err := rl.CheckSignatureFrom(c.inter.cert); err != nil || len(rl.RevokedCertificateEntries) != tc.entries {
				t.Fatalf("crypto/x509: signature: %v, %d entries, want %d", err, len(rl.RevokedCertificateEntries), tc.entries)
			}
			list, err := Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			if err := list.CheckSignatureFrom(c.inter.cert); err != nil {
				t.Fatal(err)
			}
			if list.Len() != tc.entries {
				t.Errorf("Len = %d, want %d", list.Len(), tc.entries)
			}
			for off := range list.entries.offsets {
				serial := entrySerial(list.raw, off)
				if len(serial) < 1 || serial[0]&0x80 != 0 || len(serial) > testpki.LargeCRLSerialMax {
					t.Fatalf("serial %X: want positive and at most %d octets", serial, testpki.LargeCRLSerialMax)
				}
			}
			set := mustSet(t, []Source{{ID: 1, CRL: list}}, c.root.cert, c.inter.cert)
			for _, leaf := range tc.listed {
				if r := set.Check(c.input(leaf, Policy{})); r.Status != Revoked {
					t.Errorf("listed leaf: %s (%s), want Revoked", r.Status, r.Reason)
				}
			}
			if r := set.Check(c.input(good, Policy{})); r.Status != Good {
				t.Errorf("good leaf: %s (%s), want Good", r.Status, r.Reason)
			}
		})
	}
}

// scaleLayout is one way to spread revoked entries over a trust store.
type scaleLayout struct {
	name    string
	issuers int // distinct issuing CAs, each with its own CRLs and leaves
	crls    int // CRLs per issuer: a certificate is looked up in each
	entries int // entries per CRL
}

// scaleSet is a compiled layout with the certificates to check against it.
type scaleSet struct {
	set            *Set
	crls           []*CRL
	good, revoked  []CheckInput
	entries        int
	derBytes       int
	heapPerEntry   float64 // heap growth per entry, the CRLs' DER included
	scanPerEntry   float64 // growth of the heap the GC must scan, per entry
	generate, load time.Duration
}

// buildScaleSet generates, parses and compiles layout l. Each issuer has
// leavesPerIssuer good leaves and as many revoked ones, so that a
// benchmark can cycle through them instead of hitting one warm slot. The
// heap growth is measured from before the first CRL to after the Set,
// after GC, with every generated DER already dropped: what a Set of this
// size keeps.
func buildScaleSet(tb testing.TB, l scaleLayout, leavesPerIssuer int) *scaleSet {
	tb.Helper()
	rng := mrand.NewChaCha8([32]byte{byte(l.issuers), byte(l.crls), byte(l.entries >> 16)})
	root := newRootCA(tb, "Scale Root CA")
	bundle := []*x509.Certificate{root.cert}
	cas := make([]*testCA, l.issuers)
	chains := make([]chain, l.issuers)
	listed := make([][]*x509.Certificate, l.issuers)
	ss := &scaleSet{}
	for i := range cas {
		cas[i] = root.issueCA(tb, fmt.Sprintf("Scale Issuing CA %d", i))
		chains[i] = chain{root: root, inter: cas[i]}
		bundle = append(bundle, cas[i].cert)
		policy := Policy{Stale: StaleReject, MaxAge: 7 * 24 * time.Hour}
		for _, leaf := range scaleLeaves(tb, cas[i], leavesPerIssuer, rng) {
			ss.good = append(ss.good, chains[i].input(leaf, policy))
		}
		revoked := scaleLeaves(tb, cas[i], leavesPerIssuer, rng)
		for _, leaf := range revoked {
			ss.revoked = append(ss.revoked, chains[i].input(leaf, policy))
		}
		listed[i] = revoked
	}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	scanBefore := scannableHeap()
	var srcs []Source
	for i, ca := range cas {
		for range l.crls {
			// Every CRL of an issuer lists the issuer's revoked leaves, so
			// that a revoked lookup hits whichever CRL Check reads first.
			start := time.Now()
			data := largeCRL(tb, ca, l.entries, listed[i], rng)
			ss.generate += time.Since(start)
			start = time.Now()
			list := mustParse(tb, data)
			ss.load += time.Since(start)
			ss.derBytes += len(data)
			srcs = append(srcs, Source{ID: int64(len(srcs) + 1), CRL: list})
			ss.crls = append(ss.crls, list)
		}
	}
	start := time.Now()
	ss.set = mustSet(tb, srcs, bundle...)
	ss.load += time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	ss.entries = ss.set.Len()
	ss.heapPerEntry = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(ss.entries)
	ss.scanPerEntry = float64(int64(scannableHeap())-int64(scanBefore)) / float64(ss.entries)
	return ss
}

// scannableHeap returns the bytes of heap the GC scans for pointers, as of
// the last GC. A revocation index the GC had to scan would cost mark time
// in proportion to its entries on every cycle.
func scannableHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/scan/heap:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// scaleLayouts are the trust stores of BenchmarkScaleCheck, 10 million
// revoked entries each. 10 CRLs of 1 million from 10 issuers is the likely
// shape (a certificate is looked up in one CRL); 10 CRLs of one issuer is
// the worst (in all ten); one CRL of 10 million is the largest table (and
// a 370 MB file, beyond the 50 MiB default file limit).
var scaleLayouts = []scaleLayout{
	{name: "10x1M-10-issuers", issuers: 10, crls: 1, entries: 1_000_000},
	{name: "10x1M-1-issuer", issuers: 1, crls: 10, entries: 1_000_000},
	{name: "1x10M", issuers: 1, crls: 1, entries: 10_000_000},
}

// BenchmarkScaleCheck measures Check on trust stores of 10 million revoked
// entries: certificates that are not listed (good) and listed (revoked),
// cycling through a thousand leaves so that lookups miss the CPU caches as
// handshakes would, and the index lookup alone on random serials (miss) and
// on serials sampled from the CRLs (hit). index-B/entry is the index beyond
// the CRLs' DER; heap-B/entry the heap growth per entry of building the Set,
// DER included; der-B/entry the DER alone; scan-B/entry the growth of the
// heap the GC scans for pointers (the index and the DER are pointer-free,
// so it should be about 0). Each layout is built, measured
// and dropped before the next, so at most one is in memory (about 1 GiB).
func BenchmarkScaleCheck(b *testing.B) {
	const leavesPerIssuer = 1000
	for _, l := range scaleLayouts {
		b.Run(l.name, func(b *testing.B) {
			ss := buildScaleSet(b, l, leavesPerIssuer/l.issuers)
			b.Logf("%s: %d entries, %d bytes of DER; generated in %v, parsed and compiled in %v; heap %.1f B/entry, index %.1f B/entry",
				l.name, ss.entries, ss.derBytes, ss.generate.Round(time.Millisecond), ss.load.Round(time.Millisecond), ss.heapPerEntry, ss.set.IndexBytesPerEntry())
			report := func(b *testing.B) {
				b.ReportMetric(ss.set.IndexBytesPerEntry(), "index-B/entry")
				b.ReportMetric(ss.heapPerEntry, "heap-B/entry")
				b.ReportMetric(float64(ss.derBytes)/float64(ss.entries), "der-B/entry")
				b.ReportMetric(ss.scanPerEntry, "scan-B/entry")
			}
			for _, tc := range []struct {
				name string
				ins  []CheckInput
				want Status
			}{{"check-good", ss.good, Good}, {"check-revoked", ss.revoked, Revoked}} {
				b.Run(tc.name, func(b *testing.B) {
					for _, in := range tc.ins {
						if r := ss.set.Check(in); r.Status != tc.want {
							b.Fatalf("status %s (%s), want %s", r.Status, r.Reason, tc.want)
						}
					}
					b.ReportAllocs()
					for i := 0; b.Loop(); i++ {
						ss.set.Check(tc.ins[i%len(tc.ins)])
					}
					report(b)
				})
			}
			for _, tc := range []struct {
				name string
				hit  bool
			}{{"lookup-miss", false}, {"lookup-hit", true}} {
				b.Run(tc.name, func(b *testing.B) {
					probes := scaleProbes(ss.crls, tc.hit, 1<<16, mrand.NewChaCha8([32]byte{9}))
					b.ReportAllocs()
					for i := 0; b.Loop(); i++ {
						p := &probes[i&(len(probes)-1)]
						if _, ok := p.crl.entries.lookup(p.crl.raw, p.serial); ok != tc.hit {
							b.Fatalf("lookup of %X: found %v, want %v", p.serial, ok, tc.hit)
						}
					}
					report(b)
				})
			}
		})
		runtime.GC() // the layout is garbage now: return it before the next
	}
}

// probe is one index lookup of BenchmarkScaleCheck.
type probe struct {
	crl    *CRL
	serial []byte
}

// scaleProbes returns n lookups spread over crls: serials sampled from their
// entries (hit) or random serials of the same shape, which 16 random octets
// make absent (miss).
func scaleProbes(crls []*CRL, hit bool, n int, rng *mrand.ChaCha8) []probe {
	probes := make([]probe, n)
	for i := range probes {
		c := crls[i%len(crls)]
		if hit {
			for {
				s := c.entries.slots[rng.Uint64()%uint64(len(c.entries.slots))]
				if s.ref != 0 {
					// A copy: a handshake's serial is in its certificate,
					// not in the CRL, and reading it there would add a
					// cache miss a handshake does not have.
					probes[i] = probe{crl: c, serial: bytes.Clone(entrySerial(c.raw, s.ref>>1))}
					break
				}
			}
			continue
		}
		serial := make([]byte, testpki.LargeCRLSerialMin+int(rng.Uint64()%(testpki.LargeCRLSerialMax-testpki.LargeCRLSerialMin+1)))
		_, _ = rng.Read(serial)
		serial[0] = serial[0]&0x7f | 0x01
		probes[i] = probe{crl: c, serial: serial}
	}
	return probes
}

// BenchmarkScaleParse measures Parse, index included, per CRL of 1 million
// entries (36 MB, within ALB's 50 MiB file limit).
func BenchmarkScaleParse(b *testing.B) {
	c := newChain(b)
	data := largeCRL(b, c.inter, 1_000_000, nil, mrand.NewChaCha8([32]byte{2}))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var list *CRL
	for b.Loop() {
		var err error
		if list, err = Parse(data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(list.entries.bytesPerEntry(list.Len()), "index-B/entry")
}

// BenchmarkScaleSwapStall measures how long handshakes stall while a new
// Set is compiled beside the live one, the engine's pattern: checker
// goroutines run Check without pause against the Set an atomic pointer
// holds, while the benchmark loop parses a 1 million entry CRL, compiles a
// Set of the live CRLs plus the new one, and swaps the pointer. ns/op is
// one parse, compile and swap; B/op and allocs/op count the checkers' too.
//
// It reports the worst Check (max-check-ms) and how long the operating
// system kept that checker's thread waiting for a CPU meanwhile
// (max-check-os-wait-ms, from Linux's schedstat, over a window of at most
// 5 ms around it: about max-check-ms means the machine, not Go, stalled
// it); the worst gap between the
// starts of two consecutive Checks of one goroutine, which also catches
// pauses between calls (max-gap-ms); the 99th and 99.9th percentiles of
// good Checks and the 99th of revoked ones; and, from runtime/metrics, the
// GC's stop-the-world pauses, the only way the runtime stops every
// goroutine (max-gc-pause-ms, to the precision of its histogram, which
// includes waiting for a goroutine in a non-preemptible copy). Then the
// checkers run as long again with no compile (quiet-max-check-ms,
// quiet-max-gap-ms): what the machine itself does to them, other processes
// included. checkers=GOMAXPROCS-1 leaves the compile a core of its own;
// checkers=GOMAXPROCS oversubscribes the machine, so there the scheduler's
// time slices (10 ms) show too.
//
// It fails only when a Check waited about as long as a whole compile,
// which would mean that Check and the compile share a lock or the new Set:
// a bound that scales with the machine, instead of a fixed number of
// milliseconds that a slow or busy machine could miss.
func BenchmarkScaleSwapStall(b *testing.B) {
	c := newChain(b)
	rng := mrand.NewChaCha8([32]byte{3})
	added := c.root.issueCA(b, "Scale Added CA")
	good := scaleLeaves(b, c.inter, 256, rng)
	revoked := scaleLeaves(b, c.inter, 16, rng)
	policy := Policy{Stale: StaleReject, MaxAge: 7 * 24 * time.Hour}
	live := []Source{{ID: 1, CRL: mustParse(b, largeCRL(b, c.inter, 1_000_000, revoked, rng))}}
	bundle := []*x509.Certificate{c.root.cert, c.inter.cert, added.cert}
	data := largeCRL(b, added, 1_000_000, nil, rng)
	w := stallWorkload{}
	for _, leaf := range good {
		w.good = append(w.good, c.input(leaf, policy))
	}
	for _, leaf := range revoked {
		w.revoked = append(w.revoked, c.input(leaf, policy))
	}

	procs := runtime.GOMAXPROCS(0)
	for _, checkers := range []int{max(1, procs-1), procs} {
		b.Run(fmt.Sprintf("checkers=%d", checkers), func(b *testing.B) {
			w.current.Store(mustSet(b, live, bundle...))
			var worstCompile time.Duration
			before := readHistograms(metricGCPauses, metricSchedDelays)
			start := time.Now()
			busy := w.measure(b, checkers, func() {
				for b.Loop() {
					start := time.Now()
					list, err := Parse(data)
					if err != nil {
						b.Fatal(err)
					}
					set, err := NewSet(append(live[:len(live):len(live)], Source{ID: 2, CRL: list}), bundle)
					if err != nil {
						b.Fatal(err)
					}
					w.current.Store(set)
					worstCompile = max(worstCompile, time.Since(start))
				}
			})
			after := readHistograms(metricGCPauses, metricSchedDelays)
			pauses, longestPause := after[0].since(before[0])
			_, longestDelay := after[1].since(before[1])
			runtime.GC()
			quiet := w.measure(b, checkers, func() { time.Sleep(time.Since(start)) })

			b.ReportMetric(ms(busy.maxCheck), "max-check-ms")
			b.ReportMetric(ms(busy.maxCheckOSWait), "max-check-os-wait-ms")
			b.ReportMetric(ms(busy.maxGap), "max-gap-ms")
			b.ReportMetric(float64(busy.good.quantile(0.99)), "p99-good-ns")
			b.ReportMetric(float64(busy.good.quantile(0.999)), "p999-good-ns")
			b.ReportMetric(float64(busy.revoked.quantile(0.99)), "p99-revoked-ns")
			b.ReportMetric(ms(longestPause), "max-gc-pause-ms")
			b.ReportMetric(float64(pauses)/float64(b.N), "gc-pauses/op")
			b.ReportMetric(ms(longestDelay), "max-sched-delay-ms")
			b.ReportMetric(ms(quiet.maxCheck), "quiet-max-check-ms")
			b.ReportMetric(ms(quiet.maxGap), "quiet-max-gap-ms")
			b.Logf("%d checks on %d goroutines during %d compiles (worst %v): worst Check %v (its thread waited %v for a CPU meanwhile), worst gap %v, good p99 %v p99.9 %v, revoked p99 %v; %d GC pauses, longest ≤ %v; longest wait for a processor ≤ %v; without compiles, worst Check %v, worst gap %v",
				busy.good.n+busy.revoked.n, checkers, b.N, worstCompile.Round(time.Millisecond), busy.maxCheck, busy.maxCheckOSWait, busy.maxGap,
				time.Duration(busy.good.quantile(0.99)), time.Duration(busy.good.quantile(0.999)), time.Duration(busy.revoked.quantile(0.99)),
				pauses, longestPause, longestDelay, quiet.maxCheck, quiet.maxGap)
			if busy.maxCheck >= worstCompile/2 {
				b.Errorf("a Check took %v, as long as a compile (%v): Check waits for the compile", busy.maxCheck, worstCompile)
			}
		})
	}
}

// stallWorkload is the Set and certificates the checkers of
// BenchmarkScaleSwapStall check.
type stallWorkload struct {
	current       atomic.Pointer[Set]
	good, revoked []CheckInput
}

// measure runs checkers goroutines checking without pause while during
// runs, and returns what they saw.
func (w *stallWorkload) measure(b testing.TB, checkers int, during func()) stallStats {
	var stop atomic.Bool
	var wg sync.WaitGroup
	stats := make([]stallStats, checkers)
	for g := range stats {
		wg.Go(func() { stats[g].run(&w.current, &stop, w.good, w.revoked) })
	}
	during()
	stop.Store(true)
	wg.Wait()
	var all stallStats
	for i := range stats {
		if stats[i].failure != "" {
			b.Fatal(stats[i].failure)
		}
		all.merge(&stats[i])
	}
	return all
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// stallStats is what one checker goroutine of BenchmarkScaleSwapStall saw.
type stallStats struct {
	good, revoked latencyHistogram
	maxCheck      time.Duration
	maxGap        time.Duration
	// maxCheckOSWait is how long the operating system kept the checker's
	// thread waiting for a CPU in a window of at most osWaitWindow around
	// the worst Check, or -1 when the system does not say: about the worst
	// Check itself means that the machine, not the Go runtime, stalled it.
	maxCheckOSWait time.Duration
	failure        string
}

// osWaitWindow is how often a checker reads its thread's run-queue wait.
const osWaitWindow = 5 * time.Millisecond

// threadRunDelay returns how long the calling thread has waited in the
// operating system's run queue, from Linux's schedstat.
func threadRunDelay() (time.Duration, bool) {
	data, err := os.ReadFile("/proc/thread-self/schedstat")
	if err != nil {
		return 0, false
	}
	fields := strings.Fields(string(data))
	if len(fields) < 2 {
		return 0, false
	}
	ns, err := strconv.ParseInt(fields[1], 10, 64)
	return time.Duration(ns), err == nil
}

// run checks good certificates, and every 16th time a revoked one (whose
// Reason allocates, so the goroutine also meets GC assists), until stop.
// It keeps to one thread, so that the thread's run-queue wait is its own.
func (st *stallStats) run(current *atomic.Pointer[Set], stop *atomic.Bool, good, revoked []CheckInput) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	st.maxCheckOSWait = -1
	waited, ok := threadRunDelay()
	read := time.Now()
	var last time.Time
	for i := 0; !stop.Load(); i++ {
		in, want, h := &good[i%len(good)], Good, &st.good
		if i%16 == 15 {
			in, want, h = &revoked[(i/16)%len(revoked)], Revoked, &st.revoked
		}
		set := current.Load()
		start := time.Now()
		r := set.Check(*in)
		d := time.Since(start)
		if r.Status != want {
			st.failure = fmt.Sprintf("Check: %s (%s), want %s", r.Status, r.Reason, want)
			return
		}
		h.add(d)
		if !last.IsZero() {
			st.maxGap = max(st.maxGap, start.Sub(last))
		}
		last = start
		worst := d > st.maxCheck
		st.maxCheck = max(st.maxCheck, d)
		if ok && (worst || start.Sub(read) > osWaitWindow) {
			now, _ := threadRunDelay()
			if worst {
				st.maxCheckOSWait = now - waited
			}
			waited, read = now, time.Now()
		}
	}
}

func (st *stallStats) merge(o *stallStats) {
	st.good.merge(&o.good)
	st.revoked.merge(&o.revoked)
	if o.maxCheck > st.maxCheck {
		st.maxCheck, st.maxCheckOSWait = o.maxCheck, o.maxCheckOSWait
	}
	st.maxGap = max(st.maxGap, o.maxGap)
}

// latencyHistogram counts durations in buckets an eighth of a power of two
// wide, so that quantiles are within 12.5 % without storing every sample or
// allocating on the measured path.
type latencyHistogram struct {
	counts [64 * 8]uint64
	n      uint64
}

func (h *latencyHistogram) add(d time.Duration) {
	h.counts[histBucket(uint64(max(d, 0)))]++
	h.n++
}

// histBucket returns the bucket of v nanoseconds: v itself below 8, then 8
// buckets per power of two.
func histBucket(v uint64) int {
	if v < 8 {
		return int(v)
	}
	e := bits.Len64(v) - 1
	return e*8 + int(v>>(e-3)&7)
}

// histUpper returns the upper bound of bucket i.
func histUpper(i int) uint64 {
	if i < 8 {
		return uint64(i)
	}
	e, m := i/8, uint64(i%8)
	return (9 + m) << (e - 3)
}

func (h *latencyHistogram) merge(o *latencyHistogram) {
	for i := range h.counts {
		h.counts[i] += o.counts[i]
	}
	h.n += o.n
}

// quantile returns an upper bound of the q quantile, in nanoseconds.
func (h *latencyHistogram) quantile(q float64) uint64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q * float64(h.n))
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen > rank {
			return histUpper(i)
		}
	}
	return histUpper(len(h.counts) - 1)
}

// runtimeHistogram is a runtime/metrics histogram of durations.
type runtimeHistogram struct {
	buckets []float64 // boundaries, seconds
	counts  []uint64
}

// Names of the runtime/metrics histograms BenchmarkScaleSwapStall reads:
// every stop-the-world pause of the GC (stopping included), and how long
// runnable goroutines waited for a processor.
const (
	metricGCPauses    = "/sched/pauses/total/gc:seconds"
	metricSchedDelays = "/sched/latencies:seconds"
)

// readHistograms reads the runtime/metrics histograms names.
func readHistograms(names ...string) []runtimeHistogram {
	samples := make([]metrics.Sample, len(names))
	for i, n := range names {
		samples[i].Name = n
	}
	metrics.Read(samples)
	hs := make([]runtimeHistogram, len(names))
	for i, s := range samples {
		if s.Value.Kind() == metrics.KindFloat64Histogram {
			h := s.Value.Float64Histogram()
			hs[i] = runtimeHistogram{buckets: h.Buckets, counts: slices.Clone(h.Counts)}
		}
	}
	return hs
}

// since returns how many events h counted that before had not, and the
// upper bound of the longest.
func (h runtimeHistogram) since(before runtimeHistogram) (count uint64, longest time.Duration) {
	for i, c := range h.counts {
		if i < len(before.counts) {
			c -= before.counts[i]
		}
		if c == 0 {
			continue
		}
		count += c
		// counts[i] covers [buckets[i], buckets[i+1]).
		longest = time.Duration(h.buckets[i+1] * float64(time.Second))
	}
	return count, longest
}

// TestInputInChunks checks the chunked copy and search that keep Parse
// preemptible on very large inputs, at the chunk boundaries, and that Parse
// still refuses DER input with a PEM header inside wherever it falls.
func TestInputInChunks(t *testing.T) {
	marker := []byte("-----BEGIN ")
	for _, tc := range []struct {
		name string
		size int
		at   int // where the marker starts, -1 for nowhere
	}{
		{"empty", 0, -1},
		{"one chunk, absent", inputChunk, -1},
		{"three chunks, absent", 3*inputChunk - 7, -1},
		{"at the start", 2 * inputChunk, 0},
		{"across the first boundary", 2 * inputChunk, inputChunk - 5},
		{"ending at the first boundary", 2 * inputChunk, inputChunk - len(marker)},
		{"starting at the first boundary", 2 * inputChunk, inputChunk},
		{"at the end", 2*inputChunk + 3, 2*inputChunk + 3 - len(marker)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := make([]byte, tc.size)
			for i := range data {
				data[i] = byte(i % 251)
			}
			if tc.at >= 0 {
				copy(data[tc.at:], marker)
			}
			if got, want := containsInChunks(data, marker), tc.at >= 0; got != want {
				t.Errorf("containsInChunks = %v, want %v", got, want)
			}
			if out := cloneInChunks(data); !bytes.Equal(out, data) {
				t.Error("cloneInChunks differs from its input")
			}
			if tc.at > 0 {
				data[0] = byte(der.Sequence)
				if _, err := Parse(data); err == nil || !strings.Contains(err.Error(), "text before the PEM block") {
					t.Errorf("Parse error = %v, want text before the PEM block", err)
				}
			}
		})
	}
}
