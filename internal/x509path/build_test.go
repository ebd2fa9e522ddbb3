package x509path

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// label names a certificate in test expectations as subject@issuer (common
// names), which tells cross-signed copies apart.
func label(cert *x509.Certificate) string {
	return cert.Subject.CommonName + "@" + cert.Issuer.CommonName
}

func labels(paths [][]*x509.Certificate) [][]string {
	out := make([][]string, len(paths))
	for i, p := range paths {
		for _, c := range p {
			out[i] = append(out[i], label(c))
		}
	}
	return out
}

// buildCase is one scenario: what to build from and what must come out.
type buildCase struct {
	name          string
	leaf          *x509.Certificate
	intermediates []*x509.Certificate
	anchors       []*x509.Certificate
	opts          Options
	want          [][]string // labels of the paths, best first
	wantErr       error
	errContains   string
}

func (tc buildCase) run(t *testing.T) {
	t.Helper()
	anchors := NewAnchors(tc.anchors)
	paths, err := Build(tc.leaf, tc.intermediates, anchors, tc.opts)
	if tc.wantErr != nil {
		if !errors.Is(err, tc.wantErr) {
			t.Fatalf("Build error = %v, want %v; paths %v", err, tc.wantErr, labels(paths))
		}
		if !strings.Contains(err.Error(), tc.errContains) {
			t.Fatalf("Build error = %q, want it to contain %q", err, tc.errContains)
		}
		return
	}
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if diff := cmp.Diff(tc.want, labels(paths)); diff != "" {
		t.Fatalf("paths (-want +got):\n%s", diff)
	}
	checkPathShape(t, paths, tc.leaf, anchors)
}

func TestBuildChaining(t *testing.T) {
	root := newRoot(t, "Root")
	inter := root.issue(t, "Inter", asCA())
	leaf := inter.issue(t, "Leaf")
	direct := root.issue(t, "Direct")
	junk := newRoot(t, "Junk")
	junkLeaf := junk.issue(t, "JunkLeaf")
	reparsed, err := x509.ParseCertificate(inter.cert.Raw)
	if err != nil {
		t.Fatal(err)
	}

	// Cross-signing: Cross (same key as Inter) issued by Other; Root cross-signed by Other.
	other := newRoot(t, "Other")
	cross := other.issue(t, "Inter", asCA(), withKeyOf(inter))
	rootByOther := other.issue(t, "Root", asCA(), withKeyOf(root))

	// Name chaining across encodings: Inter2's subject is a PrintableString,
	// the leaf's issuer field says the same name in UTF8String with other
	// case and spacing.
	printable := rawNameWithTag(t, asn1.TagPrintableString, "Encoded CA")
	utf8 := rawNameWithTag(t, asn1.TagUTF8String, "  encoded   ca ")
	encoded := root.issue(t, "", asCA(), withRawSubject(printable))
	encodedLeaf := encoded.issue(t, "EncodedLeaf", withIssuerName(utf8))

	for _, tc := range []buildCase{
		{
			name: "leaf issued by anchor", leaf: direct.cert, anchors: certs(root),
			want: [][]string{{"Direct@Root", "Root@Root"}},
		},
		{
			name: "leaf intermediate anchor", leaf: leaf.cert, intermediates: certs(inter), anchors: certs(root),
			want: [][]string{{"Leaf@Inter", "Inter@Root", "Root@Root"}},
		},
		{
			name: "junk duplicates nil and anchor copies in the presented chain",
			leaf: leaf.cert, anchors: certs(root),
			intermediates: []*x509.Certificate{junk.cert, nil, inter.cert, junkLeaf.cert, inter.cert, reparsed, leaf.cert, root.cert},
			want:          [][]string{{"Leaf@Inter", "Inter@Root", "Root@Root"}},
		},
		{
			name: "leaf that is an anchor is its own path", leaf: leaf.cert, intermediates: certs(inter),
			anchors: certs(root, leaf), want: [][]string{{"Leaf@Inter"}},
		},
		{
			name: "path ends at the first bundle certificate", leaf: leaf.cert, intermediates: certs(inter),
			anchors: certs(root, inter), want: [][]string{{"Leaf@Inter", "Inter@Root"}},
		},
		{
			name: "cross-signed intermediate gives two paths", leaf: leaf.cert,
			intermediates: certs(cross, inter), anchors: certs(root, other),
			want: [][]string{
				{"Leaf@Inter", "Inter@Other", "Other@Other"},
				{"Leaf@Inter", "Inter@Root", "Root@Root"},
			},
		},
		{
			name: "cross-signed root gives a longer path, shortest first", leaf: leaf.cert,
			intermediates: certs(rootByOther, inter), anchors: certs(other, root),
			want: [][]string{
				{"Leaf@Inter", "Inter@Root", "Root@Root"},
				{"Leaf@Inter", "Inter@Root", "Root@Other", "Other@Other"},
			},
		},
		{
			name: "only the longer path when the root is not an anchor", leaf: leaf.cert,
			intermediates: certs(root, inter, rootByOther), anchors: certs(other),
			want: [][]string{{"Leaf@Inter", "Inter@Root", "Root@Other", "Other@Other"}},
		},
		{
			name: "MaxCandidates bounds the paths returned", leaf: leaf.cert,
			intermediates: certs(cross, inter, rootByOther), anchors: certs(root, other),
			opts: Options{MaxCandidates: 1},
			want: [][]string{{"Leaf@Inter", "Inter@Other", "Other@Other"}},
		},
		{
			name: "MaxDepth keeps only short paths", leaf: leaf.cert,
			intermediates: certs(rootByOther, inter), anchors: certs(other, root),
			opts: Options{MaxDepth: 3},
			want: [][]string{{"Leaf@Inter", "Inter@Root", "Root@Root"}},
		},
		{
			name: "issuer name matched across string types, case and spaces", leaf: encodedLeaf.cert,
			intermediates: certs(encoded), anchors: certs(root),
			want: [][]string{{"EncodedLeaf@  encoded   ca ", "Encoded CA@Root", "Root@Root"}},
		},
	} {
		t.Run(tc.name, tc.run)
	}
}

