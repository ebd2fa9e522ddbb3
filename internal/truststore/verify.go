package truststore

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"time"

	"github.com/mtlslb/mtlslb/internal/crl"
	"github.com/mtlslb/mtlslb/internal/x509path"
)

// VerifyOptions parameterises one verification.
type VerifyOptions struct {
	// Now is the time of the handshake; zero means time.Now().
	Now time.Time
	// IgnoreExpiry accepts certificates whose notAfter has passed (the
	// listener's ignore_client_certificate_expiry). A certificate that is
	// not yet valid still fails.
	IgnoreExpiry bool
}

// Result is the outcome of a verification.
type Result struct {
	Status Status
	// Leaf is the client's certificate, nil when nothing parsed.
	Leaf *x509.Certificate
	// Path is the verified path on success (leaf … anchor); on failure, the
	// path judged, if any.
	Path []*x509.Certificate
	// Cert is the position in the presented chain (0 = leaf) of the
	// certificate that failed; -1 when no single presented certificate did
	// (or when it is a trust store certificate the client did not send).
	Cert int
	// Detail is one plain-language sentence: what failed, which
	// certificate, and what would fix it. Empty on success.
	Detail string
}

// Err returns nil on success, else a *VerifyError.
func (r Result) Err() error {
	if r.Status == StatusSuccess {
		return nil
	}
	return &VerifyError{Result: r}
}

// Verify runs every verification step on the raw DER certificates a client
// presented, leaf first. The explain tool and the admin API use it; the
// handshake path, where crypto/tls has already parsed the certificates,
// uses VerifyCertificates.
func (s *Store) Verify(rawCerts [][]byte, opts VerifyOptions) Result {
	if len(rawCerts) == 0 {
		return s.noCertificate()
	}
	// Step 1 before step 2: an oversized certificate is refused before any
	// parser sees it.
	for i, raw := range rawCerts {
		if len(raw) > s.limits.MaxCertificateSize {
			r := Result{Status: StatusClientCertMaxSizeExceeded, Cert: i, Leaf: parseLeafForLog(rawCerts[0], s.limits)}
			r.Detail = s.detailTooLarge(i, len(raw))
			return r
		}
	}
	certs := make([]*x509.Certificate, len(rawCerts))
	for i, raw := range rawCerts {
		c, err := x509.ParseCertificate(raw)
		if err != nil {
			r := Result{Status: StatusClientCertInvalid, Cert: i, Leaf: certs[0]}
			r.Detail = detailInvalid(i, err)
			return r
		}
		certs[i] = c
	}
	return s.verifyParsed(certs, opts)
}

// VerifyCertificates runs the verification steps on certificates that
// crypto/tls has already parsed (step 2 is done), leaf first. It is the
// handshake path: it allocates nothing beyond what path building and the
// revocation index need, and builds Detail only on failure.
func (s *Store) VerifyCertificates(certs []*x509.Certificate, opts VerifyOptions) Result {
	if len(certs) == 0 {
		return s.noCertificate()
	}
	for i, c := range certs {
		if c == nil {
			return Result{Status: StatusClientCertInvalid, Cert: i, Leaf: certs[0], Detail: detailInvalid(i, errors.New("no certificate"))}
		}
	}
	for i, c := range certs {
		if len(c.Raw) > s.limits.MaxCertificateSize {
			r := Result{Status: StatusClientCertMaxSizeExceeded, Cert: i, Leaf: certs[0]}
			r.Detail = s.detailTooLarge(i, len(c.Raw))
			return r
		}
	}
	return s.verifyParsed(certs, opts)
}

func (s *Store) noCertificate() Result {
	return Result{Status: StatusUnmappedConnectionError, Cert: -1, Detail: "the client sent no certificate; a client certificate is required"}
}

// parseLeafForLog parses the leaf when a later certificate fails step 1, so
// the connection log can still name the client.
func parseLeafForLog(raw []byte, limits Limits) *x509.Certificate {
	if len(raw) > limits.MaxCertificateSize {
		return nil
	}
	c, err := x509.ParseCertificate(raw)
	if err != nil {
		return nil
	}
	return c
}

