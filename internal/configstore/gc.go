package configstore

import (
	"bytes"
	"fmt"
	"time"
)

// Blob garbage collection.
//
// A blob is referenced when some stored value names it: when the value's bytes
// contain its digest, "sha256:" and 64 lowercase hex digits (blobRefs). The store
// thus needs no knowledge of what its values mean, needs no migration for stores
// written before collection existed, and errs only towards keeping: text that
// merely looks like a digest keeps a blob alive. (The control plane stores digests
// as JSON strings, which Go writes literally.)
//
// # Safety: a committed value never names a missing blob
//
// Every committed state of a store satisfies the invariant "every digest named by a
// stored value is a stored blob", because each operation keeps it and each is one
// transaction (one bbolt write transaction for Bolt, one critical section for
// Memory):
//
//   - Txn checks, inside the transaction that commits, that every digest named by
//     a value it writes is stored; if one is not, it writes nothing and fails with
//     an error wrapping ErrBlobNotFound that names the key and the digest. Values
//     it does not write are unchanged.
//   - CollectBlobs deletes, inside one write transaction, only blobs that no value
//     of that same transaction's snapshot names.
//   - DeleteBlob does the same check and refuses a named blob with ErrBlobInUse.
//   - PutBlob only adds.
//
// Write transactions are serialised (bbolt has a single writer; Memory a single
// lock), so nothing commits between a collection's scan and its deletions. Hence
// the usual race — PutBlob, then a Txn that names the blob, with a collection in
// between — cannot commit a dangling reference: if the collection commits first,
// the blob is gone when the Txn checks and the Txn fails clearly (the writer puts
// the blob again and retries); if the Txn commits first, the collection sees the
// reference and keeps the blob. This argument uses no clock. And because each step
// is a single bbolt commit, a kill -9 at any point leaves either the state before
// it or the state after it, both of which satisfy the invariant.
//
// # Liveness: a grace period
//
// The grace period only keeps that first branch (a refused Txn) and its reading
// counterpart (GetBlob of a blob named by a revision that was current a moment
// ago) from happening to operations in flight. A blob is deleted only when
//
//   - an earlier pass found it unreferenced at least grace ago, by the times the
//     caller passes in,
//   - every pass since then found it unreferenced too, and neither a PutBlob of
//     it began nor a Txn naming it committed since then (both restart its clock:
//     re-uploading an unreferenced CA bundle must not lose it to a collection
//     before the Txn that names it again, and a revision that named it only
//     between two passes may still have readers), and
//   - the deleting write transaction itself finds it unreferenced.
//
// So a writer has at least grace between PutBlob and its Txn, and a reader of a
// revision that stopped naming a blob has at least grace to read it.
//
// These "unreferenced since" clocks live in memory and are not persisted: they
// protect only operations in flight in this process, a restart ends all of those
// (bbolt's file lock admits one process), and losing the clocks only delays
// collection by one grace period. Two alternatives were rejected: a put time
// stored with each blob would need a write and an fsync on every re-upload of a
// stored blob (the common case) to stay meaningful, and says nothing about how
// long ago readers stopped needing it; reference counts kept next to the values
// would have to be exactly right forever (a bug, or a store written before
// counting existed, would delete live data), whereas a sweep recomputes the
// references from the values every time.
//
// PutBlob clears a blob's clock before it looks for or writes the blob, and a
// collection holds the clock lock from its scan through its commit: either the
// collection sees the cleared clock and keeps the blob, or PutBlob starts after
// the deletion has committed and writes the blob again. A Txn clears the clocks
// of the blobs it names after its commit: a pass before that sees the reference.

// BlobCollection is the outcome of one CollectBlobs pass.
type BlobCollection struct {
	// Reclaimed is how many unreferenced blobs the pass deleted, and
	// ReclaimedBytes their total size.
	Reclaimed      int
	ReclaimedBytes int64
	// Referenced is how many stored blobs a current value names.
	Referenced int
	// Waiting is how many unreferenced blobs are kept until their grace period
	// has passed.
	Waiting int
}

// blobRefs calls fn with every digest value names, in order, repeats included.
// The digest aliases value.
func blobRefs(value []byte, fn func(digest []byte)) {
	const digestLen = len(digestPrefix) + 64
	prefix := []byte(digestPrefix)
	for {
		i := bytes.Index(value, prefix)
		if i < 0 {
			return
		}
		value = value[i:]
		if len(value) < digestLen {
			return
		}
		if isLowerHex(value[len(digestPrefix):digestLen]) {
			fn(value[:digestLen])
			value = value[digestLen:]
			continue
		}
		// "sha256:" does not overlap itself, so the next digest starts after it.
		value = value[len(digestPrefix):]
	}
}

func isLowerHex(b []byte) bool {
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// addBlobRefs adds the digests value names to refs.
func addBlobRefs(refs map[string]struct{}, value []byte) {
	blobRefs(value, func(d []byte) { refs[string(d)] = struct{}{} })
}

// checkBlobRefs is Txn's half of the invariant: every digest a written value
// names must be stored. It appends the digests to named.
func checkBlobRefs(named []string, key string, value []byte, stored func(digest string) (bool, error)) ([]string, error) {
	var err error
	blobRefs(value, func(d []byte) {
		if err != nil {
			return
		}
		digest := string(d)
		ok, serr := stored(digest)
		switch {
		case serr != nil:
			err = serr
		case !ok:
			err = fmt.Errorf("value of key %q names blob %s, which the store does not hold: %w (store it with PutBlob first; an unreferenced blob is collected after its grace period)",
				key, digest, ErrBlobNotFound)
		default:
			named = append(named, digest)
		}
	})
	return named, err
}

// blobClocks holds, per blob, since when collections have found it unreferenced.
// Its owner guards it with the lock a collection holds throughout.
type blobClocks map[string]time.Time

// observe records one pass at now over the stored blobs and the digests current
// values name, and returns the blobs whose grace period has passed. It forgets
// blobs that are referenced or no longer stored.
func (c blobClocks) observe(now time.Time, grace time.Duration, stored []string, refs map[string]struct{}) (expired []string, res BlobCollection) {
	isStored := make(map[string]struct{}, len(stored))
	for _, d := range stored {
		isStored[d] = struct{}{}
		if _, ok := refs[d]; ok {
			delete(c, d)
			res.Referenced++
			continue
		}
		since, ok := c[d]
		if !ok {
			c[d] = now
			res.Waiting++
			continue
		}
		if now.Sub(since) >= grace {
			expired = append(expired, d)
			continue
		}
		res.Waiting++
	}
	for d := range c {
		if _, ok := isStored[d]; !ok {
			delete(c, d)
		}
	}
	return expired, res
}
