package crl

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/mtlslb/mtlslb/internal/x509name"
)

// maxSignerDepth bounds the recursion of checking a separate CRL signing
// certificate's own revocation status (which may need another CRL signer).
const maxSignerDepth = 2

// Source is one CRL of a trust store with its revocation id.
type Source struct {
	ID  int64
	CRL *CRL
}

// Set is a trust store's compiled CRLs and revocation index. It is immutable
// (its caches aside, which only save work) and safe for concurrent use.
//
// CRLs are grouped by issuer name. Within a group, each complete CRL is
// consulted for the certificates its scope covers, together with the newest
// delta CRL that applies to it (RFC 5280 §5.2.4).
type Set struct {
	crls       []compiledCRL
	groups     []group
	byRaw      map[string]int32 // exact DER of CRL issuer names (and bundle subjects that match one) → group
	byKey      map[string]int32 // x509name key → group
	bundle     []*x509.Certificate
	bundleKeys []string // x509name keys of the bundle's subjects ("" if unparsable)
	total      int

	names    nameCache
	verdicts verdictCache
}

// compiledCRL is one CRL in a Set.
type compiledCRL struct {
	id           int64
	crl          *CRL
	group        int32
	bundleSigned bool    // its signature was verified against the bundle by NewSet
	deltas       []int32 // for a complete CRL: the delta CRLs that apply to it, newest first
}

// group is every CRL issued under one name.
type group struct {
	name     string  // RFC 2253, for messages
	complete []int32 // complete CRLs, in input order
	hasDelta bool
	// indirectID is the revocation id of an indirect CRL whose entries name
	// this issuer, or 0; such certificates are Unusable (fail closed).
	indirectID  int64
	hasIndirect bool
}

// NewSet compiles crls into a Set. bundle are the trust store's CA
// certificates: the signature of a CRL whose issuer name is a bundle
// certificate's subject is checked now, against those certificates, and a
// CRL that none of them signed is an error naming its revocation id (ALB's
// InvalidRevocationContent). Other CRLs are checked at Check time, and the
// verdicts are cached.
func NewSet(crls []Source, bundle []*x509.Certificate) (*Set, error) {
	s := &Set{
		byRaw:  make(map[string]int32),
		byKey:  make(map[string]int32),
		bundle: slices.Clone(bundle),
	}
	bundleKeys := make([]string, len(bundle))
	for i, b := range bundle {
		if b == nil {
			return nil, fmt.Errorf("compiling CRLs: bundle certificate %d is missing", i+1)
		}
		// A subject that does not parse can never match a CRL issuer.
		bundleKeys[i], _ = x509name.Key(b.RawSubject)
	}
	for _, src := range crls {
		c := src.CRL
		if c == nil {
			return nil, fmt.Errorf("compiling CRLs: revocation id %d: no CRL", src.ID)
		}
		cc := compiledCRL{id: src.ID, crl: c, group: s.groupFor(c.issuerKey, c.rawIssuer, c.issuerName)}
		var firstErr error
		for i, b := range bundle {
			if bundleKeys[i] == "" || bundleKeys[i] != c.issuerKey {
				continue
			}
			err := c.CheckSignatureFrom(b)
			if err == nil {
				cc.bundleSigned = true
				break
			}
			// A keyUsage without cRLSign says more than a signature that
			// does not verify with another key of the same name.
			if firstErr == nil || (errors.Is(err, errNoCRLSign) && !errors.Is(firstErr, errNoCRLSign)) {
				firstErr = err
			}
		}
		if firstErr != nil && !cc.bundleSigned {
			return nil, fmt.Errorf("compiling CRLs: revocation id %d: issuer %q is in the CA bundle but did not sign it: %w", src.ID, c.issuerName, firstErr)
		}
		if c.idp != nil && c.idp.indirect {
			for _, name := range c.certIssuers {
				key, err := x509name.Key(name)
				if err != nil {
					continue // Parse checked it; cannot happen
				}
				// groupFor may grow s.groups: index only after it returns.
				gi := s.groupFor(key, name, "")
				g := &s.groups[gi]
				if !g.hasIndirect {
					g.hasIndirect, g.indirectID = true, src.ID
				}
			}
		}
		idx := int32(len(s.crls))
		g := &s.groups[cc.group]
		if c.IsDelta() {
			g.hasDelta = true
		} else {
			g.complete = append(g.complete, idx)
		}
		s.crls = append(s.crls, cc)
		s.total += c.count
	}
	s.linkDeltas()
	s.bundleKeys = bundleKeys
	for i, b := range bundle {
		if g, ok := s.byKey[bundleKeys[i]]; ok && bundleKeys[i] != "" {
			s.byRaw[string(b.RawSubject)] = g
		}
	}
	return s, nil
}

