package x509path

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/conformance"
	"github.com/mtlslb/mtlslb/internal/der"
	"github.com/mtlslb/mtlslb/internal/x509name"
)

// splitDER cuts data into top-level DER elements, stopping at the first
// malformed one.
func splitDER(data []byte) [][]byte {
	var out [][]byte
	for r := der.Reader(data); !r.Empty(); {
		_, full, _, err := r.ReadAny()
		if err != nil {
			break
		}
		out = append(out, full)
	}
	return out
}

func concatDER(parts ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range parts {
		out = append(out, c.Raw...)
	}
	return out
}

// FuzzBuild feeds Build certificates parsed from arbitrary bytes: the first
// is the leaf, the rest are presented, and the last is also an anchor beside
// a fixed root. Build must not panic, must stay within its bounds and must
// return only well-formed paths.
func FuzzBuild(f *testing.F) {
	root := newRoot(f, "Root", withNameConstraints(f, true, []asn1.RawValue{gnDir(f, pkix.Name{Organization: []string{"mtlslb test"}}), gnDNS("example.com")}, nil))
	inter := root.issue(f, "Inter", asCA(), withPathLen(1), withPolicies(f, testPolicy1), withRequireExplicitPolicy(f, 1))
	leaf := inter.issue(f, "Leaf", withDNS("a.example.com"), withEmail("u@example.com"), withPolicies(f, testPolicy1))
	other := newRoot(f, "Other")
	cross := other.issue(f, "Inter", asCA(), withKeyOf(inter))
	f.Add(concatDER(leaf.cert, inter.cert))
	f.Add(concatDER(leaf.cert, cross.cert, inter.cert, other.cert))
	f.Add(concatDER(leaf.cert, inter.cert, root.cert))
	pkits := conformance.LoadPKITS(f)
	for _, chain := range [][]string{
		{"ValidDNnameConstraintsTest1EE", "nameConstraintsDN1CACert", "TrustAnchorRootCertificate"},
		{"ValidPolicyMappingTest13EE", "P1Mapping1to234CACert", "TrustAnchorRootCertificate"},
		{"ValidBasicSelfIssuedNewWithOldTest3EE", "BasicSelfIssuedOldKeyNewWithOldCACert", "BasicSelfIssuedOldKeyCACert", "TrustAnchorRootCertificate"},
	} {
		var data []byte
		for _, stem := range chain {
			data = append(data, pkits.CertDER(f, stem)...)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var parsed []*x509.Certificate
		for _, raw := range splitDER(data) {
			if cert, err := x509.ParseCertificate(raw); err == nil {
				parsed = append(parsed, cert)
			}
		}
		if len(parsed) == 0 {
			return
		}
		anchors := NewAnchors([]*x509.Certificate{root.cert, parsed[len(parsed)-1]})
		start := time.Now()
		b := newBuilder(parsed[0], parsed[1:], anchors, Options{MaxDepth: 5})
		b.search()
		paths, err := b.result()
		if elapsed := time.Since(start); elapsed > 5*time.Second {
			t.Fatalf("Build took %v", elapsed)
		}
		if b.sigChecks > maxSignatureChecks || len(b.nodes) > maxNodes || b.pathChecks > maxPathChecks {
			t.Fatalf("bounds exceeded: %d signatures, %d nodes, %d paths", b.sigChecks, len(b.nodes), b.pathChecks)
		}
		if (err == nil) == (len(paths) == 0) {
			t.Fatalf("Build returned %d paths and error %v", len(paths), err)
		}
		for _, p := range paths {
			if len(p) > 5 {
				t.Fatalf("path of %d certificates exceeds MaxDepth 5", len(p))
			}
		}
		if err == nil {
			checkPathShape(t, paths, parsed[0], anchors)
		}
		// The public entry point agrees (the leaf-is-anchor shortcut aside).
		if _, isAnchor := anchors.byRaw[string(parsed[0].Raw)]; !isAnchor {
			if _, err2 := Build(parsed[0], parsed[1:], anchors, Options{MaxDepth: 5}); (err == nil) != (err2 == nil) {
				t.Fatalf("builder error %v, Build error %v", err, err2)
			}
		}
	})
}

