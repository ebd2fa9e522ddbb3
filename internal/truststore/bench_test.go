package truststore

import (
	"crypto/x509"
	"math/big"
	"testing"
)

// BenchmarkVerifyCertificates measures the handshake path: leaf →
// intermediate → root (ECDSA P-256), the intermediate's CRL with 1000
// entries in the store.
func BenchmarkVerifyCertificates(b *testing.B) {
	p := newChainPKI(b, nil)
	revoked := p.inter.issueLeaf(b, "revoked client")
	serials := make([]*big.Int, 0, 1000)
	for i := range 999 {
		serials = append(serials, big.NewInt(int64(1_000_000+i)))
	}
	serials = append(serials, revoked.SerialNumber)
	store := mustNew(b, p.config(p.inter.freshCRL(b, serials...)))
	stranger := newChainPKI(b, nil)

	cases := []struct {
		name  string
		chain []*x509.Certificate
		want  Status
	}{
		{"good", []*x509.Certificate{p.leaf, p.inter.cert}, StatusSuccess},
		{"revoked", []*x509.Certificate{revoked, p.inter.cert}, StatusClientCertCrlHit},
		{"untrusted", []*x509.Certificate{stranger.leaf, stranger.inter.cert}, StatusClientCertUntrusted},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			opts := VerifyOptions{Now: testNow}
			if r := store.VerifyCertificates(bc.chain, opts); r.Status != bc.want {
				b.Fatalf("got %v (%s), want %v", r.Status, r.Detail, bc.want)
			}
			b.ReportAllocs()
			for b.Loop() {
				store.VerifyCertificates(bc.chain, opts)
			}
		})
	}
}
