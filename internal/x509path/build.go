package x509path

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
)

// ErrNoPath reports that no structurally valid path from the leaf to an
// anchor exists. Build wraps it with an explanation of the best failed
// attempt.
var ErrNoPath = errors.New("no valid certification path")

// ErrTooDeep reports that structurally valid paths exist but all of them hold
// more certificates than Options.MaxDepth allows.
var ErrTooDeep = errors.New("certification path too deep")

// Options bounds path building.
type Options struct {
	// MaxDepth is the most certificates in a path, leaf and anchor included;
	// 0 means no limit (beyond the search bounds described on Build).
	MaxDepth int
	// MaxCandidates is the most paths returned; 0 means 8.
	MaxCandidates int
}

// Search bounds. A client controls the certificates it presents, so every
// loop of the search is bounded: a hostile chain costs at most
// maxSignatureChecks signature verifications and maxNodes partial paths.
const (
	defaultMaxCandidates = 8
	// maxPathCerts is the longest path searched when Options.MaxDepth does not
	// ask for longer.
	maxPathCerts = 16
	// maxIntermediates presented certificates are considered (after removing
	// duplicates); the rest are ignored. The bridge-CA graph of BetterTLS
	// presents 35.
	maxIntermediates = 64
	maxNodes         = 1024
	// maxPathChecks complete candidate paths are validated at most.
	maxPathChecks      = 256
	maxSignatureChecks = 64
)

// Build returns the structurally valid certification paths (leaf first,
// anchor last) from leaf to an anchor, best (shortest) first, at most
// opts.MaxCandidates of them.
//
// intermediates are what the client presented, in any order, with duplicates
// and junk; a presented copy of an anchor is replaced by the anchor itself,
// so the last certificate of a path is always one of anchors.Certificates().
// The one exception is a leaf that is itself an anchor: it is trusted as
// configured and returned as the one-certificate path [leaf].
//
// "Structurally valid" is RFC 5280 §6.1 except validity dates, extended key
// usage and revocation, which the caller checks per path: name chaining
// (x509name matching), signatures (SHA-1 and MD5 refused), basicConstraints
// cA and pathLenConstraint (self-issued intermediates not counted, the
// anchor's own constraint honoured), keyUsage keyCertSign on issuers, name
// constraints of every CA on the path and of the anchor (directoryName,
// dNSName, rfc822Name including the subject's emailAddress attributes,
// uniformResourceIdentifier, iPAddress; a constrained name of another form
// fails), unknown critical extensions refused, and certificate policy
// processing with the RFC 5280 default inputs (initial-policy-set anyPolicy,
// nothing initially required or inhibited), so that requireExplicitPolicy,
// inhibitPolicyMapping and inhibitAnyPolicy set by CAs are honoured.
//
// Errors wrap ErrNoPath, with a plain explanation of the best failed attempt
// (for example `no issuer found for "CN=Foo"`), or ErrTooDeep when valid
// paths exist but all are longer than opts.MaxDepth. The search is bounded,
// because a client chooses what it presents: paths of at most 16 certificates
// unless MaxDepth is larger, the first 64 distinct intermediates, 1024
// partial paths, 256 candidate paths and 64 signature verifications per call
// (the BetterTLS bridge-CA graph, 35 intermediates, needs 10 and 43). When a
// bound cuts the search short, the explanation says so.
//
// Signatures of valid paths are remembered by anchors (a bounded cache), so
// a known intermediate's signature is not verified on every handshake.
func Build(leaf *x509.Certificate, intermediates []*x509.Certificate, anchors *Anchors, opts Options) ([][]*x509.Certificate, error) {
	if leaf == nil {
		return nil, fmt.Errorf("%w: no leaf certificate", ErrNoPath)
	}
	if anchors == nil || len(anchors.infos) == 0 {
		return nil, fmt.Errorf("%w: no trust anchors", ErrNoPath)
	}
	if oid := unhandledCritical(leaf); oid != nil {
		return nil, fmt.Errorf("%w: %q has unsupported critical extension %s", ErrNoPath, describe(leaf), oid)
	}
	if _, ok := anchors.byRaw[string(leaf.Raw)]; ok {
		return [][]*x509.Certificate{{leaf}}, nil
	}
	b := newBuilder(leaf, intermediates, anchors, opts)
	b.search()
	return b.result()
}

