package x509path

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"strings"
	"testing"

	"github.com/mtlslb/mtlslb/internal/x509name"
)

func TestParseNameConstraintsBadInput(t *testing.T) {
	for _, tc := range []struct {
		name     string
		der      []byte
		contains string
	}{
		{"empty", nil, "not a SEQUENCE"},
		{"not a sequence", []byte{0x04, 0x00}, "not a SEQUENCE"},
		{"trailing data", []byte{0x30, 0x00, 0x00}, "not a SEQUENCE"},
		{"truncated", []byte{0x30, 0x05, 0xa0}, "not a SEQUENCE"},
		{"non-minimal length", []byte{0x30, 0x81, 0x02, 0xa0, 0x00}, "not a SEQUENCE"},
		{"multi-byte tag", []byte{0x1f, 0x81, 0x00}, "not a SEQUENCE"},
		{"neither subtree", []byte{0x30, 0x00}, "neither permitted nor excluded"},
		{"empty subtrees", []byte{0x30, 0x02, 0xa0, 0x00}, "empty GeneralSubtrees"},
		{"unexpected element", []byte{0x30, 0x02, 0xa2, 0x00}, "unexpected element"},
		{"subtree not a sequence", []byte{0x30, 0x04, 0xa0, 0x02, 0x04, 0x00}, "not a SEQUENCE"},
		{"base not context-specific", []byte{0x30, 0x06, 0xa0, 0x04, 0x30, 0x02, 0x04, 0x00}, "not context-specific"},
		{"unknown GeneralName choice", []byte{0x30, 0x06, 0xa0, 0x04, 0x30, 0x02, 0x89, 0x00}, "unknown GeneralName choice [9]"},
		{"constructed dNSName", []byte{0x30, 0x06, 0xa0, 0x04, 0x30, 0x02, 0xa2, 0x00}, "must be primitive"},
		{"primitive directoryName", []byte{0x30, 0x06, 0xa0, 0x04, 0x30, 0x02, 0x84, 0x00}, "must be constructed"},
		{"directoryName not a Name", []byte{0x30, 0x08, 0xa0, 0x06, 0x30, 0x04, 0xa4, 0x02, 0x04, 0x00}, "directoryName"},
		{"IP constraint of 5 bytes", []byte{0x30, 0x0b, 0xa0, 0x09, 0x30, 0x07, 0x87, 0x05, 1, 2, 3, 4, 5}, "iPAddress constraint of 5 bytes"},
		{"non-IA5 dNSName", []byte{0x30, 0x07, 0xa0, 0x05, 0x30, 0x03, 0x82, 0x01, 0xe9}, "not IA5String"},
		{"nonzero minimum", []byte{0x30, 0x09, 0xa0, 0x07, 0x30, 0x05, 0x82, 0x00, 0x80, 0x01, 0x01}, "minimum or maximum"},
		{"maximum", []byte{0x30, 0x09, 0xa0, 0x07, 0x30, 0x05, 0x82, 0x00, 0x81, 0x01, 0x00}, "minimum or maximum"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := parseNameConstraints(tc.der)
			if err == nil || !strings.Contains(err.Error(), tc.contains) {
				t.Fatalf("parseNameConstraints = %v, %v; want error containing %q", nc, err, tc.contains)
			}
		})
	}
	// A zero minimum, written out although DER says to omit it, is accepted.
	if _, err := parseNameConstraints([]byte{0x30, 0x09, 0xa0, 0x07, 0x30, 0x05, 0x82, 0x00, 0x80, 0x01, 0x00}); err != nil {
		t.Fatalf("explicit zero minimum: %v", err)
	}
}

