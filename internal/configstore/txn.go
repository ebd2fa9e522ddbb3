package configstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Size limits shared by every implementation.
const (
	// MaxBlobBytes is the default largest blob (and largest value, and largest
	// configuration file): CA bundles and CRLs of big PKIs reach tens of MiB.
	MaxBlobBytes = 50 << 20
	// MaxKeyBytes is the longest key. Keys are resource paths such as
	// "trust-stores/partners"; the bound keeps them far below bbolt's 32 KiB limit.
	MaxKeyBytes = 4096
	// DefaultWatchHistory is how many recent revisions a store keeps in memory for
	// Watch by default.
	DefaultWatchHistory = 1000
)

const digestPrefix = "sha256:"

// record is what a key holds, whatever the backend.
type record struct {
	createRev Revision
	modRev    Revision
	value     []byte
}

// keyTable is the key space one transaction runs against, so that every backend
// shares the same transaction semantics (applyTxn). Values handed to put are owned
// by the table afterwards; values returned by get are valid until the transaction ends.
type keyTable interface {
	get(key string) (record, bool, error)
	put(key string, r record) error
	delete(key string) error
	// hasBlob reports whether the blob with the digest is stored, as seen by
	// the transaction.
	hasBlob(digest string) (bool, error)
}

// validateTxn rejects malformed transactions before any lock is taken. Duplicate
// keys among the ops are refused (as etcd does) because "last one wins" would hide
// a caller bug inside an all-or-nothing write.
func validateTxn(ctx context.Context, conds []Cond, ops []Op, maxValue int64) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("transaction: %w", err)
	}
	if len(ops) == 0 {
		return errors.New("invalid transaction: no operations")
	}
	for _, c := range conds {
		if err := validateKey(c.Key); err != nil {
			return fmt.Errorf("invalid transaction condition: %w", err)
		}
		if c.ModRevision < 0 {
			return fmt.Errorf("invalid transaction condition on key %q: negative revision %d", c.Key, c.ModRevision)
		}
	}
	seen := make(map[string]struct{}, len(ops))
	for _, op := range ops {
		if err := validateKey(op.Key); err != nil {
			return fmt.Errorf("invalid transaction operation: %w", err)
		}
		if _, dup := seen[op.Key]; dup {
			return fmt.Errorf("invalid transaction: key %q written twice", op.Key)
		}
		seen[op.Key] = struct{}{}
		if int64(len(op.Value)) > maxValue {
			return fmt.Errorf("invalid transaction: value of key %q is %d bytes: %w (limit %d)", op.Key, len(op.Value), ErrTooLarge, maxValue)
		}
	}
	return nil
}

func validateKey(key string) error {
	switch {
	case key == "":
		return errors.New("empty key")
	case len(key) > MaxKeyBytes:
		return fmt.Errorf("key of %d bytes is longer than %d", len(key), MaxKeyBytes)
	case !utf8.ValidString(key):
		return fmt.Errorf("key %s is not valid UTF-8", quoteShort(key))
	}
	return nil
}

// applyTxn checks every condition and every blob a written value names, and then
// applies every op at revision rev, returning the events and the named blobs'
// digests (whose collection clocks the caller restarts). Both checks come before
// the first write, and run in the same transaction as the commit: that is what
// keeps a concurrent CollectBlobs from leaving a committed value naming a deleted
// blob (gc.go). The caller holds the write lock and discards all writes when an
// error is returned (a bbolt rollback; Memory fails only before writing).
func applyTxn(t keyTable, rev Revision, conds []Cond, ops []Op) (events []Event, named []string, err error) {
	for _, c := range conds {
		r, ok, err := t.get(c.Key)
		if err != nil {
			return nil, nil, err
		}
		var got Revision
		if ok {
			got = r.modRev
		}
		if got != c.ModRevision {
			return nil, nil, &ConflictError{Key: c.Key, Want: c.ModRevision, Got: got}
		}
	}
	for _, op := range ops {
		if op.Delete {
			continue
		}
		if named, err = checkBlobRefs(named, op.Key, op.Value, t.hasBlob); err != nil {
			return nil, nil, err
		}
	}
	events = make([]Event, 0, len(ops))
	for _, op := range ops {
		old, exists, err := t.get(op.Key)
		if err != nil {
			return nil, nil, err
		}
		if op.Delete {
			if !exists {
				// Deleting an absent key changes nothing, so it has no event; the
				// transaction still takes a revision, as every committed one does.
				continue
			}
			events = append(events, Event{
				KV:      KV{Key: op.Key, Value: cloneNonNil(old.value), CreateRevision: old.createRev, ModRevision: rev},
				Deleted: true,
			})
			if err := t.delete(op.Key); err != nil {
				return nil, nil, err
			}
			continue
		}
		// One private copy serves both the table and the event: the caller may
		// reuse op.Value as soon as Txn returns.
		r := record{createRev: rev, modRev: rev, value: cloneNonNil(op.Value)}
		if exists {
			r.createRev = old.createRev
		}
		if err := t.put(op.Key, r); err != nil {
			return nil, nil, err
		}
		events = append(events, Event{KV: KV{Key: op.Key, Value: r.value, CreateRevision: r.createRev, ModRevision: rev}})
	}
	return events, named, nil
}

// cloneNonNil copies b; an empty value is returned as an empty, non-nil slice so
// that every backend reports the same thing for it.
func cloneNonNil(b []byte) []byte {
	c := make([]byte, len(b))
	copy(c, b)
	return c
}

// blobDigest is the content address of data.
func blobDigest(data []byte) string {
	sum := sha256.Sum256(data)
	return digestPrefix + hex.EncodeToString(sum[:])
}

// parseDigest checks that s is a content address "sha256:<64 lowercase hex>" and
// returns the sum. Digests arrive from the admin API, so they are outside input.
func parseDigest(s string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	hexPart, ok := strings.CutPrefix(s, digestPrefix)
	if !ok {
		return sum, fmt.Errorf("invalid blob digest %s: want %s<64 hex digits>", quoteShort(s), digestPrefix)
	}
	if len(hexPart) != 2*sha256.Size || strings.ToLower(hexPart) != hexPart {
		return sum, fmt.Errorf("invalid blob digest %s: want 64 lowercase hex digits after %s", quoteShort(s), digestPrefix)
	}
	if _, err := hex.Decode(sum[:], []byte(hexPart)); err != nil {
		return sum, fmt.Errorf("invalid blob digest %s: %w", quoteShort(s), err)
	}
	return sum, nil
}

// checkBlob verifies data against the digest it was stored under, so that a
// corrupted blob is an error and never served as a CA bundle or CRL.
func checkBlob(digest string, want [sha256.Size]byte, data []byte) error {
	if sha256.Sum256(data) != want {
		return fmt.Errorf("reading blob %s: %w: content does not match its digest", digest, ErrCorrupt)
	}
	return nil
}

func checkBlobSize(n int, limit int64) error {
	if int64(n) > limit {
		return fmt.Errorf("storing blob of %d bytes: %w (limit %d)", n, ErrTooLarge, limit)
	}
	return nil
}

// quoteShort quotes outside input for an error message, keeping it short.
func quoteShort(s string) string {
	const max = 100
	q := strconv.Quote(s)
	if len(q) <= max {
		return q
	}
	return q[:max] + "…"
}
