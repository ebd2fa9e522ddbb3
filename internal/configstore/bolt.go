package configstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// BoltOptions tunes OpenBolt. The zero value is the production default.
type BoltOptions struct {
	// Timeout bounds the wait for the file lock (default 1s): a file held by
	// another process is reported after Timeout instead of hanging serve.
	Timeout time.Duration
	// MaxBlobBytes is the largest blob or value accepted (default MaxBlobBytes).
	MaxBlobBytes int64
	// WatchHistory is how many recent revisions are kept in memory for Watch
	// (default DefaultWatchHistory; fewer when they hold more than 64 MiB of
	// values). History does not survive a restart: after OpenBolt, Watch can
	// start from the current revision onwards.
	WatchHistory int
}

// Bolt is a Store in one bbolt file (serve --data-dir). Every Txn, PutBlob,
// DeleteBlob and deleting CollectBlobs is fsync'd before it returns, so an
// acknowledged write survives a crash; bbolt's copy-on-write pages make a
// transaction all-or-nothing on disk.
type Bolt struct {
	path    string
	db      *bolt.DB
	maxBlob int64
	hub     *hub
	closed  atomic.Bool

	// writeMu spans a key transaction's commit and its publication to the hub,
	// so that watchers see revisions in commit order. bbolt alone serialises the
	// commits but not what happens after them.
	writeMu sync.Mutex

	// gcMu guards clocks and is held by CollectBlobs from its first scan
	// through its commit (gc.go explains why PutBlob must wait for it).
	gcMu   sync.Mutex
	clocks blobClocks

	// afterCollectScan, when set (tests), runs between a collection's read
	// scan and its write transaction.
	afterCollectScan func()
}

var _ Store = (*Bolt)(nil)

// File layout. Keys live in bucketKeys as encodeRecord values; the current
// revision in bucketMeta; blobs in bucketBlobs (see putBlobChunks).
const (
	bucketMeta  = "meta"
	bucketKeys  = "keys"
	bucketBlobs = "blobs"

	metaRevision = "revision"
	metaFormat   = "format"
)

const (
	boltFormat       = 1
	recordVersion    = 1
	recordHeaderSize = 1 + 8 + 8 // version, create revision, mod revision
	defaultLockWait  = time.Second

	// initialMmapSize reserves address space (not memory) for the file up
	// front. bbolt remaps when the file outgrows its mapping, and a remap copies
	// every value the writing transaction touched onto the heap: for a 50 MiB
	// blob, a second 50 MiB copy. etcd reserves 10 GiB for the same reason.
	initialMmapSize = 1 << 30
)

// OpenBolt opens (creating if needed, with its directory) the store file at path.
// A file locked by another process is reported within opts.Timeout with an error
// wrapping ErrLocked that names the file.
func OpenBolt(path string, opts BoltOptions) (*Bolt, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = defaultLockWait
	}
	if opts.MaxBlobBytes <= 0 {
		opts.MaxBlobBytes = MaxBlobBytes
	}
	// The store holds the whole configuration, so only its owner may read it.
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("opening store %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout, InitialMmapSize: initialMmapSize})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("opening store %s: %w: probably another mtlslb is running with this data directory; stop it or choose another --data-dir (waited %s)",
			path, ErrLocked, opts.Timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("opening store %s: %w", path, err)
	}
	var rev Revision
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{[]byte(bucketMeta), []byte(bucketKeys), []byte(bucketBlobs)} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket([]byte(bucketMeta))
		switch f := meta.Get([]byte(metaFormat)); {
		case f == nil:
			if err := meta.Put([]byte(metaFormat), []byte{boltFormat}); err != nil {
				return err
			}
		case len(f) != 1 || f[0] != boltFormat:
			return fmt.Errorf("unsupported store format %v (this mtlslb reads format %d)", f, boltFormat)
		}
		var err error
		rev, err = readRevision(meta)
		return err
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("opening store %s: %w", path, err)
	}
	return &Bolt{
		path:    path,
		db:      db,
		maxBlob: opts.MaxBlobBytes,
		hub:     newHub(rev, opts.WatchHistory),
		clocks:  make(blobClocks),
	}, nil
}

// Path returns the store's file.
func (b *Bolt) Path() string { return b.path }

