// Package configstore keeps mtlslb's configuration: the listeners, target groups,
// trust stores and revocation lists the admin API manages, and the CA bundles and
// CRLs they reference.
//
// # Model
//
// The store is a sorted map of keys (resource paths such as
// "trust-stores/partners") to byte values, plus a content-addressed blob store.
//
//   - Revision. Every committed transaction increases the store-wide Revision by
//     exactly one. Each key remembers the revision that created it
//     (CreateRevision) and the one that last changed it (ModRevision).
//   - Snapshots. Get and Range read one consistent snapshot and return its
//     revision: a Range never mixes two transactions.
//   - Transactions. Txn checks per-key conditions (Cond: "ModRevision is still
//     N", or "the key does not exist") and then applies all its writes, or none.
//     A failed condition writes nothing and returns a *ConflictError wrapping
//     ErrConflict.
//   - Watch. Watch replays every revision after a given one, in order, and then
//     follows new ones. Stores keep a bounded window of recent revisions in memory;
//     older starting points get ErrCompacted, and a reader that falls out of the
//     window has its channel closed rather than events dropped.
//   - Blobs. PutBlob stores bytes under "sha256:<hex>", GetBlob verifies them
//     against that digest before returning them, and DeleteBlob removes them.
//     Blobs do not take revisions: a writer puts the blob, then commits the keys
//     that reference it in a Txn. A value references a blob by containing its
//     digest; Txn refuses a value naming a blob that is not stored, so a
//     committed value never names a missing blob.
//   - Garbage collection. CollectBlobs deletes the blobs no current value names
//     once they have stayed unreferenced for a grace period, in one write
//     transaction that rechecks the references (gc.go has the argument for why
//     it can never delete a blob a committed value names, nor lose one to the
//     put-then-Txn race). The caller runs it periodically (control.Service).
//
// # Why this shape
//
// An admin write ("replace this trust store's bundle and bump the listener that
// uses it") must be all-or-nothing, or a crash could leave a listener pointing at
// a half-written trust store; hence transactions. Per-key revision checks give the
// admin API ETag/If-Match for free: the ETag is the ModRevision, and If-Match
// becomes a Cond, so two operators editing the same resource cannot lose an
// update. Watch from a revision lets a node take a snapshot (Range) and then
// converge by applying every later change, without the list-then-watch race:
// changes committed between the Range and the Watch are replayed. Blobs are
// content-addressed because CA bundles and CRLs reach tens of megabytes and are
// shared and re-uploaded unchanged; addressing them by digest deduplicates them
// and lets a reader prove that the bytes it serves are the bytes that were
// written.
//
// # Implementations
//
//   - Bolt: one bbolt file (serve --data-dir). Commits are fsync'd before Txn
//     returns; a file held by another process fails OpenBolt within its timeout
//     with ErrLocked.
//   - File: a read-only view of a configuration file (serve --config); writes
//     fail with ErrReadOnly, and Refresh picks up edits.
//   - Memory: the Bolt semantics without a disk, for tests.
//
// One conformance suite (conformance_test.go) runs against all of them.
package configstore
