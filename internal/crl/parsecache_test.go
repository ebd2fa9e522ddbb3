package crl

import (
	"crypto/x509"
	"math/big"
	"testing"
	"time"
)

func TestParseCacheReusesAndSweeps(t *testing.T) {
	ca := newRootCA(t, "Cache CA")
	a := ca.crl(t, []x509.RevocationListEntry{{SerialNumber: big.NewInt(5), RevocationTime: time.Now()}}, withNumber(1))
	b := ca.crl(t, []x509.RevocationListEntry{{SerialNumber: big.NewInt(6), RevocationTime: time.Now()}}, withNumber(2))
	pc := NewParseCache()
	first, err := pc.Parse(a)
	if err != nil {
		t.Fatal(err)
	}
	again, err := pc.Parse(append([]byte(nil), a...))
	if err != nil || again != first {
		t.Fatalf("the same bytes were parsed again (%p vs %p, %v)", again, first, err)
	}
	if _, err := pc.Parse(b); err != nil {
		t.Fatal(err)
	}
	pc.Sweep() // generation 1 used a and b
	if _, err := pc.Parse(a); err != nil {
		t.Fatal(err)
	}
	pc.Sweep() // generation 2 used only a: b goes
	if pc.Len() != 1 {
		t.Fatalf("after a generation without b the cache holds %d CRLs, want 1", pc.Len())
	}
	if _, err := pc.Parse([]byte("garbage")); err == nil {
		t.Fatal("garbage parsed")
	}
	if pc.Len() != 1 {
		t.Fatal("a refused CRL was cached")
	}
	var nilCache *ParseCache
	if c, err := nilCache.Parse(a); err != nil || c == nil {
		t.Fatalf("a nil cache must parse: %v", err)
	}
}
