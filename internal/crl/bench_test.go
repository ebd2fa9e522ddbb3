package crl

import (
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/der"
)

// bigCRL builds and signs a CRL of ca with n entries: random 16-octet
// serials (the size CAs use today) and, last, the serial of listed.
// crypto/x509 would spend a big.Int per entry building it, so it is
// assembled by hand.
func bigCRL(tb testing.TB, ca *testCA, n int, listed *x509.Certificate) []byte {
	tb.Helper()
	date := utcTime(testNow.Add(-time.Hour))
	entries := make([]byte, 0, n*(2+18+len(date)))
	serial := make([]byte, 16)
	for i := 0; i < n-1; i++ {
		if _, err := rand.Read(serial); err != nil {
			tb.Fatal(err)
		}
		serial[0] = serial[0]&0x7f | 0x40 // positive, 16 octets, not a listed leaf's
		e := der.Append(nil, der.Integer, serial)
		entries = der.Append(entries, der.Sequence, append(e, date...))
	}
	listedSerial, ok := certSerial(listed.RawTBSCertificate)
	if !ok {
		tb.Fatal("cannot read the listed certificate's serial")
	}
	entries = der.Append(entries, der.Sequence, append(der.Append(nil, der.Integer, listedSerial), date...))
	f := ca.defaultTBS()
	f.revoked = der.Append(nil, der.Sequence, entries)
	return ca.assemble(tb, f, false)
}

// BenchmarkCheck measures Check on the handshake path: a certificate that
// is not listed (good) and one that is (revoked), against CRLs of 10, 100 000
// and 1 000 000 entries whose signature NewSet checked. index-B/entry is the
// index's memory per entry beyond the CRL's own bytes.
func BenchmarkCheck(b *testing.B) {
	c := newChain(b)
	good := c.inter.issueLeaf(b, "good")
	revoked := c.inter.issueLeaf(b, "revoked")
	for _, n := range []int{10, 100_000, 1_000_000} {
		set := mustSet(b, []Source{{ID: 1, CRL: mustParse(b, bigCRL(b, c.inter, n, revoked))}}, c.root.cert, c.inter.cert)
		for _, tc := range []struct {
			name string
			cert *x509.Certificate
			want Status
		}{{"good", good, Good}, {"revoked", revoked, Revoked}} {
			b.Run(fmt.Sprintf("entries=%d/%s", n, tc.name), func(b *testing.B) {
				in := c.input(tc.cert, Policy{Stale: StaleReject, MaxAge: 7 * 24 * time.Hour})
				if r := set.Check(in); r.Status != tc.want {
					b.Fatalf("status %s (%s), want %s", r.Status, r.Reason, tc.want)
				}
				b.ReportAllocs()
				for b.Loop() {
					set.Check(in)
				}
				b.ReportMetric(set.IndexBytesPerEntry(), "index-B/entry")
			})
		}
	}
}

// BenchmarkCheckLazySignature measures the usual case of an intermediate
// that is not in the bundle: the CRL's signature verdict comes from the
// Set's cache, keyed by the SHA-256 of the issuer's public key.
func BenchmarkCheckLazySignature(b *testing.B) {
	c := newChain(b)
	good := c.inter.issueLeaf(b, "good")
	set := mustSet(b, []Source{{ID: 1, CRL: mustParse(b, bigCRL(b, c.inter, 10, c.inter.issueLeaf(b, "revoked")))}}, c.root.cert)
	in := c.input(good, Policy{})
	if r := set.Check(in); r.Status != Good {
		b.Fatalf("status %s (%s)", r.Status, r.Reason)
	}
	b.ReportAllocs()
	for b.Loop() {
		set.Check(in)
	}
}

// BenchmarkParse measures Parse, index included, per CRL of 100 000 entries.
func BenchmarkParse(b *testing.B) {
	c := newChain(b)
	der := bigCRL(b, c.inter, 100_000, c.inter.issueLeaf(b, "revoked"))
	b.SetBytes(int64(len(der)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(der); err != nil {
			b.Fatal(err)
		}
	}
}

// TestIndexMemoryPerEntry measures what a parsed CRL costs beyond its own
// DER, per entry, and holds it under 32 bytes.
func TestIndexMemoryPerEntry(t *testing.T) {
	const n = 200_000
	c := newChain(t)
	der := bigCRL(t, c.inter, n, c.inter.issueLeaf(t, "revoked"))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	list := mustParse(t, der)
	runtime.GC()
	runtime.ReadMemStats(&after)
	overhead := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)-int64(len(der))) / n
	index := list.entries.bytesPerEntry(list.Len())
	t.Logf("%d entries, %d bytes of DER (%.1f per entry): %.1f bytes per entry beyond the DER on the heap, index %.1f", n, len(der), float64(len(der))/n, overhead, index)
	if overhead >= 32 || index >= 32 {
		t.Errorf("%.1f bytes per entry on the heap, index %.1f: want under 32", overhead, index)
	}
	runtime.KeepAlive(list)
	runtime.KeepAlive(der)
}