// rawNameWithTag encodes the name CN=value with the given string type.
func rawNameWithTag(t testing.TB, tag int, value string) []byte {
	t.Helper()
	atv, err := asn1.Marshal(struct {
		Type  asn1.ObjectIdentifier
		Value asn1.RawValue
	}{asn1.ObjectIdentifier{2, 5, 4, 3}, asn1.RawValue{Tag: tag, Bytes: []byte(value)}})
	if err != nil {
		t.Fatal(err)
	}
	set, err := asn1.Marshal(asn1.RawValue{Tag: asn1.TagSet, IsCompound: true, Bytes: atv})
	if err != nil {
		t.Fatal(err)
	}
	seq, err := asn1.Marshal(asn1.RawValue{Tag: asn1.TagSequence, IsCompound: true, Bytes: set})
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

func TestBuildLoops(t *testing.T) {
	a := newRoot(t, "A")
	b := newRoot(t, "B")
	aByB := b.issue(t, "A", asCA(), withKeyOf(a))
	bByA := a.issue(t, "B", asCA(), withKeyOf(b))
	leaf := a.issue(t, "Leaf")
	unrelated := newRoot(t, "C")
	// A self-signed client certificate whose bundle copy was re-issued with
	// the same name and key: the bundle copy is its issuer, not a loop.
	pinned := newRoot(t, "Pinned")
	reissued := makeCert(t, nil, "Pinned", withKeyOf(pinned))

	for _, tc := range []buildCase{
		{
			name: "loop without an anchor", leaf: leaf.cert,
			intermediates: certs(aByB, bByA, aByB), anchors: certs(unrelated),
			wantErr: ErrNoPath, errContains: "loop",
		},
		{
			name: "loop with an anchor behind it", leaf: leaf.cert,
			intermediates: certs(aByB, bByA), anchors: certs(b),
			want: [][]string{{"Leaf@A", "A@B", "B@B"}},
		},
		{
			name: "re-issued self-signed leaf", leaf: reissued.cert, anchors: certs(pinned),
			want: [][]string{{"Pinned@Pinned", "Pinned@Pinned"}},
		},
		{
			name: "self-signed non-anchor presented", leaf: leaf.cert,
			intermediates: certs(a), anchors: certs(unrelated),
			wantErr: ErrNoPath, errContains: `lead back into the path`,
		},
	} {
		t.Run(tc.name, tc.run)
	}
}

func TestBuildStructure(t *testing.T) {
	root := newRoot(t, "Root")
	unknownExt := asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 42}

	notCA := root.issue(t, "NotCA", withBasicConstraints(true, false), withKeyUsage(x509.KeyUsageCertSign))
	noBC := root.issue(t, "NoBC", withBasicConstraints(false, false), withKeyUsage(x509.KeyUsageCertSign))
	noCertSign := root.issue(t, "NoCertSign", asCA(), withKeyUsage(x509.KeyUsageDigitalSignature|x509.KeyUsageCRLSign))
	criticalExt := root.issue(t, "CriticalExt", asCA(), withExtension(unknownExt, true, []byte{0x05, 0x00}))
	nonCriticalExt := root.issue(t, "NonCriticalExt", asCA(), withExtension(unknownExt, false, []byte{0x05, 0x00}))

	pathLen0 := root.issue(t, "PathLen0", asCA(), withPathLen(0))
	belowPathLen0 := pathLen0.issue(t, "BelowPathLen0", asCA())
	selfIssued := pathLen0.issue(t, "PathLen0", asCA()) // same name, new key: rollover
	pathLen1 := root.issue(t, "PathLen1", asCA(), withPathLen(1))
	belowPathLen1 := pathLen1.issue(t, "BelowPathLen1", asCA())
	rootPathLen0 := newRoot(t, "RootPathLen0", withPathLen(0))
	belowRootPathLen0 := rootPathLen0.issue(t, "Inter", asCA())
	anchorNotCA := newRoot(t, "AnchorNotCA", withBasicConstraints(true, false), withKeyUsage(x509.KeyUsageCertSign))

	inter := root.issue(t, "Inter", asCA())
	impostor := newRoot(t, "Impostor")
	badSig := inter.issue(t, "BadSig", signedBy(impostor.key))
	orphan := impostor.issue(t, "Orphan")

	for _, tc := range []buildCase{
		{
			name: "intermediate with cA false", leaf: notCA.issue(t, "L").cert, intermediates: certs(notCA),
			anchors: certs(root), wantErr: ErrNoPath,
			errContains: `issuer "CN=NotCA,O=mtlslb test" of "CN=L,O=mtlslb test" cannot issue certificates: basicConstraints cA is false`,
		},
		{
			name: "intermediate without basicConstraints", leaf: noBC.issue(t, "L").cert, intermediates: certs(noBC),
			anchors: certs(root), wantErr: ErrNoPath, errContains: "no basicConstraints extension",
		},
		{
			name: "intermediate keyUsage without keyCertSign", leaf: noCertSign.issue(t, "L").cert,
			intermediates: certs(noCertSign), anchors: certs(root), wantErr: ErrNoPath,
			errContains: "keyUsage does not include keyCertSign",
		},
		{
			name: "anchor with cA false", leaf: anchorNotCA.issue(t, "L").cert, anchors: certs(anchorNotCA),
			wantErr: ErrNoPath, errContains: "basicConstraints cA is false",
		},
		{
			name: "unknown critical extension on an intermediate", leaf: criticalExt.issue(t, "L").cert,
			intermediates: certs(criticalExt), anchors: certs(root), wantErr: ErrNoPath,
			errContains: "unsupported critical extension 1.3.6.1.4.1.99999.42",
		},
		{
			name:          "unknown critical extension on the leaf",
			leaf:          inter.issue(t, "L", withExtension(unknownExt, true, []byte{0x05, 0x00})).cert,
			intermediates: certs(inter), anchors: certs(root), wantErr: ErrNoPath,
			errContains: "unsupported critical extension 1.3.6.1.4.1.99999.42",
		},
		{
			name:          "unknown non-critical extensions are ignored",
			leaf:          nonCriticalExt.issue(t, "L", withExtension(unknownExt, false, []byte{0x05, 0x00})).cert,
			intermediates: certs(nonCriticalExt), anchors: certs(root),
			want: [][]string{{"L@NonCriticalExt", "NonCriticalExt@Root", "Root@Root"}},
		},
		{
			name: "pathLenConstraint 0 refuses a further CA", leaf: belowPathLen0.issue(t, "L").cert,
			intermediates: certs(belowPathLen0, pathLen0), anchors: certs(root), wantErr: ErrNoPath,
			errContains: `pathLenConstraint exceeded by "CN=BelowPathLen0,O=mtlslb test"`,
		},
		{
			name: "pathLenConstraint does not count self-issued CAs", leaf: selfIssued.issue(t, "L").cert,
			intermediates: certs(selfIssued, pathLen0), anchors: certs(root),
			want: [][]string{{"L@PathLen0", "PathLen0@PathLen0", "PathLen0@Root", "Root@Root"}},
		},
		{
			name: "pathLenConstraint 1 allows one more CA", leaf: belowPathLen1.issue(t, "L").cert,
			intermediates: certs(belowPathLen1, pathLen1), anchors: certs(root),
			want: [][]string{{"L@BelowPathLen1", "BelowPathLen1@PathLen1", "PathLen1@Root", "Root@Root"}},
		},
		{
			name: "anchor pathLenConstraint is honoured", leaf: belowRootPathLen0.issue(t, "L").cert,
			intermediates: certs(belowRootPathLen0), anchors: certs(rootPathLen0), wantErr: ErrNoPath,
			errContains: "pathLenConstraint exceeded",
		},
		{
			name: "bad signature", leaf: badSig.cert, intermediates: certs(inter), anchors: certs(root),
			wantErr:     ErrNoPath,
			errContains: `signature of "CN=BadSig,O=mtlslb test" does not verify with "CN=Inter,O=mtlslb test"`,
		},
		{
			name: "no issuer", leaf: orphan.cert, intermediates: certs(inter), anchors: certs(root),
			wantErr: ErrNoPath, errContains: `no issuer found for "CN=Orphan,O=mtlslb test"`,
		},
		{
			name: "no issuer deeper in the chain", leaf: orphan.cert, intermediates: certs(impostor), anchors: certs(root),
			wantErr: ErrNoPath, errContains: `lead back into the path`,
		},
	} {
		t.Run(tc.name, tc.run)
	}
}

