package balance

import (
	"fmt"
	"math"
	"net/url"
	"sync"
	"testing"
	"time"
)

func targets(t testing.TB, r *Registry, group string, weights ...int) []*Target {
	t.Helper()
	var out []*Target
	for i, w := range weights {
		id := fmt.Sprintf("127.0.0.1:%d", 8000+i)
		out = append(out, r.Target(group, id, &url.URL{Scheme: "http", Host: id}, w))
	}
	return out
}

func counts(g *Group, n int) map[*Target]int {
	c := map[*Target]int{}
	for range n {
		t, _ := g.Pick("")
		c[t]++
	}
	return c
}

func TestRoundRobinIsExactAndWeighted(t *testing.T) {
	r := NewRegistry(nil)
	ts := targets(t, r, "app", 1, 2, 1, 0)
	g := NewGroup(GroupConfig{Name: "app"}, ts)
	const rounds, workers = 250, 4
	var mu sync.Mutex
	got := map[*Target]int{}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			local := counts(g, rounds*4)
			mu.Lock()
			for k, v := range local {
				got[k] += v
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	total := rounds * 4 * workers
	for i, want := range []int{total / 4, total / 2, total / 4, 0} {
		if got[ts[i]] != want {
			t.Errorf("target %d (weight %d): %d picks, want exactly %d", i, ts[i].Weight, got[ts[i]], want)
		}
	}
}

func TestSmoothSequenceSpreadsTurns(t *testing.T) {
	r := NewRegistry(nil)
	ts := targets(t, r, "app", 5, 1, 1)
	seq := smoothSequence(ts)
	if len(seq) != 7 {
		t.Fatalf("sequence %v, want 7 turns", seq)
	}
	// nginx's smooth WRR never gives the heavy target more than three turns in a row for 5:1:1.
	run, worst := 0, 0
	for _, s := range seq {
		if s == 0 {
			run++
			worst = max(worst, run)
		} else {
			run = 0
		}
	}
	if worst > 3 {
		t.Errorf("sequence %v gives target 0 %d turns in a row", seq, worst)
	}
}

func TestWeightedRandomDistribution(t *testing.T) {
	r := NewRegistry(nil)
	ts := targets(t, r, "app", 1, 3, 6)
	g := NewGroup(GroupConfig{Name: "app", Algorithm: WeightedRandom}, ts)
	const n = 20000
	got := counts(g, n)
	// Chi-square with 2 degrees of freedom: 13.8 is the 0.999 quantile, so a correct picker fails 1 in 1000 runs.
	chi := 0.0
	for _, tg := range ts {
		exp := float64(n) * float64(tg.Weight) / 10
		d := float64(got[tg]) - exp
		chi += d * d / exp
	}
	if chi > 13.8 {
		t.Errorf("weighted random picks %v for weights 1:3:6 (chi-square %.1f > 13.8)", []int{got[ts[0]], got[ts[1]], got[ts[2]]}, chi)
	}
}

func TestLeastOutstandingPrefersIdleTargets(t *testing.T) {
	r := NewRegistry(nil)
	ts := targets(t, r, "app", 1, 1, 1)
	g := NewGroup(GroupConfig{Name: "app", Algorithm: LeastOutstanding}, ts)
	ts[0].Begin()
	ts[0].Begin()
	ts[1].Begin()
	for range 10 {
		if p, _ := g.Pick(""); p != ts[2] {
			t.Fatalf("picked %s with %d outstanding; want the idle %s", p.ID, p.Outstanding(), ts[2].ID)
		}
	}
	// Equal load: ties rotate instead of piling onto the first.
	ts[2].Begin()
	ts[2].Begin()
	ts[1].Begin()
	got := counts(g, 300)
	for _, tg := range ts {
		if got[tg] != 100 {
			t.Errorf("%s: %d of 300 picks with equal load, want 100", tg.ID, got[tg])
		}
	}
}

func TestHealthFilteringFollowsNewStates(t *testing.T) {
	r := NewRegistry(nil)
	ts := targets(t, r, "app", 1, 1, 1)
	var mu sync.Mutex
	healthy := []int{0, 2}
	g := NewGroup(GroupConfig{Name: "app", Healthy: func() []int { mu.Lock(); defer mu.Unlock(); return healthy }}, ts)
	got := counts(g, 100)
	if got[ts[1]] != 0 || got[ts[0]] != 50 || got[ts[2]] != 50 {
		t.Fatalf("with target 1 unhealthy: %d/%d/%d picks", got[ts[0]], got[ts[1]], got[ts[2]])
	}
	mu.Lock()
	healthy = []int{1}
	mu.Unlock()
	got = counts(g, 10)
	if got[ts[1]] != 10 {
		t.Fatalf("after the health change: %d of 10 picks went to the only healthy target", got[ts[1]])
	}
}

func TestStickyCookieChoosesItsTarget(t *testing.T) {
	r := NewRegistry(nil)
	ts := targets(t, r, "app", 1, 1, 1)
	healthy := []int{0, 1, 2}
	g := NewGroup(GroupConfig{Name: "app", Healthy: func() []int { return healthy }}, ts)
	for range 5 {
		if p, stuck := g.Pick(ts[1].Cookie); p != ts[1] || !stuck {
			t.Fatalf("Pick(cookie of %s) = %s, stuck %v", ts[1].ID, p.ID, stuck)
		}
	}
	if _, stuck := g.Pick("forged-or-stale"); stuck {
		t.Error("an unknown cookie stuck")
	}
	healthy = []int{0, 2}
	if p, stuck := g.Pick(ts[1].Cookie); stuck || p == ts[1] {
		t.Errorf("the cookie of an unhealthy target still chose it")
	}
	if ts[0].Cookie == ts[1].Cookie || len(ts[0].Cookie) != 24 {
		t.Errorf("cookies %q %q must differ and be 24 hex digits", ts[0].Cookie, ts[1].Cookie)
	}
	if other := NewRegistry(nil).Target("app", ts[0].ID, ts[0].URL, 1); other.Cookie != ts[0].Cookie {
		t.Error("a target's cookie must survive a restart")
	}
}

func TestSlowStartRampsLinearly(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	r := NewRegistry(clock)
	old := targets(t, r, "app", 1)[0]
	old.started.Store(now.Add(-time.Hour).UnixNano())
	now = now.Add(time.Second)
	fresh := r.Target("app", "127.0.0.1:9", &url.URL{Scheme: "http", Host: "127.0.0.1:9"}, 1)
	g := NewGroup(GroupConfig{Name: "app", SlowStart: 100 * time.Second, Now: clock}, []*Target{old, fresh})
	share := func() float64 {
		c := counts(g, 20000)
		return float64(c[fresh]) / float64(c[fresh]+c[old])
	}
	now = now.Add(49 * time.Second) // fresh is at half of its ramp: it takes turns with probability 1/2
	if s := share(); math.Abs(s-1.0/3) > 0.03 {
		t.Errorf("half-way through slow start the new target got %.2f of requests, want about 1/3", s)
	}
	now = now.Add(60 * time.Second)
	if s := share(); math.Abs(s-0.5) > 0.01 {
		t.Errorf("after slow start the new target got %.2f of requests, want 1/2", s)
	}
}

func TestRetainDrainsRemovedTargets(t *testing.T) {
	now := time.Unix(1000, 0)
	r := NewRegistry(func() time.Time { return now })
	ts := targets(t, r, "app", 1, 1)
	delay := func(string) time.Duration { return 30 * time.Second }
	done, next := r.Retain(map[string][]*Target{"app": {ts[0]}}, delay)
	if len(done) != 0 || !next.Equal(now.Add(30*time.Second)) {
		t.Fatalf("Retain = %v, %v; want nothing done yet and a wake-up in 30s", done, next)
	}
	if until, ok := ts[1].Draining(); !ok || !until.Equal(now.Add(30*time.Second)) {
		t.Fatalf("removed target: draining %v until %v", ok, until)
	}
	if d := r.DrainingTargets("app"); len(d) != 1 || d[0] != ts[1] {
		t.Fatalf("DrainingTargets = %v", d)
	}
	now = now.Add(31 * time.Second)
	done, next = r.Retain(map[string][]*Target{"app": {ts[0]}}, delay)
	if len(done) != 1 || done[0].Target != ts[1] || !next.IsZero() {
		t.Fatalf("after the delay Retain = %v, %v", done, next)
	}
	// Registering it again makes a fresh target: slow start and counters start over.
	again := r.Target("app", ts[1].ID, ts[1].URL, 1)
	if again == ts[1] {
		t.Fatal("a forgotten target came back as the same object")
	}
}

func TestRegisteringADrainingTargetAgainStopsTheDrain(t *testing.T) {
	r := NewRegistry(nil)
	ts := targets(t, r, "app", 1, 1)
	r.Retain(map[string][]*Target{"app": {ts[0]}}, func(string) time.Duration { return time.Hour })
	back := r.Target("app", ts[1].ID, ts[1].URL, 1)
	if back != ts[1] {
		t.Fatal("re-registering a draining target must keep its outstanding count")
	}
	if _, draining := back.Draining(); draining {
		t.Error("still draining after registering again")
	}
}

func TestEmptyAndZeroWeightGroupsPickNothing(t *testing.T) {
	r := NewRegistry(nil)
	for _, alg := range []Algorithm{RoundRobin, LeastOutstanding, WeightedRandom} {
		if p, _ := NewGroup(GroupConfig{Algorithm: alg}, nil).Pick(""); p != nil {
			t.Errorf("%s: empty group picked %v", alg, p)
		}
		if p, _ := NewGroup(GroupConfig{Algorithm: alg}, targets(t, r, "z", 0, 0)).Pick(""); p != nil {
			t.Errorf("%s: all-zero weights picked %v", alg, p)
		}
	}
}

func TestWeightedChoice(t *testing.T) {
	w := []int{90, 10, 0}
	c := make([]int, 3)
	for range 10000 {
		c[WeightedChoice(w, 100)]++
	}
	if c[2] != 0 || c[1] < 800 || c[1] > 1200 {
		t.Errorf("WeightedChoice(90/10/0) = %v", c)
	}
}

func TestParseAlgorithm(t *testing.T) {
	for in, want := range map[string]Algorithm{"": RoundRobin, "round_robin": RoundRobin,
		"least_outstanding_requests": LeastOutstanding, "least_connections": LeastOutstanding, "weighted_random": WeightedRandom} {
		if got, err := ParseAlgorithm(in); err != nil || got != want {
			t.Errorf("ParseAlgorithm(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseAlgorithm("fastest"); err == nil {
		t.Error("ParseAlgorithm accepted an unknown name")
	}
}

func BenchmarkPick(b *testing.B) {
	r := NewRegistry(nil)
	ts := targets(b, r, "app", 1, 2, 3, 1, 1, 1, 1, 1)
	healthy := []int{0, 1, 2, 3, 4, 5, 6, 7}
	for _, alg := range []Algorithm{RoundRobin, LeastOutstanding, WeightedRandom} {
		g := NewGroup(GroupConfig{Algorithm: alg, Healthy: func() []int { return healthy }, SlowStart: time.Minute}, ts)
		b.Run(alg.String(), func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					t, _ := g.Pick("")
					t.Begin()
					t.End()
				}
			})
		})
	}
}
