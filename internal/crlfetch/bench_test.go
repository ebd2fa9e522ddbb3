package crlfetch

import (
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/testpki"
)

// BenchmarkCurrent measures what a reader of the fetched CRL pays: one
// atomic load, no allocation, whatever the fetcher's goroutine is doing.
func BenchmarkCurrent(b *testing.B) {
	f, err := New(Options{URL: "http://pki.example/ca.crl"})
	if err != nil {
		b.Fatal(err)
	}
	c, _, err := parseCache(pemCRL(issueCRL(b, testpki.NewCA(b), 1, time.Now(), time.Hour)))
	if err != nil {
		b.Fatal(err)
	}
	f.update(func(s *state) { s.crl = c })
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := f.Current(); !ok {
			b.Fatal("no CRL")
		}
	}
}
