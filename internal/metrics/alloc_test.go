//go:build !race

// The race detector allocates on its own account, so allocation counts are
// only meaningful without it.

package metrics

import "testing"

func TestHotPathDoesNotAllocate(t *testing.T) {
	for _, hp := range hotPath() {
		t.Run(hp.name, func(t *testing.T) {
			l := New().Listener(addrA)
			hp.call(l) // a first-use code is resolved once, then never again
			if allocs := testing.AllocsPerRun(100, func() { hp.call(l) }); allocs != 0 {
				t.Errorf("%s allocates %v times per call, want 0", hp.name, allocs)
			}
		})
	}
}

func TestLayer4HotPathDoesNotAllocate(t *testing.T) {
	for _, hp := range layer4HotPath() {
		for _, tls := range []bool{false, true} {
			name := hp.name + "/tcp"
			if tls {
				name = hp.name + "/tls"
			}
			t.Run(name, func(t *testing.T) {
				l := New().Layer4Listener(addrA, tls)
				if allocs := testing.AllocsPerRun(100, func() { hp.call(l) }); allocs != 0 {
					t.Errorf("%s allocates %v times per call, want 0", name, allocs)
				}
			})
		}
	}
}
