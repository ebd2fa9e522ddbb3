package configstore

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkBoltTxn measures one small fsync'd put, what an admin write costs.
func BenchmarkBoltTxn(b *testing.B) {
	s := openTestBolt(b, filepath.Join(b.TempDir(), "store.db"))
	value := make([]byte, 200)
	keys := benchKeys(1000)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Txn(b.Context(), nil, []Op{{Key: keys[i%len(keys)], Value: value}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBoltRange reads a snapshot of 1000 keys of 200 bytes, what a node does
// when it loads the configuration.
func BenchmarkBoltRange(b *testing.B) {
	s := openTestBolt(b, filepath.Join(b.TempDir(), "store.db"))
	value := make([]byte, 200)
	var ops []Op
	for _, k := range benchKeys(1000) {
		ops = append(ops, Op{Key: k, Value: value})
	}
	if _, err := s.Txn(b.Context(), nil, ops); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		kvs, _, err := s.Range(b.Context(), "trust-stores/")
		if err != nil || len(kvs) != 1000 {
			b.Fatal(len(kvs), err)
		}
	}
}

// BenchmarkPutBlob stores a new blob (a CA bundle or CRL) per iteration: 1 MiB,
// and the 50 MiB limit to show that memory stays about one copy of the blob.
func BenchmarkPutBlob(b *testing.B) {
	for _, size := range []int{1 << 20, MaxBlobBytes} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			s := openTestBolt(b, filepath.Join(b.TempDir(), "store.db"))
			data := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for i := uint64(0); b.Loop(); i++ {
				binary.BigEndian.PutUint64(data, i) // a new digest each time: a real write
				if _, err := s.PutBlob(b.Context(), data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGetBlob reads and verifies a 1 MiB blob.
func BenchmarkGetBlob(b *testing.B) {
	s := openTestBolt(b, filepath.Join(b.TempDir(), "store.db"))
	digest, err := s.PutBlob(b.Context(), make([]byte, 1<<20))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.GetBlob(b.Context(), digest); err != nil {
			b.Fatal(err)
		}
	}
}

func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("trust-stores/ts-%04d", i)
	}
	return keys
}
