package crl

import "sync"

// Bounds of the Set's caches. The caches only save work: when one is full it
// is emptied and refilled, so hostile input (a client presenting endless
// distinct certificates) costs CPU, never unbounded memory.
const (
	maxCachedVerdicts  = 4096 // about 300 KiB at most
	maxCachedNames     = 1024
	maxCachedNameBytes = 1024 // longer names are compared afresh every time
)

// verdictKey identifies one signature check by hashes: for a CRL signature,
// the CRL's position in the Set and the SHA-256 of the signer's
// SubjectPublicKeyInfo (the signature depends on nothing else); for a
// certificate signature (crl < 0), the SHA-256 of the certificate and of its
// issuer.
type verdictKey struct {
	crl  int32
	a, b [32]byte
}

// verdictCache remembers signature verdicts, which are expensive (an RSA or
// ECDSA verification) and never change for the same bytes.
type verdictCache struct {
	mu sync.RWMutex
	m  map[verdictKey]bool
}

func (v *verdictCache) get(k verdictKey) (valid, found bool) {
	v.mu.RLock()
	valid, found = v.m[k]
	v.mu.RUnlock()
	return valid, found
}

func (v *verdictCache) put(k verdictKey, valid bool) {
	v.mu.Lock()
	if v.m == nil || len(v.m) >= maxCachedVerdicts {
		v.m = make(map[verdictKey]bool)
	}
	v.m[k] = valid
	v.mu.Unlock()
}

// nameCache maps raw DER names that are not byte-identical to a CRL issuer's
// to their group (or -1 for none), so that name normalization (which
// allocates) runs once per distinct encoding instead of on every handshake.
type nameCache struct {
	mu sync.RWMutex
	m  map[string]int32
}

func (n *nameCache) get(raw []byte) (group int32, found bool) {
	n.mu.RLock()
	group, found = n.m[string(raw)]
	n.mu.RUnlock()
	return group, found
}

func (n *nameCache) put(raw []byte, group int32) {
	if len(raw) > maxCachedNameBytes {
		return
	}
	n.mu.Lock()
	if n.m == nil || len(n.m) >= maxCachedNames {
		n.m = make(map[string]int32)
	}
	n.m[string(raw)] = group
	n.mu.Unlock()
}
