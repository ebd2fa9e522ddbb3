package configstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"
)

func TestBoltReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "store.db") // the directory is created
	b, err := OpenBolt(path, BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mustTxn(t, b, nil, put("a", "1"), put("b", "1"))
	mustTxn(t, b, nil, put("a", "2"), Op{Key: "b", Delete: true})
	digest, err := b.PutBlob(t.Context(), []byte("ca bundle"))
	if err != nil {
		t.Fatal(err)
	}
	before, rev, err := b.Range(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("store file mode %v, want 0600: it holds the whole configuration", perm)
	}

	b = openTestBolt(t, path)
	after, afterRev, err := b.Range(t.Context(), "")
	if err != nil || afterRev != rev {
		t.Fatalf("reopened at revision %d (%v), want %d", afterRev, err, rev)
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("reopened store differs (-before +after):\n%s", diff)
	}
	if data, err := b.GetBlob(t.Context(), digest); err != nil || string(data) != "ca bundle" {
		t.Errorf("GetBlob after reopen = %q, %v", data, err)
	}
	// Watch history lives in memory: only the current revision onwards is served.
	if _, err := b.Watch(t.Context(), "", 0); !errors.Is(err, ErrCompacted) {
		t.Errorf("Watch(after 0) after reopen = %v, want ErrCompacted", err)
	}
	ch, err := b.Watch(t.Context(), "", rev)
	if err != nil {
		t.Fatal(err)
	}
	if next := mustTxn(t, b, nil, put("c", "1")); next != rev+1 {
		t.Errorf("first Txn after reopen got revision %d, want %d", next, rev+1)
	}
	if got := receive(t, ch); got[0].KV.ModRevision != rev+1 {
		t.Errorf("watch after reopen delivered revision %d, want %d", got[0].KV.ModRevision, rev+1)
	}
}

// TestBoltLocked opens a file the same process already holds: flock conflicts
// between open file descriptions, so this is what a second mtlslb would see.
func TestBoltLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	openTestBolt(t, path)
	const timeout = 300 * time.Millisecond
	start := time.Now()
	_, err := OpenBolt(path, BoltOptions{Timeout: timeout})
	elapsed := time.Since(start)
	checkLockedError(t, err, path)
	if elapsed > timeout+time.Second {
		t.Errorf("locked open took %v with a %v timeout", elapsed, timeout)
	}
}

func checkLockedError(t testing.TB, err error, path string) {
	t.Helper()
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("opening a held store = %v, want ErrLocked", err)
	}
	for _, want := range []string{path, "another process", "mtlslb"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestBoltCorruption(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(tx *bolt.Tx) error
		check  func(t *testing.T, b *Bolt) error
	}{
		{
			name: "blob content",
			tamper: func(tx *bolt.Tx) error {
				return blobBucket(tx, genuineBlob()).Put(blobChunkKey(1), bytes.Repeat([]byte("f"), blobChunkSize))
			},
			check: checkGenuineBlob,
		},
		{
			name: "blob size",
			tamper: func(tx *bolt.Tx) error {
				return blobBucket(tx, genuineBlob()).Put([]byte(blobSizeKey), binary.BigEndian.AppendUint64(nil, 1<<40))
			},
			check: checkGenuineBlob,
		},
		{
			name:   "blob chunk missing",
			tamper: func(tx *bolt.Tx) error { return blobBucket(tx, genuineBlob()).Delete(blobChunkKey(0)) },
			check:  checkGenuineBlob,
		},
		{
			name:   "blob truncated",
			tamper: func(tx *bolt.Tx) error { return blobBucket(tx, genuineBlob()).Put(blobChunkKey(2), []byte("x")) },
			check:  checkGenuineBlob,
		},
		{
			name:   "short record",
			tamper: func(tx *bolt.Tx) error { return tx.Bucket([]byte(bucketKeys)).Put([]byte("k"), []byte{1, 2}) },
			check: func(t *testing.T, b *Bolt) error {
				_, _, _, err := b.Get(t.Context(), "k")
				return err
			},
		},
		{
			name:   "record in range",
			tamper: func(tx *bolt.Tx) error { return tx.Bucket([]byte(bucketKeys)).Put([]byte("k/2"), make([]byte, 17)) },
			check: func(t *testing.T, b *Bolt) error {
				_, _, err := b.Range(t.Context(), "k/")
				return err
			},
		},
		{
			name:   "record under a transaction",
			tamper: func(tx *bolt.Tx) error { return tx.Bucket([]byte(bucketKeys)).Put([]byte("k"), []byte{9}) },
			check: func(t *testing.T, b *Bolt) error {
				_, err := b.Txn(t.Context(), nil, []Op{put("other", "v"), put("k", "v")})
				if _, rev, _ := b.Range(t.Context(), "other"); rev != 1 {
					t.Errorf("revision %d after a failed Txn, want 1", rev)
				}
				return err
			},
		},
		{
			// A collection that cannot read every value must delete nothing: the
			// unreadable one might name the blob.
			name:   "record under a collection",
			tamper: func(tx *bolt.Tx) error { return tx.Bucket([]byte(bucketKeys)).Put([]byte("k"), []byte{9}) },
			check: func(t *testing.T, b *Bolt) error {
				var err error
				for i := range 2 {
					if _, err = b.CollectBlobs(t.Context(), at(float64(i)), 0); err == nil {
						t.Errorf("pass %d over a corrupt record succeeded", i)
					}
				}
				if _, gerr := b.GetBlob(t.Context(), blobDigest(genuineBlob())); gerr != nil {
					t.Errorf("blob after passes over a corrupt record: %v", gerr)
				}
				return err
			},
		},
		{
			name:   "revision",
			tamper: func(tx *bolt.Tx) error { return tx.Bucket([]byte(bucketMeta)).Put([]byte(metaRevision), []byte{1}) },
			check: func(t *testing.T, b *Bolt) error {
				_, _, err := b.Range(t.Context(), "")
				return err
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := openTestBolt(t, filepath.Join(t.TempDir(), "store.db"))
			mustTxn(t, b, nil, put("k/1", "v"))
			if _, err := b.PutBlob(t.Context(), genuineBlob()); err != nil {
				t.Fatal(err)
			}
			if err := b.db.Update(tc.tamper); err != nil {
				t.Fatal(err)
			}
			if err := tc.check(t, b); !errors.Is(err, ErrCorrupt) {
				t.Errorf("got %v, want ErrCorrupt", err)
			}
		})
	}
}

