package configstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Memory is a Store held in memory, for tests. It has the same semantics as Bolt
// except durability: "fsync'd" means nothing here.
type Memory struct {
	mu      sync.RWMutex
	rev     Revision
	keys    map[string]record // values are immutable once stored
	blobs   map[string][]byte
	clocks  blobClocks // CollectBlobs' "unreferenced since", under mu
	closed  bool
	maxBlob int64
	hub     *hub
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory store at revision 0.
func NewMemory() *Memory {
	return newMemory(DefaultWatchHistory)
}

func newMemory(watchHistory int) *Memory {
	return &Memory{
		keys:    make(map[string]record),
		blobs:   make(map[string][]byte),
		clocks:  make(blobClocks),
		maxBlob: MaxBlobBytes,
		hub:     newHub(0, watchHistory),
	}
}

// Get implements Store.
func (m *Memory) Get(ctx context.Context, key string) (KV, bool, Revision, error) {
	if err := ctx.Err(); err != nil {
		return KV{}, false, 0, fmt.Errorf("getting key %q: %w", key, err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return KV{}, false, 0, fmt.Errorf("getting key %q: %w", key, ErrClosed)
	}
	r, ok := m.keys[key]
	if !ok {
		return KV{}, false, m.rev, nil
	}
	return r.kv(key), true, m.rev, nil
}

// Range implements Store.
func (m *Memory) Range(ctx context.Context, prefix string) ([]KV, Revision, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, fmt.Errorf("listing prefix %q: %w", prefix, err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, 0, fmt.Errorf("listing prefix %q: %w", prefix, ErrClosed)
	}
	var out []KV
	for k, r := range m.keys {
		if strings.HasPrefix(k, prefix) {
			out = append(out, r.kv(k))
		}
	}
	slices.SortFunc(out, func(a, b KV) int { return strings.Compare(a.Key, b.Key) })
	return out, m.rev, nil
}

// Txn implements Store.
func (m *Memory) Txn(ctx context.Context, conds []Cond, ops []Op) (Revision, error) {
	if err := validateTxn(ctx, conds, ops, m.maxBlob); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, fmt.Errorf("transaction: %w", ErrClosed)
	}
	// applyTxn checks every condition before its first write and memoryTable never
	// fails, so an error here has written nothing.
	events, named, err := applyTxn(memoryTable{m.keys, m.blobs}, m.rev+1, conds, ops)
	if err != nil {
		return 0, fmt.Errorf("transaction: %w", err)
	}
	for _, d := range named {
		delete(m.clocks, d)
	}
	m.rev++
	m.hub.publish(m.rev, events)
	return m.rev, nil
}

// Watch implements Store.
func (m *Memory) Watch(ctx context.Context, prefix string, after Revision) (<-chan []Event, error) {
	return m.hub.watch(ctx, prefix, after)
}

// PutBlob implements Store.
func (m *Memory) PutBlob(ctx context.Context, data []byte) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("storing blob: %w", err)
	}
	if err := checkBlobSize(len(data), m.maxBlob); err != nil {
		return "", err
	}
	digest := blobDigest(data)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return "", fmt.Errorf("storing blob: %w", ErrClosed)
	}
	// Under mu, like every collection, so no pass can be halfway through.
	delete(m.clocks, digest)
	if _, ok := m.blobs[digest]; !ok {
		m.blobs[digest] = cloneNonNil(data)
	}
	return digest, nil
}

// GetBlob implements Store.
func (m *Memory) GetBlob(ctx context.Context, digest string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("reading blob: %w", err)
	}
	sum, err := parseDigest(digest)
	if err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, fmt.Errorf("reading blob %s: %w", digest, ErrClosed)
	}
	data, ok := m.blobs[digest]
	if !ok {
		return nil, fmt.Errorf("reading blob %s: %w", digest, ErrBlobNotFound)
	}
	if err := checkBlob(digest, sum, data); err != nil {
		return nil, err
	}
	return cloneNonNil(data), nil
}

// DeleteBlob implements Store.
func (m *Memory) DeleteBlob(ctx context.Context, digest string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("deleting blob: %w", err)
	}
	if _, err := parseDigest(digest); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("deleting blob %s: %w", digest, ErrClosed)
	}
	if _, ok := m.blobs[digest]; !ok {
		return fmt.Errorf("deleting blob %s: %w", digest, ErrBlobNotFound)
	}
	if _, named := m.refsLocked()[digest]; named {
		return fmt.Errorf("deleting blob %s: %w: a stored value names it", digest, ErrBlobInUse)
	}
	delete(m.blobs, digest)
	delete(m.clocks, digest)
	return nil
}

// CollectBlobs implements Store. The whole pass holds mu, so it is one
// transaction against Txn and PutBlob (gc.go).
func (m *Memory) CollectBlobs(ctx context.Context, now time.Time, grace time.Duration) (BlobCollection, error) {
	if err := ctx.Err(); err != nil {
		return BlobCollection{}, fmt.Errorf("collecting blobs: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return BlobCollection{}, fmt.Errorf("collecting blobs: %w", ErrClosed)
	}
	stored := make([]string, 0, len(m.blobs))
	for d := range m.blobs {
		stored = append(stored, d)
	}
	expired, res := m.clocks.observe(now, grace, stored, m.refsLocked())
	for _, d := range expired {
		res.Reclaimed++
		res.ReclaimedBytes += int64(len(m.blobs[d]))
		delete(m.blobs, d)
		delete(m.clocks, d)
	}
	return res, nil
}

// refsLocked returns the digests stored values name; the caller holds mu.
func (m *Memory) refsLocked() map[string]struct{} {
	refs := make(map[string]struct{})
	for _, r := range m.keys {
		addBlobRefs(refs, r.value)
	}
	return refs
}

// Close implements Store. Closing twice is harmless.
func (m *Memory) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.hub.close()
	return nil
}

func (r record) kv(key string) KV {
	return KV{Key: key, Value: cloneNonNil(r.value), CreateRevision: r.createRev, ModRevision: r.modRev}
}

// memoryTable adapts Memory's maps to applyTxn.
type memoryTable struct {
	keys  map[string]record
	blobs map[string][]byte
}

func (t memoryTable) get(key string) (record, bool, error) {
	r, ok := t.keys[key]
	return r, ok, nil
}

func (t memoryTable) put(key string, r record) error {
	t.keys[key] = r
	return nil
}

func (t memoryTable) delete(key string) error {
	delete(t.keys, key)
	return nil
}

func (t memoryTable) hasBlob(digest string) (bool, error) {
	_, ok := t.blobs[digest]
	return ok, nil
}
