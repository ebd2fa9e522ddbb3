package crl

import (
	"bytes"
	"crypto/x509"
	"errors"

	"github.com/mtlslb/mtlslb/internal/der"
	"github.com/mtlslb/mtlslb/internal/x509name"
)

// scope is a parsed issuingDistributionPoint extension (RFC 5280 §5.2.5):
// which certificates and which revocation reasons a CRL covers.
type scope struct {
	// names are the distribution point's general names other than
	// directoryNames, compared byte for byte (URIs in practice).
	names [][]byte
	// dirKeys are the x509name keys of its directoryNames, and of the CRL
	// issuer's name extended by a nameRelativeToCRLIssuer.
	dirKeys []string
	// namesIssuer reports that one of the names is the CRL issuer itself,
	// the distribution point RFC 5280 §6.3.3 assumes for a CRL that a
	// certificate does not point to.
	namesIssuer bool
	onlyUser    bool
	onlyCA      bool
	onlyAttr    bool
	indirect    bool
	reasons     uint16 // onlySomeReasons as ReasonFlags bits, or allReasons
}

// hasNames reports whether the CRL is partitioned by distribution point.
func (s *scope) hasNames() bool { return len(s.names) > 0 || len(s.dirKeys) > 0 }

// parseIDP parses and checks an issuingDistributionPoint value.
func parseIDP(value, rawIssuer []byte) (*scope, error) {
	v := der.Reader(value)
	content, err := v.Read(der.Sequence)
	if err != nil || !v.Empty() {
		return nil, errors.New("malformed")
	}
	if len(content) == 0 {
		// RFC 5280 §5.2.5 forbids the empty sequence.
		return nil, errors.New("empty sequence")
	}
	s := &scope{reasons: allReasons}
	seq := der.Reader(content)
	dpName, present, err := seq.ReadOptional(tagContextCons0)
	if err != nil {
		return nil, errors.New("malformed distributionPoint")
	}
	if present {
		if err := s.parseName(dpName, rawIssuer); err != nil {
			return nil, err
		}
	}
	flag := func(tag der.Tag, field string, dst *bool) error {
		b, present, err := seq.ReadOptional(tag)
		if !present {
			return nil
		}
		value := false
		if err == nil {
			value, err = der.ParseBoolean(b)
		}
		if err != nil {
			return errors.New("malformed " + field)
		}
		if !value {
			// DER omits a BOOLEAN that equals its DEFAULT FALSE.
			return errors.New(field + " is encoded as FALSE instead of being omitted")
		}
		*dst = true
		return nil
	}
	if err := flag(der.ClassContextSpecific|1, "onlyContainsUserCerts", &s.onlyUser); err != nil {
		return nil, err
	}
	if err := flag(der.ClassContextSpecific|2, "onlyContainsCACerts", &s.onlyCA); err != nil {
		return nil, err
	}
	if bits, present, err := seq.ReadOptional(der.ClassContextSpecific | 3); present || err != nil {
		mask, valid := parseReasonFlags(bits)
		if err != nil || !valid || mask&allReasons == 0 {
			return nil, errors.New("malformed onlySomeReasons")
		}
		s.reasons = mask & allReasons
	}
	if err := flag(der.ClassContextSpecific|4, "indirectCRL", &s.indirect); err != nil {
		return nil, err
	}
	if err := flag(der.ClassContextSpecific|5, "onlyContainsAttributeCerts", &s.onlyAttr); err != nil {
		return nil, err
	}
	if !seq.Empty() {
		return nil, errors.New("unknown or misordered field")
	}
	only := 0
	for _, b := range []bool{s.onlyUser, s.onlyCA, s.onlyAttr} {
		if b {
			only++
		}
	}
	if only > 1 {
		return nil, errors.New("more than one of onlyContainsUserCerts, onlyContainsCACerts and onlyContainsAttributeCerts")
	}
	return s, nil
}