// groupFor returns the group of the name with comparison key key, creating
// it if needed.
func (s *Set) groupFor(key string, raw []byte, name string) int32 {
	g, ok := s.byKey[key]
	if !ok {
		g = int32(len(s.groups))
		if name == "" {
			name, _ = x509name.RFC2253(raw)
		}
		s.groups = append(s.groups, group{name: name})
		s.byKey[key] = g
	}
	s.byRaw[string(raw)] = g
	return g
}

// linkDeltas attaches to each complete CRL the delta CRLs that may be
// combined with it (RFC 5280 §5.2.4): same issuer, same scope, and a CRL
// number at or above the delta's BaseCRLNumber but below the delta's own.
func (s *Set) linkDeltas() {
	for ci := range s.crls {
		c := &s.crls[ci]
		if c.crl.IsDelta() || c.crl.number == nil || !s.groups[c.group].hasDelta {
			continue
		}
		for di := range s.crls {
			d := &s.crls[di]
			if !d.crl.IsDelta() || d.group != c.group || !bytes.Equal(d.crl.idpRaw, c.crl.idpRaw) {
				continue
			}
			if d.crl.baseNumber.Cmp(c.crl.number) <= 0 && c.crl.number.Cmp(d.crl.number) < 0 {
				c.deltas = append(c.deltas, int32(di))
			}
		}
		slices.SortStableFunc(c.deltas, func(a, b int32) int {
			return s.crls[b].crl.number.Cmp(s.crls[a].crl.number)
		})
	}
}

// Len returns the total number of revoked entries in the Set.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return s.total
}

// IndexBytesPerEntry returns the memory the revocation index uses per
// revoked entry, beyond the CRLs' own DER.
func (s *Set) IndexBytesPerEntry() float64 {
	if s == nil || s.total == 0 {
		return 0
	}
	var bytes float64
	for i := range s.crls {
		c := s.crls[i].crl
		bytes += c.entries.bytesPerEntry(c.count) * float64(c.count)
	}
	return bytes / float64(s.total)
}

// CheckInput is what Check needs to know about one certificate on a verified
// path.
type CheckInput struct {
	// Cert is the certificate whose revocation status is wanted.
	Cert *x509.Certificate
	// Issuer is the next certificate on the verified path: Cert's issuer.
	Issuer *x509.Certificate
	// Path is the whole verified path, leaf first, anchor last.
	Path []*x509.Certificate
	// Presented is every certificate the client sent. Besides the path,
	// they are candidate CRL signers (a separate CRL signing certificate,
	// or a CA certificate for the other key around a key rollover).
	Presented []*x509.Certificate
	// Now is the time of the handshake.
	Now time.Time
	// Policy says which CRLs are usable at Now.
	Policy Policy
}

// Status is the revocation status of one certificate.
type Status uint8

const (
	// NotCovered means the Set holds no CRL from the certificate's issuer.
	NotCovered Status = iota
	// Good means at least one usable CRL whose scope covers the certificate
	// says it is not revoked (together, such CRLs cover every revocation
	// reason), and none says it is.
	Good
	// Revoked means a usable CRL whose scope covers the certificate lists
	// its serial number.
	Revoked
	// Unusable means CRLs from the certificate's issuer exist but none can
	// be used to decide: bad signature, stale under the policy, too old,
	// thisUpdate in the future, out of scope, only some reasons covered, or
	// a feature mtlslb does not support (indirect CRLs, a certificate that
	// names a separate cRLIssuer). The verifier fails closed.
	Unusable
)

// String returns the status name.
func (st Status) String() string {
	switch st {
	case NotCovered:
		return "NotCovered"
	case Good:
		return "Good"
	case Revoked:
		return "Revoked"
	case Unusable:
		return "Unusable"
	}
	return "Status(" + strconv.Itoa(int(st)) + ")"
}

// Result is the outcome of Check.
type Result struct {
	Status Status
	// CRLID is the revocation id of the CRL that decided, or 0.
	CRLID int64
	// Reason is one plain sentence for logs and explanations when the status
	// is Revoked or Unusable, naming the CRL, its issuer and, for a
	// revocation, its date and reason.
	Reason string
}

