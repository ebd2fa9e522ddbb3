package config

import (
	"testing"
	"time"
)

func FuzzSlow(f *testing.F) {
	f.Add(specExample(f))
	f.Add([]byte(minimalVerify))
	f.Add([]byte("a: &x [*x]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		d, _ := decode(data)
		t1 := time.Since(start)
		Parse(data, "/x")
		t2 := time.Since(start)
		if d != nil {
			SetDefaults(d)
			d.Normalized()
		}
		if el := time.Since(start); el > 500*time.Millisecond {
			t.Fatalf("slow %v (decode %v parse %v): %q", el, t1, t2, data)
		}
	})
}
