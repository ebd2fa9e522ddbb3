package configstore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// FileConfigKey is the one key of a File store: the configuration file's bytes.
const FileConfigKey = "config"

// File is a read-only Store over a configuration file (serve --config): the file
// is the source of truth, so every write is refused with an error wrapping
// ErrReadOnly that names it. The file's bytes are under FileConfigKey; Refresh
// re-reads them. Revisions count the distinct contents seen since OpenFile.
type File struct {
	path string
	hub  *hub

	mu     sync.RWMutex
	data   []byte // immutable; replaced by Refresh
	rev    Revision
	closed bool
}

var _ Store = (*File)(nil)

// OpenFile reads the configuration file at path; its content is revision 1, which
// Watch from revision 0 delivers.
func OpenFile(path string) (*File, error) {
	data, err := readConfigFile(path)
	if err != nil {
		return nil, err
	}
	f := &File{path: path, hub: newHub(0, DefaultWatchHistory)}
	f.install(data)
	return f, nil
}

// Path returns the configuration file.
func (f *File) Path() string { return f.path }

// Refresh re-reads the file. When its content changed it becomes a new revision
// (and a Watch event) and changed is true. On error the last content stays
// current: an editor that replaces the file by rename leaves a moment without it.
func (f *File) Refresh() (changed bool, err error) {
	data, err := readConfigFile(f.path)
	if err != nil {
		return false, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false, fmt.Errorf("refreshing %s: %w", f.path, ErrClosed)
	}
	if bytes.Equal(data, f.data) {
		return false, nil
	}
	f.installLocked(data)
	return true, nil
}

func (f *File) install(data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.installLocked(data)
}

func (f *File) installLocked(data []byte) {
	f.rev++
	f.data = data
	f.hub.publish(f.rev, []Event{{KV: f.kvLocked()}})
}

// kvLocked is the one key; the file exists from revision 1 on and is never
// deleted from the store's point of view, so CreateRevision is always 1.
func (f *File) kvLocked() KV {
	return KV{Key: FileConfigKey, Value: f.data, CreateRevision: 1, ModRevision: f.rev}
}

// Get implements Store.
func (f *File) Get(ctx context.Context, key string) (KV, bool, Revision, error) {
	if err := ctx.Err(); err != nil {
		return KV{}, false, 0, fmt.Errorf("getting key %q: %w", key, err)
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return KV{}, false, 0, fmt.Errorf("getting key %q: %w", key, ErrClosed)
	}
	if key != FileConfigKey {
		return KV{}, false, f.rev, nil
	}
	kv := f.kvLocked()
	kv.Value = cloneNonNil(kv.Value)
	return kv, true, f.rev, nil
}

// Range implements Store.
func (f *File) Range(ctx context.Context, prefix string) ([]KV, Revision, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, fmt.Errorf("listing prefix %q: %w", prefix, err)
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return nil, 0, fmt.Errorf("listing prefix %q: %w", prefix, ErrClosed)
	}
	if !strings.HasPrefix(FileConfigKey, prefix) {
		return nil, f.rev, nil
	}
	kv := f.kvLocked()
	kv.Value = cloneNonNil(kv.Value)
	return []KV{kv}, f.rev, nil
}

// Txn implements Store: always refused.
func (f *File) Txn(ctx context.Context, conds []Cond, ops []Op) (Revision, error) {
	return 0, f.refuse("transaction")
}

// Watch implements Store: it sees the revisions Refresh creates.
func (f *File) Watch(ctx context.Context, prefix string, after Revision) (<-chan []Event, error) {
	return f.hub.watch(ctx, prefix, after)
}

// PutBlob implements Store: always refused.
func (f *File) PutBlob(ctx context.Context, data []byte) (string, error) {
	return "", f.refuse("storing blob")
}

// GetBlob implements Store. A configuration file names its CA bundles and CRLs by
// path, so the store holds no blobs.
func (f *File) GetBlob(ctx context.Context, digest string) ([]byte, error) {
	if _, err := parseDigest(digest); err != nil {
		return nil, err
	}
	if f.isClosed() {
		return nil, fmt.Errorf("reading blob %s: %w", digest, ErrClosed)
	}
	return nil, fmt.Errorf("reading blob %s: %w (file mode keeps no blobs)", digest, ErrBlobNotFound)
}

// DeleteBlob implements Store: always refused.
func (f *File) DeleteBlob(ctx context.Context, digest string) error {
	return f.refuse("deleting blob")
}

// CollectBlobs implements Store: a File store holds no blobs, so there is nothing
// to collect.
func (f *File) CollectBlobs(ctx context.Context, now time.Time, grace time.Duration) (BlobCollection, error) {
	if err := ctx.Err(); err != nil {
		return BlobCollection{}, fmt.Errorf("collecting blobs: %w", err)
	}
	if f.isClosed() {
		return BlobCollection{}, fmt.Errorf("collecting blobs: %w", ErrClosed)
	}
	return BlobCollection{}, nil
}

// Close implements Store. Closing twice is harmless.
func (f *File) Close() error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.hub.close()
	return nil
}

func (f *File) isClosed() bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.closed
}

func (f *File) refuse(doing string) error {
	if f.isClosed() {
		return fmt.Errorf("%s: %w", doing, ErrClosed)
	}
	return fmt.Errorf("%s: %w: the configuration file %s is the source of truth (serve --config); edit the file instead, or run serve --data-dir to manage the configuration through the admin API",
		doing, ErrReadOnly, f.path)
}

// readConfigFile reads at most MaxBlobBytes, so a wrong path (a disk image, a
// device) fails clearly instead of exhausting memory.
func readConfigFile(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading configuration file: %w", err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, MaxBlobBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading configuration file %s: %w", path, err)
	}
	if len(data) > MaxBlobBytes {
		return nil, fmt.Errorf("reading configuration file %s: %w (limit %d bytes)", path, ErrTooLarge, MaxBlobBytes)
	}
	return data, nil
}