// Check returns the revocation status of in.Cert. It runs on every handshake
// for every certificate on the path. Once the Set has cached the signature
// verdict and the name lookups a certificate needs, Check does not allocate
// when the answer is Good or NotCovered, unless a CRL names its distribution
// points by directoryName (URIs, the usual case, compare without allocating).
// Revoked and Unusable answers allocate their Reason.
func (s *Set) Check(in CheckInput) Result {
	if s == nil {
		return Result{Status: NotCovered}
	}
	if in.Cert == nil {
		return Result{Status: Unusable, Reason: "no certificate to check"}
	}
	return s.check(&in, 0)
}

// finding accumulates what the CRLs of one issuer say about a certificate.
type finding struct {
	reasons   uint16 // union of the reasons the usable covering CRLs cover
	partialID int64  // a usable CRL that covers only some reasons
	firstID   int64  // the first CRL that could not be used, and why
	problem   string
	// unsupportedID is the first CRL that might cover the certificate but
	// uses a feature mtlslb does not support, and why.
	unsupportedID      int64
	unsupportedProblem string
}

func (f *finding) note(id int64, problem string) {
	if f.problem == "" {
		f.firstID, f.problem = id, problem
	}
}

// outcome is what one complete CRL (with its delta) says.
type outcome uint8

const (
	outcomeNotRevoked outcome = iota
	outcomeRevoked
	outcomeUnusable
)

func (s *Set) check(in *CheckInput, depth int) Result {
	cert := in.Cert
	g := s.groupOf(cert.RawIssuer)
	dps := crlDistributionPoints(cert)
	if dps != nil {
		named, first, ok := crlIssuerNames(dps)
		switch {
		case !ok && g >= 0:
			return Result{Status: Unusable, Reason: fmt.Sprintf("the certificate's cRLDistributionPoints extension is malformed, so the scope of the CRLs from issuer %q cannot be decided", s.groups[g].name)}
		case named && (g >= 0 || (first != nil && s.groupOf(first) >= 0)):
			return Result{Status: Unusable, Reason: "the certificate names a separate CRL issuer (cRLIssuer in its cRLDistributionPoints), which mtlslb does not support"}
		}
	}
	if g < 0 {
		return Result{Status: NotCovered}
	}
	grp := &s.groups[g]
	if grp.hasIndirect {
		return Result{Status: Unusable, CRLID: grp.indirectID, Reason: fmt.Sprintf("indirect CRL %d lists certificates of issuer %q, and mtlslb does not support indirect CRLs", grp.indirectID, grp.name)}
	}
	serial, ok := certSerial(cert.RawTBSCertificate)
	if !ok {
		return Result{Status: Unusable, Reason: "the certificate's serial number cannot be read"}
	}

	var f finding
	for _, i := range grp.complete {
		c := &s.crls[i]
		reasons, problem, unsupported := coverage(c.crl, cert, dps)
		if problem != "" {
			f.note(c.id, problem)
			if unsupported && f.unsupportedProblem == "" {
				f.unsupportedID, f.unsupportedProblem = c.id, problem
			}
			continue
		}
		r, o := s.consult(in, i, serial, depth, &f)
		switch o {
		case outcomeRevoked:
			return r
		case outcomeNotRevoked:
			f.reasons |= reasons
			if reasons != allReasons && f.partialID == 0 {
				f.partialID = c.id
			}
		}
	}
	switch {
	case f.unsupportedProblem != "":
		return unusable(f.unsupportedID, grp.name, f.unsupportedProblem)
	case f.reasons == allReasons:
		return Result{Status: Good}
	case f.reasons != 0:
		return Result{Status: Unusable, CRLID: f.partialID, Reason: fmt.Sprintf("the usable CRLs from issuer %q (such as CRL %d) cover only some revocation reasons", grp.name, f.partialID)}
	case f.problem != "":
		return unusable(f.firstID, grp.name, f.problem)
	}
	return Result{Status: Unusable, Reason: fmt.Sprintf("the CRLs from issuer %q are all delta CRLs, and no complete CRL they apply to is in the trust store", grp.name)}
}

// unusable builds the Unusable result for the CRL with revocation id id.
func unusable(id int64, issuer, problem string) Result {
	return Result{Status: Unusable, CRLID: id, Reason: fmt.Sprintf("CRL %d (issuer %q) cannot be used: %s", id, issuer, problem)}
}

