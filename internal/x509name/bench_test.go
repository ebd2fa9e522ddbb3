package x509name

import (
	"crypto/x509/pkix"
	"testing"
)

func benchName(b *testing.B) []byte {
	return encode(b,
		[]pkix.AttributeTypeAndValue{attr(oidC, prints, "US")},
		[]pkix.AttributeTypeAndValue{attr(oidO, utf8s, "Example Corporation")},
		[]pkix.AttributeTypeAndValue{attr(oidOU, utf8s, "Devices")},
		[]pkix.AttributeTypeAndValue{attr(oidCN, utf8s, "device-0042.fleet.example.com")})
}

func BenchmarkKey(b *testing.B) {
	der := benchName(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Key(der); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRFC2253(b *testing.B) {
	der := benchName(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := RFC2253(der); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEqual(b *testing.B) {
	der := benchName(b)
	other := append([]byte(nil), der...)
	b.ReportAllocs()
	for b.Loop() {
		if !Equal(der, other) {
			b.Fatal("not equal")
		}
	}
}
