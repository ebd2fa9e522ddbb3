package x509path

import (
	"crypto/x509"
	"testing"
)

// BenchmarkBuild measures the per-handshake cost: a leaf presented with its
// intermediate, building to a root anchor. "cached": a returning client, both
// signatures remembered by the Anchors; "new-leaf": a new client of a known
// intermediate, one signature verified; "uncached": the cache switched off,
// both verified.
func BenchmarkBuild(b *testing.B) {
	for _, kind := range []struct {
		name string
		opts []certOption
	}{
		{"ECDSA-P256", nil},
		{"RSA-2048", []certOption{withRSAKey(2048)}},
	} {
		root := newRoot(b, "Root", kind.opts...)
		inter := root.issue(b, "Inter", append([]certOption{asCA()}, kind.opts...)...)
		leaf := inter.issue(b, "Leaf", kind.opts...)
		intermediates := certs(inter)
		for _, mode := range []string{"cached", "new-leaf", "uncached"} {
			b.Run(kind.name+"/"+mode, func(b *testing.B) {
				anchors := NewAnchors(certs(root))
				if mode == "uncached" {
					anchors.sigs = nil
				}
				leafInfo, interInfo := newCertInfo(leaf.cert), newCertInfo(inter.cert)
				leafEdge := newSigKey(&leafInfo, &interInfo)
				b.ReportAllocs()
				for b.Loop() {
					paths, err := Build(leaf.cert, intermediates, anchors, Options{MaxDepth: 4})
					if err != nil || len(paths) != 1 {
						b.Fatalf("Build = %d paths, %v", len(paths), err)
					}
					if mode == "new-leaf" {
						// A client seen for the first time: only the
						// intermediate→root signature is remembered.
						anchors.sigs.mu.Lock()
						delete(anchors.sigs.verified, leafEdge)
						anchors.sigs.mu.Unlock()
					}
				}
			})
		}
	}
}

// BenchmarkBuildUntrusted measures a client chain that leads nowhere: the
// cost an unauthenticated client can impose per handshake.
func BenchmarkBuildUntrusted(b *testing.B) {
	root := newRoot(b, "Root")
	other := newRoot(b, "Other")
	inter := other.issue(b, "Inter", asCA())
	leaf := inter.issue(b, "Leaf")
	anchors := NewAnchors(certs(root))
	intermediates := []*x509.Certificate{inter.cert, other.cert}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Build(leaf.cert, intermediates, anchors, Options{MaxDepth: 4}); err == nil {
			b.Fatal("Build found a path")
		}
	}
}
