package truststore

import (
	"crypto/x509"
	"fmt"
	"time"

	"github.com/mtlslb/mtlslb/internal/crl"
	"github.com/mtlslb/mtlslb/internal/x509path"
)

// Default limits, as ALB's quotas except where mtlslb goes beyond them
// (1000 CA certificates instead of 25).
const (
	DefaultMaxCACertificates  = 1000
	DefaultMaxCertificateSize = 16 << 10
	DefaultMaxChainDepth      = 4
	DefaultMaxCRLs            = 30
	DefaultMaxRevokedEntries  = 500_000
	DefaultMaxCRLSize         = 50 << 20
)

// Limits bounds a trust store and the chains it verifies. A zero (or
// negative) field takes its default.
type Limits struct {
	// MaxCACertificates bounds the certificates of the CA bundle (default 1000).
	MaxCACertificates int
	// MaxCertificateSize bounds the DER bytes of each certificate, of the
	// bundle and presented (default 16384).
	MaxCertificateSize int
	// MaxChainDepth bounds the certificates presented and the certificates
	// on a path, leaf and anchor included (default 4). Whatever its value,
	// the path builder considers at most 64 presented intermediates.
	MaxChainDepth int
	// MaxCRLs bounds the revocation lists (default 30).
	MaxCRLs int
	// MaxRevokedEntries bounds the revoked entries over all lists (default 500000).
	MaxRevokedEntries int
	// MaxCRLSize bounds the bytes of each revocation list file (default 50 MiB, as ALB).
	MaxCRLSize int
}

// withDefaults returns l with every unset field at its default.
func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxCACertificates, DefaultMaxCACertificates)
	def(&l.MaxCertificateSize, DefaultMaxCertificateSize)
	def(&l.MaxChainDepth, DefaultMaxChainDepth)
	def(&l.MaxCRLs, DefaultMaxCRLs)
	def(&l.MaxRevokedEntries, DefaultMaxRevokedEntries)
	def(&l.MaxCRLSize, DefaultMaxCRLSize)
	return l
}

// CRLSource is one revocation list of a trust store.
type CRLSource struct {
	ID     int64  // the revocation id: unique in the trust store, never reused
	Data   []byte // PEM ("X509 CRL") or DER
	Source string // file path, for messages
}

// Config is everything New needs to compile a trust store.
type Config struct {
	Name         string
	Bundle       []byte // PEM CA certificates, ALB bundle rules
	BundleSource string // file path, for messages
	CRLs         []CRLSource
	Limits       Limits
	CRLPolicy    crl.Policy
	// RequireCRL (beyond ALB) fails every certificate on a path whose issuer
	// has no revocation list in the store, with ClientCertCrlProcessingError:
	// revocation status must be known, not assumed.
	RequireCRL bool
	// ParseCache, when set, reuses CRLs parsed by earlier compiles whose bytes
	// are the same (the engine keeps one across reloads).
	ParseCache *crl.ParseCache
}

// Store is a compiled trust store. It is immutable and safe for concurrent use.
type Store struct {
	name       string
	certs      []*x509.Certificate
	anchors    *x509path.Anchors
	crls       *crl.Set
	revs       []RevocationInfo
	limits     Limits
	policy     crl.Policy
	requireCRL bool
	// purpose is the extended key usage a leaf must allow: clientAuth. Only
	// the BetterTLS conformance test changes it (its leafs are server
	// certificates), so that the suite's EKU cases still exercise step 7.
	purpose x509.ExtKeyUsage
}

// New parses and checks cfg's bundle and revocation lists and compiles them.
// Every error is a *BundleError or a *RevocationError.
func New(cfg Config) (*Store, error) {
	limits := cfg.Limits.withDefaults()
	certs, err := parseBundle(cfg.Bundle, cfg.BundleSource, limits)
	if err != nil {
		return nil, err
	}
	set, revs, err := compileCRLs(cfg.CRLs, certs, limits, cfg.ParseCache)
	if err != nil {
		return nil, err
	}
	return &Store{
		name:       cfg.Name,
		certs:      certs,
		anchors:    x509path.NewAnchors(certs),
		crls:       set,
		revs:       revs,
		limits:     limits,
		policy:     cfg.CRLPolicy,
		requireCRL: cfg.RequireCRL,
		purpose:    x509.ExtKeyUsageClientAuth,
	}, nil
}