func TestBuildMaxDepth(t *testing.T) {
	root := newRoot(t, "Root")
	i1 := root.issue(t, "I1", asCA())
	i2 := i1.issue(t, "I2", asCA())
	leaf := i2.issue(t, "Leaf")
	impostor := newRoot(t, "I2")
	forged := impostor.issue(t, "Forged") // issuer name I2, wrong key

	for _, tc := range []buildCase{
		{
			name: "path within MaxDepth", leaf: leaf.cert, intermediates: certs(i2, i1), anchors: certs(root),
			opts: Options{MaxDepth: 4}, want: [][]string{{"Leaf@I2", "I2@I1", "I1@Root", "Root@Root"}},
		},
		{
			name: "path longer than MaxDepth", leaf: leaf.cert, intermediates: certs(i2, i1), anchors: certs(root),
			opts: Options{MaxDepth: 3}, wantErr: ErrTooDeep, errContains: "4 certificates, more than the 3 allowed",
		},
		{
			name: "no path at all is not too deep", leaf: forged.cert, intermediates: certs(i2, i1), anchors: certs(root),
			opts: Options{MaxDepth: 3}, wantErr: ErrNoPath, errContains: "does not verify",
		},
		{
			name: "MaxDepth 0 means no limit", leaf: leaf.cert, intermediates: certs(i2, i1), anchors: certs(root),
			want: [][]string{{"Leaf@I2", "I2@I1", "I1@Root", "Root@Root"}},
		},
	} {
		t.Run(tc.name, tc.run)
	}
}

