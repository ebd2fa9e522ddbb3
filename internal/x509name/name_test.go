package x509name

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"strings"
	"testing"
)

// attr builds one attribute with an explicit string tag, so tests control the encoding exactly.
func attr(oid asn1.ObjectIdentifier, tag int, value string) pkix.AttributeTypeAndValue {
	return pkix.AttributeTypeAndValue{Type: oid, Value: asn1.RawValue{Tag: tag, Bytes: []byte(value)}}
}

func encode(t testing.TB, rdns ...[]pkix.AttributeTypeAndValue) []byte {
	t.Helper()
	var seq pkix.RDNSequence
	for _, r := range rdns {
		seq = append(seq, pkix.RelativeDistinguishedNameSET(r))
	}
	der, err := asn1.Marshal(seq)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

var (
	oidC  = asn1.ObjectIdentifier{2, 5, 4, 6}
	oidO  = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidOU = asn1.ObjectIdentifier{2, 5, 4, 11}
	oidCN = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidE  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
)

const (
	utf8s  = asn1.TagUTF8String
	prints = asn1.TagPrintableString
)

func TestEqual(t *testing.T) {
	base := encode(t, []pkix.AttributeTypeAndValue{attr(oidC, prints, "US")}, []pkix.AttributeTypeAndValue{attr(oidCN, prints, "Good CA")})
	tests := []struct {
		name  string
		other []byte
		want  bool
	}{
		{"identical", base, true},
		{"capitalisation", encode(t, []pkix.AttributeTypeAndValue{attr(oidC, prints, "us")}, []pkix.AttributeTypeAndValue{attr(oidCN, prints, "GOOD ca")}), true},
		{"whitespace", encode(t, []pkix.AttributeTypeAndValue{attr(oidC, prints, "US")}, []pkix.AttributeTypeAndValue{attr(oidCN, prints, "  Good    CA ")}), true},
		{"printable to utf8", encode(t, []pkix.AttributeTypeAndValue{attr(oidC, prints, "US")}, []pkix.AttributeTypeAndValue{attr(oidCN, utf8s, "Good CA")}), true},
		{"different value", encode(t, []pkix.AttributeTypeAndValue{attr(oidC, prints, "US")}, []pkix.AttributeTypeAndValue{attr(oidCN, prints, "Bad CA")}), false},
		{"different order", encode(t, []pkix.AttributeTypeAndValue{attr(oidCN, prints, "Good CA")}, []pkix.AttributeTypeAndValue{attr(oidC, prints, "US")}), false},
		{"extra rdn", encode(t, []pkix.AttributeTypeAndValue{attr(oidC, prints, "US")}, []pkix.AttributeTypeAndValue{attr(oidCN, prints, "Good CA")}, []pkix.AttributeTypeAndValue{attr(oidOU, prints, "x")}), false},
		{"inner space not removed", encode(t, []pkix.AttributeTypeAndValue{attr(oidC, prints, "US")}, []pkix.AttributeTypeAndValue{attr(oidCN, prints, "GoodCA")}), false},
		{"garbage", []byte{0x30, 0x03, 0x31, 0x01}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Equal(base, tt.other); got != tt.want {
				t.Errorf("Equal = %v, want %v", got, tt.want)
			}
			if got := Equal(tt.other, base); got != tt.want {
				t.Errorf("Equal reversed = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMultiValuedRDNOrderIndependent(t *testing.T) {
	a := encode(t, []pkix.AttributeTypeAndValue{attr(oidO, utf8s, "Example"), attr(oidOU, utf8s, "Ops")})
	b := encode(t, []pkix.AttributeTypeAndValue{attr(oidOU, utf8s, "ops"), attr(oidO, utf8s, "example")})
	if !Equal(a, b) {
		t.Fatal("multi-valued RDNs with the same attributes in another order must match")
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		name string
		der  []byte
		want string
	}{
		{"reversed order", encode(t,
			[]pkix.AttributeTypeAndValue{attr(oidC, prints, "US")},
			[]pkix.AttributeTypeAndValue{attr(oidO, utf8s, "mTLS")},
			[]pkix.AttributeTypeAndValue{attr(oidCN, utf8s, "rootcamtls.com")}),
			"CN=rootcamtls.com,O=mTLS,C=US"},
		{"multi-valued in DER (SET OF) order", encode(t,
			[]pkix.AttributeTypeAndValue{attr(oidOU, utf8s, "b"), attr(oidO, utf8s, "a")}),
			"O=a+OU=b"},
		{"specials escaped", encode(t, []pkix.AttributeTypeAndValue{attr(oidCN, utf8s, `a,b+c"d\e<f>g;h`)}),
			`CN=a\,b\+c\"d\\e\<f\>g\;h`},
		{"leading hash and spaces", encode(t, []pkix.AttributeTypeAndValue{attr(oidCN, utf8s, "#x y ")}),
			`CN=\#x y\ `},
		{"leading space", encode(t, []pkix.AttributeTypeAndValue{attr(oidCN, utf8s, " x")}), `CN=\ x`},
		{"control characters never raw", encode(t, []pkix.AttributeTypeAndValue{attr(oidCN, utf8s, "a\r\nb\x00")}),
			`CN=a\0D\0Ab\00`},
		{"utf8 kept", encode(t, []pkix.AttributeTypeAndValue{attr(oidCN, utf8s, "Zürich")}), "CN=Zürich"},
		{"malformed UTF8String dumped as hex", encode(t, []pkix.AttributeTypeAndValue{attr(oidCN, utf8s, "a\xffb")}), "CN=#0C0361FF62"},
		{"email as dotted oid", encode(t, []pkix.AttributeTypeAndValue{attr(oidE, asn1.TagIA5String, "a@b")}),
			"1.2.840.113549.1.9.1=#1603614062"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RFC2253(tt.der)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("RFC2253 = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestWithinSubtree(t *testing.T) {
	parse := func(der []byte) Name {
		n, err := Parse(der)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	base := parse(encode(t, []pkix.AttributeTypeAndValue{attr(oidC, prints, "US")}, []pkix.AttributeTypeAndValue{attr(oidO, prints, "Test Certificates 2011")}))
	in := parse(encode(t, []pkix.AttributeTypeAndValue{attr(oidC, prints, "us")}, []pkix.AttributeTypeAndValue{attr(oidO, utf8s, "test certificates 2011")}, []pkix.AttributeTypeAndValue{attr(oidCN, prints, "x")}))
	out := parse(encode(t, []pkix.AttributeTypeAndValue{attr(oidC, prints, "US")}, []pkix.AttributeTypeAndValue{attr(oidO, prints, "Other")}, []pkix.AttributeTypeAndValue{attr(oidCN, prints, "x")}))
	if !in.WithinSubtree(base) {
		t.Error("name under the base must be within the subtree")
	}
	if out.WithinSubtree(base) {
		t.Error("name outside the base must not be within the subtree")
	}
	if base[:1].WithinSubtree(base) {
		t.Error("a shorter name cannot be within a longer base")
	}
	if !out.WithinSubtree(nil) {
		t.Error("the empty base contains every name")
	}
}

func TestParseBadInput(t *testing.T) {
	tests := []struct {
		name string
		der  []byte
		want string
	}{
		{"empty", nil, "parsing name"},
		{"not a sequence", []byte{0x31, 0x00}, "not a SEQUENCE"},
		{"trailing", append(encode(t, []pkix.AttributeTypeAndValue{attr(oidCN, utf8s, "x")}), 0), "trailing"},
		{"rdn not a set", []byte{0x30, 0x02, 0x30, 0x00}, "RDN 1: not a SET"},
		{"empty rdn", []byte{0x30, 0x02, 0x31, 0x00}, "empty RDN"},
		{"truncated", []byte{0x30, 0x05, 0x31, 0x03, 0x30, 0x01}, "parsing name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.der)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add(encode(f, []pkix.AttributeTypeAndValue{attr(oidC, prints, "US")}, []pkix.AttributeTypeAndValue{attr(oidCN, utf8s, "x,y")}))
	f.Add(encode(f, []pkix.AttributeTypeAndValue{attr(oidO, asn1.TagBMPString, "\x00a\x00b")}))
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		n, err := Parse(der)
		if err != nil {
			return
		}
		s := n.String()
		if strings.ContainsAny(s, "\r\n\x00") {
			t.Fatalf("String() = %q contains a control character", s)
		}
		if !Equal(der, der) {
			t.Fatal("a name must match itself")
		}
		// The direct walks over DER and the parsed Name must agree exactly.
		if k, err := Key(der); err != nil || k != n.Key() {
			t.Fatalf("Key(der) = %q, %v; Parse(der).Key() = %q", k, err, n.Key())
		}
		if r, err := RFC2253(der); err != nil || r != s {
			t.Fatalf("RFC2253(der) = %q, %v; Parse(der).String() = %q", r, err, s)
		}
	})
}
