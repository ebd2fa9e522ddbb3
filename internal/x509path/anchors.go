package x509path

import (
	"crypto/sha256"
	"crypto/x509"
	"sync"
)

// sigCacheSize bounds the verified-signature cache of one Anchors: enough for
// every intermediate→anchor edge of a large trust store plus recent client
// leaves, at about 100 bytes an entry.
const sigCacheSize = 4096

// Anchors is an immutable, indexed set of trust anchors. Every certificate of
// a trust store's CA bundle is an anchor: a path ends at the first bundle
// certificate it reaches, as in ALB. Build it once per trust store and share
// it between goroutines.
type Anchors struct {
	certs []*x509.Certificate
	infos []certInfo
	// byRaw finds an anchor by its whole DER, so that a presented copy of an
	// anchor ends the path there.
	byRaw map[string]int
	// bySubject lists anchors by x509name key of their subject, in bundle
	// order; subjectKeyByRaw maps a raw subject encoding to its key so that
	// the common case (an issuer field byte-identical to the anchor's
	// subject) needs no parsing per handshake.
	bySubject       map[string][]int
	subjectKeyByRaw map[string]string
	// subjectFPs holds the subject fingerprints of all anchors, so that an
	// issuer name no anchor has is dismissed without parsing; it is nil if
	// some anchor's subject has no fingerprint.
	subjectFPs map[uint64]struct{}
	sigs       *sigCache
}

// NewAnchors indexes certs as trust anchors. Nil entries and exact duplicates
// are ignored. An anchor whose subject does not parse as a distinguished name
// can never be reached, and one that may not issue certificates (cA false,
// keyUsage without keyCertSign, an unsupported critical extension or
// unparseable name constraints) never ends a path; Build reports why.
func NewAnchors(certs []*x509.Certificate) *Anchors {
	a := &Anchors{
		byRaw:           make(map[string]int, len(certs)),
		bySubject:       make(map[string][]int, len(certs)),
		subjectKeyByRaw: make(map[string]string, len(certs)),
		subjectFPs:      make(map[uint64]struct{}, len(certs)),
		sigs:            &sigCache{verified: make(map[sigKey]struct{})},
	}
	for _, cert := range certs {
		if cert == nil {
			continue
		}
		if _, dup := a.byRaw[string(cert.Raw)]; dup {
			continue
		}
		i := len(a.infos)
		a.certs = append(a.certs, cert)
		a.infos = append(a.infos, newAnchorInfo(cert))
		a.byRaw[string(cert.Raw)] = i
		info := &a.infos[i]
		if key, ok := info.subjectKeyOf(); ok {
			a.bySubject[key] = append(a.bySubject[key], i)
			a.subjectKeyByRaw[string(cert.RawSubject)] = key
			if !info.subjectFPOK {
				a.subjectFPs = nil
			} else if a.subjectFPs != nil {
				a.subjectFPs[info.subjectFP] = struct{}{}
			}
		}
	}
	return a
}

// Certificates returns the anchors, without duplicates, in the order given to
// NewAnchors. The slice must not be modified.
func (a *Anchors) Certificates() []*x509.Certificate {
	if a == nil {
		return nil
	}
	return a.certs
}

// issuersOf returns the indices of anchors whose subject matches the
// child's issuer.
func (a *Anchors) issuersOf(child *certInfo) []int {
	if key, ok := a.subjectKeyByRaw[string(child.cert.RawIssuer)]; ok {
		return a.bySubject[key]
	}
	if a.subjectFPs != nil && child.issuerFPOK {
		if _, maybe := a.subjectFPs[child.issuerFP]; !maybe {
			return nil
		}
	}
	key, ok := child.issuerKeyOf()
	if !ok {
		return nil
	}
	return a.bySubject[key]
}

// sigKey identifies a verified signature: the SHA-256 of the whole child
// certificate (which covers its TBS, algorithm and signature) and of the
// issuer's SubjectPublicKeyInfo.
type sigKey [2 * sha256.Size]byte

// sigCache remembers signatures that were part of a fully valid path, so that
// the intermediate→anchor signature of a busy trust store is verified once,
// not on every handshake. Only edges of valid paths are added: a client
// cannot fill the cache with signatures of its own making without a
// certificate from the trust store's CAs.
type sigCache struct {
	mu       sync.RWMutex
	verified map[sigKey]struct{}
}

func newSigKey(child, parent *certInfo) sigKey {
	var k sigKey
	copy(k[:sha256.Size], child.rawHashOf()[:])
	copy(k[sha256.Size:], parent.spkiHashOf()[:])
	return k
}

// contains and add treat a nil cache as empty and full, so the cache can be
// switched off (benchmarks measure what it saves).
func (s *sigCache) contains(k sigKey) bool {
	if s == nil {
		return false
	}
	s.mu.RLock()
	_, ok := s.verified[k]
	s.mu.RUnlock()
	return ok
}

func (s *sigCache) add(k sigKey) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.verified[k]; ok {
		return
	}
	if len(s.verified) >= sigCacheSize {
		// Evict one entry at random (map iteration order is randomised):
		// a hot intermediate→anchor edge that is evicted comes back on the
		// next handshake that uses it.
		for old := range s.verified {
			delete(s.verified, old)
			break
		}
	}
	s.verified[k] = struct{}{}
}