func TestBuildNameConstraints(t *testing.T) {
	root := newRoot(t, "Root")
	dir := func(names ...string) pkix.Name { return pkix.Name{Organization: names} }
	type ncCase struct {
		name      string
		critical  bool
		permitted []asn1.RawValue
		excluded  []asn1.RawValue
		leafOpts  []certOption
		ok        bool
		contains  string
	}
	emailSubject := pkix.Name{CommonName: "L", Organization: []string{"mtlslb test"},
		ExtraNames: []pkix.AttributeTypeAndValue{{Type: oidEmailAddress, Value: "user@evil.example"}}}
	cases := []ncCase{
		{name: "dNSName permitted", permitted: []asn1.RawValue{gnDNS("example.com")}, leafOpts: []certOption{withDNS("a.example.com", "example.com")}, ok: true},
		{name: "dNSName not permitted", permitted: []asn1.RawValue{gnDNS("example.com")}, leafOpts: []certOption{withDNS("a.example.org")}, contains: `dNSName "a.example.org" is not in any permitted subtree`},
		{name: "dNSName label boundary", permitted: []asn1.RawValue{gnDNS("example.com")}, leafOpts: []certOption{withDNS("badexample.com")}, contains: "not in any permitted"},
		{name: "dNSName leading dot means subdomains only", permitted: []asn1.RawValue{gnDNS(".example.com")}, leafOpts: []certOption{withDNS("example.com")}, contains: "not in any permitted"},
		{name: "dNSName case-insensitive", permitted: []asn1.RawValue{gnDNS("Example.COM")}, leafOpts: []certOption{withDNS("a.example.com")}, ok: true},
		{name: "dNSName excluded", excluded: []asn1.RawValue{gnDNS("bad.example.com")}, leafOpts: []certOption{withDNS("x.bad.example.com")}, contains: "excluded subtree"},
		{name: "dNSName outside exclusion", excluded: []asn1.RawValue{gnDNS("bad.example.com")}, leafOpts: []certOption{withDNS("good.example.com")}, ok: true},
		{name: "dNSName wildcard cannot hide an exclusion", excluded: []asn1.RawValue{gnDNS("secret.example.com")}, leafOpts: []certOption{withDNS("*.example.com")}, contains: "excluded subtree"},
		{name: "rfc822Name host", permitted: []asn1.RawValue{gnEmail("example.com")}, leafOpts: []certOption{withEmail("u@example.com")}, ok: true},
		{name: "rfc822Name host excludes subdomains", permitted: []asn1.RawValue{gnEmail("example.com")}, leafOpts: []certOption{withEmail("u@sub.example.com")}, contains: "not in any permitted"},
		{name: "rfc822Name domain", permitted: []asn1.RawValue{gnEmail(".example.com")}, leafOpts: []certOption{withEmail("u@sub.example.com")}, ok: true},
		{name: "rfc822Name domain excludes the host", permitted: []asn1.RawValue{gnEmail(".example.com")}, leafOpts: []certOption{withEmail("u@example.com")}, contains: "not in any permitted"},
		{name: "rfc822Name mailbox", permitted: []asn1.RawValue{gnEmail("boss@example.com")}, leafOpts: []certOption{withEmail("boss@EXAMPLE.com")}, ok: true},
		{name: "rfc822Name mailbox local part is exact", permitted: []asn1.RawValue{gnEmail("boss@example.com")}, leafOpts: []certOption{withEmail("Boss@example.com")}, contains: "not in any permitted"},
		{name: "rfc822Name excluded", excluded: []asn1.RawValue{gnEmail("evil.example")}, leafOpts: []certOption{withEmail("u@evil.example")}, contains: "excluded"},
		{name: "rfc822Name applies to subject emailAddress", permitted: []asn1.RawValue{gnEmail("example.com")}, leafOpts: []certOption{withSubject(emailSubject)}, contains: `subject emailAddress: rfc822Name "user@evil.example" is not in any permitted subtree`},
		{name: "URI host", permitted: []asn1.RawValue{gnURIName("host.example.com")}, leafOpts: []certOption{withURI("https://host.example.com/x")}, ok: true},
		{name: "URI host is exact", permitted: []asn1.RawValue{gnURIName("host.example.com")}, leafOpts: []certOption{withURI("https://a.host.example.com/")}, contains: "not in any permitted"},
		{name: "URI domain", permitted: []asn1.RawValue{gnURIName(".example.com")}, leafOpts: []certOption{withURI("spiffe://a.example.com/workload")}, ok: true},
		{name: "URI excluded", excluded: []asn1.RawValue{gnURIName("evil.example")}, leafOpts: []certOption{withURI("https://evil.example:8443/")}, contains: "excluded"},
		{name: "URI without host", permitted: []asn1.RawValue{gnURIName(".example.com")}, leafOpts: []certOption{withURI("urn:example:a")}, contains: "has no host name"},
		{name: "iPAddress permitted", permitted: []asn1.RawValue{gnIPNet(t, "10.0.0.0/8")}, leafOpts: []certOption{withIP("10.1.2.3")}, ok: true},
		{name: "iPAddress not permitted", permitted: []asn1.RawValue{gnIPNet(t, "10.0.0.0/8")}, leafOpts: []certOption{withIP("192.168.1.1")}, contains: "not in any permitted"},
		{name: "iPAddress IPv6", permitted: []asn1.RawValue{gnIPNet(t, "2001:db8::/32")}, leafOpts: []certOption{withIP("2001:db8::1")}, ok: true},
		{name: "iPAddress family mismatch", permitted: []asn1.RawValue{gnIPNet(t, "2001:db8::/32")}, leafOpts: []certOption{withIP("10.1.2.3")}, contains: "not in any permitted"},
		{name: "iPAddress excluded", excluded: []asn1.RawValue{gnIPNet(t, "10.0.0.0/8")}, leafOpts: []certOption{withIP("10.1.2.3")}, contains: "excluded"},
		{name: "directoryName permitted", critical: true, permitted: []asn1.RawValue{gnDir(t, dir("mtlslb test"))}, ok: true},
		{name: "directoryName matched case- and space-insensitively", critical: true, permitted: []asn1.RawValue{gnDir(t, dir("  MTLSLB   Test"))}, ok: true},
		{name: "directoryName not permitted", critical: true, permitted: []asn1.RawValue{gnDir(t, dir("other"))}, contains: `subject: directoryName "CN=L,O=mtlslb test" is not in any permitted subtree`},
		{name: "directoryName excluded", critical: true, excluded: []asn1.RawValue{gnDir(t, dir("mtlslb test"))}, contains: "excluded"},
		{name: "directoryName in subjectAltName", critical: true, permitted: []asn1.RawValue{gnDir(t, dir("mtlslb test"))}, leafOpts: []certOption{withSAN(t, false, gnDir(t, dir("other")))}, contains: "subjectAltName: directoryName"},
		{name: "unsupported name form constrained", critical: true, permitted: []asn1.RawValue{gnOther(t)}, leafOpts: []certOption{withSAN(t, false, gnOther(t))}, contains: "not supported"},
		{name: "unsupported name form absent from the leaf", critical: true, permitted: []asn1.RawValue{gnOther(t)}, leafOpts: []certOption{withDNS("a.example.com")}, ok: true},
		{name: "forms without constraints are free", permitted: []asn1.RawValue{gnDNS("example.com")}, leafOpts: []certOption{withEmail("u@anywhere.example"), withIP("192.0.2.1")}, ok: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inter := root.issue(t, "Inter", asCA(), withNameConstraints(t, tc.critical, tc.permitted, tc.excluded))
			leaf := inter.issue(t, "L", tc.leafOpts...)
			bc := buildCase{leaf: leaf.cert, intermediates: certs(inter), anchors: certs(root),
				want: [][]string{{"L@Inter", "Inter@Root", "Root@Root"}}}
			if !tc.ok {
				bc.wantErr, bc.errContains = ErrNoPath, tc.contains
			}
			bc.run(t)

			// The same constraints on the anchor must act the same.
			anchor := newRoot(t, "Anchor", withNameConstraints(t, tc.critical, tc.permitted, tc.excluded))
			leaf2 := anchor.issue(t, "L", tc.leafOpts...)
			bc = buildCase{leaf: leaf2.cert, anchors: certs(anchor), want: [][]string{{"L@Anchor", "Anchor@Anchor"}}}
			if !tc.ok {
				bc.wantErr, bc.errContains = ErrNoPath, tc.contains
			}
			bc.run(t)
		})
	}
}