// parseName reads the DistributionPointName inside the explicit [0] of an
// IDP. rawIssuer is the CRL issuer, which a nameRelativeToCRLIssuer extends.
func (s *scope) parseName(wrapped, rawIssuer []byte) error {
	w := der.Reader(wrapped)
	tag, _, content, err := w.ReadAny()
	if err != nil {
		return errors.New("malformed distributionPoint name")
	}
	if !w.Empty() {
		return errors.New("extra data after the distributionPoint name")
	}
	issuerKey, err := x509name.Key(rawIssuer)
	if err != nil {
		return err
	}
	switch tag {
	case distributionPointFull:
		if _, err := checkGeneralNames(content); err != nil {
			return err
		}
		names := der.Reader(content)
		for !names.Empty() {
			tag, full, inner, _ := names.ReadAny()
			if tag != generalNameDirName {
				s.names = append(s.names, full)
				continue
			}
			key, err := x509name.Key(inner)
			if err != nil {
				return err
			}
			s.dirKeys = append(s.dirKeys, key)
			s.namesIssuer = s.namesIssuer || key == issuerKey
		}
	case distributionPointRel:
		key, err := relativeNameKey(rawIssuer, content)
		if err != nil {
			return err
		}
		s.dirKeys = append(s.dirKeys, key)
	default:
		return errors.New("unknown distributionPoint name choice")
	}
	return nil
}

// relativeNameKey returns the comparison key of base extended by one RDN,
// given as the contents of its SET: the full name a nameRelativeToCRLIssuer
// stands for (RFC 5280 §4.2.1.13).
func relativeNameKey(base, rdn []byte) (string, error) {
	b := der.Reader(base)
	content, err := b.Read(der.Sequence)
	if err != nil || len(rdn) == 0 {
		return "", errors.New("malformed nameRelativeToCRLIssuer")
	}
	inner := append(append([]byte(nil), content...), der.Append(nil, der.Set, rdn)...)
	return x509name.Key(der.Append(nil, der.Sequence, inner))
}

// checkGeneralNames checks GeneralNames contents (a non-empty SEQUENCE OF
// GeneralName) and returns the first directoryName's Name encoding, if any.
func checkGeneralNames(content []byte) ([]byte, error) {
	if len(content) == 0 {
		return nil, errors.New("empty GeneralNames")
	}
	var dirName []byte
	names := der.Reader(content)
	for !names.Empty() {
		tag, _, inner, err := names.ReadAny()
		if err != nil {
			return nil, errors.New("malformed GeneralName")
		}
		switch tag {
		case der.ClassContextSpecific | der.Constructed | 0, // otherName
			der.ClassContextSpecific | 1,                   // rfc822Name
			der.ClassContextSpecific | 2,                   // dNSName
			der.ClassContextSpecific | der.Constructed | 3, // x400Address
			der.ClassContextSpecific | der.Constructed | 5, // ediPartyName
			der.ClassContextSpecific | 6,                   // uniformResourceIdentifier
			der.ClassContextSpecific | 7,                   // iPAddress
			der.ClassContextSpecific | 8:                   // registeredID
		case generalNameDirName:
			n := der.Reader(inner)
			name, _, err := n.ReadFull(der.Sequence)
			if err != nil || !n.Empty() {
				return nil, errors.New("malformed directoryName")
			}
			if _, err := x509name.Parse(name); err != nil {
				return nil, err
			}
			if dirName == nil {
				dirName = name
			}
		default:
			return nil, errors.New("unknown GeneralName type")
		}
	}
	return dirName, nil
}

// parseReasonFlags decodes ReasonFlags contents into a mask whose bit i is
// named bit i of the BIT STRING (bit 0, "unused", is the first bit).
func parseReasonFlags(content []byte) (uint16, bool) {
	bits, _, err := der.ParseBitString(content)
	if err != nil || len(bits) > 2 {
		return 0, false
	}
	var mask uint16
	for i := 0; i < reasonFlagsMaxBits && i/8 < len(bits); i++ {
		if bits[i/8]&(0x80>>(i%8)) != 0 {
			mask |= 1 << i
		}
	}
	return mask, true
}