// consult asks complete CRL i, combined with its newest delta CRL, about
// serial. A CRL that cannot be used is noted in f.
func (s *Set) consult(in *CheckInput, i int32, serial []byte, depth int, f *finding) (Result, outcome) {
	c := &s.crls[i]
	problem, freshnessOnly := in.Policy.timeProblem(c.crl, in.Now)
	if problem != "" && !freshnessOnly {
		f.note(c.id, problem)
		return Result{}, outcomeUnusable
	}
	if p := s.signatureProblem(in, i, depth); p != "" {
		f.note(c.id, p)
		return Result{}, outcomeUnusable
	}
	if len(c.deltas) > 0 {
		d := &s.crls[c.deltas[0]]
		if p, _ := in.Policy.timeProblem(d.crl, in.Now); p != "" {
			f.note(c.id, fmt.Sprintf("its newest delta CRL %d cannot be used: %s", d.id, p))
			return Result{}, outcomeUnusable
		}
		if p := s.signatureProblem(in, c.deltas[0], depth); p != "" {
			f.note(c.id, fmt.Sprintf("its newest delta CRL %d cannot be used: %s", d.id, p))
			return Result{}, outcomeUnusable
		}
		// A usable delta CRL brings the complete CRL up to date, so the
		// complete CRL's own staleness no longer matters (RFC 5280 §6.3.3
		// (a)(1)).
		problem = ""
		if off, ok := d.crl.entries.lookup(d.crl.raw, serial); ok {
			if isRemoveFromCRL(d.crl.raw, off) {
				return Result{}, outcomeNotRevoked
			}
			return s.revoked(d, off, "delta CRL"), outcomeRevoked
		}
	}
	if problem != "" {
		f.note(c.id, problem)
		return Result{}, outcomeUnusable
	}
	if off, ok := c.crl.entries.lookup(c.crl.raw, serial); ok {
		return s.revoked(c, off, "CRL"), outcomeRevoked
	}
	return Result{}, outcomeNotRevoked
}

// revoked builds the Revoked result for the entry at off in c.
func (s *Set) revoked(c *compiledCRL, off uint32, kind string) Result {
	e := entryAt(c.crl.raw, off)
	return Result{
		Status: Revoked,
		CRLID:  c.id,
		Reason: fmt.Sprintf("revoked by %s %d (issuer %q) on %s, %s", kind, c.id, s.groups[c.group].name, stamp(e.date), reasonName(e.reason)),
	}
}

// groupOf returns the group of CRLs issued under the DER name raw, or -1.
func (s *Set) groupOf(raw []byte) int32 {
	if g, ok := s.byRaw[string(raw)]; ok {
		return g
	}
	if g, ok := s.names.get(raw); ok {
		return g
	}
	g := int32(-1)
	if key, err := x509name.Key(raw); err == nil {
		if found, ok := s.byKey[key]; ok {
			g = found
		}
	}
	s.names.put(raw, g)
	return g
}

// namedAs reports whether cert's subject is the issuer name of CRL i.
func (s *Set) namedAs(cert *x509.Certificate, i int32) bool {
	c := &s.crls[i]
	return bytes.Equal(cert.RawSubject, c.crl.rawIssuer) || s.groupOf(cert.RawSubject) == c.group
}

// signatureProblem says why CRL i's signature cannot be trusted, or returns
// "" when it can (see signatureValid).
func (s *Set) signatureProblem(in *CheckInput, i int32, depth int) string {
	if s.signatureValid(in, i, depth) {
		return ""
	}
	if in.Issuer != nil && s.namedAs(in.Issuer, i) && !mayIssueCRLs(in.Issuer) {
		return "the issuing certificate may not sign CRLs (its keyUsage lacks cRLSign) and no other certificate of that name signed it"
	}
	return "its signature does not verify with the issuing certificate or any other certificate of that name"
}

