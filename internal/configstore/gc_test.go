package configstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// gcEpoch and gcGrace are the clock of the collection tests: CollectBlobs takes
// the time as an argument, so no test waits.
var gcEpoch = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

const gcGrace = 5 * time.Minute

// at is gcEpoch plus n grace periods.
func at(n float64) time.Time { return gcEpoch.Add(time.Duration(n * float64(gcGrace))) }

// names is a value naming the blobs, as control stores a trust store.
func names(key string, digests ...string) Op {
	return Op{Key: key, Value: fmt.Appendf(nil, `{"name":%q,"blobs":%q}`, key, digests)}
}

func mustPutBlob(t testing.TB, s Store, data []byte) string {
	t.Helper()
	d, err := s.PutBlob(t.Context(), data)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func collect(t testing.TB, s Store, now time.Time) BlobCollection {
	t.Helper()
	res, err := s.CollectBlobs(t.Context(), now, gcGrace)
	if err != nil {
		t.Fatalf("CollectBlobs at %v: %v", now, err)
	}
	return res
}

// stored reports whether the blob is there, failing on any error but absence.
func stored(t testing.TB, s Store, digest string) bool {
	t.Helper()
	_, err := s.GetBlob(t.Context(), digest)
	switch {
	case err == nil:
		return true
	case errors.Is(err, ErrBlobNotFound):
		return false
	}
	t.Fatalf("GetBlob(%s): %v", digest, err)
	return false
}

// testCollectBlobs is the conformance suite's part on garbage collection: every
// writable store must collect exactly the same blobs at the same times.
func testCollectBlobs(t *testing.T, open func(testing.TB) Store) {
	a, b := []byte("CA bundle A"), []byte("CRL B, somewhat longer")
	da, db := blobDigest(a), blobDigest(b)
	type pass struct {
		at   float64 // grace periods after gcEpoch
		want BlobCollection
	}
	tests := []struct {
		name string
		// setup writes; between sets it may run passes of its own (through the
		// store it is given) before the table's passes run.
		setup  func(t *testing.T, s Store)
		passes []pass
		kept   []string // blobs that must still be stored after the passes
		gone   []string // and those that must not
	}{
		{
			name: "named by an old revision only: reclaimed",
			setup: func(t *testing.T, s Store) {
				mustPutBlob(t, s, a)
				mustPutBlob(t, s, b)
				mustTxn(t, s, nil, names("truststores/x", da))
				mustTxn(t, s, nil, names("truststores/x", db))
			},
			passes: []pass{
				{at: 0, want: BlobCollection{Referenced: 1, Waiting: 1}},
				{at: 1, want: BlobCollection{Reclaimed: 1, ReclaimedBytes: int64(len(a)), Referenced: 1}},
				{at: 2, want: BlobCollection{Referenced: 1}},
			},
			kept: []string{db}, gone: []string{da},
		},
		{
			name: "named by the current revision: kept however long",
			setup: func(t *testing.T, s Store) {
				mustPutBlob(t, s, a)
				mustTxn(t, s, nil, names("truststores/x", da))
			},
			passes: []pass{
				{at: 0, want: BlobCollection{Referenced: 1}},
				{at: 1, want: BlobCollection{Referenced: 1}},
				{at: 100, want: BlobCollection{Referenced: 1}},
			},
			kept: []string{da},
		},
		{
			name: "named by one key of two: kept",
			setup: func(t *testing.T, s Store) {
				mustPutBlob(t, s, a)
				mustTxn(t, s, nil, names("truststores/x", da), names("truststores/y", da))
				mustTxn(t, s, nil, Op{Key: "truststores/x", Delete: true})
			},
			passes: []pass{{at: 0, want: BlobCollection{Referenced: 1}}, {at: 2, want: BlobCollection{Referenced: 1}}},
			kept:   []string{da},
		},
		{
			name:  "freshly put, not yet named: kept for the grace period",
			setup: func(t *testing.T, s Store) { mustPutBlob(t, s, a) },
			passes: []pass{
				{at: 0, want: BlobCollection{Waiting: 1}},
				{at: 0.999, want: BlobCollection{Waiting: 1}},
				{at: 1, want: BlobCollection{Reclaimed: 1, ReclaimedBytes: int64(len(a))}},
			},
			gone: []string{da},
		},
		{
			name: "put again: the grace period starts over",
			setup: func(t *testing.T, s Store) {
				mustPutBlob(t, s, a)
				collect(t, s, at(-0.5))
				mustPutBlob(t, s, a) // a writer about to name it again
			},
			passes: []pass{
				{at: 0, want: BlobCollection{Waiting: 1}},
				{at: 0.9, want: BlobCollection{Waiting: 1}},
				{at: 1, want: BlobCollection{Reclaimed: 1, ReclaimedBytes: int64(len(a))}},
			},
			gone: []string{da},
		},
		{
			name: "named only between two passes: the grace period starts over",
			setup: func(t *testing.T, s Store) {
				mustPutBlob(t, s, a)
				collect(t, s, at(-1)) // clock started
				mustTxn(t, s, nil, names("truststores/x", da))
				mustTxn(t, s, nil, Op{Key: "truststores/x", Delete: true})
			},
			passes: []pass{
				{at: 0, want: BlobCollection{Waiting: 1}},
				{at: 1, want: BlobCollection{Reclaimed: 1, ReclaimedBytes: int64(len(a))}},
			},
			gone: []string{da},
		},
		{
			name: "key deleted: its blobs reclaimed",
			setup: func(t *testing.T, s Store) {
				mustPutBlob(t, s, a)
				mustPutBlob(t, s, b)
				mustTxn(t, s, nil, names("truststores/x", da, db))
				collect(t, s, at(-5))
				mustTxn(t, s, nil, Op{Key: "truststores/x", Delete: true})
			},
			passes: []pass{
				{at: 0, want: BlobCollection{Waiting: 2}},
				{at: 1, want: BlobCollection{Reclaimed: 2, ReclaimedBytes: int64(len(a) + len(b))}},
			},
			gone: []string{da, db},
		},
		{
			name: "text that is not a digest names nothing",
			setup: func(t *testing.T, s Store) {
				mustPutBlob(t, s, a)
				hexPart := strings.TrimPrefix(da, digestPrefix)
				mustTxn(t, s, nil,
					put("upper", digestPrefix+strings.ToUpper(hexPart)),
					put("short", da[:len(da)-1]),
					put("other algorithm", "sha512:"+hexPart),
					put("split", digestPrefix+" "+hexPart))
			},
			passes: []pass{
				{at: 0, want: BlobCollection{Waiting: 1}},
				{at: 1, want: BlobCollection{Reclaimed: 1, ReclaimedBytes: int64(len(a))}},
			},
			gone: []string{da},
		},
		{
			name:   "empty store",
			setup:  func(t *testing.T, s Store) {},
			passes: []pass{{at: 0}, {at: 1}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			tc.setup(t, s)
			_, rev, err := s.Range(t.Context(), "")
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range tc.passes {
				if diff := cmp.Diff(p.want, collect(t, s, at(p.at))); diff != "" {
					t.Errorf("pass at %v grace periods (-want +got):\n%s", p.at, diff)
				}
			}
			for _, d := range tc.kept {
				if !stored(t, s, d) {
					t.Errorf("blob %s was collected", d)
				}
			}
			for _, d := range tc.gone {
				if stored(t, s, d) {
					t.Errorf("blob %s was not collected", d)
				}
			}
			if _, after, _ := s.Range(t.Context(), ""); after != rev {
				t.Errorf("collection moved the revision from %d to %d", rev, after)
			}
		})
	}
}

// testCollectStalledWriter is the put-then-Txn race decided against the writer:
// the writer stalls past the grace period, the blob is collected, and its Txn
// fails clearly instead of committing a value that names a missing blob.
func testCollectStalledWriter(t *testing.T, s Store) {
	ctx := t.Context()
	data := []byte("a CRL whose writer stalled")
	digest := mustPutBlob(t, s, data)
	collect(t, s, at(0))
	if res := collect(t, s, at(1)); res.Reclaimed != 1 {
		t.Fatalf("collection = %+v, want the unnamed blob reclaimed", res)
	}
	_, rev, _ := s.Range(ctx, "")
	_, err := s.Txn(ctx, nil, []Op{put("other", "v"), names("truststores/x", digest)})
	if !errors.Is(err, ErrBlobNotFound) {
		t.Fatalf("Txn naming a collected blob = %v, want ErrBlobNotFound", err)
	}
	for _, want := range []string{`"truststores/x"`, digest, "PutBlob"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	kvs, after, err := s.Range(ctx, "")
	if err != nil || after != rev || len(kvs) != 0 {
		t.Fatalf("after the refused Txn: %d keys at revision %d (%v); want nothing written, revision %d", len(kvs), after, err, rev)
	}
	// What the writer does next: store the blob again and retry.
	mustPutBlob(t, s, data)
	mustTxn(t, s, nil, names("truststores/x", digest))
	if res := collect(t, s, at(10)); res.Referenced != 1 || !stored(t, s, digest) {
		t.Errorf("after the retry: %+v, stored %v; want the blob kept", res, stored(t, s, digest))
	}
}

// testTxnNamesAbsentBlob: a value naming a blob that was never stored is refused,
// with every other op of the transaction.
func testTxnNamesAbsentBlob(t *testing.T, s Store) {
	ctx := t.Context()
	present := mustPutBlob(t, s, []byte("present"))
	absent := blobDigest([]byte("never stored"))
	tests := []struct {
		name string
		ops  []Op
	}{
		{name: "alone", ops: []Op{names("k", absent)}},
		{name: "after a present one", ops: []Op{names("k", present, absent)}},
		{name: "in the second op", ops: []Op{names("a", present), names("b", absent)}},
		{name: "inside other text", ops: []Op{put("k", "certificate: /etc/"+absent+".pem")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, rev, _ := s.Range(ctx, "")
			if _, err := s.Txn(ctx, nil, tc.ops); !errors.Is(err, ErrBlobNotFound) || !strings.Contains(err.Error(), absent) {
				t.Fatalf("Txn = %v, want ErrBlobNotFound naming %s", err, absent)
			}
			if kvs, after, _ := s.Range(ctx, ""); after != rev || len(kvs) != 0 {
				t.Errorf("refused Txn wrote: revision %d → %d, %d keys", rev, after, len(kvs))
			}
		})
	}
	// Deleting a key needs no blob, even if its value named one.
	mustTxn(t, s, nil, names("k", present))
	mustTxn(t, s, nil, Op{Key: "k", Delete: true})
}

// testDeleteNamedBlob: DeleteBlob keeps the same invariant as the collection.
func testDeleteNamedBlob(t *testing.T, s Store) {
	ctx := t.Context()
	digest := mustPutBlob(t, s, []byte("named"))
	mustTxn(t, s, nil, names("truststores/x", digest))
	if err := s.DeleteBlob(ctx, digest); !errors.Is(err, ErrBlobInUse) {
		t.Fatalf("DeleteBlob of a named blob = %v, want ErrBlobInUse", err)
	}
	if !stored(t, s, digest) {
		t.Fatal("refused DeleteBlob deleted the blob")
	}
	mustTxn(t, s, nil, Op{Key: "truststores/x", Delete: true})
	if err := s.DeleteBlob(ctx, digest); err != nil {
		t.Fatalf("DeleteBlob once unnamed = %v", err)
	}
}

// testCollectConcurrent races writers (put a blob, then name it, dropping the
// one named before) against a collector with no grace period at all, the
// harshest setting. Every Txn must either commit with its blob stored or fail
// with ErrBlobNotFound; afterwards every named blob is stored and every other one
// collected.
func testCollectConcurrent(t *testing.T, s Store) {
	ctx := t.Context()
	const writers, rounds = 3, 25
	stop := make(chan struct{})
	collector := make(chan error, 1)
	var passes, reclaimed int
	go func() {
		for {
			select {
			case <-stop:
				collector <- nil
				return
			default:
			}
			res, err := s.CollectBlobs(ctx, time.Now(), 0)
			if err != nil {
				collector <- err
				return
			}
			passes++
			reclaimed += res.Reclaimed
		}
	}()
	var wg sync.WaitGroup
	var mu sync.Mutex
	refused := 0
	for w := range writers {
		wg.Go(func() {
			key := fmt.Sprintf("truststores/w%d", w)
			for i := range rounds {
				digest, err := s.PutBlob(ctx, fmt.Appendf(nil, "writer %d round %d", w, i))
				if err != nil {
					t.Error(err)
					return
				}
				_, err = s.Txn(ctx, nil, []Op{names(key, digest)})
				switch {
				case errors.Is(err, ErrBlobNotFound):
					mu.Lock()
					refused++
					mu.Unlock()
				case err != nil:
					t.Errorf("Txn: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	if err := <-collector; err != nil {
		t.Fatalf("CollectBlobs: %v", err)
	}
	t.Logf("%d passes reclaimed %d blobs; %d of %d Txns refused for a collected blob", passes, reclaimed, refused, writers*rounds)

	kvs, _, err := s.Range(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, kv := range kvs {
		blobRefs(kv.Value, func(d []byte) { want[string(d)] = true })
	}
	for d := range want {
		if !stored(t, s, d) {
			t.Errorf("committed value names %s, which is not stored", d)
		}
	}
	// Two more passes: the first starts the clocks of the leftovers, the second
	// reclaims them; then exactly the named blobs remain.
	now := time.Now()
	collect(t, s, now)
	collect(t, s, now.Add(gcGrace))
	if res := collect(t, s, now.Add(gcGrace)); res.Referenced != len(want) || res.Waiting != 0 {
		t.Errorf("final pass %+v, want %d referenced and nothing else", res, len(want))
	}
}

func TestBlobRefs(t *testing.T) {
	d1, d2 := blobDigest([]byte("1")), blobDigest([]byte("2"))
	tests := []struct {
		name  string
		value string
		want  []string
	}{
		{name: "empty", value: "", want: nil},
		{name: "json", value: `{"bundle":"` + d1 + `","crls":["` + d2 + `","` + d1 + `"]}`, want: []string{d1, d2, d1}},
		{name: "adjacent", value: d1 + d2, want: []string{d1, d2}},
		{name: "prefix repeated", value: "sha256:" + d1, want: []string{d1}},
		{name: "upper case", value: strings.ToUpper(d1), want: nil},
		{name: "short at end", value: d1[:70], want: nil},
		{name: "prefix at end", value: "x sha256:", want: nil},
		{name: "longer hex", value: d1 + "ff", want: []string{d1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			blobRefs([]byte(tc.value), func(d []byte) { got = append(got, string(d)) })
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("blobRefs (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzBlobRefs checks the reference scanner, which reads every stored value,
// against a regular expression: same digests, in the same order.
func FuzzBlobRefs(f *testing.F) {
	d := blobDigest([]byte("x"))
	for _, seed := range []string{"", d, "sha256:" + d, `{"a":"` + d + `"}`, d[:40], strings.ToUpper(d), "sha256:sha256:"} {
		f.Add([]byte(seed))
	}
	re := regexp.MustCompile(`sha256:[0-9a-f]{64}`)
	f.Fuzz(func(t *testing.T, value []byte) {
		var got [][]byte
		blobRefs(value, func(d []byte) {
			if _, err := parseDigest(string(d)); err != nil {
				t.Fatalf("blobRefs gave %q, not a digest: %v", d, err)
			}
			got = append(got, d)
		})
		want := re.FindAll(value, -1)
		if len(got) != len(want) {
			t.Fatalf("blobRefs found %d digests, the regexp %d", len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("digest %d: %q, regexp %q", i, got[i], want[i])
			}
		}
	})
}

// TestBoltCollectRechecksInWriteTxn commits a Txn naming an expired blob between
// the collection's read scan and its write transaction: the write transaction's
// own scan must see it and keep the blob.
func TestBoltCollectRechecksInWriteTxn(t *testing.T) {
	b := openTestBolt(t, filepath.Join(t.TempDir(), "store.db"))
	digest := mustPutBlob(t, b, []byte("named at the last moment"))
	collect(t, b, at(0))
	txnDone := make(chan error, 1)
	b.afterCollectScan = func() {
		// The Txn commits now, then waits for this pass to end before it
		// restarts the blob's clock; Get shows the commit without that lock.
		go func() {
			_, err := b.Txn(context.Background(), nil, []Op{names("truststores/x", digest)})
			txnDone <- err
		}()
		deadline := time.Now().Add(waitLimit)
		for {
			if _, ok, _, err := b.Get(context.Background(), "truststores/x"); err != nil || ok {
				return
			}
			if time.Now().After(deadline) {
				t.Error("the Txn did not commit within", waitLimit)
				return
			}
		}
	}
	res := collect(t, b, at(1))
	b.afterCollectScan = nil
	if err := <-txnDone; err != nil {
		t.Fatalf("Txn naming the blob: %v", err)
	}
	if want := (BlobCollection{Referenced: 1}); res != want || !stored(t, b, digest) {
		t.Errorf("collection %+v (blob stored: %v), want %+v and the blob kept", res, stored(t, b, digest), want)
	}
}

// TestBoltCollectAfterReopen: the clocks are not persisted, so a reopened store
// waits a full grace period from its first pass. That only delays collection.
func TestBoltCollectAfterReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	b, err := OpenBolt(path, BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	digest := mustPutBlob(t, b, []byte("orphan"))
	collect(t, b, at(0))
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = openTestBolt(t, path)
	if res := collect(t, b, at(1)); res.Reclaimed != 0 || res.Waiting != 1 {
		t.Errorf("first pass after reopen = %+v, want the blob waiting", res)
	}
	if res := collect(t, b, at(2)); res.Reclaimed != 1 || stored(t, b, digest) {
		t.Errorf("second pass after reopen = %+v, want the blob reclaimed", res)
	}
}

// TestBoltBlobSpaceReused adds a large CRL, names it, removes it and collects,
// over and over with new content each time, as an operator rotating CRLs through
// the admin API does. bbolt never shrinks its file, but it reuses the pages a
// collection frees: after the first round the file must not grow by more than
// one more copy. The same rounds without collection show that the bound bites.
func TestBoltBlobSpaceReused(t *testing.T) {
	const (
		crlSize = 12 << 20
		rounds  = 8
	)
	run := func(t *testing.T, collectBlobs bool) (first, last int64) {
		path := filepath.Join(t.TempDir(), "store.db")
		b := openTestBolt(t, path)
		for i := range rounds {
			crl := bytes.Repeat([]byte{byte(i)}, crlSize) // new content, new digest
			digest := mustPutBlob(t, b, crl)
			mustTxn(t, b, nil, names("truststores/partners", digest))
			mustTxn(t, b, nil, Op{Key: "truststores/partners", Delete: true})
			if collectBlobs {
				collect(t, b, at(float64(2*i)))
				if res := collect(t, b, at(float64(2*i+1))); res.Reclaimed != 1 || res.ReclaimedBytes != crlSize {
					t.Fatalf("round %d: collection %+v, want the %d-byte CRL reclaimed", i, res, crlSize)
				}
			}
			size := fileSize(t, path)
			if i == 0 {
				first = size
			}
			last = size
			t.Logf("round %d: file %d MiB", i, size>>20)
		}
		return first, last
	}
	first, last := run(t, true)
	if bound := first + crlSize; last > bound {
		t.Errorf("file grew from %d to %d bytes over %d rounds with collection; want at most %d (one more copy)", first, last, rounds, bound)
	}
	if bound := int64(2 * crlSize); last > bound {
		t.Errorf("file of %d bytes after %d rounds with collection; want at most %d: one CRL and bbolt's slack", last, rounds, bound)
	}
	firstNoGC, lastNoGC := run(t, false)
	if bound := firstNoGC + crlSize; lastNoGC <= bound {
		t.Errorf("without collection the file grew only from %d to %d bytes: the bound above proves nothing", firstNoGC, lastNoGC)
	}
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}