// node is one partial path of the breadth-first search: a certificate and the
// node of the certificate it issued, back to the leaf.
type node struct {
	cert   int // index into builder.certs
	parent int // index into builder.nodes; -1 for the leaf
	depth  int // certificates from the leaf to cert, both included
}

// edge is a verified or refuted signature, remembered for one Build.
type edge struct {
	child, parent *certInfo
	err           error
}

type builder struct {
	anchors       *Anchors
	maxDepth      int // 0: none
	depthCap      int // longest path searched
	maxCandidates int

	certs []certInfo // [0] is the leaf, then the distinct intermediates
	nodes []node
	edges []edge
	path  []*certInfo // scratch for the path being validated

	paths      [][]*x509.Certificate
	tooDeep    int // certificates in the shortest valid path over maxDepth
	pathChecks int
	sigChecks  int
	exhausted  string // which bound stopped the search, if one did
	best       failure

	// Inline storage for the common case (a short chain), so that a
	// handshake allocates the builder and its result, little more.
	certBuf [4]certInfo
	nodeBuf [8]node
	pathBuf [8]*certInfo
	edgeBuf [4]edge
}

func newBuilder(leaf *x509.Certificate, intermediates []*x509.Certificate, anchors *Anchors, opts Options) *builder {
	b := &builder{
		anchors:       anchors,
		maxDepth:      max(opts.MaxDepth, 0),
		depthCap:      max(opts.MaxDepth, maxPathCerts),
		maxCandidates: opts.MaxCandidates,
	}
	if b.maxCandidates <= 0 {
		b.maxCandidates = defaultMaxCandidates
	}
	if n := 1 + min(len(intermediates), maxIntermediates); n > len(b.certBuf) {
		b.certs = make([]certInfo, 1, n)
	} else {
		b.certs = b.certBuf[:1:n]
	}
	b.certs[0] = newCertInfo(leaf)
	b.nodes, b.path, b.edges = b.nodeBuf[:0], b.pathBuf[:0], b.edgeBuf[:0]
	for _, cert := range intermediates {
		if len(b.certs) == cap(b.certs) {
			break
		}
		if cert == nil || b.isDuplicate(cert) {
			continue
		}
		// A presented copy of an anchor adds nothing: the anchor index finds
		// the anchor itself, and a path ends there.
		if _, ok := anchors.byRaw[string(cert.Raw)]; ok {
			continue
		}
		b.certs = append(b.certs, newCertInfo(cert))
	}
	return b
}

func (b *builder) isDuplicate(cert *x509.Certificate) bool {
	for i := range b.certs {
		if b.certs[i].cert == cert || bytes.Equal(b.certs[i].cert.Raw, cert.Raw) {
			return true
		}
	}
	return false
}

// search explores partial paths breadth first, so complete paths are found
// shortest first. An anchor ends a path; a presented certificate extends it.
func (b *builder) search() {
	b.nodes = append(b.nodes, node{cert: 0, parent: -1, depth: 1})
	for head := 0; head < len(b.nodes) && b.exhausted == ""; head++ {
		n := b.nodes[head]
		if len(b.paths) >= b.maxCandidates {
			return
		}
		// Breadth first: every path from here on has n.depth+1 certificates
		// or more.
		if b.maxDepth > 0 && n.depth+1 > b.maxDepth && (len(b.paths) > 0 || b.tooDeep > 0) {
			return
		}
		b.expand(head)
	}
}

