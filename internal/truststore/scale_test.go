package truststore

import (
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/mtlslb/mtlslb/internal/crl"
	"math/big"
	mrand "math/rand/v2"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/testpki"
)

// Scale tests of the revocation limits and benchmarks of compiling a trust
// store of 10 million revoked entries (alb-compat.md §4: "the index must
// stay fast and small at 10 million"). The large CRLs are generated inside
// the test or benchmark that needs them; nothing is cached on disk.

// largeCRL returns the DER of a v2 CRL of ca with n entries built around
// testNow, listing the serials listed spread evenly through the list and
// random serials drawn from rng (testpki.LargeCRL) for the rest.
func largeCRL(tb testing.TB, ca *testCA, n int, listed []*big.Int, rng *mrand.ChaCha8) []byte {
	tb.Helper()
	return testpki.LargeCRL(tb, ca.cert, ca.key, n, testpki.LargeCRLOptions{Listed: listed, Now: testNow, Rand: rng})
}

// TestRevokedEntriesLimit checks the trust store's limit of revoked entries
// over all its lists (alb-compat.md §4): 500 000 by default, configurable to
// 10 million and beyond, refused with ALB's
// TooManyTrustStoreRevocationEntries naming the list that crossed it.
func TestRevokedEntriesLimit(t *testing.T) {
	root := newRootCA(t, "Root CA")
	rng := mrand.NewChaCha8([32]byte{4})
	type list struct {
		data    []byte
		entries int
	}
	half := list{largeCRL(t, root, DefaultMaxRevokedEntries/2, nil, rng), DefaultMaxRevokedEntries / 2}
	halfAndOne := list{largeCRL(t, root, DefaultMaxRevokedEntries/2+1, nil, rng), DefaultMaxRevokedEntries/2 + 1}

	tests := []struct {
		name    string
		crls    []list
		limits  Limits
		tooMany int64 // the revocation id refused, 0 when New must succeed
	}{
		{name: "default limit reached", crls: []list{half, half}},
		{name: "default limit exceeded", crls: []list{half, halfAndOne}, tooMany: 2},
		{name: "raised to 10 million", crls: []list{half, halfAndOne}, limits: Limits{MaxRevokedEntries: 10_000_000}},
		{name: "lowered, exceeded by the first list", crls: []list{halfAndOne, half}, limits: Limits{MaxRevokedEntries: DefaultMaxRevokedEntries / 2}, tooMany: 1},
		{name: "lowered, exceeded by the second list", crls: []list{half, half}, limits: Limits{MaxRevokedEntries: DefaultMaxRevokedEntries - 1}, tooMany: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Bundle: pemBundle(root.cert), Limits: tt.limits}
			entries := 0
			for i, l := range tt.crls {
				cfg.CRLs = append(cfg.CRLs, CRLSource{ID: int64(i + 1), Data: l.data, Source: fmt.Sprintf("crl%d.der", i+1)})
				entries += l.entries
			}
			s, err := New(cfg)
			if tt.tooMany == 0 {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if s.crls.Len() != entries {
					t.Errorf("the store holds %d revoked entries, want %d", s.crls.Len(), entries)
				}
				return
			}
			var re *RevocationError
			if !errors.As(err, &re) {
				t.Fatalf("New error = %v, want a *RevocationError", err)
			}
			limit := cfg.Limits.withDefaults().MaxRevokedEntries
			if re.ID != tt.tooMany || re.Code() != CodeTooManyTrustStoreRevocationEntries || !strings.Contains(re.Msg, fmt.Sprintf("limit of %d", limit)) {
				t.Errorf("got id %d code %s msg %q; want id %d code %s, naming the limit %d", re.ID, re.Code(), re.Msg, tt.tooMany, CodeTooManyTrustStoreRevocationEntries, limit)
			}
		})
	}
}

