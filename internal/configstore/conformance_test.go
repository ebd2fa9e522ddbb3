package configstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// waitLimit bounds every wait for a watch event; it is a failure deadline, never
// a synchronisation sleep.
const waitLimit = 10 * time.Second

func TestConformanceMemory(t *testing.T) {
	runConformance(t, func(t testing.TB) Store { return NewMemory() }, true)
}

func TestConformanceBolt(t *testing.T) {
	runConformance(t, func(t testing.TB) Store { return openTestBolt(t, filepath.Join(t.TempDir(), "store.db")) }, true)
}

func TestConformanceFile(t *testing.T) {
	runConformance(t, func(t testing.TB) Store {
		t.Helper()
		path := filepath.Join(t.TempDir(), "lb.yaml")
		writeFile(t, path, "listeners: []\n")
		f, err := OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}, false)
}

// runConformance checks the Store contract. Stores that are not writable (File)
// run the read-only subset and must refuse every write with ErrReadOnly.
func runConformance(t *testing.T, open func(testing.TB) Store, writable bool) {
	t.Run("GetMissing", func(t *testing.T) {
		s := open(t)
		_, wantRev, err := s.Range(t.Context(), "")
		if err != nil {
			t.Fatal(err)
		}
		kv, ok, rev, err := s.Get(t.Context(), "no/such/key")
		if err != nil || ok || rev != wantRev || kv.Key != "" {
			t.Fatalf("Get(missing) = %+v, %v, %d, %v; want absent at revision %d", kv, ok, rev, err, wantRev)
		}
	})
	t.Run("Close", func(t *testing.T) { testClose(t, open(t)) })
	t.Run("BlobErrors", func(t *testing.T) { testBlobErrors(t, open(t)) })
	if !writable {
		t.Run("ReadOnly", func(t *testing.T) { testReadOnly(t, open(t)) })
		t.Run("CollectNothing", func(t *testing.T) {
			if res, err := open(t).CollectBlobs(t.Context(), at(0), 0); err != nil || res != (BlobCollection{}) {
				t.Errorf("CollectBlobs = %+v, %v; want nothing collected and no error", res, err)
			}
		})
		return
	}
	t.Run("Empty", func(t *testing.T) {
		s := open(t)
		kvs, rev, err := s.Range(t.Context(), "")
		if err != nil || len(kvs) != 0 || rev != 0 {
			t.Fatalf("Range on a new store = %v, %d, %v; want nothing at revision 0", kvs, rev, err)
		}
	})
	t.Run("GetAndRange", func(t *testing.T) { testGetAndRange(t, open(t)) })
	t.Run("RevisionPerTxn", func(t *testing.T) { testRevisionPerTxn(t, open(t)) })
	t.Run("Conditions", func(t *testing.T) { testConditions(t, open(t)) })
	t.Run("InvalidTxn", func(t *testing.T) { testInvalidTxn(t, open(t)) })
	t.Run("WatchListThenWatch", func(t *testing.T) { testWatchListThenWatch(t, open(t)) })
	t.Run("WatchConcurrentWriter", func(t *testing.T) { testWatchConcurrentWriter(t, open(t)) })
	t.Run("WatchCancel", func(t *testing.T) { testWatchCancel(t, open(t)) })
	t.Run("ConcurrentCompareAndSwap", func(t *testing.T) { testConcurrentCAS(t, open(t)) })
	t.Run("Blobs", func(t *testing.T) { testBlobs(t, open(t)) })
	t.Run("LargeBlobs", func(t *testing.T) { testLargeBlobs(t, open(t)) })
	t.Run("CollectBlobs", func(t *testing.T) { testCollectBlobs(t, open) })
	t.Run("CollectStalledWriter", func(t *testing.T) { testCollectStalledWriter(t, open(t)) })
	t.Run("TxnNamesAbsentBlob", func(t *testing.T) { testTxnNamesAbsentBlob(t, open(t)) })
	t.Run("DeleteNamedBlob", func(t *testing.T) { testDeleteNamedBlob(t, open(t)) })
	t.Run("CollectConcurrent", func(t *testing.T) { testCollectConcurrent(t, open(t)) })
}