// genuineBlob spans three chunks, so that tampering can hit the middle of a blob.
func genuineBlob() []byte { return bytes.Repeat([]byte("genuine "), 2*blobChunkSize/8+100) }

func blobBucket(tx *bolt.Tx, data []byte) *bolt.Bucket {
	return tx.Bucket([]byte(bucketBlobs)).Bucket([]byte(blobDigest(data)))
}

func checkGenuineBlob(t *testing.T, b *Bolt) error {
	data, err := b.GetBlob(t.Context(), blobDigest(genuineBlob()))
	if data != nil {
		t.Errorf("corrupted blob served: %d bytes", len(data))
	}
	return err
}

func TestBoltOpenErrors(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
		want    string
	}{
		{
			name:    "not a bbolt file",
			prepare: func(t *testing.T, path string) { writeFile(t, path, strings.Repeat("listeners: []\n", 1000)) },
			want:    "invalid",
		},
		{
			name: "future format",
			prepare: func(t *testing.T, path string) {
				db, err := bolt.Open(path, 0o600, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				err = db.Update(func(tx *bolt.Tx) error {
					meta, err := tx.CreateBucket([]byte(bucketMeta))
					if err != nil {
						return err
					}
					return meta.Put([]byte(metaFormat), []byte{boltFormat + 1})
				})
				if err != nil {
					t.Fatal(err)
				}
			},
			want: "unsupported store format",
		},
		{
			name:    "directory",
			prepare: func(t *testing.T, path string) { os.Mkdir(path, 0o700) },
			want:    "directory",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "store.db")
			tc.prepare(t, path)
			b, err := OpenBolt(path, BoltOptions{})
			if err == nil {
				b.Close()
				t.Fatal("OpenBolt succeeded")
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name the file and say %q", err, tc.want)
			}
		})
	}
}

func TestBoltBackup(t *testing.T) {
	b := openTestBolt(t, filepath.Join(t.TempDir(), "store.db"))
	mustTxn(t, b, nil, put("a", "1"), put("b", "2"))
	digest, err := b.PutBlob(t.Context(), []byte("crl"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := b.Backup(t.Context(), &buf)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("Backup = %d, %v; buffer holds %d", n, err, buf.Len())
	}
	copyPath := filepath.Join(t.TempDir(), "backup.db")
	if err := os.WriteFile(copyPath, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	restored := openTestBolt(t, copyPath)
	want, wantRev, _ := b.Range(t.Context(), "")
	got, gotRev, err := restored.Range(t.Context(), "")
	if err != nil || gotRev != wantRev {
		t.Fatalf("backup at revision %d (%v), want %d", gotRev, err, wantRev)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("backup differs (-want +got):\n%s", diff)
	}
	if _, err := restored.GetBlob(t.Context(), digest); err != nil {
		t.Errorf("blob missing from backup: %v", err)
	}
}

// TestBoltPutBlobRepairs uploads a corrupted blob's content again: the intact
// copy replaces the corrupted one instead of being skipped as already stored.
func TestBoltPutBlobRepairs(t *testing.T) {
	b := openTestBolt(t, filepath.Join(t.TempDir(), "store.db"))
	digest, err := b.PutBlob(t.Context(), genuineBlob())
	if err != nil {
		t.Fatal(err)
	}
	err = b.db.Update(func(tx *bolt.Tx) error {
		return blobBucket(tx, genuineBlob()).Put(blobChunkKey(0), []byte("forged"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetBlob(t.Context(), digest); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("GetBlob of the tampered blob = %v, want ErrCorrupt", err)
	}
	if again, err := b.PutBlob(t.Context(), genuineBlob()); err != nil || again != digest {
		t.Fatalf("PutBlob again = %s, %v", again, err)
	}
	if data, err := b.GetBlob(t.Context(), digest); err != nil || !bytes.Equal(data, genuineBlob()) {
		t.Errorf("GetBlob after the repair = %d bytes, %v", len(data), err)
	}
}