// TestLimitsKeepLargeValues checks that configured limits above the
// defaults are kept as they are, up to the 100 million that configuration
// validation allows for revoked entries.
func TestLimitsKeepLargeValues(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   Limits
		want Limits
	}{
		{
			name: "unset takes the defaults",
			want: Limits{MaxCACertificates: DefaultMaxCACertificates, MaxCertificateSize: DefaultMaxCertificateSize, MaxChainDepth: DefaultMaxChainDepth, MaxCRLs: DefaultMaxCRLs, MaxRevokedEntries: DefaultMaxRevokedEntries, MaxCRLSize: DefaultMaxCRLSize},
		},
		{
			name: "10 million entries",
			in:   Limits{MaxRevokedEntries: 10_000_000, MaxCRLs: 100},
			want: Limits{MaxCACertificates: DefaultMaxCACertificates, MaxCertificateSize: DefaultMaxCertificateSize, MaxChainDepth: DefaultMaxChainDepth, MaxCRLs: 100, MaxRevokedEntries: 10_000_000, MaxCRLSize: DefaultMaxCRLSize},
		},
		{
			name: "100 million entries",
			in:   Limits{MaxRevokedEntries: 100_000_000, MaxCRLSize: DefaultMaxCRLSize},
			want: Limits{MaxCACertificates: DefaultMaxCACertificates, MaxCertificateSize: DefaultMaxCertificateSize, MaxChainDepth: DefaultMaxChainDepth, MaxCRLs: DefaultMaxCRLs, MaxRevokedEntries: 100_000_000, MaxCRLSize: DefaultMaxCRLSize},
		},
		{
			name: "negative takes the default",
			in:   Limits{MaxRevokedEntries: -1},
			want: Limits{MaxCACertificates: DefaultMaxCACertificates, MaxCertificateSize: DefaultMaxCertificateSize, MaxChainDepth: DefaultMaxChainDepth, MaxCRLs: DefaultMaxCRLs, MaxRevokedEntries: DefaultMaxRevokedEntries, MaxCRLSize: DefaultMaxCRLSize},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.withDefaults(); got != tt.want {
				t.Errorf("withDefaults() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// scaleStore is the PKI and CRLs of the compile benchmarks: 10 issuing CAs
// under one root, each with a CRL of a million entries that lists the
// issuer's revoked leaf.
type scaleStore struct {
	root          *testCA
	issuers       []*testCA
	crls          []CRLSource
	good, revoked [][]*x509.Certificate // chains, leaf first
	derBytes      int
}

func newScaleStore(tb testing.TB, issuers, entries int) *scaleStore {
	tb.Helper()
	rng := mrand.NewChaCha8([32]byte{5})
	st := &scaleStore{root: newRootCA(tb, "Scale Root CA")}
	for i := range issuers {
		ca := st.root.issueCA(tb, fmt.Sprintf("Scale Issuing CA %d", i))
		good := ca.issueLeaf(tb, fmt.Sprintf("good client %d", i))
		revoked := ca.issueLeaf(tb, fmt.Sprintf("revoked client %d", i))
		data := largeCRL(tb, ca, entries, []*big.Int{revoked.SerialNumber}, rng)
		st.issuers = append(st.issuers, ca)
		st.crls = append(st.crls, CRLSource{ID: int64(i + 1), Data: data, Source: fmt.Sprintf("issuer%d.crl", i)})
		st.good = append(st.good, []*x509.Certificate{good, ca.cert})
		st.revoked = append(st.revoked, []*x509.Certificate{revoked, ca.cert})
		st.derBytes += len(data)
	}
	return st
}

// config is the trust store's configuration: the root alone in the bundle
// (the usual case: clients send their intermediate, and each CRL's
// signature is checked at the first handshake that needs it), or the
// issuing CAs too (every signature is checked at compile time, twice: by
// New and by crl.NewSet).
func (st *scaleStore) config(issuersInBundle bool) Config {
	certs := []*x509.Certificate{st.root.cert}
	if issuersInBundle {
		for _, ca := range st.issuers {
			certs = append(certs, ca.cert)
		}
	}
	return Config{
		Name:   "scale",
		Bundle: pemBundle(certs...),
		CRLs:   st.crls,
		Limits: Limits{MaxCRLs: len(st.crls), MaxRevokedEntries: 100_000_000, MaxCRLSize: DefaultMaxCRLSize},
	}
}

// check fails unless s accepts every good chain and reports every revoked
// one as a CRL hit.
func (st *scaleStore) check(tb testing.TB, s *Store) {
	tb.Helper()
	for i := range st.good {
		if r := s.VerifyCertificates(st.good[i], VerifyOptions{Now: testNow}); r.Status != StatusSuccess {
			tb.Fatalf("good chain %d: %v (%s)", i, r.Status, r.Detail)
		}
		if r := s.VerifyCertificates(st.revoked[i], VerifyOptions{Now: testNow}); r.Status != StatusClientCertCrlHit {
			tb.Fatalf("revoked chain %d: %v (%s)", i, r.Status, r.Detail)
		}
	}
}

// BenchmarkScaleTrustStoreCompile measures New on a trust store of 10 CRLs
// of a million entries (10 million revoked serials, 370 MB of DER): the
// compile time of a snapshot, which the engine pays in full whenever a
// trust store or one of its CRLs changes. heap-B/entry is what the compiled
// store keeps per entry, its CRLs' DER included.
//
// compile-while-verifying compiles while a goroutine verifies chains
// without pause against the live store (the engine's atomic swap), and
// reports the slowest verification (max-verify-ms), the 99th percentile
// (p99-verify-us) and the GC's longest stop-the-world pause
// (max-gc-pause-ms) seen meanwhile; then verifies as long again with no
// compile (quiet-max-verify-ms): what the machine alone, other processes
// included, does to a verification.
func BenchmarkScaleTrustStoreCompile(b *testing.B) {
	st := newScaleStore(b, 10, 1_000_000)
	b.Logf("%d CRLs, %d bytes of DER", len(st.crls), st.derBytes)
	for _, tc := range []struct {
		name     string
		inBundle bool
	}{{"issuers-presented", false}, {"issuers-in-bundle", true}} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := st.config(tc.inBundle)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			var s *Store
			b.ReportAllocs()
			for b.Loop() {
				s = nil // let a previous iteration's store go before the next compiles
				var err error
				if s, err = New(cfg); err != nil {
					b.Fatal(err)
				}
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			st.check(b, s)
			entries := s.crls.Len()
			b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(entries), "heap-B/entry")
			b.ReportMetric(s.crls.IndexBytesPerEntry(), "index-B/entry")
			runtime.KeepAlive(s)
		})
	}
	// A reload that changes something else: the CRLs' bytes are the same, so the engine's parse cache
	// serves them and only their hash is computed.
	b.Run("recompile-cached", func(b *testing.B) {
		cfg := st.config(false)
		cfg.ParseCache = crl.NewParseCache()
		mustNew(b, cfg)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := New(cfg); err != nil {
				b.Fatal(err)
			}
			cfg.ParseCache.Sweep()
		}
	})
	b.Run("compile-while-verifying", func(b *testing.B) {
		cfg := st.config(false)
		var live atomic.Pointer[Store]
		live.Store(mustNew(b, cfg))
		st.check(b, live.Load())
		pausesBefore := gcPauses()
		start := time.Now()
		busy := st.verifyWhile(b, &live, func() {
			for b.Loop() {
				s, err := New(cfg)
				if err != nil {
					b.Fatal(err)
				}
				live.Store(s)
			}
		})
		pauses, longest := gcPauses().since(pausesBefore)
		runtime.GC()
		quiet := st.verifyWhile(b, &live, func() { time.Sleep(time.Since(start)) })
		b.ReportMetric(float64(busy.worst)/float64(time.Millisecond), "max-verify-ms")
		b.ReportMetric(float64(busy.p99)/float64(time.Microsecond), "p99-verify-us")
		b.ReportMetric(float64(longest)/float64(time.Millisecond), "max-gc-pause-ms")
		b.ReportMetric(float64(quiet.worst)/float64(time.Millisecond), "quiet-max-verify-ms")
		b.Logf("%d verifications during %d compiles: slowest %v, p99 %v; %d GC pauses, longest ≤ %v; as long without compiles: %d verifications, slowest %v, p99 %v",
			busy.n, b.N, busy.worst, busy.p99, pauses, longest, quiet.n, quiet.worst, quiet.p99)
	})
}

