package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/mtlslb/mtlslb/internal/config"
	"github.com/mtlslb/mtlslb/internal/configstore"
	"github.com/mtlslb/mtlslb/internal/crl"
	"github.com/mtlslb/mtlslb/internal/health"
	"github.com/mtlslb/mtlslb/internal/truststore"
)

// Keys of the store.
const (
	keyConfig      = "config"
	prefixTrust    = "truststores/"
	digestPrefix   = "sha256:"
	revocationType = "CRL"
)

// Options configures a Service.
type Options struct {
	Store configstore.Store
	// Dir resolves relative paths of the stored document (listener certificate files): the data directory.
	Dir string
	Now func() time.Time
	// Check compiles a would-be document in full (engine.Compile), reading files with readFile, which also
	// serves blobs. A write after which the document would not compile is refused. Nil checks nothing more
	// than the document's own validation and the trust stores' own rules.
	Check func(doc *config.Document, readFile func(string) ([]byte, error)) error
	// ReadFile reads listener certificate files (default os.ReadFile via the engine's default).
	ReadFile func(string) ([]byte, error)
	// Health returns the running health of a target group's targets (engine.TargetHealth); nil, or ok false,
	// when nothing runs the group.
	Health func(group string) ([]health.TargetHealth, bool)
	// BlobGrace is how long a CA bundle or CRL stays stored after nothing names it any more (default
	// DefaultBlobGrace): the time a request has between storing a blob and the write that names it, and a
	// reader of the previous revision to read it. Safety does not depend on it (configstore's gc.go).
	BlobGrace time.Duration
}

// Blob collection defaults.
const (
	// DefaultBlobGrace is Options.BlobGrace's default: far longer than any request takes between storing a
	// blob and naming it, or than a reload takes to read the blobs of the revision it applies.
	DefaultBlobGrace = 5 * time.Minute
	// DefaultBlobCollectionInterval is RunBlobCollection's default interval. A removed CRL's space is thus
	// reclaimed between DefaultBlobGrace and DefaultBlobGrace plus two intervals after its removal.
	DefaultBlobCollectionInterval = time.Minute
)

// Service runs the control-plane operations. It is safe for concurrent use: every write is one store
// transaction conditioned on the revisions it read, so concurrent writers never lose an update (the loser
// gets ConcurrentModification and may retry).
type Service struct {
	opts Options
}

// New returns a Service over opts.Store.
func New(opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.BlobGrace <= 0 {
		opts.BlobGrace = DefaultBlobGrace
	}
	return &Service{opts: opts}
}

// TrustStore is a stored trust store, as describe-trust-stores shows it.
type TrustStore struct {
	Name                   string       `json:"name"`
	CACertificatesBundle   string       `json:"ca_certificates_bundle"` // the bundle's content address
	BundleSource           string       `json:"bundle_source,omitempty"`
	NumberOfCACertificates int          `json:"number_of_ca_certificates"`
	TotalRevokedEntries    int          `json:"total_revoked_entries"`
	Revocations            []Revocation `json:"revocations"`
	NextRevocationID       int64        `json:"next_revocation_id"`
	CreatedAt              time.Time    `json:"created_at"`
	UpdatedAt              time.Time    `json:"updated_at"`

	modRevision configstore.Revision
}

// Revocation is one CRL of a trust store.
type Revocation struct {
	ID                     int64      `json:"revocation_id"`
	Type                   string     `json:"revocation_type"`
	Content                string     `json:"content_digest"`
	Source                 string     `json:"source,omitempty"`
	NumberOfRevokedEntries int        `json:"number_of_revoked_entries"`
	Issuer                 string     `json:"issuer"`
	ThisUpdate             time.Time  `json:"this_update"`
	NextUpdate             *time.Time `json:"next_update,omitempty"`
}