// Get implements Store.
func (b *Bolt) Get(ctx context.Context, key string) (KV, bool, Revision, error) {
	var (
		kv  KV
		ok  bool
		rev Revision
	)
	err := b.view(ctx, func(tx *bolt.Tx) error {
		var err error
		if rev, err = readRevision(tx.Bucket([]byte(bucketMeta))); err != nil {
			return err
		}
		v := tx.Bucket([]byte(bucketKeys)).Get([]byte(key))
		if v == nil {
			return nil
		}
		r, err := decodeRecord(v)
		if err != nil {
			return err
		}
		kv, ok = r.kv(key), true
		return nil
	})
	if err != nil {
		return KV{}, false, 0, fmt.Errorf("getting key %q: %w", key, err)
	}
	return kv, ok, rev, nil
}

// Range implements Store.
func (b *Bolt) Range(ctx context.Context, prefix string) ([]KV, Revision, error) {
	var (
		out []KV
		rev Revision
	)
	err := b.view(ctx, func(tx *bolt.Tx) error {
		var err error
		if rev, err = readRevision(tx.Bucket([]byte(bucketMeta))); err != nil {
			return err
		}
		out, err = rangeKeys(tx.Bucket([]byte(bucketKeys)), []byte(prefix))
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("listing prefix %q: %w", prefix, err)
	}
	return out, rev, nil
}

// rangeKeys copies every key under prefix out of the memory map, whose bytes die
// with the read transaction.
func rangeKeys(bucket *bolt.Bucket, prefix []byte) ([]KV, error) {
	var out []KV
	c := bucket.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		r, err := decodeRecord(v)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k, err)
		}
		out = append(out, r.kv(string(k)))
	}
	return out, nil
}

// Txn implements Store.
func (b *Bolt) Txn(ctx context.Context, conds []Cond, ops []Op) (Revision, error) {
	if err := validateTxn(ctx, conds, ops, b.maxBlob); err != nil {
		return 0, err
	}
	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	if b.closed.Load() {
		return 0, fmt.Errorf("transaction: %w", ErrClosed)
	}
	var (
		rev    Revision
		events []Event
		named  []string
	)
	// An error inside Update rolls the whole bbolt transaction back; Update
	// returns only after the commit is fsync'd.
	err := b.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket([]byte(bucketMeta))
		cur, err := readRevision(meta)
		if err != nil {
			return err
		}
		rev = cur + 1
		table := boltTable{keys: tx.Bucket([]byte(bucketKeys)), blobs: tx.Bucket([]byte(bucketBlobs))}
		if events, named, err = applyTxn(table, rev, conds, ops); err != nil {
			return err
		}
		return meta.Put([]byte(metaRevision), binary.BigEndian.AppendUint64(nil, uint64(rev)))
	})
	if err != nil {
		return 0, fmt.Errorf("transaction: %w", b.mapErr(err))
	}
	if len(named) > 0 {
		// After the commit: a collection pass before this point sees the
		// reference itself (gc.go).
		b.gcMu.Lock()
		for _, d := range named {
			delete(b.clocks, d)
		}
		b.gcMu.Unlock()
	}
	b.hub.publish(rev, events)
	return rev, nil
}

// Watch implements Store.
func (b *Bolt) Watch(ctx context.Context, prefix string, after Revision) (<-chan []Event, error) {
	return b.hub.watch(ctx, prefix, after)
}

// PutBlob implements Store.
func (b *Bolt) PutBlob(ctx context.Context, data []byte) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("storing blob: %w", err)
	}
	if err := checkBlobSize(len(data), b.maxBlob); err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	digest := digestPrefix + hex.EncodeToString(sum[:])
	key := []byte(digest)
	// Restart the blob's grace period before looking for it: a collection that
	// already read the old clock finishes first, and then this put sees its
	// deletion and writes the blob again (gc.go).
	b.gcMu.Lock()
	delete(b.clocks, digest)
	b.gcMu.Unlock()
	// Most puts of a CA bundle repeat one already stored: answer those from a
	// read transaction, without the write lock and the fsync.
	var stored bool
	if err := b.view(ctx, func(tx *bolt.Tx) error {
		bb := tx.Bucket([]byte(bucketBlobs)).Bucket(key)
		stored = bb != nil && verifyBlobChunks(bb, sum) == nil
		return nil
	}); err != nil {
		return "", fmt.Errorf("storing blob %s: %w", digest, err)
	}
	if stored {
		return digest, nil
	}
	err := b.update(func(tx *bolt.Tx) error { return putBlobChunks(tx.Bucket([]byte(bucketBlobs)), key, sum, data) })
	if err != nil {
		return "", fmt.Errorf("storing blob %s: %w", digest, err)
	}
	return digest, nil
}

