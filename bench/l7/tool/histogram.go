package main

import (
	"math/bits"
	"time"
)

// The histogram keeps latencies in log-linear buckets, as HdrHistogram does: values below 2^subBits
// nanoseconds exactly, larger ones with subBits-1 significant bits, so every bucket is at most 1/64 (1.6 %)
// of its value wide. A fixed array makes recording a few instructions with no allocation.
const (
	subBits    = 7
	subCount   = 1 << subBits // exact buckets for 0..127 ns
	halfCount  = subCount / 2 // buckets per power of two above that
	maxShift   = 40           // values up to 2^(40+7) ns (about 39 hours) are kept apart; more land in the last bucket
	numBuckets = subCount + maxShift*halfCount
)

// histogram counts latencies. The zero value is empty and ready; it is not safe for concurrent use (each
// load generator connection owns one, and they are merged at the end).
type histogram struct {
	counts [numBuckets]uint64
	total  uint64
	max    time.Duration
}

// bucketOf returns the bucket index of v nanoseconds.
func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(v) - subBits // >= 1: v has at least subBits+1 bits
	if shift > maxShift {
		return numBuckets - 1
	}
	mantissa := v >> uint(shift) // in [halfCount, subCount)
	return subCount + (shift-1)*halfCount + int(mantissa-halfCount)
}

// bucketRange returns the smallest and largest value of bucket i.
func bucketRange(i int) (lo, hi uint64) {
	if i < subCount {
		return uint64(i), uint64(i)
	}
	shift := (i-subCount)/halfCount + 1
	mantissa := uint64((i-subCount)%halfCount + halfCount)
	lo = mantissa << uint(shift)
	return lo, lo + (1 << uint(shift)) - 1
}

func (h *histogram) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))]++
	h.total++
	if d > h.max {
		h.max = d
	}
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	if o.max > h.max {
		h.max = o.max
	}
}

// quantile returns the latency below which a fraction q of the recorded values lie, as the midpoint of the
// bucket that holds it, never more than the largest value recorded. It returns 0 for an empty histogram.
func (h *histogram) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	// The rank of the value sought, 1-based: the ceiling of q*total, at least 1.
	rank := uint64(q * float64(h.total))
	if float64(rank) < q*float64(h.total) {
		rank++
	}
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := bucketRange(i)
			return min(time.Duration(lo+(hi-lo)/2), h.max)
		}
	}
	return h.max
}