func testGetAndRange(t *testing.T, s Store) {
	ctx := t.Context()
	mustTxn(t, s, nil, put("a/2", "two"), put("a/1", "one"), put("b/1", "bee"))
	value := []byte("changed")
	rev := mustTxn(t, s, nil, Op{Key: "a/1", Value: value})
	value[0] = 'X' // the store must have kept its own copy

	kv, ok, gotRev, err := s.Get(ctx, "a/1")
	if err != nil || !ok || gotRev != rev {
		t.Fatalf("Get(a/1) = %v, %v, %v; want present at revision %d", ok, gotRev, err, rev)
	}
	want := KV{Key: "a/1", Value: []byte("changed"), CreateRevision: 1, ModRevision: 2}
	if diff := cmp.Diff(want, kv); diff != "" {
		t.Errorf("Get(a/1) (-want +got):\n%s", diff)
	}
	kv.Value[0] = 'Y' // nor may a reader reach into the store
	if again, _, _, _ := s.Get(ctx, "a/1"); string(again.Value) != "changed" {
		t.Errorf("Get(a/1) after mutating a returned value = %q", again.Value)
	}

	tests := []struct {
		name   string
		prefix string
		keys   []string
	}{
		{name: "prefix", prefix: "a/", keys: []string{"a/1", "a/2"}},
		{name: "all", prefix: "", keys: []string{"a/1", "a/2", "b/1"}},
		{name: "exact key", prefix: "b/1", keys: []string{"b/1"}},
		{name: "none", prefix: "c/", keys: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kvs, gotRev, err := s.Range(ctx, tc.prefix)
			if err != nil || gotRev != rev {
				t.Fatalf("Range(%q) revision %d, %v; want %d", tc.prefix, gotRev, err, rev)
			}
			var keys []string
			for _, kv := range kvs {
				keys = append(keys, kv.Key)
			}
			if diff := cmp.Diff(tc.keys, keys); diff != "" {
				t.Errorf("Range(%q) keys (-want +got):\n%s", tc.prefix, diff)
			}
		})
	}

	rev = mustTxn(t, s, nil, Op{Key: "a/2", Delete: true})
	kvs, gotRev, err := s.Range(ctx, "a/")
	if err != nil || gotRev != rev || len(kvs) != 1 || kvs[0].Key != "a/1" {
		t.Fatalf("Range(a/) after delete = %+v at %d, %v; want only a/1 at %d", kvs, gotRev, err, rev)
	}
	// A key deleted and put again is a new key: its CreateRevision starts over.
	rev = mustTxn(t, s, nil, put("a/2", "again"))
	if kv, _, _, _ := s.Get(ctx, "a/2"); kv.CreateRevision != rev || kv.ModRevision != rev {
		t.Errorf("re-created a/2 has revisions %d/%d, want %d/%d", kv.CreateRevision, kv.ModRevision, rev, rev)
	}
	// An empty value is a value.
	mustTxn(t, s, nil, Op{Key: "empty"})
	if kv, ok, _, _ := s.Get(t.Context(), "empty"); !ok || len(kv.Value) != 0 {
		t.Errorf("Get(empty) = %+v, %v; want present and empty", kv, ok)
	}
}

func testRevisionPerTxn(t *testing.T, s Store) {
	tests := []struct {
		name string
		ops  []Op
	}{
		{name: "one put", ops: []Op{put("k/1", "v")}},
		{name: "several puts", ops: []Op{put("k/2", "v"), put("k/3", "v"), put("k/4", "v")}},
		{name: "overwrite", ops: []Op{put("k/1", "w")}},
		{name: "delete", ops: []Op{{Key: "k/2", Delete: true}}},
		{name: "delete absent key", ops: []Op{{Key: "k/absent", Delete: true}}},
		{name: "put and delete", ops: []Op{put("k/5", "v"), {Key: "k/3", Delete: true}}},
	}
	var prev Revision
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rev, err := s.Txn(t.Context(), nil, tc.ops)
			if err != nil {
				t.Fatal(err)
			}
			if rev != prev+1 {
				t.Errorf("Txn returned revision %d, want %d", rev, prev+1)
			}
			_, now, err := s.Range(t.Context(), "")
			if err != nil || now != rev {
				t.Errorf("Range after Txn: revision %d, %v; want %d", now, err, rev)
			}
			prev = rev
		})
	}
}