// Upload is a file sent by a client: its name (for messages) and content.
type Upload struct {
	Name string
	Data []byte
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$`)

func checkName(name string) error {
	if len(name) < 1 || len(name) > 32 || !namePattern.MatchString(name) {
		return newError(CodeValidationError, http.StatusBadRequest,
			"trust store name %q: 1–32 letters and digits, with single hyphens between them (ALB's rule)", name)
	}
	return nil
}

func (s *Service) get(ctx context.Context, name string) (*TrustStore, error) {
	kv, ok, _, err := s.opts.Store.Get(ctx, prefixTrust+name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, notFound(name)
	}
	return decodeTrustStore(kv)
}

func decodeTrustStore(kv configstore.KV) (*TrustStore, error) {
	var ts TrustStore
	if err := json.Unmarshal(kv.Value, &ts); err != nil {
		return nil, fmt.Errorf("stored trust store %s is corrupt: %w", kv.Key, err)
	}
	ts.modRevision = kv.ModRevision
	return &ts, nil
}

// compile checks a trust store's bundle and CRLs exactly as serving would.
func (s *Service) compile(ctx context.Context, name string, bundle []byte, bundleSource string, revs []Revocation, added []Upload, firstID int64) (*truststore.Store, error) {
	cfg := truststore.Config{Name: name, Bundle: bundle, BundleSource: bundleSource}
	for _, r := range revs {
		data, err := s.opts.Store.GetBlob(ctx, r.Content)
		if err != nil {
			return nil, fmt.Errorf("reading revocation %d: %w", r.ID, err)
		}
		cfg.CRLs = append(cfg.CRLs, truststore.CRLSource{ID: r.ID, Data: data, Source: r.Source})
	}
	for i, u := range added {
		cfg.CRLs = append(cfg.CRLs, truststore.CRLSource{ID: firstID + int64(i), Data: u.Data, Source: u.Name})
	}
	store, err := truststore.New(cfg)
	if err != nil {
		return nil, trustStoreError(err)
	}
	return store, nil
}

// trustStoreError maps truststore's typed errors to ALB's names.
func trustStoreError(err error) error {
	var be *truststore.BundleError
	if errors.As(err, &be) {
		return newError(be.Code(), http.StatusBadRequest, "%s", be.Error())
	}
	var re *truststore.RevocationError
	if errors.As(err, &re) {
		return newError(re.Code(), http.StatusBadRequest, "%s", re.Error())
	}
	return newError(CodeInvalidCaCertificates, http.StatusBadRequest, "%s", err.Error())
}

// revocationInfo describes an uploaded CRL (already accepted by compile).
func revocationInfo(id int64, u Upload, digest string) Revocation {
	r := Revocation{ID: id, Type: revocationType, Content: digest, Source: u.Name}
	if c, err := crl.Parse(u.Data); err == nil {
		r.NumberOfRevokedEntries = c.Len()
		r.Issuer = c.Issuer()
		r.ThisUpdate = c.ThisUpdate().UTC()
		if nu := c.NextUpdate(); !nu.IsZero() {
			nu = nu.UTC()
			r.NextUpdate = &nu
		}
	}
	return r
}

func (s *Service) putBlobs(ctx context.Context, uploads []Upload) ([]string, error) {
	digests := make([]string, len(uploads))
	for i, u := range uploads {
		d, err := s.opts.Store.PutBlob(ctx, u.Data)
		if err != nil {
			return nil, fmt.Errorf("storing %s: %w", u.Name, err)
		}
		digests[i] = d
	}
	return digests, nil
}

// CreateTrustStore creates a trust store from a CA bundle and optional CRLs.
func (s *Service) CreateTrustStore(ctx context.Context, name string, bundle Upload, crls []Upload) (*TrustStore, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if _, err := s.get(ctx, name); err == nil {
		return nil, duplicate(name)
	} else if AsError(err).Code != CodeTrustStoreNotFound {
		return nil, err
	}
	compiled, err := s.compile(ctx, name, bundle.Data, bundle.Name, nil, crls, 1)
	if err != nil {
		return nil, err
	}
	digests, err := s.putBlobs(ctx, append([]Upload{bundle}, crls...))
	if err != nil {
		return nil, err
	}
	now := s.opts.Now().UTC()
	ts := &TrustStore{
		Name: name, CACertificatesBundle: digests[0], BundleSource: bundle.Name,
		NumberOfCACertificates: len(compiled.CACertificates()),
		Revocations:            []Revocation{},
		NextRevocationID:       int64(len(crls)) + 1,
		CreatedAt:              now, UpdatedAt: now,
	}
	for i, u := range crls {
		ts.Revocations = append(ts.Revocations, revocationInfo(int64(i+1), u, digests[i+1]))
	}
	if err := s.write(ctx, ts, 0); err != nil {
		// The write requires the key to be absent, so a conflict means a concurrent create took the name
		// after it was read as free: ALB's answer to that is the same as to a name taken long ago.
		if errors.Is(err, configstore.ErrConflict) {
			return nil, duplicate(name)
		}
		return nil, err
	}
	return ts, nil
}

func duplicate(name string) *Error {
	return newError(CodeDuplicateTrustStoreName, http.StatusBadRequest, "a trust store named %q exists already", name)
}

// write stores ts if its key is still at revision want (0: must not exist).
func (s *Service) write(ctx context.Context, ts *TrustStore, want configstore.Revision) error {
	ts.TotalRevokedEntries = 0
	for _, r := range ts.Revocations {
		ts.TotalRevokedEntries += r.NumberOfRevokedEntries
	}
	data, err := json.Marshal(ts)
	if err != nil {
		return err
	}
	rev, err := s.opts.Store.Txn(ctx,
		[]configstore.Cond{{Key: prefixTrust + ts.Name, ModRevision: want}},
		[]configstore.Op{{Key: prefixTrust + ts.Name, Value: data}})
	if err != nil {
		return storeError(err)
	}
	ts.modRevision = rev
	return nil
}

func storeError(err error) error {
	var e *Error
	switch {
	case errors.Is(err, configstore.ErrConflict):
		e = newError(CodeConflict, http.StatusConflict, "the store changed while this request was processed; retry (%v)", err)
	case errors.Is(err, configstore.ErrBlobNotFound):
		// The store refuses a value naming a blob it does not hold. A write names only blobs it has just
		// stored, so one was collected meanwhile: the request stalled for longer than the grace period
		// between storing it and the write. Retrying stores it again.
		e = newError(CodeConflict, http.StatusConflict,
			"a CA bundle or CRL this request stored was collected as unreferenced before the request could use it; retry (%v)", err)
	case errors.Is(err, configstore.ErrReadOnly):
		e = newError(CodeReadOnly, http.StatusConflict, "%v", err)
	default:
		return err
	}
	e.cause = err
	return e
}

// ModifyTrustStore replaces a trust store's CA bundle (whole, never edited in place).
func (s *Service) ModifyTrustStore(ctx context.Context, name string, bundle Upload) (*TrustStore, error) {
	ts, err := s.get(ctx, name)
	if err != nil {
		return nil, err
	}
	compiled, err := s.compile(ctx, name, bundle.Data, bundle.Name, ts.Revocations, nil, 0)
	if err != nil {
		return nil, err
	}
	digests, err := s.putBlobs(ctx, []Upload{bundle})
	if err != nil {
		return nil, err
	}
	next := *ts
	next.CACertificatesBundle, next.BundleSource = digests[0], bundle.Name
	next.NumberOfCACertificates = len(compiled.CACertificates())
	next.UpdatedAt = s.opts.Now().UTC()
	if err := s.checkWith(ctx, &next); err != nil {
		return nil, err
	}
	if err := s.write(ctx, &next, ts.modRevision); err != nil {
		return nil, err
	}
	return &next, nil
}

// AddRevocations adds CRLs and returns them with their new revocation ids.
func (s *Service) AddRevocations(ctx context.Context, name string, crls []Upload) ([]Revocation, error) {
	if len(crls) == 0 {
		return nil, newError(CodeValidationError, http.StatusBadRequest, "no CRL given")
	}
	ts, err := s.get(ctx, name)
	if err != nil {
		return nil, err
	}
	bundle, err := s.opts.Store.GetBlob(ctx, ts.CACertificatesBundle)
	if err != nil {
		return nil, err
	}
	if _, err := s.compile(ctx, name, bundle, ts.BundleSource, ts.Revocations, crls, ts.NextRevocationID); err != nil {
		return nil, err
	}
	digests, err := s.putBlobs(ctx, crls)
	if err != nil {
		return nil, err
	}
	next := *ts
	next.Revocations = slices.Clone(ts.Revocations)
	var added []Revocation
	for i, u := range crls {
		r := revocationInfo(ts.NextRevocationID+int64(i), u, digests[i])
		added = append(added, r)
		next.Revocations = append(next.Revocations, r)
	}
	// Ids are never reused, even after removal: the counter only grows.
	next.NextRevocationID = ts.NextRevocationID + int64(len(crls))
	next.UpdatedAt = s.opts.Now().UTC()
	if err := s.checkWith(ctx, &next); err != nil {
		return nil, err
	}
	if err := s.write(ctx, &next, ts.modRevision); err != nil {
		return nil, err
	}
	return added, nil
}

// RemoveRevocations removes CRLs by id.
func (s *Service) RemoveRevocations(ctx context.Context, name string, ids []int64) error {
	ts, err := s.get(ctx, name)
	if err != nil {
		return err
	}
	next := *ts
	next.Revocations = nil
	for _, id := range ids {
		if !slices.ContainsFunc(ts.Revocations, func(r Revocation) bool { return r.ID == id }) {
			return newError(CodeRevocationIDNotFound, http.StatusNotFound, "trust store %q has no revocation %d", name, id)
		}
	}
	for _, r := range ts.Revocations {
		if !slices.Contains(ids, r.ID) {
			next.Revocations = append(next.Revocations, r)
		}
	}
	if next.Revocations == nil {
		next.Revocations = []Revocation{}
	}
	next.UpdatedAt = s.opts.Now().UTC()
	if err := s.checkWith(ctx, &next); err != nil {
		return err
	}
	// The CRL's blob stays in the store until CollectBlobs finds nothing naming it for the grace period: it
	// is content-addressed, so another trust store (or a request in flight) may name the same content.
	return s.write(ctx, &next, ts.modRevision)
}

// DeleteTrustStore deletes a trust store no listener uses.
func (s *Service) DeleteTrustStore(ctx context.Context, name string) error {
	ts, err := s.get(ctx, name)
	if err != nil {
		return err
	}
	// The document's revision is read before the associations and conditions the delete: a put that names
	// the trust store after this read makes the delete fail, instead of leaving a stored document that names
	// a trust store which no longer exists (no reload could apply it).
	_, configRev, _, err := s.GetConfig(ctx)
	if err != nil {
		return err
	}
	assoc, err := s.DescribeAssociations(ctx, name)
	if err != nil {
		return err
	}
	if len(assoc) > 0 {
		return newError(CodeTrustStoreInUse, http.StatusBadRequest, "trust store %q is used by %s", name, strings.Join(assoc, ", "))
	}
	if _, err := s.opts.Store.Txn(ctx,
		[]configstore.Cond{{Key: prefixTrust + name, ModRevision: ts.modRevision}, {Key: keyConfig, ModRevision: configRev}},
		[]configstore.Op{{Key: prefixTrust + name, Delete: true}}); err != nil {
		return storeError(err)
	}
	return nil
}

// DescribeTrustStores returns the named trust store, or all of them when name is "".
func (s *Service) DescribeTrustStores(ctx context.Context, name string) ([]TrustStore, error) {
	if name != "" {
		ts, err := s.get(ctx, name)
		if err != nil {
			return nil, err
		}
		return []TrustStore{*ts}, nil
	}
	kvs, _, err := s.opts.Store.Range(ctx, prefixTrust)
	if err != nil {
		return nil, err
	}
	out := []TrustStore{}
	for _, kv := range kvs {
		ts, err := decodeTrustStore(kv)
		if err != nil {
			return nil, err
		}
		out = append(out, *ts)
	}
	return out, nil
}

// DescribeRevocations returns a trust store's CRLs.
func (s *Service) DescribeRevocations(ctx context.Context, name string) ([]Revocation, error) {
	ts, err := s.get(ctx, name)
	if err != nil {
		return nil, err
	}
	return ts.Revocations, nil
}

// GetCABundle returns a trust store's CA bundle as uploaded.
func (s *Service) GetCABundle(ctx context.Context, name string) ([]byte, error) {
	ts, err := s.get(ctx, name)
	if err != nil {
		return nil, err
	}
	return s.opts.Store.GetBlob(ctx, ts.CACertificatesBundle)
}

// GetRevocationContent returns a CRL as uploaded.
func (s *Service) GetRevocationContent(ctx context.Context, name string, id int64) ([]byte, error) {
	ts, err := s.get(ctx, name)
	if err != nil {
		return nil, err
	}
	for _, r := range ts.Revocations {
		if r.ID == id {
			return s.opts.Store.GetBlob(ctx, r.Content)
		}
	}
	return nil, newError(CodeRevocationIDNotFound, http.StatusNotFound, "trust store %q has no revocation %d", name, id)
}

// DescribeAssociations lists the listeners that use a trust store, as "listeners[0] (127.0.0.1:8443)".
func (s *Service) DescribeAssociations(ctx context.Context, name string) ([]string, error) {
	if _, err := s.get(ctx, name); err != nil {
		return nil, err
	}
	doc, _, err := s.Document(ctx)
	if err != nil || doc == nil {
		return []string{}, err
	}
	out := []string{}
	for i, l := range doc.Listeners {
		if l.MutualAuthentication.TrustStore == name {
			out = append(out, fmt.Sprintf("listeners[%d] (%s:%d)", i, orAll(l.Address), l.Port))
		}
	}
	return out, nil
}

func orAll(addr string) string {
	if addr == "" {
		return "*"
	}
	return addr
}

// GetConfig returns the stored document and its revision (the ETag); ok is false when there is none yet.
func (s *Service) GetConfig(ctx context.Context) (data []byte, rev configstore.Revision, ok bool, err error) {
	kv, ok, _, err := s.opts.Store.Get(ctx, keyConfig)
	if err != nil || !ok {
		return nil, 0, ok, err
	}
	return kv.Value, kv.ModRevision, true, nil
}

// PutConfig replaces the document. ifMatch, when not nil, must be the revision GetConfig returned (0: there
// must be no document yet); otherwise the request fails with PreconditionFailed.
func (s *Service) PutConfig(ctx context.Context, data []byte, ifMatch *configstore.Revision) (configstore.Revision, error) {
	kvs, _, err := s.opts.Store.Range(ctx, "")
	if err != nil {
		return 0, err
	}
	var current configstore.Revision
	var stores []TrustStore
	// The document is checked against these trust stores, so the write is conditioned on them too: a
	// trust store deleted (or changed) meanwhile makes the put fail rather than store a document that
	// was checked against something no longer there.
	var storeConds []configstore.Cond
	for _, kv := range kvs {
		switch {
		case kv.Key == keyConfig:
			current = kv.ModRevision
		case strings.HasPrefix(kv.Key, prefixTrust):
			ts, err := decodeTrustStore(kv)
			if err != nil {
				return 0, err
			}
			stores = append(stores, *ts)
			storeConds = append(storeConds, configstore.Cond{Key: kv.Key, ModRevision: kv.ModRevision})
		}
	}
	if ifMatch != nil && *ifMatch != current {
		return 0, newError(CodePreconditionFailed, http.StatusPreconditionFailed,
			"the configuration is at revision %d, not %d: it changed since you read it; read it again", current, *ifMatch)
	}
	if err := s.checkDocument(ctx, data, stores); err != nil {
		return 0, err
	}
	rev, err := s.opts.Store.Txn(ctx,
		append([]configstore.Cond{{Key: keyConfig, ModRevision: current}}, storeConds...),
		[]configstore.Op{{Key: keyConfig, Value: data}})
	if err != nil {
		var conflict *configstore.ConflictError
		if errors.As(err, &conflict) && conflict.Key == keyConfig {
			return 0, newError(CodePreconditionFailed, http.StatusPreconditionFailed, "the configuration changed while this request was processed; read it again")
		}
		if errors.Is(err, configstore.ErrBlobNotFound) {
			// Only text in the document can name a blob here (its file paths are paths, never content
			// addresses), and the store refuses to keep a value naming a blob it does not hold.
			return 0, newError(CodeInvalidConfiguration, http.StatusBadRequest,
				"the document contains a content address (sha256:<64 hex digits>) of no stored CA bundle or CRL; remove it (%v)", err)
		}
		return 0, storeError(err)
	}
	return rev, nil
}

// checkWith checks the stored document with ts replacing the trust store of its name.
func (s *Service) checkWith(ctx context.Context, ts *TrustStore) error {
	data, _, ok, err := s.GetConfig(ctx)
	if err != nil || !ok {
		return err
	}
	all, err := s.DescribeTrustStores(ctx, "")
	if err != nil {
		return err
	}
	for i := range all {
		if all[i].Name == ts.Name {
			all[i] = *ts
		}
	}
	return s.checkDocument(ctx, data, all)
}

func (s *Service) checkDocument(ctx context.Context, data []byte, stores []TrustStore) error {
	doc, err := config.ParseStored(data, s.opts.Dir, config.StoredOptions{TrustStores: AsConfig(stores)})
	if err != nil {
		return newError(CodeInvalidConfiguration, http.StatusBadRequest, "%v", err)
	}
	if s.opts.Check != nil {
		if err := s.opts.Check(doc, s.ReadFile(ctx)); err != nil {
			return newError(CodeInvalidConfiguration, http.StatusBadRequest, "%v", err)
		}
	}
	return nil
}

// ReadFile returns a file reader that serves blobs for content addresses and files otherwise.
func (s *Service) ReadFile(ctx context.Context) func(string) ([]byte, error) {
	return func(p string) ([]byte, error) {
		if strings.HasPrefix(p, digestPrefix) {
			return s.opts.Store.GetBlob(ctx, p)
		}
		if s.opts.ReadFile != nil {
			return s.opts.ReadFile(p)
		}
		return nil, fmt.Errorf("reading %s: no file reader", p)
	}
}

// Document returns the stored document with the stored trust stores, at one revision, ready to compile;
// nil (and no error) when no document has been put yet.
func (s *Service) Document(ctx context.Context) (*config.Document, configstore.Revision, error) {
	kvs, rev, err := s.opts.Store.Range(ctx, "")
	if err != nil {
		return nil, 0, err
	}
	var data []byte
	var stores []TrustStore
	for _, kv := range kvs {
		switch {
		case kv.Key == keyConfig:
			data = kv.Value
		case strings.HasPrefix(kv.Key, prefixTrust):
			ts, err := decodeTrustStore(kv)
			if err != nil {
				return nil, rev, err
			}
			stores = append(stores, *ts)
		}
	}
	if data == nil {
		return nil, rev, nil
	}
	doc, err := config.ParseStored(data, s.opts.Dir, config.StoredOptions{TrustStores: AsConfig(stores)})
	return doc, rev, err
}

// AsConfig turns stored trust stores into the document's form, their files named by content address.
func AsConfig(stores []TrustStore) []config.TrustStore {
	sort.Slice(stores, func(i, j int) bool { return stores[i].Name < stores[j].Name })
	tmp := &config.Document{}
	for _, ts := range stores {
		c := config.TrustStore{
			Name:                 ts.Name,
			CACertificatesBundle: config.FilePath{Raw: ts.CACertificatesBundle, Abs: ts.CACertificatesBundle},
		}
		for _, r := range ts.Revocations {
			c.Revocations = append(c.Revocations, config.Revocation{ID: r.ID, CRL: config.FilePath{Raw: r.Content, Abs: r.Content}})
		}
		tmp.TrustStores = append(tmp.TrustStores, c)
	}
	config.SetDefaults(tmp)
	return tmp.TrustStores
}

// Watch returns the store's changes after rev (the engine reloads on each).
func (s *Service) Watch(ctx context.Context, rev configstore.Revision) (<-chan []configstore.Event, error) {
	return s.opts.Store.Watch(ctx, "", rev)
}
