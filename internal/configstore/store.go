package configstore

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Revision is the store-wide version: every committed transaction increases it by
// exactly one. 0 means nothing has been written yet.
type Revision int64

// KV is one key with its value and the revisions that created and last changed it.
type KV struct {
	Key            string
	Value          []byte
	CreateRevision Revision // revision that created the key
	ModRevision    Revision // revision that last changed it
}

// Cond is a per-key precondition of a transaction: the key's ModRevision must equal
// ModRevision. A ModRevision of 0 means the key must not exist.
type Cond struct {
	Key         string
	ModRevision Revision
}

// Op is one write of a transaction: a Put of Value (Delete false) or a Delete.
type Op struct {
	Key    string
	Value  []byte
	Delete bool
}

// Event is one change delivered by Watch. KV.ModRevision is the event's revision;
// for a deletion KV holds the key's last value and Deleted is true.
type Event struct {
	KV      KV
	Deleted bool
}

// Sentinel errors callers tell apart with errors.Is.
var (
	// ErrConflict reports that a Cond of a transaction did not hold; it arrives
	// wrapped in a *ConflictError naming the key.
	ErrConflict = errors.New("revision conflict")
	// ErrReadOnly reports a write to a store that cannot be written (file mode).
	ErrReadOnly = errors.New("read-only store")
	// ErrBlobNotFound reports that no blob has the requested digest, or that a
	// Txn would store a value naming a blob the store does not hold.
	ErrBlobNotFound = errors.New("blob not found")
	// ErrBlobInUse reports a DeleteBlob of a blob that a stored value names.
	ErrBlobInUse = errors.New("blob in use")
	// ErrCompacted reports a Watch from a revision the store keeps no history for;
	// the caller must Range again and watch from the revision Range returns.
	ErrCompacted = errors.New("revision compacted: watch history no longer holds it")
	// ErrClosed reports an operation on a closed store.
	ErrClosed = errors.New("store closed")
	// ErrTooLarge reports a blob or value over the store's size limit.
	ErrTooLarge = errors.New("too large")
	// ErrLocked reports that another process holds the store's file.
	ErrLocked = errors.New("store file locked by another process")
	// ErrCorrupt reports stored data that fails its integrity check; it is never served.
	ErrCorrupt = errors.New("store data corrupt")
)

// ConflictError is the error of a transaction whose Cond on Key failed: the key's
// ModRevision was Got (0: absent), not Want. It wraps ErrConflict.
type ConflictError struct {
	Key  string
	Want Revision
	Got  Revision
}

// Error names the key and both revisions, which the admin API passes on in its
// 409/412 answers.
func (e *ConflictError) Error() string {
	return fmt.Sprintf("%v on key %q: want mod revision %d, have %d", ErrConflict, e.Key, e.Want, e.Got)
}

// Unwrap makes errors.Is(err, ErrConflict) hold.
func (e *ConflictError) Unwrap() error { return ErrConflict }

// Store is the configuration store. Implementations: Memory (tests), File (a
// read-only view of a --config file) and Bolt (embedded, serve --data-dir). All are
// safe for concurrent use.
type Store interface {
	// Get returns one key at the current revision (ok false if absent) and that revision.
	Get(ctx context.Context, key string) (kv KV, ok bool, rev Revision, err error)
	// Range returns every key with the prefix, sorted by key, as one consistent
	// snapshot, and its revision.
	Range(ctx context.Context, prefix string) ([]KV, Revision, error)
	// Txn checks every Cond and, if all hold, applies every Op atomically and
	// durably (fsync'd before it returns) and returns the new revision. If a Cond
	// fails nothing is written and the error wraps ErrConflict. If a value it
	// would write names a blob (contains its digest) that the store does not
	// hold, nothing is written and the error wraps ErrBlobNotFound: a committed
	// value never names a missing blob (see CollectBlobs).
	Txn(ctx context.Context, conds []Cond, ops []Op) (Revision, error)
	// Watch sends the events of every revision after `after` for keys with the
	// prefix, in revision order, one slice per revision (revisions without a
	// matching event are skipped), until ctx is cancelled; then the channel is
	// closed. Writers never wait for a watcher: if a reader falls so far behind
	// that the store no longer holds the next revision, or the store is closed,
	// the channel is closed while ctx is still live. Events are never dropped
	// silently: a channel closed before ctx is done means "Range again and watch
	// from its revision".
	Watch(ctx context.Context, prefix string, after Revision) (<-chan []Event, error)
	// PutBlob stores data (up to 50 MiB by default; larger is an error wrapping
	// ErrTooLarge) under its content address "sha256:<64 hex>" and returns it;
	// idempotent. Blobs are outside the revision space: putting one does not
	// change the revision. Putting a blob, even one already stored, restarts its
	// grace period against CollectBlobs, so a writer has that long to commit
	// the Txn that names it.
	PutBlob(ctx context.Context, data []byte) (digest string, err error)
	// GetBlob returns the blob with the digest (an error wrapping ErrBlobNotFound
	// if absent). Its content is checked against the digest before it is returned.
	GetBlob(ctx context.Context, digest string) ([]byte, error)
	// DeleteBlob removes a blob that no stored value names; a named one is
	// refused with an error wrapping ErrBlobInUse, an absent one with
	// ErrBlobNotFound.
	DeleteBlob(ctx context.Context, digest string) error
	// CollectBlobs is one pass of blob garbage collection at time now: it
	// deletes, durably and in one transaction, the blobs no stored value names
	// that earlier passes at least grace before now found unreferenced, with
	// every pass since agreeing and no PutBlob of them since (gc.go has the
	// rules and why they are safe). Callers run it periodically; a store that
	// holds no blobs (File) collects nothing.
	CollectBlobs(ctx context.Context, now time.Time, grace time.Duration) (BlobCollection, error)
	// Close releases the store and closes every Watch channel.
	Close() error
}
