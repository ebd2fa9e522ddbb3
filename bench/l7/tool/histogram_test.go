package main

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketBounds(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 129, 255, 256, 1000, 123456, 1 << 30, 1<<46 + 12345} {
		i := bucketOf(v)
		lo, hi := bucketRange(i)
		if v < lo || v > hi {
			t.Errorf("value %d in bucket %d = [%d, %d]", v, i, lo, hi)
		}
		if v >= subCount && float64(hi-lo+1)/float64(lo) > 1.0/float64(halfCount)+1e-9 {
			t.Errorf("bucket %d = [%d, %d] wider than 1/%d of its value", i, lo, hi, halfCount)
		}
	}
	if i := bucketOf(^uint64(0)); i != numBuckets-1 {
		t.Errorf("largest value in bucket %d, want the last, %d", i, numBuckets-1)
	}
}

func TestQuantile(t *testing.T) {
	tests := []struct {
		name   string
		values []time.Duration
		q      float64
		want   time.Duration
	}{
		{name: "empty", q: 0.5, want: 0},
		{name: "one value", values: []time.Duration{100 * time.Microsecond}, q: 0.99, want: 100 * time.Microsecond},
		{name: "median of 1..100 ms", values: series(100, time.Millisecond), q: 0.5, want: 50 * time.Millisecond},
		{name: "p99 of 1..100 ms", values: series(100, time.Millisecond), q: 0.99, want: 99 * time.Millisecond},
		{name: "max", values: series(100, time.Millisecond), q: 1, want: 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h histogram
			for _, v := range tt.values {
				h.record(v)
			}
			got := h.quantile(tt.q)
			if diff := got - tt.want; diff < -tt.want/64 || diff > tt.want/64 {
				t.Errorf("quantile(%v) = %v, want %v within 1/64", tt.q, got, tt.want)
			}
		})
	}
}

// TestQuantileMatchesSort checks the histogram against exact quantiles of random latencies, merged from two
// histograms as the load generator does.
func TestQuantileMatchesSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var a, b histogram
	var all []time.Duration
	for i := range 100000 {
		v := time.Duration(rng.ExpFloat64() * float64(300*time.Microsecond))
		all = append(all, v)
		if i%2 == 0 {
			a.record(v)
		} else {
			b.record(v)
		}
	}
	a.merge(&b)
	slices.Sort(all)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := all[int(q*float64(len(all)))-1]
		got := a.quantile(q)
		if diff := got - exact; diff < -exact/50 || diff > exact/50 {
			t.Errorf("quantile(%v) = %v, exact %v", q, got, exact)
		}
	}
	if a.max != all[len(all)-1] {
		t.Errorf("max = %v, want %v", a.max, all[len(all)-1])
	}
}

func series(n int, step time.Duration) []time.Duration {
	s := make([]time.Duration, n)
	for i := range s {
		s[i] = time.Duration(i+1) * step
	}
	return s
}