// compileCRLs parses every list, enforces the limits, checks the signature
// of every list whose issuer is in the bundle, and builds the index.
func compileCRLs(srcs []CRLSource, bundle []*x509.Certificate, limits Limits, cache *crl.ParseCache) (*crl.Set, []RevocationInfo, error) {
	if len(srcs) > limits.MaxCRLs {
		last := srcs[limits.MaxCRLs]
		return nil, nil, &RevocationError{ID: last.ID, Source: last.Source, TooMany: true,
			Msg: fmt.Sprintf("more than %d revocation lists (the trust store's limit)", limits.MaxCRLs)}
	}
	parsed := make([]crl.Source, 0, len(srcs))
	infos := make([]RevocationInfo, 0, len(srcs))
	seen := make(map[int64]bool, len(srcs))
	entries := 0
	for _, src := range srcs {
		if seen[src.ID] {
			return nil, nil, &RevocationError{ID: src.ID, Source: src.Source, Msg: "revocation id used twice"}
		}
		seen[src.ID] = true
		if len(src.Data) > limits.MaxCRLSize {
			return nil, nil, &RevocationError{ID: src.ID, Source: src.Source,
				Msg: fmt.Sprintf("the file is %d bytes, more than the limit of %d per revocation list", len(src.Data), limits.MaxCRLSize)}
		}
		list, err := cache.Parse(src.Data)
		if err != nil {
			return nil, nil, &RevocationError{ID: src.ID, Source: src.Source, Msg: err.Error()}
		}
		entries += list.Len()
		if entries > limits.MaxRevokedEntries {
			return nil, nil, &RevocationError{ID: src.ID, Source: src.Source, TooMany: true,
				Msg: fmt.Sprintf("the trust store would hold %d revoked entries, more than its limit of %d", entries, limits.MaxRevokedEntries)}
		}
		if err := checkBundleSignature(list, bundle); err != nil {
			return nil, nil, &RevocationError{ID: src.ID, Source: src.Source, Msg: err.Error()}
		}
		parsed = append(parsed, crl.Source{ID: src.ID, CRL: list})
		infos = append(infos, RevocationInfo{ID: src.ID, Issuer: list.Issuer(), Entries: list.Len(),
			ThisUpdate: list.ThisUpdate(), NextUpdate: list.NextUpdate()})
	}
	set, err := crl.NewSet(parsed, bundle)
	if err != nil {
		// The per-list checks above should have caught everything NewSet
		// refuses; if not, the error still names the list (crl promises it).
		return nil, nil, &RevocationError{Msg: err.Error()}
	}
	return set, infos, nil
}

// checkBundleSignature checks, when list's issuer is a bundle certificate,
// that one bundle certificate of that name signed it. Checking now (as ALB
// does) turns a wrong or tampered upload into an error at upload time instead
// of handshake failures later. Lists from issuers outside the bundle are
// checked at handshake time by crl.Set.
func checkBundleSignature(list *crl.CRL, bundle []*x509.Certificate) error {
	var firstErr error
	for _, ca := range bundle {
		if !namesEqual(ca.RawSubject, list.RawIssuer()) {
			continue
		}
		err := list.CheckSignatureFrom(ca)
		if err == nil {
			return nil
		}
		if firstErr == nil {
			firstErr = fmt.Errorf("signature does not verify with its issuer %s in the CA bundle: %w", nameString(ca.RawSubject), err)
		}
	}
	return firstErr
}

// Name returns the trust store's name.
func (s *Store) Name() string { return s.name }

// CACertificates returns the bundle's certificates in file order. The caller
// must not modify them.
func (s *Store) CACertificates() []*x509.Certificate { return s.certs }

// RevocationInfo describes one CRL of a compiled trust store (for status and metrics).
type RevocationInfo struct {
	ID                     int64
	Issuer                 string
	Entries                int
	ThisUpdate, NextUpdate time.Time // NextUpdate is zero when the CRL has none
}

// Revocations returns the trust store's CRLs; the slice must not be modified.
func (s *Store) Revocations() []RevocationInfo { return s.revs }

// RevokedEntries returns the number of revoked entries over all the trust store's CRLs.
func (s *Store) RevokedEntries() int {
	n := 0
	for _, r := range s.revs {
		n += r.Entries
	}
	return n
}