// verifyParsed runs steps 3 to 9 on parsed certificates.
func (s *Store) verifyParsed(certs []*x509.Certificate, opts VerifyOptions) Result {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	leaf := certs[0]

	// Step 3 for the leaf: it is the client's identity, so an unsupported
	// leaf fails whatever else was sent.
	if p := checkType(leaf); p != typeOK {
		return Result{Status: StatusClientCertTypeUnsupported, Leaf: leaf, Cert: 0, Detail: detailType(0, leaf, p)}
	}
	// Step 4, first half: the count of presented certificates.
	if len(certs) > s.limits.MaxChainDepth {
		return Result{Status: StatusClientCertMaxChainDepthExceeded, Leaf: leaf, Cert: -1, Detail: s.detailTooMany(len(certs))}
	}

	// Step 3 for the other certificates (decision): clients often send
	// extra certificates (an old cross-signed root, a SHA-1 legacy chain)
	// that no path needs. Those are left out of path building; an
	// unsupported certificate fails the chain only when no path exists
	// without it. The common case (all supported) allocates nothing.
	intermediates := certs[1:]
	firstUnsupported := -1
	for i, c := range intermediates {
		if checkType(c) != typeOK {
			firstUnsupported = i + 1
			break
		}
	}
	if firstUnsupported >= 0 {
		supported := make([]*x509.Certificate, 0, len(intermediates))
		for _, c := range intermediates {
			if checkType(c) == typeOK {
				supported = append(supported, c)
			}
		}
		intermediates = supported
	}

	// Steps 4 (second half) and 5: structural path building.
	paths, err := x509path.Build(leaf, intermediates, s.anchors, x509path.Options{MaxDepth: s.limits.MaxChainDepth})
	if err != nil || len(paths) == 0 {
		switch {
		case errors.Is(err, x509path.ErrTooDeep):
			return Result{Status: StatusClientCertMaxChainDepthExceeded, Leaf: leaf, Cert: 0, Detail: s.detailTooDeep(leaf)}
		case firstUnsupported >= 0:
			c := certs[firstUnsupported]
			return Result{Status: StatusClientCertTypeUnsupported, Leaf: leaf, Cert: firstUnsupported, Detail: detailType(firstUnsupported, c, checkType(c))}
		default:
			return Result{Status: StatusClientCertUntrusted, Leaf: leaf, Cert: 0, Detail: s.detailUntrusted(leaf, err)}
		}
	}

	// Steps 6 to 9 per candidate path: the first path that passes them all
	// wins; otherwise the path that got furthest explains the failure.
	var worst pathFailure
	worstPath := -1
	for i, path := range paths {
		f := s.checkPath(path, certs, opts)
		if f.status == StatusSuccess {
			// Step 10 (identity filters, custom checks →
			// StatusClientCertRejected) will run here, on the verified path.
			return Result{Status: StatusSuccess, Leaf: leaf, Path: path, Cert: -1}
		}
		if worstPath < 0 || step(f.status) > step(worst.status) {
			worst, worstPath = f, i
		}
	}
	path := paths[worstPath]
	pos := presentedPosition(certs, path[worst.index])
	return Result{
		Status: worst.status,
		Leaf:   leaf,
		Path:   path,
		Cert:   pos,
		Detail: s.detailPath(worst, path, pos, opts),
	}
}

// step returns the §2 step that produces status, so that failures of
// different paths compare by how far each path got (NotYetValid and Expired
// are the same step).
func step(status Status) int {
	switch status {
	case StatusClientCertNotYetValid, StatusClientCertExpired:
		return 6
	case StatusClientCertPurposeInvalid:
		return 7
	case StatusClientCertCrlHit:
		return 8
	case StatusClientCertCrlProcessingError:
		return 9
	}
	return 0
}

// pathFailure is why one candidate path failed steps 6 to 9. It holds no
// strings: Detail is built only for the failure that is reported.
type pathFailure struct {
	status Status
	index  int        // position on the path of the certificate that failed
	why    purposeWhy // for StatusClientCertPurposeInvalid
	crl    crl.Result // for the CRL statuses
}

