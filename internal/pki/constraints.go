package pki

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"net/netip"
)

// NameConstraints is the content of a CA certificate's name constraints
// extension (RFC 5280 §4.2.1.10).
//
// It is encoded here rather than through crypto/x509's template fields
// because those cannot express directoryName subtrees, which path validation
// must honour and tests must therefore be able to produce.
type NameConstraints struct {
	Permitted Subtrees
	Excluded  Subtrees
	// NonCritical marks the extension non-critical. RFC 5280 requires it to
	// be critical; the flag exists to test verifiers against CAs that do not.
	NonCritical bool
}

// Subtrees lists the name subtrees of one side (permitted or excluded) of a
// name constraints extension.
type Subtrees struct {
	DNSDomains     []string       // "example.com", ".example.com"
	EmailAddresses []string       // "user@example.com", "example.com", ".example.com"
	URIDomains     []string       // host part constraints: "example.com", ".example.com"
	IPRanges       []netip.Prefix // "10.0.0.0/8", "2001:db8::/32"
	DirectoryNames []pkix.Name    // encoded in crypto/x509's RDN order, as subjects issued here are
}

func (s Subtrees) empty() bool {
	return len(s.DNSDomains)+len(s.EmailAddresses)+len(s.URIDomains)+len(s.IPRanges)+len(s.DirectoryNames) == 0
}

var oidExtensionNameConstraints = asn1.ObjectIdentifier{2, 5, 29, 30}

// GeneralName CHOICE tags (RFC 5280 §4.2.1.6).
const (
	tagRFC822Name    = 1
	tagDNSName       = 2
	tagDirectoryName = 4
	tagURI           = 6
	tagIPAddress     = 7
)

// extension encodes nc as a name constraints extension.
func (nc NameConstraints) extension() (pkix.Extension, error) {
	var seq []asn1.RawValue
	for i, side := range []Subtrees{nc.Permitted, nc.Excluded} {
		if side.empty() {
			continue
		}
		trees, err := side.encode()
		if err != nil {
			return pkix.Extension{}, fmt.Errorf("encoding name constraints: %w", err)
		}
		// permittedSubtrees [0], excludedSubtrees [1]: IMPLICIT SEQUENCE OF GeneralSubtree.
		seq = append(seq, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: i, IsCompound: true, Bytes: trees})
	}
	if len(seq) == 0 {
		return pkix.Extension{}, fmt.Errorf("encoding name constraints: no subtrees")
	}
	der, err := asn1.Marshal(seq)
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("encoding name constraints: %w", err)
	}
	return pkix.Extension{Id: oidExtensionNameConstraints, Critical: !nc.NonCritical, Value: der}, nil
}

// encode returns the concatenated DER of one GeneralSubtree per name. Each
// subtree is SEQUENCE { base GeneralName } with minimum and maximum left at
// their defaults, as RFC 5280 requires.
func (s Subtrees) encode() ([]byte, error) {
	var names []asn1.RawValue
	for _, group := range []struct {
		tag    int
		values []string
	}{{tagDNSName, s.DNSDomains}, {tagRFC822Name, s.EmailAddresses}, {tagURI, s.URIDomains}} {
		for _, v := range group.values {
			if !isIA5(v) {
				return nil, fmt.Errorf("%q is not an IA5String", v)
			}
			names = append(names, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: group.tag, Bytes: []byte(v)})
		}
	}
	for _, p := range s.IPRanges {
		if !p.IsValid() {
			return nil, fmt.Errorf("invalid IP range %v", p)
		}
		p = p.Masked()
		addr := p.Addr().Unmap()
		bits := addr.BitLen()
		if p.Bits() > bits {
			return nil, fmt.Errorf("IP range %v: prefix longer than the address", p)
		}
		// iPAddress in a constraint is the address followed by its mask (RFC 5280 §4.2.1.10).
		b := addr.AsSlice()
		mask := make([]byte, bits/8)
		for i := range p.Bits() {
			mask[i/8] |= 0x80 >> (i % 8)
		}
		names = append(names, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: tagIPAddress, Bytes: append(b, mask...)})
	}
	for _, n := range s.DirectoryNames {
		der, err := asn1.Marshal(n.ToRDNSequence())
		if err != nil {
			return nil, fmt.Errorf("directory name %v: %w", n, err)
		}
		// directoryName is EXPLICIT because Name is a CHOICE.
		names = append(names, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: tagDirectoryName, IsCompound: true, Bytes: der})
	}
	var out []byte
	for _, gn := range names {
		der, err := asn1.Marshal(struct{ Base asn1.RawValue }{gn})
		if err != nil {
			return nil, err
		}
		out = append(out, der...)
	}
	return out, nil
}

func isIA5(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