func TestBuildNameConstraintsOnPath(t *testing.T) {
	// The root permits example.com names only.
	root := newRoot(t, "Root", withNameConstraints(t, true, []asn1.RawValue{gnDNS("example.com")}, nil))
	// A rollover certificate (self-issued) is exempt from the constraints even
	// if it carries a name outside them; an ordinary CA is not.
	rollover := root.issue(t, "Root", asCA(), withDNS("ca.evil.example"))
	rolloverLeaf := rollover.issue(t, "L", withDNS("a.example.com"))
	inter := root.issue(t, "Inter", asCA(), withDNS("ca.evil.example"))
	interLeaf := inter.issue(t, "L", withDNS("a.example.com"))
	// A self-issued leaf is checked.
	selfIssuedLeaf := root.issue(t, "Root", withDNS("evil.example"))
	// Constraints with a maximum distance are refused rather than misread.
	ncWithMax := []byte{
		0x30, 0x14, 0xa0, 0x12, // NameConstraints, permittedSubtrees
		0x30, 0x10, 0x82, 0x0b, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm', // GeneralSubtree, dNSName
		0x81, 0x01, 0x02, // maximum 2
	}
	withMax := root.issue(t, "WithMax", asCA(), withExtension(oidNameConstraints, true, ncWithMax))

	for _, tc := range []buildCase{
		{
			name: "self-issued intermediate is exempt", leaf: rolloverLeaf.cert, intermediates: certs(rollover),
			anchors: certs(root), want: [][]string{{"L@Root", "Root@Root", "Root@Root"}},
		},
		{
			name: "ordinary intermediate is checked", leaf: interLeaf.cert, intermediates: certs(inter),
			anchors: certs(root), wantErr: ErrNoPath, errContains: `"CN=Inter,O=mtlslb test" violates the name constraints of "CN=Root,O=mtlslb test"`,
		},
		{
			name: "self-issued leaf is checked", leaf: selfIssuedLeaf.cert, anchors: certs(root),
			wantErr: ErrNoPath, errContains: `dNSName "evil.example" is not in any permitted subtree`,
		},
		{
			name: "subtree maximum refused", leaf: withMax.issue(t, "L", withDNS("example.com")).cert,
			intermediates: certs(withMax), anchors: certs(root), wantErr: ErrNoPath,
			errContains: "subtree minimum or maximum is not supported",
		},
	} {
		t.Run(tc.name, tc.run)
	}
}

