package testpki_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/pki"
	"github.com/mtlslb/mtlslb/internal/testpki"
)

// TestLargeCRL checks that crypto/x509 accepts what LargeCRL writes, for
// every key type it signs with and for each length form of
// revokedCertificates but the four-octet one (a plain go test cannot
// afford 450 000 entries): the signature verifies over the real
// tbsCertList, the entries are as many as asked, the listed serials are
// there and the others have the promised shape.
func TestLargeCRL(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name    string
		key     pki.KeyType
		entries int
		listed  []*big.Int
		now     time.Time
	}{
		{name: "P-256, one entry, listed", key: pki.P256, entries: 1, listed: serials(0x3A5B1)},
		{name: "P-256, short-form length", key: pki.P256, entries: 3},
		{name: "P-256, one-octet long length", key: pki.P256, entries: 5, listed: serials(1, 2, 3)},
		{name: "P-256, three-octet long length", key: pki.P256, entries: 20_000, listed: serials(7, 8)},
		{name: "P-256, none listed", key: pki.P256, entries: 500},
		{name: "P-256, zero entries", key: pki.P256, entries: 0},
		// A serial with its top bit set needs a leading zero octet; one of
		// 120 octets (beyond RFC 5280's 20, which crypto/x509 tolerates)
		// makes an entry with a long-form length.
		{name: "P-256, serials that need care", key: pki.P256, entries: 50, listed: []*big.Int{big.NewInt(0x80), new(big.Int).Lsh(big.NewInt(1), 959)}},
		{name: "P-384", key: pki.P384, entries: 100, listed: serials(42)},
		{name: "P-521", key: pki.P521, entries: 100, listed: serials(42)},
		{name: "RSA 2048", key: pki.RSA(2048), entries: 100, listed: serials(42)},
		{name: "Ed25519", key: pki.Ed25519, entries: 100, listed: serials(42)},
		{name: "dates from 2050 are GeneralizedTime", key: pki.P256, entries: 10, listed: serials(42), now: time.Date(2055, 6, 7, 8, 9, 10, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := now
			if !tt.now.IsZero() {
				at = tt.now
			}
			ca := testpki.NewCA(t, pki.WithKey(tt.key), pki.WithValidity(at.Add(-time.Hour), at.Add(24*time.Hour)))
			data := testpki.LargeCRL(t, ca.Cert, ca.Key, tt.entries, testpki.LargeCRLOptions{Listed: tt.listed, Now: at})
			rl, err := x509.ParseRevocationList(data)
			if err != nil {
				t.Fatalf("crypto/x509: %v", err)
			}
			if err := rl.CheckSignatureFrom(ca.Cert); err != nil {
				t.Fatalf("signature: %v", err)
			}
			if got := len(rl.RevokedCertificateEntries); got != tt.entries {
				t.Fatalf("%d entries, want %d", got, tt.entries)
			}
			if !rl.ThisUpdate.Equal(at.Add(-time.Hour)) || !rl.NextUpdate.Equal(at.Add(7*24*time.Hour)) {
				t.Errorf("thisUpdate %v, nextUpdate %v; want an hour before and 7 days after %v", rl.ThisUpdate, rl.NextUpdate, at)
			}
			if rl.Number == nil || rl.Number.Int64() != 1 {
				t.Errorf("cRLNumber %v, want 1", rl.Number)
			}
			listed := map[string]bool{}
			for _, s := range tt.listed {
				listed[s.String()] = false
			}
			for i, e := range rl.RevokedCertificateEntries {
				if !e.RevocationTime.Equal(at.Add(-2 * time.Hour)) {
					t.Fatalf("entry %d: revocationDate %v, want two hours before %v", i, e.RevocationTime, at)
				}
				if _, ok := listed[e.SerialNumber.String()]; ok {
					listed[e.SerialNumber.String()] = true
					continue
				}
				if n := len(e.SerialNumber.Bytes()); e.SerialNumber.Sign() <= 0 || n < testpki.LargeCRLSerialMin || n > testpki.LargeCRLSerialMax {
					t.Fatalf("entry %d: serial %X, want positive and %d to %d octets", i, e.SerialNumber, testpki.LargeCRLSerialMin, testpki.LargeCRLSerialMax)
				}
			}
			for s, found := range listed {
				if !found {
					t.Errorf("listed serial %s is not in the CRL", s)
				}
			}
		})
	}
}

// TestLargeCRLSeeded checks that a fixed seed gives the same CRL: with
// Ed25519, whose signatures are deterministic, the same bytes.
func TestLargeCRLSeeded(t *testing.T) {
	ca := testpki.NewCA(t, pki.WithKey(pki.Ed25519))
	now := time.Now()
	gen := func() []byte {
		return testpki.LargeCRL(t, ca.Cert, ca.Key, 1000, testpki.LargeCRLOptions{Now: now, Rand: mrand.NewChaCha8([32]byte{7})})
	}
	if !bytes.Equal(gen(), gen()) {
		t.Error("two CRLs of the same seed differ")
	}
	other := testpki.LargeCRL(t, ca.Cert, ca.Key, 1000, testpki.LargeCRLOptions{Now: now})
	if bytes.Equal(gen(), other) {
		t.Error("a CRL without a seed equals the seeded one")
	}
}

// TestLargeCRLBadInput checks that impossible requests fail the test with a
// message saying why, instead of writing a broken CRL.
func TestLargeCRLBadInput(t *testing.T) {
	ca := testpki.NewCA(t)
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		key     crypto.Signer // nil: the CA's
		entries int
		listed  []*big.Int
		want    string
	}{
		{name: "more listed serials than entries", entries: 1, listed: serials(1, 2), want: "1 entries cannot hold 2 listed serials"},
		{name: "negative serial", entries: 5, listed: []*big.Int{big.NewInt(-1)}, want: "want a positive number"},
		{name: "zero serial", entries: 5, listed: []*big.Int{new(big.Int)}, want: "want a positive number"},
		{name: "nil serial", entries: 5, listed: []*big.Int{nil}, want: "want a positive number"},
		{name: "unsupported curve", key: p224, entries: 5, want: "unsupported ECDSA curve P-224"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := ca.Key
			if tt.key != nil {
				key = tt.key
			}
			rec := &fatalRecorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				testpki.LargeCRL(rec, ca.Cert, key, tt.entries, testpki.LargeCRLOptions{Listed: tt.listed})
			}()
			<-done
			if !strings.Contains(rec.msg, tt.want) {
				t.Errorf("LargeCRL failed with %q, want it to say %q", rec.msg, tt.want)
			}
		})
	}
}

// fatalRecorder is a testing.TB whose Fatal records the message and stops
// the goroutine, as testing's does, without failing the test.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatal(args ...any) {
	r.msg = fmt.Sprint(args...)
	runtime.Goexit()
}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func serials(ns ...int64) []*big.Int {
	out := make([]*big.Int, len(ns))
	for i, n := range ns {
		out[i] = big.NewInt(n)
	}
	return out
}