// verifySummary is what verifyWhile saw.
type verifySummary struct {
	n          int
	worst, p99 time.Duration
}

// verifyWhile verifies chains without pause, a good one three times in
// four, against the store live holds, while during runs.
func (st *scaleStore) verifyWhile(b *testing.B, live *atomic.Pointer[Store], during func()) verifySummary {
	var stop atomic.Bool
	var wg sync.WaitGroup
	var latencies []time.Duration
	wg.Go(func() {
		for i := 0; !stop.Load(); i++ {
			chain, want := st.good[i%len(st.good)], StatusSuccess
			if i%4 == 3 {
				chain, want = st.revoked[i%len(st.revoked)], StatusClientCertCrlHit
			}
			s := live.Load()
			start := time.Now()
			r := s.VerifyCertificates(chain, VerifyOptions{Now: testNow})
			latencies = append(latencies, time.Since(start))
			if r.Status != want {
				b.Errorf("verification: %v (%s), want %v", r.Status, r.Detail, want)
				return
			}
		}
	})
	during()
	stop.Store(true)
	wg.Wait()
	if len(latencies) == 0 {
		return verifySummary{}
	}
	slices.Sort(latencies)
	return verifySummary{n: len(latencies), worst: latencies[len(latencies)-1], p99: latencies[len(latencies)*99/100]}
}