// Blob layout: each blob is a bucket of its own under []byte(bucketBlobs), named by its
// digest, holding its size and its content in chunks of blobChunkSize.
//
// Why not one value per blob: bbolt packs at least two values into a leaf, so a
// new 50 MiB blob stored next to another would rewrite (and buffer in memory) both
// on every commit. In a bucket of its own a blob shares pages with nobody: putting
// it allocates about its own size once, deleting it frees exactly its pages.
const blobChunkSize = 256 << 10

const blobSizeKey = "size"

func blobChunkKey(i int) []byte {
	k := make([]byte, 5)
	k[0] = 'c'
	binary.BigEndian.PutUint32(k[1:], uint32(i))
	return k
}

// putBlobChunks stores data, which bbolt references (does not copy) until the
// commit writes it into page buffers. A blob already stored intact is kept; a
// corrupted one is replaced, so uploading the content again repairs it.
func putBlobChunks(blobs *bolt.Bucket, key []byte, sum [sha256.Size]byte, data []byte) error {
	if old := blobs.Bucket(key); old != nil {
		if verifyBlobChunks(old, sum) == nil {
			return nil // a concurrent PutBlob of the same content won
		}
		if err := blobs.DeleteBucket(key); err != nil {
			return err
		}
	}
	bb, err := blobs.CreateBucket(key)
	if err != nil {
		return err
	}
	// Chunks are appended in key order: fill pages completely.
	bb.FillPercent = 1
	if err := bb.Put([]byte(blobSizeKey), binary.BigEndian.AppendUint64(nil, uint64(len(data)))); err != nil {
		return err
	}
	for i := 0; i*blobChunkSize < len(data); i++ {
		chunk := data[i*blobChunkSize : min((i+1)*blobChunkSize, len(data))]
		if err := bb.Put(blobChunkKey(i), chunk); err != nil {
			return err
		}
	}
	return nil
}

// blobChunks calls fn with each chunk of a blob, in order, after checking that the
// chunks are complete and add up to the recorded size; it returns that size.
// Chunks alias the memory map and are valid only inside the transaction.
func blobChunks(bb *bolt.Bucket, fn func(chunk []byte)) (uint64, error) {
	sizeV := bb.Get([]byte(blobSizeKey))
	if len(sizeV) != 8 {
		return 0, fmt.Errorf("%w: blob size record of %d bytes", ErrCorrupt, len(sizeV))
	}
	size := binary.BigEndian.Uint64(sizeV)
	var total uint64
	c := bb.Cursor()
	i := 0
	for k, v := c.Seek([]byte{'c'}); k != nil && k[0] == 'c'; k, v = c.Next() {
		if !bytes.Equal(k, blobChunkKey(i)) {
			return 0, fmt.Errorf("%w: blob chunk %x where chunk %d belongs", ErrCorrupt, k, i)
		}
		total += uint64(len(v))
		i++
	}
	if total != size {
		return 0, fmt.Errorf("%w: blob chunks hold %d bytes, size record says %d", ErrCorrupt, total, size)
	}
	if fn != nil {
		for k, v := c.Seek([]byte{'c'}); k != nil && k[0] == 'c'; k, v = c.Next() {
			fn(v)
		}
	}
	return size, nil
}

// readBlobChunks reassembles a blob into one new buffer. blobChunks checks the
// layout first, so that a corrupt size record cannot make it allocate wildly.
func readBlobChunks(bb *bolt.Bucket) ([]byte, error) {
	size, err := blobChunks(bb, nil)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, size)
	_, err = blobChunks(bb, func(chunk []byte) { out = append(out, chunk...) })
	return out, err
}

// verifyBlobChunks hashes a stored blob in place, without copying it.
func verifyBlobChunks(bb *bolt.Bucket, want [sha256.Size]byte) error {
	h := sha256.New()
	if _, err := blobChunks(bb, func(chunk []byte) { h.Write(chunk) }); err != nil {
		return err
	}
	if [sha256.Size]byte(h.Sum(nil)) != want {
		return fmt.Errorf("%w: blob content does not match its digest", ErrCorrupt)
	}
	return nil
}