func TestBuildPolicies(t *testing.T) {
	root := newRoot(t, "Root")
	requireP1 := root.issue(t, "RequireP1", asCA(), withPolicies(t, testPolicy1), withRequireExplicitPolicy(t, 0))
	requireAny := root.issue(t, "RequireAny", asCA(), withPolicies(t, anyPolicyASN1), withRequireExplicitPolicy(t, 0))
	inhibitAny := root.issue(t, "InhibitAny", asCA(), withPolicies(t, anyPolicyASN1), withRequireExplicitPolicy(t, 0), withInhibitAnyPolicy(t, 0))
	mapsToAny := root.issue(t, "MapsToAny", asCA(), withPolicies(t, testPolicy1), withPolicyMapping(t, testPolicy1, anyPolicyASN1))
	mapsP1P2 := root.issue(t, "MapsP1P2", asCA(), withPolicies(t, testPolicy1), withPolicyMapping(t, testPolicy1, testPolicy2), withRequireExplicitPolicy(t, 0))
	plain := root.issue(t, "Plain", asCA(), withPolicies(t, testPolicy1))

	ok := func(ca *testCert, leafCN string) [][]string {
		return [][]string{{leafCN + "@" + ca.cert.Subject.CommonName, ca.cert.Subject.CommonName + "@Root", "Root@Root"}}
	}
	for _, tc := range []buildCase{
		{
			name: "explicit policy required, leaf has none", leaf: requireP1.issue(t, "L").cert,
			intermediates: certs(requireP1), anchors: certs(root), wantErr: ErrNoPath, errContains: "requires an explicit policy",
		},
		{
			name: "explicit policy required, leaf shares it", leaf: requireP1.issue(t, "L", withPolicies(t, testPolicy1)).cert,
			intermediates: certs(requireP1), anchors: certs(root), want: ok(requireP1, "L"),
		},
		{
			name: "explicit policy required, leaf has another", leaf: requireP1.issue(t, "L", withPolicies(t, testPolicy2)).cert,
			intermediates: certs(requireP1), anchors: certs(root), wantErr: ErrNoPath, errContains: "requires an explicit policy",
		},
		{
			name: "anyPolicy CA accepts any leaf policy", leaf: requireAny.issue(t, "L", withPolicies(t, testPolicy2)).cert,
			intermediates: certs(requireAny), anchors: certs(root), want: ok(requireAny, "L"),
		},
		{
			name: "inhibitAnyPolicy refuses a leaf anyPolicy", leaf: inhibitAny.issue(t, "L", withPolicies(t, anyPolicyASN1)).cert,
			intermediates: certs(inhibitAny), anchors: certs(root), wantErr: ErrNoPath, errContains: "requires an explicit policy",
		},
		{
			name: "inhibitAnyPolicy still accepts a specific policy", leaf: inhibitAny.issue(t, "L", withPolicies(t, testPolicy1)).cert,
			intermediates: certs(inhibitAny), anchors: certs(root), want: ok(inhibitAny, "L"),
		},
		{
			name: "mapping to anyPolicy refused", leaf: mapsToAny.issue(t, "L").cert,
			intermediates: certs(mapsToAny), anchors: certs(root), wantErr: ErrNoPath, errContains: "maps a policy to or from anyPolicy",
		},
		{
			name: "mapped policy accepted", leaf: mapsP1P2.issue(t, "L", withPolicies(t, testPolicy2)).cert,
			intermediates: certs(mapsP1P2), anchors: certs(root), want: ok(mapsP1P2, "L"),
		},
		{
			name: "unmapped issuer policy refused after mapping", leaf: mapsP1P2.issue(t, "L", withPolicies(t, testPolicy1)).cert,
			intermediates: certs(mapsP1P2), anchors: certs(root), wantErr: ErrNoPath, errContains: "requires an explicit policy",
		},
		{
			name: "policies without constraints do not matter", leaf: plain.issue(t, "L", withPolicies(t, testPolicy2)).cert,
			intermediates: certs(plain), anchors: certs(root), want: ok(plain, "L"),
		},
	} {
		t.Run(tc.name, tc.run)
	}
}

