package crl

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/mtlslb/mtlslb/internal/der"
)

// indexOf builds the index of revoked entries holding serials (DER INTEGER
// contents), behind one octet so that no entry starts at offset 0, as in a
// CRL. It returns the index, the DER and each serial's offset.
func indexOf(tb testing.TB, serials [][]byte) (serialIndex, []byte, []uint32, error) {
	tb.Helper()
	raw := []byte{0}
	offsets := make([]uint32, len(serials))
	for i, s := range serials {
		offsets[i] = uint32(len(raw))
		raw = der.Append(raw, der.Sequence, der.Append(nil, der.Integer, s))
	}
	ix, err := buildIndex(raw, offsets)
	return ix, raw, offsets, err
}

// intContents returns n's DER INTEGER contents (minimal two's complement).
func intContents(n *big.Int) []byte {
	switch n.Sign() {
	case 0:
		return []byte{0}
	case 1:
		b := n.Bytes()
		if b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return b
	}
	// Two's complement of a negative n: invert the bits of |n|-1.
	m := new(big.Int).Sub(new(big.Int).Neg(n), big.NewInt(1))
	b := m.Bytes()
	if len(b) == 0 || b[0]&0x80 != 0 {
		b = append([]byte{0}, b...)
	}
	for i := range b {
		b[i] = ^b[i]
	}
	return b
}

func hexInt(s string) *big.Int {
	n, ok := new(big.Int).SetString(s, 0)
	if !ok {
		panic(s)
	}
	return n
}

// TestIndexExact checks that the index tells apart serials whose keys are
// near each other: signs, lengths around the 20-octet key, and the long
// serials that only a hash keys.
func TestIndexExact(t *testing.T) {
	ones := strings.Repeat("ff", 20)
	listed := []*big.Int{
		big.NewInt(0), big.NewInt(1), big.NewInt(127), big.NewInt(128), big.NewInt(-1), big.NewInt(-128), big.NewInt(-129),
		hexInt("0x0102030405060708090a0b"),                                     // 11 octets: the slow key path
		hexInt("0x0102030405060708090a0b0c"),                                   // 12: the fast one
		hexInt("0x7f02030405060708090a0b0c0d0e0f1011121314"),                   // 20, positive
		new(big.Int).Neg(hexInt("0x7f02030405060708090a0b0c0d0e0f1011121314")), // 20, negative
		hexInt("0x" + ones),                                                    // 21 octets (00 ff..ff): a long serial
		hexInt("0x01" + ones + ones),                                           // 41 octets
	}
	absent := []*big.Int{
		big.NewInt(2), big.NewInt(-2), big.NewInt(255), big.NewInt(-127), big.NewInt(129),
		hexInt("0x02030405060708090a0b"), hexInt("0x0102030405060708090a0b0d"),
		hexInt("0x7f02030405060708090a0b0c0d0e0f1011121315"),
		new(big.Int).Neg(hexInt("0x7f02030405060708090a0b0c0d0e0f1011121315")),
		hexInt("0x" + ones[2:]), hexInt("0x" + ones + "00"), hexInt("0x02" + ones + ones),
		new(big.Int).Neg(hexInt("0x" + ones)),
	}
	serials := make([][]byte, len(listed))
	for i, n := range listed {
		serials[i] = intContents(n)
	}
	ix, raw, offsets, err := indexOf(t, serials)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range serials {
		if off, ok := ix.lookup(raw, s); !ok || off != offsets[i] {
			t.Errorf("serial %X (%v): offset %d, %v; want %d, true", s, listed[i], off, ok, offsets[i])
		}
	}
	for _, n := range absent {
		if off, ok := ix.lookup(raw, intContents(n)); ok {
			t.Errorf("serial %X (%v), not listed: found at %d", intContents(n), n, off)
		}
	}
	if _, ok := ix.lookup(raw, nil); ok {
		t.Error("an empty serial was found")
	}
}

