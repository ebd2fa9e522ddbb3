package crl

import (
	"crypto/sha256"
	"runtime"
	"sync"
)

// ParseCache keeps parsed CRLs across configuration generations, so a reload re-parses only the CRLs whose
// bytes changed: parsing and indexing a 1 M-entry CRL takes ~0.1 s and twice its size in memory while it
// runs, and a trust store of 10 M entries would otherwise pay that in full for every unrelated change. A
// *CRL is immutable, so one can serve several generations at once.
//
// Entries are kept while a generation uses them: Sweep, called after a generation is in force, drops every
// entry not used since the previous Sweep. The zero value is not usable; a nil *ParseCache parses every time.
type ParseCache struct {
	mu      sync.Mutex
	entries map[[sha256.Size]byte]*cacheEntry
}

type cacheEntry struct {
	crl  *CRL
	used bool
}

// NewParseCache returns an empty cache.
func NewParseCache() *ParseCache {
	return &ParseCache{entries: map[[sha256.Size]byte]*cacheEntry{}}
}

// Parse returns the parsed CRL of data, from the cache when the same bytes were parsed before. Errors are
// not cached: a refused CRL is parsed again (and refused again) next time.
func (pc *ParseCache) Parse(data []byte) (*CRL, error) {
	if pc == nil {
		return Parse(data)
	}
	key := digestInChunks(data)
	pc.mu.Lock()
	if e := pc.entries[key]; e != nil {
		e.used = true
		pc.mu.Unlock()
		return e.crl, nil
	}
	pc.mu.Unlock()
	c, err := Parse(data)
	if err != nil {
		return nil, err
	}
	pc.mu.Lock()
	pc.entries[key] = &cacheEntry{crl: c, used: true}
	pc.mu.Unlock()
	return c, nil
}

// Sweep drops the CRLs not used by a Parse since the previous Sweep.
func (pc *ParseCache) Sweep() {
	if pc == nil {
		return
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	for k, e := range pc.entries {
		if !e.used {
			delete(pc.entries, k)
			continue
		}
		e.used = false
	}
}

// Len returns the number of cached CRLs.
func (pc *ParseCache) Len() int {
	if pc == nil {
		return 0
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return len(pc.entries)
}

// digestInChunks hashes data a chunk at a time, yielding between chunks (see decodeInput: one long call
// would hold a garbage collection, and every handshake, until it returns).
func digestInChunks(data []byte) [sha256.Size]byte {
	h := sha256.New()
	for len(data) > 0 {
		n := min(len(data), inputChunk)
		h.Write(data[:n])
		data = data[n:]
		if len(data) > 0 {
			runtime.Gosched()
		}
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}