type purposeWhy uint8

const (
	purposeLeafEKU purposeWhy = iota + 1
	purposeLeafKeyUsage
	purposeCAEKU
)

// checkPath applies steps 6 to 9 to one structurally valid path.
func (s *Store) checkPath(path, presented []*x509.Certificate, opts VerifyOptions) pathFailure {
	// Step 6: leaf to anchor, the first certificate out of its window decides.
	for i, c := range path {
		if opts.Now.Before(c.NotBefore) {
			return pathFailure{status: StatusClientCertNotYetValid, index: i}
		}
		if !opts.IgnoreExpiry && opts.Now.After(c.NotAfter) {
			return pathFailure{status: StatusClientCertExpired, index: i}
		}
	}

	// Step 7: the leaf's own purposes, then the constraints of its CAs.
	leaf := path[0]
	if hasEKU(leaf) && !allowsPurpose(leaf, s.purpose) {
		return pathFailure{status: StatusClientCertPurposeInvalid, index: 0, why: purposeLeafEKU}
	}
	if hasExtension(leaf, oidKeyUsage) && leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return pathFailure{status: StatusClientCertPurposeInvalid, index: 0, why: purposeLeafKeyUsage}
	}
	// A CA's EKU limits what it may certify (the CA/Browser Forum and
	// crypto/x509 reading): the leaf's effective purposes are the
	// intersection along the path, and clientAuth must survive it.
	// anyExtendedKeyUsage on a CA constrains nothing.
	for i := 1; i < len(path); i++ {
		if hasEKU(path[i]) && !allowsPurpose(path[i], s.purpose) {
			return pathFailure{status: StatusClientCertPurposeInvalid, index: i, why: purposeCAEKU}
		}
	}

	// Steps 8 and 9: every certificate but the anchor against its issuer's
	// lists. A revocation anywhere (step 8) outranks a list that could not
	// be used (step 9), so the whole path is scanned before step 9 decides.
	processing := pathFailure{index: -1}
	for i := 0; i < len(path)-1; i++ {
		r := s.crls.Check(crl.CheckInput{
			Cert:      path[i],
			Issuer:    path[i+1],
			Path:      path,
			Presented: presented,
			Now:       opts.Now,
			Policy:    s.policy,
		})
		switch {
		case r.Status == crl.Revoked:
			return pathFailure{status: StatusClientCertCrlHit, index: i, crl: r}
		case processing.index >= 0:
		case r.Status == crl.Unusable, r.Status == crl.NotCovered && s.requireCRL:
			processing = pathFailure{status: StatusClientCertCrlProcessingError, index: i, crl: r}
		}
	}
	if processing.index >= 0 {
		return processing
	}
	return pathFailure{status: StatusSuccess}
}

var (
	oidKeyUsage         = asn1.ObjectIdentifier{2, 5, 29, 15}
	oidExtendedKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 37}
)

// hasExtension reports whether c carries the extension id, even one whose
// value decoded to nothing (a keyUsage with no bit set allows nothing).
func hasExtension(c *x509.Certificate, id asn1.ObjectIdentifier) bool {
	for i := range c.Extensions {
		if c.Extensions[i].Id.Equal(id) {
			return true
		}
	}
	return false
}

func hasEKU(c *x509.Certificate) bool {
	return len(c.ExtKeyUsage) > 0 || len(c.UnknownExtKeyUsage) > 0 || hasExtension(c, oidExtendedKeyUsage)
}

func allowsPurpose(c *x509.Certificate, purpose x509.ExtKeyUsage) bool {
	for _, u := range c.ExtKeyUsage {
		if u == purpose || u == x509.ExtKeyUsageAny {
			return true
		}
	}
	return false
}

// presentedPosition returns c's position in the presented chain, or -1 when
// the client did not send it (a trust store certificate).
func presentedPosition(presented []*x509.Certificate, c *x509.Certificate) int {
	for i, p := range presented {
		if p == c {
			return i
		}
	}
	for i, p := range presented {
		if p.Equal(c) {
			return i
		}
	}
	return -1
}