// expand tries every issuer of the node's certificate.
func (b *builder) expand(head int) {
	n := b.nodes[head]
	child := &b.certs[n.cert]
	// found counts issuers by name; looped those already on the path.
	found, looped := 0, 0
	// Issuers whose subjectKeyId matches the child's authorityKeyId are tried
	// first; the key identifiers are hints (RFC 4158), never a reason to skip.
	for pass := 0; pass < 2; pass++ {
		for _, ai := range b.anchors.issuersOf(child) {
			anchor := &b.anchors.infos[ai]
			if keyIDMatches(child.cert, anchor.cert) != (pass == 0) {
				continue
			}
			found++
			if err := anchor.caError(); err != nil {
				b.fail(failure{rank: rankIssuer, depth: n.depth, kind: failIssuer, child: child.cert, parent: anchor.cert, err: err})
				continue
			}
			if b.inPath(head, anchor) {
				looped++
				continue
			}
			b.tryPath(head, anchor)
			if b.exhausted != "" || len(b.paths) >= b.maxCandidates {
				return
			}
		}
		for i := 1; i < len(b.certs); i++ {
			parent := &b.certs[i]
			if keyIDMatches(child.cert, parent.cert) != (pass == 0) || !issuedBy(child, parent) {
				continue
			}
			found++
			if err := parent.caError(); err != nil {
				b.fail(failure{rank: rankIssuer, depth: n.depth, kind: failIssuer, child: child.cert, parent: parent.cert, err: err})
				continue
			}
			if b.inPath(head, parent) {
				looped++
				continue
			}
			// A path through parent holds at least n.depth+2 certificates.
			if n.depth+2 > b.depthCap {
				b.fail(failure{rank: rankIssuer, depth: n.depth, kind: failDepthCap, child: child.cert, parent: parent.cert, n: b.depthCap})
				continue
			}
			if len(b.nodes) >= maxNodes {
				b.exhausted = fmt.Sprintf("more than %d partial paths", maxNodes)
				return
			}
			b.nodes = append(b.nodes, node{cert: i, parent: head, depth: n.depth + 1})
		}
	}
	switch {
	case found == 0:
		b.fail(failure{rank: rankNoIssuer, depth: n.depth, kind: failNoIssuer, child: child.cert})
	case looped == found:
		b.fail(failure{rank: rankNoIssuer, depth: n.depth, kind: failLoop, child: child.cert})
	}
}

// keyIDMatches reports whether the child's authorityKeyId equals the
// parent's subjectKeyId, both present.
func keyIDMatches(child, parent *x509.Certificate) bool {
	return len(child.AuthorityKeyId) > 0 && bytes.Equal(child.AuthorityKeyId, parent.SubjectKeyId)
}

// inPath reports whether cert already appears on the partial path ending at
// node head, either as the same certificate or as another CA certificate
// with the same subject and public key: following it again would be a loop
// (RFC 4158 §5.2). The leaf is exempt from the second rule: a re-issued copy
// of a self-signed leaf is its legitimate issuer.
func (b *builder) inPath(head int, cert *certInfo) bool {
	for i := head; i >= 0; i = b.nodes[i].parent {
		other := &b.certs[b.nodes[i].cert]
		if other == cert {
			return true
		}
		if i > 0 && bytes.Equal(other.cert.RawSubjectPublicKeyInfo, cert.cert.RawSubjectPublicKeyInfo) && sameSubject(other, cert) {
			return true
		}
	}
	return false
}

// tryPath validates the complete path from the leaf through node head to
// anchor and records it if it is valid.
func (b *builder) tryPath(head int, anchor *certInfo) {
	if b.pathChecks >= maxPathChecks {
		b.exhausted = fmt.Sprintf("more than %d candidate paths", maxPathChecks)
		return
	}
	b.pathChecks++
	b.path = b.path[:0]
	// The node chain runs from head back to the leaf; the path runs from the
	// leaf to the anchor.
	for i := head; i >= 0; i = b.nodes[i].parent {
		b.path = append(b.path, &b.certs[b.nodes[i].cert])
	}
	slices.Reverse(b.path)
	b.path = append(b.path, anchor)
	depth := len(b.path)

	// Signatures first, although they cost more: a structural failure is
	// then reported only for a path its CAs really issued, which makes the
	// explanation trustworthy. The verifications are bounded and remembered,
	// so a client cannot make this costlier than presenting bad signatures.
	for i := len(b.path) - 2; i >= 0; i-- {
		if err := b.verify(b.path[i], b.path[i+1]); err != nil {
			if b.exhausted != "" {
				return
			}
			b.fail(failure{rank: rankSignature, kind: failSignature, child: b.path[i].cert, parent: b.path[i+1].cert, err: err})
			return
		}
	}
	if err := validate(b.path); err != nil {
		b.fail(failure{rank: rankPath, kind: failPath, err: err})
		return
	}
	if b.anchors.sigs != nil {
		for i := len(b.path) - 2; i >= 0; i-- {
			b.anchors.sigs.add(newSigKey(b.path[i], b.path[i+1]))
		}
	}
	if b.maxDepth > 0 && depth > b.maxDepth {
		if b.tooDeep == 0 {
			b.tooDeep = depth
		}
		return
	}
	certs := make([]*x509.Certificate, depth)
	for i, c := range b.path {
		certs[i] = c.cert
	}
	b.paths = append(b.paths, certs)
}