// FuzzNameConstraints feeds the name constraints and subjectAltName parsers
// arbitrary bytes and checks parsed names against parsed constraints.
func FuzzNameConstraints(f *testing.F) {
	nc := func(opt certOption) []byte {
		cfg := &certConfig{template: &x509.Certificate{}}
		opt(f, cfg)
		return cfg.template.ExtraExtensions[0].Value
	}
	dir := pkix.Name{Organization: []string{"mtlslb test"}}
	f.Add(nc(withNameConstraints(f, true, []asn1.RawValue{gnDir(f, dir), gnDNS("example.com"), gnEmail(".example.com"), gnURIName("host.example.com"), gnIPNet(f, "10.0.0.0/8")}, []asn1.RawValue{gnOther(f)})),
		nc(withSAN(f, false, gnDNS("a.example.com"), gnEmail("u@x.example.com"), gnURIName("https://host.example.com/"), gnDir(f, dir), gnOther(f))),
		rawName(f, pkix.Name{CommonName: "L", ExtraNames: []pkix.AttributeTypeAndValue{{Type: oidEmailAddress, Value: "u@example.com"}}}))
	f.Fuzz(func(t *testing.T, constraints, san, subject []byte) {
		parsed, err := parseNameConstraints(constraints)
		if err != nil {
			return
		}
		names, err := parseCertNames(subject, san)
		if err != nil {
			return
		}
		_ = parsed.check(names)
	})
}

// FuzzNameFingerprint checks the contract of nameFingerprint: names whose
// x509name keys are equal never get different fingerprints. The second name
// is also derived from the first by changing case and string types, which
// keeps keys equal often enough for the fuzzer to test the contract.
func FuzzNameFingerprint(f *testing.F) {
	f.Add(rawName(f, pkix.Name{CommonName: "Test CA", Organization: []string{"Example"}}),
		rawNameWithTag(f, asn1.TagUTF8String, "  test   ca "), byte(3))
	f.Add(rawNameWithTag(f, asn1.TagPrintableString, "Encoded CA"), rawNameWithTag(f, asn1.TagUTF8String, "encoded\tca"), byte(1))
	f.Add(rawNameWithTag(f, asn1.TagUTF8String, "\u017ftrasse"), rawNameWithTag(f, asn1.TagUTF8String, "strasse"), byte(0))
	f.Fuzz(func(t *testing.T, a, b []byte, flags byte) {
		checkFingerprintContract(t, a, b)
		checkFingerprintContract(t, a, mutateName(a, flags))
	})
}

func checkFingerprintContract(t *testing.T, a, b []byte) {
	t.Helper()
	fa, oka := nameFingerprint(a)
	fb, okb := nameFingerprint(b)
	if !oka || !okb || fa == fb {
		return
	}
	ka, erra := x509name.Key(a)
	kb, errb := x509name.Key(b)
	if erra == nil && errb == nil && ka == kb {
		t.Fatalf("names %x and %x have equal keys but fingerprints %x and %x", a, b, fa, fb)
	}
}

// mutateName flips letter case (flags bit 0) and swaps string type tags
// (bit 1) throughout the encoding; the result is often the same name.
func mutateName(name []byte, flags byte) []byte {
	out := append([]byte(nil), name...)
	for i, c := range out {
		switch {
		case flags&1 != 0 && c >= 'a' && c <= 'z':
			out[i] = c - ('a' - 'A')
		case flags&1 != 0 && c >= 'A' && c <= 'Z':
			out[i] = c + ('a' - 'A')
		case flags&2 != 0 && c == asn1.TagPrintableString:
			out[i] = asn1.TagUTF8String
		case flags&2 != 0 && c == asn1.TagUTF8String:
			out[i] = asn1.TagPrintableString
		}
	}
	return out
}