// gcPauseHistogram is runtime/metrics' histogram of the GC's stop-the-world
// pauses.
type gcPauseHistogram struct {
	buckets []float64 // boundaries, seconds
	counts  []uint64
}

// gcPauses reads every stop-the-world pause of the GC so far, the time to
// stop included.
func gcPauses() gcPauseHistogram {
	s := []metrics.Sample{{Name: "/sched/pauses/total/gc:seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64Histogram {
		return gcPauseHistogram{}
	}
	h := s[0].Value.Float64Histogram()
	return gcPauseHistogram{buckets: h.Buckets, counts: slices.Clone(h.Counts)}
}

// since returns how many pauses h counted that before had not, and the
// upper bound of the longest.
func (h gcPauseHistogram) since(before gcPauseHistogram) (count uint64, longest time.Duration) {
	for i, c := range h.counts {
		if i < len(before.counts) {
			c -= before.counts[i]
		}
		if c > 0 {
			count += c
			// counts[i] covers [buckets[i], buckets[i+1]).
			longest = time.Duration(h.buckets[i+1] * float64(time.Second))
		}
	}
	return count, longest
}

func TestCRLFileSizeLimit(t *testing.T) {
	ca := newRootCA(t, "Size Limit CA")
	crlDER := ca.freshCRL(t)
	_, err := New(Config{Name: "s", Bundle: pemBundle(ca.cert), Limits: Limits{MaxCRLSize: len(crlDER) - 1},
		CRLs: []CRLSource{{ID: 7, Data: crlDER, Source: "big.crl"}}})
	var re *RevocationError
	if !errors.As(err, &re) || re.ID != 7 || re.Code() != CodeInvalidRevocationContent || !strings.Contains(re.Error(), "more than the limit") {
		t.Fatalf("a CRL over MaxCRLSize: %v", err)
	}
	if _, err := New(Config{Name: "s", Bundle: pemBundle(ca.cert), Limits: Limits{MaxCRLSize: len(crlDER)},
		CRLs: []CRLSource{{ID: 7, Data: crlDER}}}); err != nil {
		t.Fatalf("a CRL of exactly MaxCRLSize: %v", err)
	}
}