func TestBuildBadInput(t *testing.T) {
	root := newRoot(t, "Root")
	leaf := root.issue(t, "Leaf")
	for _, tc := range []struct {
		name     string
		leaf     *x509.Certificate
		anchors  *Anchors
		contains string
	}{
		{"nil leaf", nil, NewAnchors(certs(root)), "no leaf certificate"},
		{"nil anchors", leaf.cert, nil, "no trust anchors"},
		{"empty anchors", leaf.cert, NewAnchors(nil), "no trust anchors"},
		{"only nil anchors", leaf.cert, NewAnchors([]*x509.Certificate{nil}), "no trust anchors"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			paths, err := Build(tc.leaf, nil, tc.anchors, Options{})
			if !errors.Is(err, ErrNoPath) || !strings.Contains(err.Error(), tc.contains) {
				t.Fatalf("Build = %v, %v; want ErrNoPath containing %q", paths, err, tc.contains)
			}
		})
	}
}

func TestNewAnchors(t *testing.T) {
	a := newRoot(t, "A")
	b := newRoot(t, "B")
	reparsed, err := x509.ParseCertificate(a.cert.Raw)
	if err != nil {
		t.Fatal(err)
	}
	anchors := NewAnchors([]*x509.Certificate{b.cert, nil, a.cert, reparsed, b.cert})
	got := labels([][]*x509.Certificate{anchors.Certificates()})
	if diff := cmp.Diff([][]string{{"B@B", "A@A"}}, got); diff != "" {
		t.Fatalf("Certificates (-want +got):\n%s", diff)
	}
	var nilAnchors *Anchors
	if nilAnchors.Certificates() != nil {
		t.Fatal("nil Anchors has certificates")
	}
}

