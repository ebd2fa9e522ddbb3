package configstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Memory is a Store held in memory, for tests. It has the same semantics as Bolt
// except durability: "fsync'd" means nothing here.
type Memory struct {
	mu      sync.RWMutex
	rev     Revision
	keys    map[string]record // values are immutable once stored
	blobs   map[string][]byte
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
	events, err := applyTxn(memoryTable{m.keys}, m.rev+1, conds, ops)
	if err != nil {
		return 0, fmt.Errorf("transaction: %w", err)
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
	delete(m.blobs, digest)
	return nil
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

// memoryTable adapts Memory's map to applyTxn.
type memoryTable struct{ keys map[string]record }

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