func TestParseCertNamesBadInput(t *testing.T) {
	subject := rawName(t, pkix.Name{CommonName: "L"})
	for _, tc := range []struct {
		name     string
		subject  []byte
		san      []byte
		contains string
	}{
		{"subject not a name", []byte{0x04, 0x00}, nil, "subject"},
		{"SAN not a sequence", subject, []byte{0x04, 0x00}, "subjectAltName: not a SEQUENCE"},
		{"SAN entry truncated", subject, []byte{0x30, 0x02, 0x82, 0x05}, "subjectAltName: malformed DER"},
		{"SAN unknown choice", subject, []byte{0x30, 0x02, 0x89, 0x00}, "unknown GeneralName choice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			names, err := parseCertNames(tc.subject, tc.san)
			if err == nil || !strings.Contains(err.Error(), tc.contains) {
				t.Fatalf("parseCertNames = %v, %v; want error containing %q", names, err, tc.contains)
			}
		})
	}
}

func TestNameFingerprint(t *testing.T) {
	utf8 := func(s string) []byte { return rawNameWithTag(t, asn1.TagUTF8String, s) }
	printable := func(s string) []byte { return rawNameWithTag(t, asn1.TagPrintableString, s) }
	multi := func(first, second string) []byte {
		// One RDN with two attributes (O and CN), in the given order.
		atv := func(oid asn1.ObjectIdentifier, v string) []byte {
			der, err := asn1.Marshal(struct {
				Type  asn1.ObjectIdentifier
				Value string `asn1:"utf8"`
			}{oid, v})
			if err != nil {
				t.Fatal(err)
			}
			return der
		}
		o, cn := atv(asn1.ObjectIdentifier{2, 5, 4, 10}, "Org"), atv(asn1.ObjectIdentifier{2, 5, 4, 3}, "Name")
		body := append(o, cn...)
		if first == "CN" {
			body = append(cn, o...)
		}
		set, err := asn1.Marshal(asn1.RawValue{Tag: asn1.TagSet, IsCompound: true, Bytes: body})
		if err != nil {
			t.Fatal(err)
		}
		seq, err := asn1.Marshal(asn1.RawValue{Tag: asn1.TagSequence, IsCompound: true, Bytes: set})
		if err != nil {
			t.Fatal(err)
		}
		return seq
	}
	for _, tc := range []struct {
		name   string
		a, b   []byte
		wantOK bool
	}{
		{"identical", utf8("Test CA"), utf8("Test CA"), true},
		{"case", utf8("Test CA"), utf8("tEST ca"), true},
		{"string types", printable("Test CA"), utf8("Test CA"), true},
		{"spaces", utf8("Test CA"), utf8(" \tTest \n  CA  "), true},
		{"different", utf8("Test CA"), utf8("Test CB"), true},
		{"inner space matters", utf8("Test CA"), utf8("TestCA"), true},
		{"multi-valued RDN order", multi("O", ""), multi("CN", ""), true},
		{"non-ASCII is left to x509name", utf8("\u017ftra\u00dfe"), utf8("strasse"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fa, oka := nameFingerprint(tc.a)
			fb, okb := nameFingerprint(tc.b)
			if (oka && okb) != tc.wantOK {
				t.Fatalf("fingerprint ok = %v, %v; want both %v", oka, okb, tc.wantOK)
			}
			if !oka || !okb {
				return
			}
			same := x509name.Equal(tc.a, tc.b)
			if same != (fa == fb) {
				t.Fatalf("x509name.Equal = %v but fingerprints equal = %v", same, fa == fb)
			}
		})
	}
}

func TestInsecureSignatureRefused(t *testing.T) {
	root := newRoot(t, "Root", withRSAKey(2048))
	cfg := func(_ testing.TB, c *certConfig) { c.template.SignatureAlgorithm = x509.SHA1WithRSA }
	leaf := root.issue(t, "SHA1Leaf", cfg)
	if leaf.cert.SignatureAlgorithm != x509.SHA1WithRSA {
		t.Fatalf("test leaf signed with %v", leaf.cert.SignatureAlgorithm)
	}
	_, err := Build(leaf.cert, nil, NewAnchors(certs(root)), Options{})
	if err == nil || !strings.Contains(err.Error(), "insecure signature algorithm SHA1-RSA") {
		t.Fatalf("Build error = %v, want an insecure signature algorithm", err)
	}
}