// TestBuildSearchBounds feeds Build hostile chains whose every certificate
// chains to every other; it must stop at its bounds, quickly.
func TestBuildSearchBounds(t *testing.T) {
	root := newRoot(t, "Root")
	// Self-signed certificates all named Mesh with different keys: each
	// can issue each other, so the number of simple paths explodes.
	var mesh []*x509.Certificate
	for range 24 {
		mesh = append(mesh, newRoot(t, "Mesh").cert)
	}
	meshLeaf := newRoot(t, "Mesh").issue(t, "Leaf")
	_, err := Build(meshLeaf.cert, mesh, NewAnchors(certs(root)), Options{})
	if !errors.Is(err, ErrNoPath) || !strings.Contains(err.Error(), "search stopped after more than 1024 partial paths") {
		t.Fatalf("mesh: Build error = %v", err)
	}

	// CAs genuinely issued by an anchor of the same name (so self-issued)
	// and a leaf that none of them signed: every pair of them makes a path
	// whose signatures must be checked, until the bound stops it.
	meshAnchor := newRoot(t, "Mesh")
	var rollovers []*x509.Certificate
	for range 24 {
		rollovers = append(rollovers, meshAnchor.issue(t, "Mesh", asCA()).cert)
	}
	b := newBuilder(meshLeaf.cert, rollovers, NewAnchors(certs(meshAnchor)), Options{})
	b.search()
	if b.sigChecks != maxSignatureChecks {
		t.Fatalf("%d signature checks, want the bound %d", b.sigChecks, maxSignatureChecks)
	}
	if _, err := b.result(); !errors.Is(err, ErrNoPath) || !strings.Contains(err.Error(), "search stopped after more than 64 signature verifications") {
		t.Fatalf("rollovers: Build error = %v", err)
	}
}

// TestSignatureCache checks that a valid path's signatures are remembered
// by the Anchors and not verified again.
func TestSignatureCache(t *testing.T) {
	root := newRoot(t, "Root")
	inter := root.issue(t, "Inter", asCA())
	leaf := inter.issue(t, "Leaf")
	anchors := NewAnchors(certs(root))

	first := newBuilder(leaf.cert, certs(inter), anchors, Options{})
	first.search()
	if first.sigChecks != 2 || len(first.paths) != 1 {
		t.Fatalf("first build: %d signature checks, %d paths; want 2 and 1", first.sigChecks, len(first.paths))
	}
	second := newBuilder(leaf.cert, certs(inter), anchors, Options{})
	second.search()
	if second.sigChecks != 0 || len(second.paths) != 1 {
		t.Fatalf("second build: %d signature checks, %d paths; want 0 and 1", second.sigChecks, len(second.paths))
	}
	// Another leaf of the same intermediate verifies only its own signature.
	third := newBuilder(inter.issue(t, "Leaf2").cert, certs(inter), anchors, Options{})
	third.search()
	if third.sigChecks != 1 {
		t.Fatalf("third build: %d signature checks, want 1", third.sigChecks)
	}

	// The cache stays bounded.
	cache := &sigCache{verified: make(map[sigKey]struct{})}
	for i := range sigCacheSize + 10 {
		var k sigKey
		k[0], k[1] = byte(i), byte(i>>8)
		cache.add(k)
	}
	if len(cache.verified) != sigCacheSize {
		t.Fatalf("cache holds %d entries, bound is %d", len(cache.verified), sigCacheSize)
	}
}

// TestBuildConcurrent shares one Anchors between goroutines (run with -race).
func TestBuildConcurrent(t *testing.T) {
	root := newRoot(t, "Root", withNameConstraints(t, true, []asn1.RawValue{gnDir(t, pkix.Name{Organization: []string{"mtlslb test"}})}, nil))
	inter := root.issue(t, "Inter", asCA())
	var leaves []*x509.Certificate
	for range 4 {
		leaves = append(leaves, inter.issue(t, "Leaf").cert)
	}
	anchors := NewAnchors(certs(root))
	var wg sync.WaitGroup
	errs := make(chan error, 8*len(leaves))
	for range 8 {
		for _, leaf := range leaves {
			wg.Go(func() {
				if _, err := Build(leaf, certs(inter), anchors, Options{}); err != nil {
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