// GetBlob implements Store.
func (b *Bolt) GetBlob(ctx context.Context, digest string) ([]byte, error) {
	sum, err := parseDigest(digest)
	if err != nil {
		return nil, err
	}
	var out []byte
	err = b.view(ctx, func(tx *bolt.Tx) error {
		bb := tx.Bucket([]byte(bucketBlobs)).Bucket([]byte(digest))
		if bb == nil {
			return ErrBlobNotFound
		}
		var err error
		out, err = readBlobChunks(bb)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading blob %s: %w", digest, err)
	}
	if err := checkBlob(digest, sum, out); err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteBlob implements Store.
func (b *Bolt) DeleteBlob(ctx context.Context, digest string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("deleting blob: %w", err)
	}
	if _, err := parseDigest(digest); err != nil {
		return err
	}
	err := b.update(func(tx *bolt.Tx) error {
		blobs := tx.Bucket([]byte(bucketBlobs))
		if blobs.Bucket([]byte(digest)) == nil {
			return ErrBlobNotFound
		}
		// Checked in the deleting transaction, so no Txn can name the blob
		// between the check and the deletion.
		refs, err := boltRefs(tx)
		if err != nil {
			return err
		}
		if _, named := refs[digest]; named {
			return fmt.Errorf("%w: a stored value names it", ErrBlobInUse)
		}
		return blobs.DeleteBucket([]byte(digest))
	})
	if err != nil {
		return fmt.Errorf("deleting blob %s: %w", digest, err)
	}
	b.gcMu.Lock()
	delete(b.clocks, digest)
	b.gcMu.Unlock()
	return nil
}

// CollectBlobs implements Store. A first pass in a read transaction updates the
// clocks; only when a blob's grace period has passed does a write transaction
// scan the values again and delete, so that a pass with nothing to delete takes
// neither bbolt's write lock nor an fsync. Deleting a blob frees its pages in
// bbolt's freelist, where later blobs reuse them: the file does not shrink, but
// it stops growing.
func (b *Bolt) CollectBlobs(ctx context.Context, now time.Time, grace time.Duration) (BlobCollection, error) {
	b.gcMu.Lock()
	defer b.gcMu.Unlock()
	var (
		expired []string
		res     BlobCollection
	)
	err := b.view(ctx, func(tx *bolt.Tx) error {
		refs, err := boltRefs(tx)
		if err != nil {
			return err
		}
		expired, res = b.clocks.observe(now, grace, storedBlobs(tx), refs)
		return nil
	})
	if err != nil {
		return BlobCollection{}, fmt.Errorf("collecting blobs: %w", err)
	}
	if len(expired) == 0 {
		return res, nil
	}
	if b.afterCollectScan != nil {
		b.afterCollectScan()
	}
	if err := ctx.Err(); err != nil {
		return BlobCollection{}, fmt.Errorf("collecting blobs: %w", err)
	}
	var reclaimed, named int
	var reclaimedBytes int64
	err = b.update(func(tx *bolt.Tx) error {
		reclaimed, named, reclaimedBytes = 0, 0, 0
		// The scan that decides, inside the write transaction: no Txn can commit
		// a value naming one of these blobs between it and the deletions.
		refs, err := boltRefs(tx)
		if err != nil {
			return err
		}
		blobs := tx.Bucket([]byte(bucketBlobs))
		for _, d := range expired {
			if _, ok := refs[d]; ok {
				named++
				continue
			}
			bb := blobs.Bucket([]byte(d))
			if bb == nil {
				continue // deleted by DeleteBlob meanwhile
			}
			size := storedBlobSize(bb)
			if err := blobs.DeleteBucket([]byte(d)); err != nil {
				return fmt.Errorf("deleting blob %s: %w", d, err)
			}
			reclaimed++
			reclaimedBytes += size
		}
		return nil
	})
	if err != nil {
		// Rolled back: the clocks still say expired, so the next pass tries again.
		return BlobCollection{}, fmt.Errorf("collecting blobs: %w", err)
	}
	for _, d := range expired {
		delete(b.clocks, d) // deleted, gone, or named again: no clock runs for it
	}
	res.Reclaimed, res.ReclaimedBytes = reclaimed, reclaimedBytes
	res.Referenced += named
	return res, nil
}

// boltRefs returns the digests the stored values name. A corrupt record is an
// error: a collection that cannot read every value must not delete anything.
func boltRefs(tx *bolt.Tx) (map[string]struct{}, error) {
	refs := make(map[string]struct{})
	err := tx.Bucket([]byte(bucketKeys)).ForEach(func(k, v []byte) error {
		r, err := decodeRecord(v)
		if err != nil {
			return fmt.Errorf("key %q: %w", k, err)
		}
		addBlobRefs(refs, r.value)
		return nil
	})
	return refs, err
}

// storedBlobs lists the stored blobs' digests. A bucket whose name is not a
// digest is no blob of this store's making and is left alone.
func storedBlobs(tx *bolt.Tx) []string {
	var out []string
	c := tx.Bucket([]byte(bucketBlobs)).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v != nil {
			continue // a plain value, not a blob's bucket
		}
		if _, err := parseDigest(string(k)); err == nil {
			out = append(out, string(k))
		}
	}
	return out
}

