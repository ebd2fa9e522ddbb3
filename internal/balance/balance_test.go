package balance

import (
	"sync"
	"testing"
)

func TestRoundRobinVisitsEveryTargetEvenly(t *testing.T) {
	g := NewTargetGroup("app", []Target{{Addr: "a:1"}, {Addr: "b:1"}, {Addr: "c:1"}})
	const perWorker, workers = 300, 4
	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := map[string]int{}
			for range perWorker {
				local[g.Pick().Addr]++
			}
			mu.Lock()
			for k, v := range local {
				counts[k] += v
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, addr := range []string{"a:1", "b:1", "c:1"} {
		if got, want := counts[addr], perWorker*workers/3; got != want {
			t.Errorf("%s picked %d times, want %d", addr, got, want)
		}
	}
}

func TestEmptyGroupPicksNothing(t *testing.T) {
	if got := NewTargetGroup("none", nil).Pick(); got != nil {
		t.Fatalf("Pick on an empty group = %v, want nil", got)
	}
}

func BenchmarkPick(b *testing.B) {
	g := NewTargetGroup("app", []Target{{Addr: "a:1"}, {Addr: "b:1"}})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = g.Pick()
		}
	})
}