// checkDistributionPoints checks CRLDistributionPoints syntax (also used by
// freshestCRL): a non-empty SEQUENCE OF DistributionPoint.
func checkDistributionPoints(value []byte) error {
	v := der.Reader(value)
	content, err := v.Read(der.Sequence)
	if err != nil || !v.Empty() || len(content) == 0 {
		return errors.New("malformed distribution points")
	}
	dps := der.Reader(content)
	for !dps.Empty() {
		dp, err := dps.Read(der.Sequence)
		if err != nil {
			return errors.New("malformed DistributionPoint")
		}
		var p distributionPoint
		if !p.parse(dp) {
			return errors.New("malformed DistributionPoint")
		}
		if p.name != nil {
			w := der.Reader(p.name)
			tag, _, inner, err := w.ReadAny()
			if err != nil || !w.Empty() || (tag != distributionPointFull && tag != distributionPointRel) {
				return errors.New("malformed distributionPoint name")
			}
			if tag == distributionPointFull {
				if _, err := checkGeneralNames(inner); err != nil {
					return err
				}
			}
		}
		if p.crlIssuer != nil {
			if _, err := checkGeneralNames(p.crlIssuer); err != nil {
				return err
			}
		}
	}
	return nil
}

// distributionPoint is one DistributionPoint of a certificate's
// cRLDistributionPoints, as slices of the certificate's own bytes.
type distributionPoint struct {
	name      []byte // contents of [0]: one DistributionPointName choice
	reasons   uint16 // allReasons when absent
	crlIssuer []byte // contents of [2] GeneralNames; nil when absent
}

// parse reads a DistributionPoint's contents without allocating.
func (p *distributionPoint) parse(content []byte) bool {
	d := der.Reader(content)
	var err error
	if p.name, _, err = d.ReadOptional(tagContextCons0); err != nil {
		return false
	}
	p.reasons = allReasons
	bits, present, err := d.ReadOptional(der.ClassContextSpecific | 1)
	if err != nil {
		return false
	}
	if present {
		mask, valid := parseReasonFlags(bits)
		if !valid {
			return false
		}
		p.reasons = mask & allReasons
	}
	if p.crlIssuer, present, err = d.ReadOptional(tagContextCons2); err != nil || (present && len(p.crlIssuer) == 0) {
		return false
	}
	if !present {
		p.crlIssuer = nil
	}
	// RFC 5280 §4.2.1.13: a DistributionPoint has a name or a cRLIssuer.
	return d.Empty() && (p.name != nil || p.crlIssuer != nil)
}

// crlDistributionPoints returns the value of cert's cRLDistributionPoints
// extension, or nil. It does not allocate.
func crlDistributionPoints(cert *x509.Certificate) []byte {
	for i := range cert.Extensions {
		id := cert.Extensions[i].Id
		if len(id) == 4 && id[0] == 2 && id[1] == 5 && id[2] == 29 && id[3] == 31 {
			return cert.Extensions[i].Value
		}
	}
	return nil
}

// dpIterator walks the DistributionPoints of a cRLDistributionPoints value
// without allocating (a callback would make each DistributionPoint escape).
type dpIterator struct {
	rest      der.Reader
	malformed bool
}

func newDPIterator(value []byte) dpIterator {
	v := der.Reader(value)
	content, err := v.Read(der.Sequence)
	if err != nil || !v.Empty() || len(content) == 0 {
		return dpIterator{malformed: true}
	}
	return dpIterator{rest: der.Reader(content)}
}

// next fills p with the next DistributionPoint. It returns false at the end
// or at a malformed one (then it.malformed is set).
func (it *dpIterator) next(p *distributionPoint) bool {
	if it.malformed || it.rest.Empty() {
		return false
	}
	dp, err := it.rest.Read(der.Sequence)
	if err != nil || !p.parse(dp) {
		it.malformed = true
		return false
	}
	return true
}