func testConditions(t *testing.T, s Store) {
	ctx := t.Context()
	mustTxn(t, s, nil, put("x", "1")) // rev 1
	mustTxn(t, s, nil, put("x", "2")) // rev 2: x mod 2, create 1
	mustTxn(t, s, nil, put("y", "1")) // rev 3
	tests := []struct {
		name     string
		conds    []Cond
		conflict *ConflictError // nil: the txn must succeed
	}{
		{name: "must not exist but exists", conds: []Cond{{Key: "x", ModRevision: 0}}, conflict: &ConflictError{Key: "x", Want: 0, Got: 2}},
		{name: "stale mod revision", conds: []Cond{{Key: "x", ModRevision: 1}}, conflict: &ConflictError{Key: "x", Want: 1, Got: 2}},
		{name: "revision of an absent key", conds: []Cond{{Key: "nope", ModRevision: 2}}, conflict: &ConflictError{Key: "nope", Want: 2, Got: 0}},
		{name: "second condition fails", conds: []Cond{{Key: "x", ModRevision: 2}, {Key: "y", ModRevision: 1}}, conflict: &ConflictError{Key: "y", Want: 1, Got: 3}},
		{name: "condition on a written key holds", conds: []Cond{{Key: "x", ModRevision: 2}, {Key: "y", ModRevision: 3}, {Key: "new", ModRevision: 0}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, beforeRev, err := s.Range(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			// Two writes, so a conflict must also leave the first one unapplied.
			rev, err := s.Txn(ctx, tc.conds, []Op{put("new", tc.name), put("x", tc.name)})
			after, afterRev, rangeErr := s.Range(ctx, "")
			if rangeErr != nil {
				t.Fatal(rangeErr)
			}
			if tc.conflict == nil {
				if err != nil || rev != beforeRev+1 {
					t.Fatalf("Txn = %d, %v; want revision %d", rev, err, beforeRev+1)
				}
				return
			}
			var ce *ConflictError
			if !errors.Is(err, ErrConflict) || !errors.As(err, &ce) {
				t.Fatalf("Txn error = %v; want a *ConflictError wrapping ErrConflict", err)
			}
			if diff := cmp.Diff(tc.conflict, ce); diff != "" {
				t.Errorf("ConflictError (-want +got):\n%s", diff)
			}
			if afterRev != beforeRev {
				t.Errorf("revision moved from %d to %d on a conflict", beforeRev, afterRev)
			}
			if diff := cmp.Diff(before, after); diff != "" {
				t.Errorf("a conflicting Txn wrote (-before +after):\n%s", diff)
			}
		})
	}
}

func testInvalidTxn(t *testing.T, s Store) {
	mustTxn(t, s, nil, put("k", "v"))
	tests := []struct {
		name  string
		conds []Cond
		ops   []Op
	}{
		{name: "no operations", conds: []Cond{{Key: "k", ModRevision: 1}}},
		{name: "empty key", ops: []Op{put("", "v")}},
		{name: "key too long", ops: []Op{put(string(bytes.Repeat([]byte("k"), MaxKeyBytes+1)), "v")}},
		{name: "key not UTF-8", ops: []Op{put("\xff", "v")}},
		{name: "same key twice", ops: []Op{put("a", "1"), {Key: "a", Delete: true}}},
		{name: "negative condition", conds: []Cond{{Key: "k", ModRevision: -1}}, ops: []Op{put("a", "1")}},
		{name: "empty condition key", conds: []Cond{{Key: ""}}, ops: []Op{put("a", "1")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rev, err := s.Txn(t.Context(), tc.conds, tc.ops)
			if err == nil || errors.Is(err, ErrConflict) {
				t.Fatalf("Txn = %d, %v; want a validation error", rev, err)
			}
			if _, now, _ := s.Range(t.Context(), ""); now != 1 {
				t.Errorf("revision is %d after an invalid Txn, want 1", now)
			}
		})
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Txn(ctx, nil, []Op{put("a", "1")}); !errors.Is(err, context.Canceled) {
		t.Errorf("Txn with a cancelled context = %v, want context.Canceled", err)
	}
}

// testWatchListThenWatch is the classic race: revisions committed between a
// Range and the Watch that follows it must still be delivered.
func testWatchListThenWatch(t *testing.T, s Store) {
	mustTxn(t, s, nil, put("w/a", "1"))
	mustTxn(t, s, nil, put("other", "1"))
	_, listed, err := s.Range(t.Context(), "w/")
	if err != nil {
		t.Fatal(err)
	}
	// Committed after the list, before the watch.
	mustTxn(t, s, nil, put("w/a", "2"), put("w/b", "1"))
	mustTxn(t, s, nil, put("other", "2")) // outside the prefix: no slice for it
	mustTxn(t, s, nil, Op{Key: "w/b", Delete: true})

	ch, err := s.Watch(t.Context(), "w/", listed)
	if err != nil {
		t.Fatal(err)
	}
	// Committed after the watch started.
	mustTxn(t, s, nil, put("w/c", "1"))

	want := [][]Event{
		{{KV: KV{Key: "w/a", Value: []byte("2"), CreateRevision: 1, ModRevision: 3}}, {KV: KV{Key: "w/b", Value: []byte("1"), CreateRevision: 3, ModRevision: 3}}},
		{{KV: KV{Key: "w/b", Value: []byte("1"), CreateRevision: 3, ModRevision: 5}, Deleted: true}},
		{{KV: KV{Key: "w/c", Value: []byte("1"), CreateRevision: 6, ModRevision: 6}}},
	}
	for i, w := range want {
		got := receive(t, ch)
		if diff := cmp.Diff(w, got); diff != "" {
			t.Errorf("watch slice %d (-want +got):\n%s", i, diff)
		}
	}

	// From revision 0 the watch replays the whole history of a new store.
	all, err := s.Watch(t.Context(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for rev := Revision(1); rev <= 6; rev++ {
		if got := receive(t, all); got[0].KV.ModRevision != rev {
			t.Fatalf("watch from 0: got revision %d, want %d", got[0].KV.ModRevision, rev)
		}
	}
}

func testWatchConcurrentWriter(t *testing.T, s Store) {
	const writes = 150
	ch, err := s.Watch(t.Context(), "c/", 0)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		for i := 1; i <= writes; i++ {
			if _, err := s.Txn(context.Background(), nil, []Op{put("c/"+strconv.Itoa(i%7), strconv.Itoa(i))}); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for rev := Revision(1); rev <= writes; rev++ {
		events := receive(t, ch)
		if len(events) != 1 || events[0].KV.ModRevision != rev || string(events[0].KV.Value) != strconv.Itoa(int(rev)) {
			t.Fatalf("watch delivered %+v, want revision %d", events, rev)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func testWatchCancel(t *testing.T, s Store) {
	ctx, cancel := context.WithCancel(t.Context())
	ch, err := s.Watch(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	mustTxn(t, s, nil, put("k", "v"))
	cancel()
	waitDrain(t, ch, func([]Event) {})
	if _, err := s.Watch(t.Context(), "", -1); err == nil {
		t.Error("Watch from revision -1 succeeded")
	}
}

// testConcurrentCAS runs read-modify-write increments from several goroutines:
// with Txn serialised and conditions checked inside it, no update is lost.
func testConcurrentCAS(t *testing.T, s Store) {
	const workers, increments = 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- increment(s, "counter", increments)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	kv, _, rev, err := s.Get(t.Context(), "counter")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(kv.Value); got != strconv.Itoa(workers*increments) {
		t.Errorf("counter = %s, want %d", got, workers*increments)
	}
	if rev != workers*increments {
		t.Errorf("revision = %d, want %d (one per successful increment)", rev, workers*increments)
	}
}

func increment(s Store, key string, times int) error {
	ctx := context.Background()
	for done, attempts := 0, 0; done < times; attempts++ {
		if attempts > 100*times {
			return fmt.Errorf("no progress after %d attempts", attempts)
		}
		kv, _, _, err := s.Get(ctx, key)
		if err != nil {
			return err
		}
		n := 0
		if len(kv.Value) > 0 {
			if n, err = strconv.Atoi(string(kv.Value)); err != nil {
				return err
			}
		}
		_, err = s.Txn(ctx, []Cond{{Key: key, ModRevision: kv.ModRevision}}, []Op{put(key, strconv.Itoa(n+1))})
		switch {
		case errors.Is(err, ErrConflict):
		case err != nil:
			return err
		default:
			done++
		}
	}
	return nil
}

func testBlobs(t *testing.T, s Store) {
	ctx := t.Context()
	tests := []struct {
		name string
		data []byte
	}{
		{name: "empty", data: []byte{}},
		{name: "small", data: []byte("-----BEGIN CERTIFICATE-----\n")},
		{name: "binary", data: bytes.Repeat([]byte{0, 1, 2, 0xff}, 1000)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, before, _ := s.Range(ctx, "")
			digest, err := s.PutBlob(ctx, tc.data)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(tc.data)
			if want := "sha256:" + hex.EncodeToString(sum[:]); digest != want {
				t.Fatalf("digest %s, want %s", digest, want)
			}
			again, err := s.PutBlob(ctx, tc.data)
			if err != nil || again != digest {
				t.Fatalf("second PutBlob = %s, %v; want %s", again, err, digest)
			}
			if _, after, _ := s.Range(ctx, ""); after != before {
				t.Errorf("PutBlob moved the revision from %d to %d", before, after)
			}
			got, err := s.GetBlob(ctx, digest)
			if err != nil || !bytes.Equal(got, tc.data) {
				t.Fatalf("GetBlob = %d bytes, %v; want the %d bytes put", len(got), err, len(tc.data))
			}
			if err := s.DeleteBlob(ctx, digest); err != nil {
				t.Fatal(err)
			}
			if _, err := s.GetBlob(ctx, digest); !errors.Is(err, ErrBlobNotFound) {
				t.Errorf("GetBlob after DeleteBlob = %v, want ErrBlobNotFound", err)
			}
			if err := s.DeleteBlob(ctx, digest); !errors.Is(err, ErrBlobNotFound) {
				t.Errorf("second DeleteBlob = %v, want ErrBlobNotFound", err)
			}
		})
	}
}

func testLargeBlobs(t *testing.T, s Store) {
	ctx := t.Context()
	big := make([]byte, MaxBlobBytes+1)
	for i := 0; i < len(big); i += 4096 {
		big[i] = byte(i / 4096)
	}
	if _, err := s.PutBlob(ctx, big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("PutBlob(limit+1 bytes) = %v, want ErrTooLarge", err)
	}
	if _, err := s.Txn(ctx, nil, []Op{{Key: "huge", Value: big}}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Txn with a value of limit+1 bytes = %v, want ErrTooLarge", err)
	}
	atLimit := big[:MaxBlobBytes]
	digest, err := s.PutBlob(ctx, atLimit)
	if err != nil {
		t.Fatalf("PutBlob(%d bytes): %v", len(atLimit), err)
	}
	got, err := s.GetBlob(ctx, digest)
	if err != nil || !bytes.Equal(got, atLimit) {
		t.Fatalf("GetBlob of the 50 MiB blob: %d bytes, %v", len(got), err)
	}
}

// testBlobErrors holds for every store, writable or not.
func testBlobErrors(t *testing.T, s Store) {
	tests := []struct {
		name     string
		digest   string
		notFound bool
	}{
		{name: "absent", digest: blobDigest([]byte("never stored")), notFound: true},
		{name: "no algorithm", digest: hex.EncodeToString(make([]byte, 32))},
		{name: "other algorithm", digest: "sha512:" + hex.EncodeToString(make([]byte, 32))},
		{name: "short", digest: "sha256:abcd"},
		{name: "upper case", digest: "sha256:" + hex.EncodeToString([]byte("ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"))[:62] + "AB"},
		{name: "not hex", digest: "sha256:" + string(bytes.Repeat([]byte("g"), 64))},
		{name: "path traversal", digest: "../../etc/passwd"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.GetBlob(t.Context(), tc.digest)
			if err == nil || errors.Is(err, ErrBlobNotFound) != tc.notFound {
				t.Errorf("GetBlob(%q) = %v; want an error, ErrBlobNotFound: %v", tc.digest, err, tc.notFound)
			}
		})
	}
}

func testReadOnly(t *testing.T, s Store) {
	ctx := t.Context()
	before, rev, err := s.Range(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	writes := []struct {
		name  string
		write func() error
	}{
		{name: "Txn", write: func() error { _, err := s.Txn(ctx, nil, []Op{put("k", "v")}); return err }},
		{name: "Txn delete", write: func() error { _, err := s.Txn(ctx, nil, []Op{{Key: FileConfigKey, Delete: true}}); return err }},
		{name: "PutBlob", write: func() error { _, err := s.PutBlob(ctx, []byte("x")); return err }},
		{name: "DeleteBlob", write: func() error { return s.DeleteBlob(ctx, blobDigest([]byte("x"))) }},
	}
	for _, tc := range writes {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.write(); !errors.Is(err, ErrReadOnly) {
				t.Errorf("%s = %v, want ErrReadOnly", tc.name, err)
			}
		})
	}
	after, afterRev, err := s.Range(ctx, "")
	if err != nil || afterRev != rev {
		t.Fatalf("revision moved from %d to %d (%v) after refused writes", rev, afterRev, err)
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("refused writes changed the store (-before +after):\n%s", diff)
	}
	ch, err := s.Watch(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for range rev {
		receive(t, ch)
	}
}

func testClose(t *testing.T, s Store) {
	ctx := t.Context()
	ch, err := s.Watch(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The watch channel closes although its context is still live.
	waitDrain(t, ch, func([]Event) {})
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	calls := []struct {
		name string
		call func() error
	}{
		{name: "Get", call: func() error { _, _, _, err := s.Get(ctx, "k"); return err }},
		{name: "Range", call: func() error { _, _, err := s.Range(ctx, ""); return err }},
		{name: "Txn", call: func() error { _, err := s.Txn(ctx, nil, []Op{put("k", "v")}); return err }},
		{name: "Watch", call: func() error { _, err := s.Watch(ctx, "", 0); return err }},
		{name: "PutBlob", call: func() error { _, err := s.PutBlob(ctx, []byte("x")); return err }},
		{name: "GetBlob", call: func() error { _, err := s.GetBlob(ctx, blobDigest([]byte("x"))); return err }},
		{name: "DeleteBlob", call: func() error { return s.DeleteBlob(ctx, blobDigest([]byte("x"))) }},
		{name: "CollectBlobs", call: func() error { _, err := s.CollectBlobs(ctx, time.Now(), 0); return err }},
	}
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, ErrClosed) {
				t.Errorf("%s after Close = %v, want ErrClosed", tc.name, err)
			}
		})
	}
}

func put(key, value string) Op { return Op{Key: key, Value: []byte(value)} }

func mustTxn(t testing.TB, s Store, conds []Cond, ops ...Op) Revision {
	t.Helper()
	rev, err := s.Txn(t.Context(), conds, ops)
	if err != nil {
		t.Fatalf("Txn(%v): %v", ops, err)
	}
	return rev
}

// receive returns the next watch slice, failing if none arrives within waitLimit
// or the channel closes.
func receive(t testing.TB, ch <-chan []Event) []Event {
	t.Helper()
	select {
	case events, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return events
	case <-time.After(waitLimit):
		t.Fatal("no watch event within", waitLimit)
		return nil
	}
}

func openTestBolt(t testing.TB, path string) *Bolt {
	t.Helper()
	b, err := OpenBolt(path, BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
