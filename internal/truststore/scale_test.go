package truststore

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
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

	"github.com/mtlslb/mtlslb/internal/der"
)

// Scale tests of the revocation limits and benchmarks of compiling a trust
// store of 10 million revoked entries (alb-compat.md §4: "the index must
// stay fast and small at 10 million"). The large CRLs are generated inside
// the test or benchmark that needs them; nothing is cached on disk.

// algECDSAWithSHA256 is the DER AlgorithmIdentifier of ecdsa-with-SHA256.
var algECDSAWithSHA256 = []byte{0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02}

// largeCRL returns the DER of a v2 CRL of ca with n entries, signed with
// ca's key: random positive serials of 16 to 20 octets drawn from rng, and
// listed spread evenly through the list. It writes the DER in place in one
// buffer, headers last: x509.CreateRevocationList spends a big.Int and
// several copies per entry and needs minutes and gigabytes at 10 million.
// (internal/crl's scale tests carry the same generator; test helpers cannot
// be shared between packages.)
func largeCRL(tb testing.TB, ca *testCA, n int, listed []*big.Int, rng *mrand.ChaCha8) []byte {
	tb.Helper()
	if n < len(listed) {
		tb.Fatalf("largeCRL: %d entries cannot hold %d listed serials", n, len(listed))
	}
	utc := func(t time.Time) []byte { return der.Append(nil, der.UTCTime, []byte(t.UTC().Format("060102150405Z"))) }
	date := utc(testNow.Add(-2 * time.Hour))
	number := der.Append(der.Append(nil, der.OID, []byte{0x55, 0x1d, 0x14}), der.OctetString, der.Append(nil, der.Integer, []byte{1}))
	extensions := der.Append(nil, der.ClassContextSpecific|der.Constructed|0, der.Append(nil, der.Sequence, der.Append(nil, der.Sequence, number)))
	prefix := der.Append(nil, der.Integer, []byte{1})
	prefix = append(prefix, algECDSAWithSHA256...)
	prefix = append(prefix, ca.cert.RawSubject...)
	prefix = append(prefix, utc(testNow.Add(-time.Hour))...)
	prefix = append(prefix, utc(testNow.Add(7*24*time.Hour))...)

	const maxHeader, maxSerial, maxSignature = 6, 20, 3 + 72
	head := 3*maxHeader + len(prefix)
	buf := make([]byte, head, head+n*(4+maxSerial+len(date))+len(extensions)+len(algECDSAWithSHA256)+maxSignature)
	next := 0
	for i := range n {
		if next < len(listed) && i == (next+1)*n/(len(listed)+1) {
			s := derIntegerContents(listed[next])
			next++
			buf = append(buf, byte(der.Sequence), byte(2+len(s)+len(date)), byte(der.Integer), byte(len(s)))
			buf = append(buf, s...)
			buf = append(buf, date...)
			continue
		}
		size := 16 + int(rng.Uint64()%5)
		buf = append(buf, byte(der.Sequence), byte(2+size+len(date)), byte(der.Integer), byte(size))
		at := len(buf)
		buf = buf[:at+size]
		_, _ = rng.Read(buf[at:]) // ChaCha8.Read never fails
		// Positive, and minimal: no leading zero octet.
		buf[at] = buf[at]&0x7f | 0x01
		buf = append(buf, date...)
	}
	if next != len(listed) {
		tb.Fatalf("largeCRL: placed %d of %d listed serials", next, len(listed))
	}
	revokedStart := putHeader(buf, head, der.Sequence, len(buf)-head)
	buf = append(buf, extensions...)
	prefixStart := revokedStart - len(prefix)
	copy(buf[prefixStart:], prefix)
	tbsStart := putHeader(buf, prefixStart, der.Sequence, len(buf)-prefixStart)
	digest := sha256.Sum256(buf[tbsStart:])
	sig, err := ca.key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		tb.Fatal(err)
	}
	buf = append(buf, algECDSAWithSHA256...)
	buf = der.Append(buf, der.BitString, append([]byte{0}, sig...))
	start := putHeader(buf, tbsStart, der.Sequence, len(buf)-tbsStart)
	return buf[start:len(buf):len(buf)]
}

// putHeader writes the identifier and length octets of an element of tag
// with n content octets so that they end at buf[end], and returns where they
// start.
func putHeader(buf []byte, end int, tag der.Tag, n int) int {
	var room [6]byte
	hdr := room[:0]
	hdr = append(hdr, byte(tag))
	switch {
	case n < 0x80:
		hdr = append(hdr, byte(n))
	case n <= 0xff:
		hdr = append(hdr, 0x81, byte(n))
	case n <= 0xffff:
		hdr = append(hdr, 0x82, byte(n>>8), byte(n))
	case n <= 0xffffff:
		hdr = append(hdr, 0x83, byte(n>>16), byte(n>>8), byte(n))
	default:
		hdr = append(hdr, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	start := end - len(hdr)
	copy(buf[start:], hdr)
	return start
}

// derIntegerContents returns the DER INTEGER contents of a positive serial.
func derIntegerContents(n *big.Int) []byte {
	b := n.Bytes()
	if len(b) == 0 || b[0]&0x80 != 0 {
		b = append([]byte{0}, b...)
	}
	return b
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