// signatureValid reports whether CRL i was signed by a certificate entitled
// to sign it: a bundle certificate (checked by NewSet), Cert's issuer, a
// certificate of the CRL issuer's name on the verified path (the other key
// around a key rollover), or one the client presented that a certificate on
// the path or in the bundle issued and that is itself valid and not revoked
// (a separate CRL signing key).
func (s *Set) signatureValid(in *CheckInput, i int32, depth int) bool {
	c := &s.crls[i]
	if c.bundleSigned {
		return true
	}
	if in.Issuer != nil && s.namedAs(in.Issuer, i) && mayIssueCRLs(in.Issuer) && s.verifiedBy(i, in.Issuer) {
		return true
	}
	for _, p := range ancestors(in) {
		if p == nil || p == in.Issuer {
			continue
		}
		if s.namedAs(p, i) && mayIssueCRLs(p) && s.verifiedBy(i, p) {
			return true
		}
	}
	if depth >= maxSignerDepth {
		return false
	}
	for _, q := range in.Presented {
		if q == nil || onPath(q, in.Path) || bytes.Equal(q.Raw, in.Cert.Raw) {
			continue
		}
		// A certificate that is not on the verified path must say
		// explicitly that it signs CRLs.
		if q.KeyUsage&x509.KeyUsageCRLSign == 0 || !s.namedAs(q, i) {
			continue
		}
		if s.trustedSigner(in, q, depth) && s.verifiedBy(i, q) {
			return true
		}
	}
	return false
}

// ancestors returns the certificates of the verified path above in.Cert:
// its issuer and that issuer's own issuers. Only they (and the bundle) speak
// for the CRL issuer; a certificate below in.Cert on the path, or in.Cert
// itself, must never vouch for the CRL that decides in.Cert's status.
func ancestors(in *CheckInput) []*x509.Certificate {
	for k, p := range in.Path {
		if p == in.Cert || (p != nil && bytes.Equal(p.Raw, in.Cert.Raw)) {
			return in.Path[k+1:]
		}
	}
	if in.Issuer != nil {
		return []*x509.Certificate{in.Issuer}
	}
	return nil
}

// onPath reports whether c is one of path's certificates.
func onPath(c *x509.Certificate, path []*x509.Certificate) bool {
	for _, p := range path {
		if p == c || (p != nil && bytes.Equal(p.Raw, c.Raw)) {
			return true
		}
	}
	return false
}

// verifiedBy reports whether CRL i's signature verifies with signer's key,
// remembering the verdict.
func (s *Set) verifiedBy(i int32, signer *x509.Certificate) bool {
	key := verdictKey{crl: i, a: sha256.Sum256(signer.RawSubjectPublicKeyInfo)}
	if valid, found := s.verdicts.get(key); found {
		return valid
	}
	valid := s.crls[i].crl.verifyWith(signer) == nil
	s.verdicts.put(key, valid)
	return valid
}

// trustedSigner reports whether q, a presented certificate that is not on
// the verified path, may be trusted as a CRL signer: it is within its
// validity period, a certificate on the path or in the bundle issued it,
// and it is not revoked itself (PKITS 4.4.21).
func (s *Set) trustedSigner(in *CheckInput, q *x509.Certificate, depth int) bool {
	if in.Now.Before(q.NotBefore) || in.Now.After(q.NotAfter) {
		return false
	}
	issuerKey, err := x509name.Key(q.RawIssuer)
	if err != nil {
		return false
	}
	try := func(parent *x509.Certificate, above []*x509.Certificate) bool {
		if !s.issuedBy(q, parent) {
			return false
		}
		sub := *in
		sub.Cert, sub.Issuer = q, parent
		sub.Path = append([]*x509.Certificate{q}, above...)
		r := s.check(&sub, depth+1)
		return r.Status == Good || r.Status == NotCovered
	}
	above := ancestors(in)
	for k, p := range above {
		if p == nil {
			continue
		}
		if key, err := x509name.Key(p.RawSubject); err == nil && key == issuerKey && try(p, above[k:]) {
			return true
		}
	}
	// The bundle can hold a thousand certificates: compare precomputed
	// keys, so that a hostile presented certificate costs one name parse.
	for i, b := range s.bundle {
		if s.bundleKeys[i] == issuerKey && try(b, []*x509.Certificate{b}) {
			return true
		}
	}
	return false
}

// issuedBy reports whether parent's key signed child, remembering the
// verdict. crypto/x509 also checks that parent is a CA that may sign
// certificates.
func (s *Set) issuedBy(child, parent *x509.Certificate) bool {
	key := verdictKey{crl: -1, a: sha256.Sum256(child.Raw), b: sha256.Sum256(parent.Raw)}
	if valid, found := s.verdicts.get(key); found {
		return valid
	}
	valid := child.CheckSignatureFrom(parent) == nil
	s.verdicts.put(key, valid)
	return valid
}
