package x509path

import (
	"encoding/asn1"

	"github.com/mtlslb/mtlslb/internal/der"
)

// nameFingerprint hashes a DER distinguished name without allocating, so that
// most name comparisons of a handshake need no x509name parsing.
//
// It is a filter, not a comparison: ok is false whenever the name holds
// anything it does not model (non-ASCII text, BMPString, unusual DER), and
// callers then compare x509name keys. When ok is true for both names, the
// contract is: x509name keys equal ⇒ fingerprints equal. So different
// fingerprints prove the names differ, and equal fingerprints still go to
// x509name for the answer. To keep that contract the fingerprint models
// exactly the RFC 5280 §7.1 preparation x509name applies, restricted to
// ASCII: case folded, outer white space trimmed, inner runs collapsed, string
// types interchangeable, attribute order inside an RDN irrelevant, other
// values byte for byte. FuzzNameFingerprint checks the contract.
func nameFingerprint(name []byte) (fp uint64, ok bool) {
	r := der.Reader(name)
	seq, err := r.Read(der.Sequence)
	if err != nil || !r.Empty() {
		return 0, false
	}
	h := uint64(fnvOffset)
	for rdns := der.Reader(seq); !rdns.Empty(); {
		set, err := rdns.Read(der.Set)
		if err != nil || len(set) == 0 {
			return 0, false
		}
		// Attributes of one RDN are summed: their order must not matter.
		var rdn uint64
		for atvs := der.Reader(set); !atvs.Empty(); {
			atv, err := atvs.Read(der.Sequence)
			if err != nil {
				return 0, false
			}
			a, ok := attributeFingerprint(atv)
			if !ok {
				return 0, false
			}
			rdn += a
		}
		h = fnvMix(h, rdn)
	}
	return h, true
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvByte(h uint64, b byte) uint64 { return (h ^ uint64(b)) * fnvPrime }

func fnvMix(h, v uint64) uint64 {
	for i := 0; i < 8; i++ {
		h = fnvByte(h, byte(v>>(8*i)))
	}
	return h
}

func attributeFingerprint(atv []byte) (uint64, bool) {
	fields := der.Reader(atv)
	oid, err := fields.Read(der.OID)
	if err != nil || len(oid) == 0 {
		return 0, false
	}
	vtag, _, value, err := fields.ReadAny()
	if err != nil || !fields.Empty() {
		return 0, false
	}
	if vtag.Class() == der.ClassUniversal && vtag.IsConstructed() {
		// A constructed universal value: x509name may read it as text.
		return 0, false
	}
	h := uint64(fnvOffset)
	for _, b := range oid {
		h = fnvByte(h, b)
	}
	h = fnvByte(h, 0xff)
	switch int(vtag) {
	case asn1.TagUTF8String, asn1.TagPrintableString, asn1.TagIA5String, asn1.TagNumericString, 20 /* TeletexString */ :
		h = fnvByte(h, 's')
		space, started := false, false
		for _, b := range value {
			if b >= 0x80 {
				// Non-ASCII text may fold to ASCII (U+017F folds to "s",
				// U+00A0 is a space): leave it to x509name.
				return 0, false
			}
			if b == ' ' || b >= '\t' && b <= '\r' {
				space = started
				continue
			}
			if space {
				h = fnvByte(h, ' ')
				space = false
			}
			if b >= 'A' && b <= 'Z' {
				b += 'a' - 'A'
			}
			h = fnvByte(h, b)
			started = true
		}
	case 28, 30: // UniversalString, BMPString: text x509name decodes; not modelled
		return 0, false
	default:
		// Not a character string: x509name compares the whole encoding.
		h = fnvByte(h, 'b')
		h = fnvByte(h, byte(vtag))
		for _, b := range value {
			h = fnvByte(h, b)
		}
	}
	return h, true
}