// storedBlobSize adds up a blob's chunks (their lengths only, without reading
// them), for the collection's report; a corrupt size record cannot inflate it.
func storedBlobSize(bb *bolt.Bucket) int64 {
	var n int64
	c := bb.Cursor()
	for k, v := c.Seek([]byte{'c'}); k != nil && k[0] == 'c'; k, v = c.Next() {
		n += int64(len(v))
	}
	return n
}

// Backup writes a consistent copy of the whole store file to w while the store
// keeps serving (a bbolt read transaction), and returns the bytes written.
func (b *Bolt) Backup(ctx context.Context, w io.Writer) (int64, error) {
	var n int64
	err := b.view(ctx, func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("backing up store %s: %w", b.path, err)
	}
	return n, nil
}

// Close implements Store: it ends every watcher and releases the file lock.
// Closing twice is harmless.
func (b *Bolt) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	b.hub.close()
	// Wait for a Txn in flight so that its publish finds the hub closed
	// rather than racing with db.Close.
	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	if err := b.db.Close(); err != nil {
		return fmt.Errorf("closing store %s: %w", b.path, err)
	}
	return nil
}

func (b *Bolt) view(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.closed.Load() {
		return ErrClosed
	}
	return b.mapErr(b.db.View(fn))
}

func (b *Bolt) update(fn func(*bolt.Tx) error) error {
	if b.closed.Load() {
		return ErrClosed
	}
	return b.mapErr(b.db.Update(fn))
}

// mapErr turns bbolt's "not open" after a concurrent Close into ErrClosed.
func (b *Bolt) mapErr(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

func readRevision(meta *bolt.Bucket) (Revision, error) {
	v := meta.Get([]byte(metaRevision))
	if v == nil {
		return 0, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: revision record of %d bytes", ErrCorrupt, len(v))
	}
	rev := Revision(binary.BigEndian.Uint64(v))
	if rev < 0 {
		return 0, fmt.Errorf("%w: negative revision", ErrCorrupt)
	}
	return rev, nil
}

// encodeRecord lays a key's record out as version, create revision, mod revision
// (big endian) and the value.
func encodeRecord(r record) []byte {
	buf := make([]byte, recordHeaderSize, recordHeaderSize+len(r.value))
	buf[0] = recordVersion
	binary.BigEndian.PutUint64(buf[1:9], uint64(r.createRev))
	binary.BigEndian.PutUint64(buf[9:17], uint64(r.modRev))
	return append(buf, r.value...)
}

// decodeRecord parses a stored record; its value aliases data. The file is
// outside input (a disk can corrupt it), so every field is checked.
func decodeRecord(data []byte) (record, error) {
	if len(data) < recordHeaderSize {
		return record{}, fmt.Errorf("%w: record of %d bytes, shorter than its %d-byte header", ErrCorrupt, len(data), recordHeaderSize)
	}
	if data[0] != recordVersion {
		return record{}, fmt.Errorf("%w: record version %d, want %d", ErrCorrupt, data[0], recordVersion)
	}
	r := record{
		createRev: Revision(binary.BigEndian.Uint64(data[1:9])),
		modRev:    Revision(binary.BigEndian.Uint64(data[9:17])),
		value:     data[recordHeaderSize:],
	}
	if r.createRev <= 0 || r.modRev < r.createRev {
		return record{}, fmt.Errorf("%w: record revisions create %d, mod %d", ErrCorrupt, r.createRev, r.modRev)
	}
	return r, nil
}

// boltTable adapts the keys and blobs buckets of a write transaction to applyTxn.
type boltTable struct{ keys, blobs *bolt.Bucket }

func (t boltTable) get(key string) (record, bool, error) {
	v := t.keys.Get([]byte(key))
	if v == nil {
		return record{}, false, nil
	}
	r, err := decodeRecord(v)
	if err != nil {
		return record{}, false, fmt.Errorf("key %q: %w", key, err)
	}
	return r, true, nil
}

func (t boltTable) put(key string, r record) error {
	return t.keys.Put([]byte(key), encodeRecord(r))
}

func (t boltTable) delete(key string) error {
	return t.keys.Delete([]byte(key))
}

func (t boltTable) hasBlob(digest string) (bool, error) {
	return t.blobs.Bucket([]byte(digest)) != nil, nil
}