// verify checks that parent's key signed child, at most once per pair and
// Build, and not at all if the pair was part of a valid path before.
func (b *builder) verify(child, parent *certInfo) error {
	for _, e := range b.edges {
		if e.child == child && e.parent == parent {
			return e.err
		}
	}
	if b.anchors.sigs != nil && b.anchors.sigs.contains(newSigKey(child, parent)) {
		return nil
	}
	if b.sigChecks >= maxSignatureChecks {
		b.exhausted = fmt.Sprintf("more than %d signature verifications", maxSignatureChecks)
		return errors.New("search bound reached")
	}
	b.sigChecks++
	err := checkSignature(child.cert, parent.cert)
	b.edges = append(b.edges, edge{child: child, parent: parent, err: err})
	return err
}

// checkSignature verifies child's signature with parent's public key.
// Certificate.CheckSignatureFrom is not used: it repeats the
// basicConstraints and keyUsage checks (already made, with better
// messages, by caError) and would refuse a version 3 anchor without
// basicConstraints, which this package accepts as configured.
func checkSignature(child, parent *x509.Certificate) error {
	switch child.SignatureAlgorithm {
	case x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1:
		// Collisions make these forgeable; CheckSignature would accept SHA-1.
		return fmt.Errorf("insecure signature algorithm %v", child.SignatureAlgorithm)
	}
	return parent.CheckSignature(child.SignatureAlgorithm, child.RawTBSCertificate, child.Signature)
}

func (b *builder) result() ([][]*x509.Certificate, error) {
	if len(b.paths) > 0 {
		return b.paths, nil
	}
	if b.tooDeep > 0 {
		return nil, fmt.Errorf("%w: the shortest valid path has %d certificates, more than the %d allowed", ErrTooDeep, b.tooDeep, b.maxDepth)
	}
	reason := b.best.String()
	if b.exhausted != "" {
		reason = fmt.Sprintf("search stopped after %s; best attempt: %s", b.exhausted, reason)
	}
	return nil, fmt.Errorf("%w: %s", ErrNoPath, reason)
}

// Failure ranks: a correctly signed path that fails a structural check says
// most, then a path with a bad signature, an issuer that cannot be used, and
// a missing issuer.
const (
	rankNone = iota
	rankNoIssuer
	rankIssuer
	rankSignature
	rankPath
)

type failureKind int

const (
	failNoIssuer failureKind = iota + 1
	failLoop
	failIssuer
	failDepthCap
	failSignature
	failPath
)

// failure is a failed attempt, formatted only if it ends up explaining the
// result: most failures during a search are superseded.
type failure struct {
	rank          int
	depth         int
	kind          failureKind
	child, parent *x509.Certificate
	err           error
	n             int
}

// fail keeps the most informative failure: the highest rank; among missing
// or unusable issuers the one furthest from the leaf; otherwise the first,
// which belongs to the shortest path.
func (b *builder) fail(f failure) {
	if f.rank > b.best.rank || f.rank == b.best.rank && f.rank < rankSignature && f.depth > b.best.depth {
		b.best = f
	}
}

func (f failure) String() string {
	switch f.kind {
	case failNoIssuer:
		return fmt.Sprintf("no issuer found for %q", describe(f.child))
	case failLoop:
		return fmt.Sprintf("the only issuers of %q lead back into the path (a loop)", describe(f.child))
	case failIssuer:
		return fmt.Sprintf("issuer %q of %q cannot issue certificates: %v", describe(f.parent), describe(f.child), f.err)
	case failDepthCap:
		return fmt.Sprintf("path through %q to %q would be longer than %d certificates", describe(f.child), describe(f.parent), f.n)
	case failSignature:
		return fmt.Sprintf("signature of %q does not verify with %q: %v", describe(f.child), describe(f.parent), f.err)
	case failPath:
		return f.err.Error()
	}
	return "no path found"
}