// FuzzBuildGraph builds over arbitrary selections from a pool of real
// certificates forming a tangled PKI (cross-signatures both ways, rollover,
// constraints, policies, a forged signature): any leaf, any presented
// multiset in any order, any anchors, any MaxDepth. Every path returned must
// chain by name and signature from the leaf to an anchor within MaxDepth,
// and the search must stay within its bounds.
func FuzzBuildGraph(f *testing.F) {
	r1 := newRoot(f, "R1")
	r2 := newRoot(f, "R2")
	i1 := r1.issue(f, "I1", asCA(), withPathLen(1))
	i2 := i1.issue(f, "I2", asCA())
	rollover := i1.issue(f, "I1", asCA())
	constrained := r1.issue(f, "NC", asCA(), withNameConstraints(f, true, []asn1.RawValue{gnDir(f, pkix.Name{Organization: []string{"other"}})}, nil))
	policy := r2.issue(f, "Pol", asCA(), withPolicies(f, testPolicy1), withRequireExplicitPolicy(f, 0))
	pool := []*testCert{
		r1, r2,
		r2.issue(f, "R1", asCA(), withKeyOf(r1)),
		r1.issue(f, "R2", asCA(), withKeyOf(r2)),
		i1, r2.issue(f, "I1", asCA(), withKeyOf(i1)), i2, rollover, constrained, policy,
		i1.issue(f, "L1"), i2.issue(f, "L2"), rollover.issue(f, "L3"), constrained.issue(f, "L4"),
		policy.issue(f, "L5", withPolicies(f, testPolicy1)), i2.issue(f, "L6", signedBy(newECKey(f))),
	}
	f.Add([]byte{11, 6, 4, 5, 2, 3}, uint16(0b11), uint8(0))
	f.Add([]byte{12, 7, 4, 2, 3, 5}, uint16(0b10), uint8(4))
	f.Add([]byte{13, 8, 8, 8}, uint16(0b01), uint8(3))
	f.Add([]byte{14, 9, 3}, uint16(0b01), uint8(0))
	f.Add([]byte{15, 6, 4, 0}, uint16(0b10000), uint8(0))
	f.Fuzz(func(t *testing.T, selection []byte, anchorMask uint16, maxDepth uint8) {
		if len(selection) == 0 || len(selection) > 3*maxIntermediates {
			return
		}
		leaf := pool[int(selection[0])%len(pool)].cert
		var presented []*x509.Certificate
		for _, s := range selection[1:] {
			presented = append(presented, pool[int(s)%len(pool)].cert)
		}
		var anchorCerts []*x509.Certificate
		for i := range pool {
			if anchorMask&(1<<i) != 0 {
				anchorCerts = append(anchorCerts, pool[i].cert)
			}
		}
		anchors := NewAnchors(anchorCerts)
		opts := Options{MaxDepth: int(maxDepth % 8)}
		paths, err := Build(leaf, presented, anchors, opts)
		if (err == nil) == (len(paths) == 0) {
			t.Fatalf("Build returned %d paths and error %v", len(paths), err)
		}
		if err == nil {
			checkPathShape(t, paths, leaf, anchors)
		}
		for _, p := range paths {
			if opts.MaxDepth > 0 && len(p) > opts.MaxDepth {
				t.Fatalf("path of %d certificates exceeds MaxDepth %d", len(p), opts.MaxDepth)
			}
			for i := 0; i+1 < len(p); i++ {
				child, parent := newCertInfo(p[i]), newCertInfo(p[i+1])
				if !issuedBy(&child, &parent) {
					t.Fatalf("path certificate %d is not issued in name by %d", i, i+1)
				}
				if err := checkSignature(p[i], p[i+1]); err != nil {
					t.Fatalf("path certificate %d is not signed by %d: %v", i, i+1, err)
				}
			}
		}
	})
}
