package crl

import (
	"bytes"
	"hash/maphash"
	mrand "math/rand/v2"
	"testing"
	"time"
)

// offsetIndex is the revocation index mtlslb had before serialIndex, kept as
// the baseline of BenchmarkScaleLookupIsolated: 8-byte slots (a power of
// two of them) holding an entry's offset in the DER and 32 bits of its
// serial's hash, so that a hit reads the serial in the DER to confirm it, a
// second trip to memory that depends on the first.
type offsetIndex struct {
	seed  maphash.Seed
	slots []uint64
	mask  uint64
}

func buildOffsetIndex(raw []byte, offsets []uint32) *offsetIndex {
	ix := &offsetIndex{seed: maphash.MakeSeed()}
	size := 1
	for size*3 < len(offsets)*4 {
		size <<= 1
	}
	ix.slots = make([]uint64, size)
	ix.mask = uint64(size - 1)
	for _, off := range offsets {
		h := maphash.Bytes(ix.seed, entrySerial(raw, off))
		i := h & ix.mask
		for ; ix.slots[i] != 0; i = (i + 1) & ix.mask {
		}
		ix.slots[i] = uint64(off)<<32 | h>>32
	}
	return ix
}

func (ix *offsetIndex) lookup(raw, serial []byte) (uint32, bool) {
	h := maphash.Bytes(ix.seed, serial)
	for i := h & ix.mask; ; i = (i + 1) & ix.mask {
		s := ix.slots[i]
		if s == 0 {
			return 0, false
		}
		if uint32(s) == uint32(h>>32) && bytes.Equal(entrySerial(raw, uint32(s>>32)), serial) {
			return uint32(s >> 32), true
		}
	}
}

// BenchmarkScaleLookupIsolated measures lookups one at a time, as a
// handshake makes them, on the 10x1M-10-issuers trust store: each lookup is
// timed alone (time.Now's ordered clock read keeps the CPU from overlapping
// it with the next, which BenchmarkScaleCheck's lookup loops let it do), and
// the clock's own cost is taken off. The index is compared, in the same
// rounds, with the previous design (offsetIndex: 8-byte slots pointing
// into the DER), so that the figures of one run on a shared machine can be
// compared with each other: *-ns metrics are nanoseconds per lookup.
func BenchmarkScaleLookupIsolated(b *testing.B) {
	ss := buildScaleSet(b, scaleLayouts[0], 10)
	base := map[*CRL]*offsetIndex{}
	for _, c := range ss.crls {
		var offs []uint32
		for off := range c.entries.offsets {
			offs = append(offs, off)
		}
		base[c] = buildOffsetIndex(c.raw, offs)
	}
	clock := clockCost()
	const block = 4096
	probes := map[bool][]probe{
		false: scaleProbes(ss.crls, false, 1<<16, mrand.NewChaCha8([32]byte{7})),
		true:  scaleProbes(ss.crls, true, 1<<16, mrand.NewChaCha8([32]byte{8})),
	}
	var sums [2][2]time.Duration // [baseline?][hit?]
	n := 0
	for round := 0; b.Loop(); round++ {
		for hi, hit := range []bool{false, true} {
			ps := probes[hit][(round*block)%(1<<16):][:block]
			for bi := range 2 {
				var total time.Duration
				for i := range ps {
					p := &ps[i]
					var ok bool
					t := time.Now()
					if bi == 0 {
						_, ok = p.crl.entries.lookup(p.crl.raw, p.serial)
					} else {
						_, ok = base[p.crl].lookup(p.crl.raw, p.serial)
					}
					total += time.Since(t)
					if ok != hit {
						b.Fatalf("lookup of %X: found %v, want %v", p.serial, ok, hit)
					}
				}
				sums[bi][hi] += total
			}
		}
		n += block
	}
	per := func(d time.Duration) float64 { return float64(d)/float64(n) - clock }
	b.ReportMetric(per(sums[0][0]), "miss-ns")
	b.ReportMetric(per(sums[0][1]), "hit-ns")
	b.ReportMetric(per(sums[1][0]), "offsets-miss-ns")
	b.ReportMetric(per(sums[1][1]), "offsets-hit-ns")
}

// clockCost returns the nanoseconds of a time.Now and time.Since pair.
func clockCost() float64 {
	const n = 100_000
	var total time.Duration
	for range n {
		t := time.Now()
		total += time.Since(t)
	}
	return float64(total) / n
}