// crlIssuerNames reports whether any distribution point of a certificate
// names a separate CRL issuer, and returns the first such directoryName.
func crlIssuerNames(value []byte) (named bool, first []byte, ok bool) {
	it := newDPIterator(value)
	var p distributionPoint
	for it.next(&p) {
		if p.crlIssuer == nil {
			continue
		}
		named = true
		if first == nil {
			first, _ = checkGeneralNames(p.crlIssuer)
		}
	}
	return named, first, !it.malformed
}

// coverage decides whether c's scope includes cert, for which reasons. dps
// is cert's cRLDistributionPoints value (nil when absent). A non-empty
// problem says why c does not cover cert; unsupported marks problems that
// mean "c might cover cert, but mtlslb cannot process it".
func coverage(c *CRL, cert *x509.Certificate, dps []byte) (reasons uint16, problem string, unsupported bool) {
	s := c.idp
	if s == nil {
		return allReasons, "", false
	}
	switch {
	case s.indirect:
		return 0, "it is an indirect CRL, which mtlslb does not support", true
	case s.onlyAttr:
		// RFC 5280 §6.3.3 (b)(2)(iv): such a CRL never lists public-key
		// certificates, so it does not cover this one.
		return 0, "it holds only attribute certificates", false
	case s.onlyUser && cert.Version < 3:
		// A v1 or v2 certificate has no basicConstraints and may be a CA
		// (RFC 5280 §6.1.4 (k)), so it cannot be shown to be a user cert.
		return 0, "it holds only end-entity certificates and a v1 certificate may be a CA", false
	case s.onlyUser && cert.BasicConstraintsValid && cert.IsCA:
		return 0, "it holds only end-entity certificates", false
	case s.onlyCA && !(cert.BasicConstraintsValid && cert.IsCA):
		return 0, "it holds only CA certificates", false
	}
	if !s.hasNames() {
		return s.reasons, "", false
	}
	if s.namesIssuer {
		// The CRL names its issuer as its distribution point: the one RFC
		// 5280 §6.3.3 assumes for any CRL a certificate does not point to.
		return s.reasons, "", false
	}
	matched := false
	if dps != nil {
		it := newDPIterator(dps)
		var p distributionPoint
		for it.next(&p) {
			if p.name != nil && p.crlIssuer == nil && s.matchesName(p.name) {
				matched = true
				reasons |= p.reasons & s.reasons
			}
		}
	}
	if !matched {
		return 0, "its distribution point is not one the certificate names", false
	}
	if reasons == 0 {
		return 0, "the certificate's distribution point and the CRL share no revocation reason", false
	}
	return reasons, "", false
}

// matchesName reports whether a certificate's DistributionPointName (the
// contents of its [0]) equals one of the scope's names. Byte comparisons
// (URIs) do not allocate; directory names are compared as x509name keys.
// Only fullName occurs: crypto/x509 refuses certificates whose distribution
// point is a nameRelativeToCRLIssuer, and anything else matches nothing.
func (s *scope) matchesName(wrapped []byte) bool {
	w := der.Reader(wrapped)
	tag, _, content, err := w.ReadAny()
	if err != nil || !w.Empty() || tag != distributionPointFull {
		return false
	}
	names := der.Reader(content)
	for !names.Empty() {
		tag, full, inner, err := names.ReadAny()
		if err != nil {
			return false
		}
		if tag != generalNameDirName {
			for _, n := range s.names {
				if bytes.Equal(n, full) {
					return true
				}
			}
			continue
		}
		if len(s.dirKeys) == 0 {
			continue
		}
		n := der.Reader(inner)
		name, _, err := n.ReadFull(der.Sequence)
		if err != nil {
			return false
		}
		if key, err := x509name.Key(name); err == nil && s.hasDirKey(key) {
			return true
		}
	}
	return false
}

func (s *scope) hasDirKey(key string) bool {
	for _, k := range s.dirKeys {
		if k == key {
			return true
		}
	}
	return false
}