func TestIndexDuplicate(t *testing.T) {
	long := bytes.Repeat([]byte{0x42}, 30)
	for _, tc := range []struct {
		name    string
		serials [][]byte
		want    string
	}{
		{"short", [][]byte{{1}, {0x05, 0x06}, {2}, {0x05, 0x06}}, "serial number 0506 is listed twice"},
		{"long", [][]byte{long, {1}, long}, fmt.Sprintf("serial number %X is listed twice", long)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, _, err := indexOf(t, tc.serials); err == nil || err.Error() != tc.want {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestIndexSpread checks the hash on serials that differ in few bits
// (sequential, and differing only in their top octets): Robin Hood runs
// must stay short, or every lookup reads many slots.
func TestIndexSpread(t *testing.T) {
	const n = 200_000
	for _, tc := range []struct {
		name   string
		serial func(i int) []byte
	}{
		{"sequential", func(i int) []byte { return intContents(big.NewInt(int64(i + 1))) }},
		{"high-octets", func(i int) []byte {
			s := make([]byte, 20)
			binary.BigEndian.PutUint32(s[:4], uint32(i+1)<<8)
			s[0] &= 0x7f
			s[19] = 1
			return s
		}},
		{"middle-octets", func(i int) []byte {
			s := bytes.Repeat([]byte{0x11}, 16)
			binary.BigEndian.PutUint32(s[6:10], uint32(i))
			return s
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			serials := make([][]byte, n)
			for i := range serials {
				serials[i] = tc.serial(i)
			}
			ix, raw, offsets, err := indexOf(t, serials)
			if err != nil {
				t.Fatal(err)
			}
			var sum, most uint64
			for i := range ix.slots {
				if s := &ix.slots[i]; s.ref != 0 {
					d := uint64(i) - ix.home(s)
					sum += d
					most = max(most, d)
				}
			}
			if mean := float64(sum) / n; mean > 3 || most > 64 {
				t.Errorf("displacement: mean %.2f, longest %d; want at most 3 and 64 (the hash clusters these serials)", mean, most)
			}
			for i, s := range serials {
				if off, ok := ix.lookup(raw, s); !ok || off != offsets[i] {
					t.Fatalf("serial %X: offset %d, %v; want %d", s, off, ok, offsets[i])
				}
			}
			if b := ix.bytesPerEntry(n); b >= 32 {
				t.Errorf("%.1f bytes per entry, want under 32", b)
			}
		})
	}
}

// TestIndexTail checks that an index whose last runs overflow its tail is
// built again with a longer tail, and that fill reports the overflow.
func TestIndexTail(t *testing.T) {
	serials := make([][]byte, 50_000)
	for i := range serials {
		serials[i] = intContents(big.NewInt(int64(i) * 7919))
	}
	t.Run("retry", func(t *testing.T) {
		defer func(old uint64) { indexTail = old }(indexTail)
		indexTail = 0
		ix, raw, offsets, err := indexOf(t, serials)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range serials {
			if off, ok := ix.lookup(raw, s); !ok || off != offsets[i] {
				t.Fatalf("serial %X: offset %d, %v; want %d", s, off, ok, offsets[i])
			}
		}
	})
	t.Run("overflow", func(t *testing.T) {
		ix, raw, offsets, err := indexOf(t, serials[:11])
		if err != nil {
			t.Fatal(err)
		}
		full := serialIndex{slots: make([]slot, 10), homes: 10, seed: ix.seed, mix: ix.mix}
		if err := full.fill(raw, offsets); err != errTail {
			t.Errorf("11 entries in 10 slots: %v, want errTail", err)
		}
	})
}

// FuzzSerialIndex builds an index of the serials in the input and compares
// every lookup with a map: listed serials are found at their entry, and
// serials near them (one octet changed, one added or taken off) only when
// listed.
func FuzzSerialIndex(f *testing.F) {
	f.Add([]byte{1, 0x01, 2, 0x00, 0x80, 1, 0x80, 21, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add(bytes.Repeat([]byte{20, 0x7f, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19}, 3))
	f.Fuzz(func(t *testing.T, in []byte) {
		var serials [][]byte
		seen := map[string]int{}
		for len(in) > 0 {
			n := int(in[0]%40) + 1
			in = in[1:]
			if n > len(in) {
				break
			}
			s := in[:n:n]
			in = in[n:]
			if !der.ValidInteger(s) {
				continue
			}
			if _, dup := seen[string(s)]; dup {
				continue
			}
			seen[string(s)] = len(serials)
			serials = append(serials, s)
		}
		ix, raw, offsets, err := indexOf(t, serials)
		if err != nil {
			t.Fatal(err)
		}
		probe := func(s []byte) {
			off, ok := ix.lookup(raw, s)
			i, listed := seen[string(s)]
			if ok != listed || (listed && off != offsets[i]) {
				t.Fatalf("serial %X: offset %d, %v; listed %v", s, off, ok, listed)
			}
		}
		for _, s := range serials {
			probe(s)
			for _, v := range [][]byte{append([]byte{0}, s...), append([]byte{0xff}, s...), append(bytes.Clone(s), 1), s[1:]} {
				if len(v) > 0 && der.ValidInteger(v) {
					probe(v)
				}
			}
			w := bytes.Clone(s)
			w[len(w)-1] ^= 1
			if der.ValidInteger(w) {
				probe(w)
			}
		}
	})
}
