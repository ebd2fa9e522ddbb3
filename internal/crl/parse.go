package crl

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"runtime"
	"time"

	"github.com/mtlslb/mtlslb/internal/der"
	"github.com/mtlslb/mtlslb/internal/x509name"
)

// pemType is the only PEM block type Parse accepts, as written by OpenSSL and
// expected by ALB.
const pemType = "X509 CRL"

// CRL is one parsed, structurally checked revocation list. It is immutable
// and safe for concurrent use.
type CRL struct {
	raw        []byte // the whole DER; the entry index points into it
	rawTBS     []byte
	rawIssuer  []byte
	issuerKey  string // x509name comparison key of the issuer
	issuerName string // RFC 2253 form of the issuer, for messages
	sigAlg     x509.SignatureAlgorithm
	signature  []byte
	// digest is the hash of rawTBS for sigAlg, computed once by Parse: a CRL can be tens of megabytes,
	// and its signature is checked at handshake time when its issuer is an intermediate the client sends.
	digest     []byte
	thisUpdate time.Time
	nextUpdate time.Time
	number     *big.Int
	baseNumber *big.Int // the deltaCRLIndicator's BaseCRLNumber; nil for a complete CRL
	idp        *scope   // nil without an issuingDistributionPoint extension
	idpRaw     []byte   // that extension's value: equal values mean equal scopes
	entries    serialIndex
	count      int
	// certIssuers holds, for an indirect CRL, the names its entries'
	// certificateIssuer extensions name (raw DER, possibly repeated).
	certIssuers [][]byte
}

// Parse parses one revocation list, PEM (a single "X509 CRL" block) or DER,
// and checks its structure strictly: DER encoding with no trailing data at
// any level, version v2 or an omitted version (v1) with no extensions at
// all, equal inner and outer signature algorithms, a supported signature
// algorithm, no unknown critical CRL or entry extension, a well-formed
// issuingDistributionPoint, no serial number listed twice (indirect CRLs
// aside, whose entries may name two issuers), reason removeFromCRL only in a
// delta CRL, and certificateIssuer entry extensions only in an indirect CRL.
// Entries with negative serial numbers are kept.
//
// Parse does not check the signature; see CheckSignatureFrom and NewSet.
func Parse(data []byte) (*CRL, error) {
	raw, err := decodeInput(data)
	if err != nil {
		return nil, fmt.Errorf("parsing CRL: %w", err)
	}
	c, err := parseDER(raw)
	if err != nil {
		return nil, fmt.Errorf("parsing CRL: %w", err)
	}
	c.digest = tbsDigest(c.sigAlg, c.rawTBS)
	return c, nil
}

// decodeInput returns the DER of data, a copy the CRL may keep.
func decodeInput(data []byte) ([]byte, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if !bytes.HasPrefix(trimmed, []byte("-----BEGIN ")) {
		if containsInChunks(data, []byte("-----BEGIN ")) {
			return nil, errors.New("text before the PEM block")
		}
		if len(data) == 0 {
			return nil, errors.New("empty input")
		}
		return cloneInChunks(data), nil
	}
	block, rest := pem.Decode(trimmed)
	switch {
	case block == nil:
		return nil, errors.New("malformed PEM")
	case block.Type != pemType:
		return nil, fmt.Errorf("PEM block is %q, want %q", block.Type, pemType)
	case len(block.Headers) != 0:
		return nil, errors.New("PEM headers are not allowed in a CRL")
	case len(bytes.TrimSpace(rest)) != 0:
		return nil, errors.New("data after the PEM block (one CRL per file)")
	}
	return block.Bytes, nil
}

// inputChunk bounds the bytes that one copy or search over the whole input
// covers. Each is a call to assembly, during which the runtime can neither
// preempt the goroutine nor reach a safe point, and a loop of such calls
// offers none either: a garbage collection that starts meanwhile waits for
// the whole loop before it can stop the world, and every handshake waits
// with it. On a two-core machine, one copy of 370 MB (a CRL of 10 million
// entries) into memory fresh from the operating system, whose page faults
// happen inside the copy, held a stop-the-world pause up for 0.2 to 1.3 s;
// copied by megabytes with runtime.Gosched between them, for under 4 ms.
// Small CRLs, one chunk, never yield.
const inputChunk = 1 << 20

// cloneInChunks returns a copy of data (see inputChunk). make clears the
// new memory in preemptible steps itself.
func cloneInChunks(data []byte) []byte {
	out := make([]byte, len(data))
	for off := 0; off < len(data); off += inputChunk {
		if off > 0 {
			runtime.Gosched()
		}
		copy(out[off:], data[off:min(off+inputChunk, len(data))])
	}
	return out
}

// containsInChunks reports whether data contains marker (see inputChunk).
// The windows overlap by len(marker)-1 bytes, so that a marker across a
// chunk boundary is found.
func containsInChunks(data, marker []byte) bool {
	for off := 0; off < len(data); off += inputChunk {
		if off > 0 {
			runtime.Gosched()
		}
		if bytes.Contains(data[off:min(off+inputChunk+len(marker)-1, len(data))], marker) {
			return true
		}
	}
	return false
}

// parsedEnvelope is what parseDER keeps of the TBS fields it reads, to hand a
// copy without entries to crypto/x509 (see crossCheck).
type parsedEnvelope struct {
	tbsSigAlg, issuer, thisUpdate, nextUpdate, extensions []byte
	outerSigAlg, signatureValue                           []byte
}

// entryFlags sums up what the entries carried, for the checks that depend on
// CRL extensions, which come after the entries in the encoding.
type entryFlags struct {
	removeFromCRL bool
	certIssuer    bool
}

func parseDER(raw []byte) (*CRL, error) {
	if uint64(len(raw)) > maxCRLBytes {
		return nil, fmt.Errorf("%d bytes is more than the %d this index can address", len(raw), uint64(maxCRLBytes))
	}
	// Without spare capacity, a caller appending to Raw() cannot write
	// into memory the CRL owns.
	raw = raw[:len(raw):len(raw)]
	c := &CRL{raw: raw}
	var env parsedEnvelope

	input := der.Reader(raw)
	outer, err := input.Read(der.Sequence)
	if err != nil {
		return nil, errors.New("not a DER CertificateList SEQUENCE")
	}
	if !input.Empty() {
		return nil, errors.New("trailing data after the CertificateList")
	}
	body := der.Reader(outer)
	tbsFull, tbsContent, err := body.ReadFull(der.Sequence)
	if err != nil {
		return nil, errors.New("malformed tbsCertList")
	}
	c.rawTBS = tbsFull
	if env.outerSigAlg, _, err = body.ReadFull(der.Sequence); err != nil {
		return nil, errors.New("malformed signatureAlgorithm")
	}
	sigFull, sigContent, err := body.ReadFull(der.BitString)
	if err != nil {
		return nil, errors.New("malformed signatureValue")
	}
	env.signatureValue = sigFull
	sig, unused, err := der.ParseBitString(sigContent)
	if err != nil || unused != 0 || len(sig) == 0 {
		return nil, errors.New("malformed signatureValue")
	}
	c.signature = sig
	if !body.Empty() {
		return nil, errors.New("trailing data after signatureValue")
	}

	tbs := der.Reader(tbsContent)
	version := 1
	if t, _ := tbs.Peek(); t == der.Integer {
		v, err := tbs.Read(der.Integer)
		if err != nil {
			return nil, errors.New("malformed version")
		}
		// RFC 5280 §5.1.2.1: a v1 CRL omits the field; if present it is v2.
		if len(v) != 1 || v[0] != 1 {
			return nil, errors.New("unsupported CRL version (v2 is written as 1, v1 omits the field)")
		}
		version = 2
	}
	if env.tbsSigAlg, _, err = tbs.ReadFull(der.Sequence); err != nil {
		return nil, errors.New("malformed tbsCertList signature algorithm")
	}
	if !bytes.Equal(env.tbsSigAlg, env.outerSigAlg) {
		return nil, errors.New("the tbsCertList and CertificateList signature algorithms differ")
	}
	if env.issuer, _, err = tbs.ReadFull(der.Sequence); err != nil {
		return nil, errors.New("malformed issuer")
	}
	issuer, err := x509name.Parse(env.issuer)
	if err != nil {
		return nil, fmt.Errorf("malformed issuer: %w", err)
	}
	if len(issuer) == 0 {
		// RFC 5280 §5.1.2.3; an empty name would also match every other.
		return nil, errors.New("empty issuer name")
	}
	c.rawIssuer, c.issuerKey, c.issuerName = env.issuer, issuer.Key(), issuer.String()
	var ok bool
	if c.thisUpdate, env.thisUpdate, ok = readTime(&tbs); !ok {
		return nil, errors.New("malformed thisUpdate")
	}
	if t, _ := tbs.Peek(); t == der.UTCTime || t == der.GeneralizedTime {
		if c.nextUpdate, env.nextUpdate, ok = readTime(&tbs); !ok {
			return nil, errors.New("malformed nextUpdate")
		}
		if c.nextUpdate.Before(c.thisUpdate) {
			return nil, errors.New("nextUpdate is before thisUpdate")
		}
	}

	var offsets []uint32
	var flags entryFlags
	if t, _ := tbs.Peek(); t == der.Sequence {
		list, err := tbs.Read(der.Sequence)
		if err != nil {
			return nil, errors.New("malformed revokedCertificates")
		}
		if len(list) == 0 {
			// RFC 5280 §5.1.2.6: with no entries the field is omitted.
			return nil, errors.New("revokedCertificates is present but empty")
		}
		if offsets, flags, err = parseEntries(raw, list, version); err != nil {
			return nil, err
		}
	}
	c.count = len(offsets)

	if t, _ := tbs.Peek(); t == tagContextCons0 {
		full, content, err := tbs.ReadFull(tagContextCons0)
		if err != nil {
			return nil, errors.New("malformed crlExtensions")
		}
		if version == 1 {
			return nil, errors.New("a v1 CRL carries crlExtensions")
		}
		env.extensions = full
		if err := c.parseExtensions(content); err != nil {
			return nil, err
		}
	}
	if !tbs.Empty() {
		return nil, errors.New("trailing data in tbsCertList")
	}

	indirect := c.idp != nil && c.idp.indirect
	switch {
	case flags.certIssuer && !indirect:
		return nil, errors.New("an entry carries a certificateIssuer extension but the CRL is not indirect")
	case flags.removeFromCRL && c.baseNumber == nil:
		return nil, errors.New("an entry has reason removeFromCRL but the CRL is not a delta CRL")
	}
	if indirect {
		// Indirect CRLs are refused at Check time, so they get no index;
		// their entries may legitimately repeat a serial for two issuers.
		c.certIssuers = collectCertIssuers(raw, offsets)
	} else if c.entries, err = buildIndex(raw, offsets); err != nil {
		return nil, err
	}

	if err := c.crossCheck(&env); err != nil {
		return nil, err
	}
	return c, nil
}

// parseEntries checks every revokedCertificates entry and returns their
// offsets in raw, the CRL's DER.
func parseEntries(raw, list []byte, version int) ([]uint32, entryFlags, error) {
	var offsets []uint32
	var flags entryFlags
	rest := der.Reader(list)
	for !rest.Empty() {
		n := len(offsets) + 1
		full, content, err := rest.ReadFull(der.Sequence)
		if err != nil {
			return nil, flags, fmt.Errorf("revoked entry %d: malformed", n)
		}
		e := der.Reader(content)
		serial, err := e.Read(der.Integer)
		if err != nil || !der.ValidInteger(serial) {
			return nil, flags, fmt.Errorf("revoked entry %d: malformed serial number", n)
		}
		if len(serial) > maxSerialOctets {
			return nil, flags, fmt.Errorf("revoked entry %d: serial number longer than %d octets", n, maxSerialOctets)
		}
		if !skipTime(&e) {
			return nil, flags, fmt.Errorf("revoked entry %d: malformed revocationDate", n)
		}
		if !e.Empty() {
			exts, err := e.Read(der.Sequence)
			if err != nil {
				return nil, flags, fmt.Errorf("revoked entry %d: malformed crlEntryExtensions", n)
			}
			if version == 1 {
				return nil, flags, fmt.Errorf("revoked entry %d: a v1 CRL carries crlEntryExtensions", n)
			}
			info, err := parseEntryExtensions(exts)
			if err != nil {
				return nil, flags, fmt.Errorf("revoked entry %d: %w", n, err)
			}
			flags.removeFromCRL = flags.removeFromCRL || info.reason == reasonRemoveFromCRL
			flags.certIssuer = flags.certIssuer || info.certIssuer != nil
			if !e.Empty() {
				return nil, flags, fmt.Errorf("revoked entry %d: trailing data", n)
			}
		}
		offsets = append(offsets, offsetIn(raw, full))
	}
	return offsets, flags, nil
}

// offsetIn returns where sub, a subslice of raw, starts. Subslices share
// raw's backing array, so their remaining capacity tells their position.
func offsetIn(raw, sub []byte) uint32 { return uint32(cap(raw) - cap(sub)) }

// entryInfo is what the extensions of one entry say.
type entryInfo struct {
	reason     int    // reasonAbsent when there is no reasonCode
	certIssuer []byte // the directoryName of a certificateIssuer extension
}

// parseEntryExtensions checks one entry's extensions. Known: reasonCode,
// invalidityDate, certificateIssuer.
func parseEntryExtensions(content []byte) (entryInfo, error) {
	info := entryInfo{reason: reasonAbsent}
	if len(content) == 0 {
		return info, errors.New("empty crlEntryExtensions")
	}
	var seenReason, seenInvalidity, seenIssuer bool
	rest := der.Reader(content)
	for !rest.Empty() {
		oid, critical, value, err := readExtension(&rest)
		if err != nil {
			return info, err
		}
		v := der.Reader(value)
		switch {
		case string(oid) == oidReasonCode:
			code, err := v.Read(der.Enumerated)
			if seenReason || err != nil || !v.Empty() || len(code) != 1 || code[0] > reasonAACompromise || code[0] == reasonUnused {
				return info, errors.New("malformed or repeated reasonCode")
			}
			seenReason, info.reason = true, int(code[0])
		case string(oid) == oidInvalidityDate:
			t, _ := v.Peek()
			_, _, ok := readTime(&v)
			if seenInvalidity || !ok || t != der.GeneralizedTime || !v.Empty() {
				return info, errors.New("malformed or repeated invalidityDate")
			}
			seenInvalidity = true
		case string(oid) == oidCertificateIssuer:
			names, err := v.Read(der.Sequence)
			if seenIssuer || err != nil || !v.Empty() {
				return info, errors.New("malformed or repeated certificateIssuer")
			}
			dn, err := checkGeneralNames(names)
			if err != nil {
				return info, fmt.Errorf("certificateIssuer: %w", err)
			}
			if dn == nil {
				// Only a directoryName can name a certificate's issuer.
				return info, errors.New("certificateIssuer has no directoryName")
			}
			seenIssuer, info.certIssuer = true, dn
		case critical:
			return info, fmt.Errorf("unknown critical CRL entry extension %s", oidString(oid))
		}
	}
	return info, nil
}

// parseExtensions checks the crlExtensions ([0] EXPLICIT Extensions) and
// records the ones Check uses. Known: cRLNumber, authorityKeyIdentifier,
// issuingDistributionPoint, deltaCRLIndicator, freshestCRL.
func (c *CRL) parseExtensions(wrapped []byte) error {
	w := der.Reader(wrapped)
	content, err := w.Read(der.Sequence)
	if err != nil || !w.Empty() {
		return errors.New("malformed crlExtensions")
	}
	if len(content) == 0 {
		return errors.New("empty crlExtensions")
	}
	var seen []string
	rest := der.Reader(content)
	for !rest.Empty() {
		oid, critical, value, err := readExtension(&rest)
		if err != nil {
			return err
		}
		for _, s := range seen {
			if s == string(oid) {
				return fmt.Errorf("extension %s appears twice", oidString(oid))
			}
		}
		seen = append(seen, string(oid))
		var ok bool
		switch {
		case string(oid) == oidCRLNumber:
			if c.number, ok = parseCRLNumber(value); !ok {
				return errors.New("malformed cRLNumber")
			}
		case string(oid) == oidDeltaCRLIndicator:
			if c.baseNumber, ok = parseCRLNumber(value); !ok {
				return errors.New("malformed deltaCRLIndicator")
			}
		case string(oid) == oidAuthorityKeyID:
			if !validAuthorityKeyID(value) {
				return errors.New("malformed authorityKeyIdentifier")
			}
		case string(oid) == oidIssuingDistPoint:
			if c.idp, err = parseIDP(value, c.rawIssuer); err != nil {
				return fmt.Errorf("issuingDistributionPoint: %w", err)
			}
			c.idpRaw = value
		case string(oid) == oidFreshestCRL:
			if err := checkDistributionPoints(value); err != nil {
				return fmt.Errorf("freshestCRL: %w", err)
			}
		case critical:
			return fmt.Errorf("unknown critical CRL extension %s", oidString(oid))
		}
	}
	if c.baseNumber != nil {
		// RFC 5280 §5.2.4: a delta CRL carries its own CRL number, newer
		// than the base it builds on.
		if c.number == nil {
			return errors.New("a delta CRL without a cRLNumber")
		}
		if c.baseNumber.Cmp(c.number) >= 0 {
			return errors.New("the delta CRL's BaseCRLNumber is not below its cRLNumber")
		}
	}
	return nil
}

// readExtension reads one Extension: extnID, critical DEFAULT FALSE,
// extnValue.
func readExtension(rest *der.Reader) (oid []byte, critical bool, value []byte, err error) {
	content, err := rest.Read(der.Sequence)
	if err != nil {
		return nil, false, nil, errors.New("malformed extension")
	}
	e := der.Reader(content)
	if oid, err = e.Read(der.OID); err != nil || !der.ValidOID(oid) {
		return nil, false, nil, errors.New("malformed extension id")
	}
	if t, _ := e.Peek(); t == der.Boolean {
		// An explicit FALSE is not DER, but crypto/x509 and most verifiers
		// accept it, and it can only make the extension less binding.
		b, _ := e.Read(der.Boolean)
		if critical, err = der.ParseBoolean(b); err != nil {
			return nil, false, nil, fmt.Errorf("extension %s: malformed critical flag", oidString(oid))
		}
	}
	if value, err = e.Read(der.OctetString); err != nil || !e.Empty() {
		return nil, false, nil, fmt.Errorf("extension %s: malformed value", oidString(oid))
	}
	return oid, critical, value, nil
}

// parseCRLNumber decodes a cRLNumber or BaseCRLNumber: a non-negative
// INTEGER of at most 20 octets.
func parseCRLNumber(value []byte) (*big.Int, bool) {
	v := der.Reader(value)
	n, err := v.Read(der.Integer)
	if err != nil || !v.Empty() || !der.ValidInteger(n) || n[0]&0x80 != 0 {
		return nil, false
	}
	number := new(big.Int).SetBytes(n)
	if number.BitLen() > maxCRLNumberBits {
		return nil, false
	}
	return number, true
}

// validAuthorityKeyID checks the shape of an AuthorityKeyIdentifier:
// SEQUENCE { [0] keyIdentifier, [1] authorityCertIssuer, [2] serial }, all
// optional, in order.
func validAuthorityKeyID(value []byte) bool {
	v := der.Reader(value)
	content, err := v.Read(der.Sequence)
	if err != nil || !v.Empty() {
		return false
	}
	seq := der.Reader(content)
	if _, _, err := seq.ReadOptional(der.ClassContextSpecific | 0); err != nil {
		return false
	}
	if names, present, err := seq.ReadOptional(der.ClassContextSpecific | der.Constructed | 1); err != nil {
		return false
	} else if present {
		if _, err := checkGeneralNames(names); err != nil {
			return false
		}
	}
	if serial, present, err := seq.ReadOptional(der.ClassContextSpecific | 2); err != nil || (present && !der.ValidInteger(serial)) {
		return false
	}
	return seq.Empty()
}

// oidString writes DER OID contents in dotted form, for error messages.
func oidString(content []byte) string {
	var id asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(der.Append([]byte(nil), der.OID, content), &id); err != nil {
		return fmt.Sprintf("%X", content)
	}
	return id.String()
}

// readTime reads a UTCTime or GeneralizedTime in the only forms RFC 5280
// §4.1.2.5 allows: YYMMDDHHMMSSZ and YYYYMMDDHHMMSSZ.
func readTime(d *der.Reader) (t time.Time, full []byte, ok bool) {
	tag, _ := d.Peek()
	if tag != der.UTCTime && tag != der.GeneralizedTime {
		return time.Time{}, nil, false
	}
	_, full, content, err := d.ReadAny()
	if err != nil {
		return time.Time{}, nil, false
	}
	t, ok = parseTime(tag, content)
	return t, full, ok
}

// skipTime checks and consumes a Time without converting it.
func skipTime(d *der.Reader) bool {
	tag, _ := d.Peek()
	if tag != der.UTCTime && tag != der.GeneralizedTime {
		return false
	}
	_, _, content, err := d.ReadAny()
	if err != nil {
		return false
	}
	_, ok := timeFields(tag, content)
	return ok
}

func parseTime(tag der.Tag, s []byte) (time.Time, bool) {
	f, ok := timeFields(tag, s)
	if !ok {
		return time.Time{}, false
	}
	return time.Date(f[0], time.Month(f[1]), f[2], f[3], f[4], f[5], 0, time.UTC), true
}

// timeFields checks a UTCTime or GeneralizedTime and returns its year,
// month, day, hour, minute and second. It range-checks every field itself
// (time.Date would silently turn 31 April into 1 May), so that the entries
// of a large CRL are checked without building a time.Time each.
func timeFields(tag der.Tag, s []byte) ([6]int, bool) {
	var f [6]int
	if len(s) == 0 {
		return f, false
	}
	digits := len(s) - 1
	if (tag == der.UTCTime && digits != 12) || (tag == der.GeneralizedTime && digits != 14) || s[digits] != 'Z' {
		return f, false
	}
	for _, c := range s[:digits] {
		if c < '0' || c > '9' {
			return f, false
		}
	}
	num := func(i int) int { return int(s[i]-'0')*10 + int(s[i+1]-'0') }
	i := 2
	if tag == der.UTCTime {
		// RFC 5280 §4.1.2.5.1: YY below 50 is 20YY, otherwise 19YY.
		f[0] = 1900 + num(0)
		if f[0] < 1950 {
			f[0] += 100
		}
	} else {
		f[0] = num(0)*100 + num(2)
		i = 4
	}
	f[1], f[2], f[3], f[4], f[5] = num(i), num(i+2), num(i+4), num(i+6), num(i+8)
	if f[1] < 1 || f[1] > 12 || f[2] < 1 || f[2] > daysIn(f[1], f[0]) || f[3] > 23 || f[4] > 59 || f[5] > 59 {
		return f, false
	}
	return f, true
}

// daysIn returns the number of days of a month of the Gregorian calendar.
func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// crossCheck hands crypto/x509 the CRL's envelope (everything but the
// entries, which can number millions and which crypto/x509 would turn into a
// big.Int each) written as v2, because crypto/x509 refuses v1 CRLs outright.
// Whatever crypto/x509 rejects there is rejected, and its reading of the
// signature algorithm is the one used to verify the signature, which is
// computed over the original bytes.
func (c *CRL) crossCheck(env *parsedEnvelope) error {
	// Each layer is sized up front (a header is at most 6 octets), so that
	// building them costs one allocation each.
	const maxHeader = 6
	tbs := make([]byte, 0, 3+len(env.tbsSigAlg)+len(env.issuer)+len(env.thisUpdate)+len(env.nextUpdate)+len(env.extensions))
	tbs = der.Append(tbs, der.Integer, []byte{1})
	tbs = append(tbs, env.tbsSigAlg...)
	tbs = append(tbs, env.issuer...)
	tbs = append(tbs, env.thisUpdate...)
	tbs = append(tbs, env.nextUpdate...)
	tbs = append(tbs, env.extensions...)
	body := make([]byte, 0, maxHeader+len(tbs)+len(env.outerSigAlg)+len(env.signatureValue))
	body = der.Append(body, der.Sequence, tbs)
	body = append(body, env.outerSigAlg...)
	body = append(body, env.signatureValue...)
	rl, err := x509.ParseRevocationList(der.Append(make([]byte, 0, maxHeader+len(body)), der.Sequence, body))
	if err != nil {
		return fmt.Errorf("crypto/x509 rejects it: %w", err)
	}
	if rl.SignatureAlgorithm == x509.UnknownSignatureAlgorithm {
		return errors.New("unknown signature algorithm")
	}
	if !supportedSignatureAlgorithm(rl.SignatureAlgorithm) {
		return fmt.Errorf("signature algorithm %v is not supported (want SHA-256, SHA-384 or SHA-512 with RSA PKCS #1 v1.5, RSA-PSS or ECDSA)", rl.SignatureAlgorithm)
	}
	c.sigAlg = rl.SignatureAlgorithm
	return nil
}

// supportedSignatureAlgorithm applies the signature rule of alb-compat.md §2
// step 3 to CRLs too: a CRL is only as strong as its signature.
func supportedSignatureAlgorithm(a x509.SignatureAlgorithm) bool {
	switch a {
	case x509.SHA256WithRSA, x509.SHA384WithRSA, x509.SHA512WithRSA,
		x509.SHA256WithRSAPSS, x509.SHA384WithRSAPSS, x509.SHA512WithRSAPSS,
		x509.ECDSAWithSHA256, x509.ECDSAWithSHA384, x509.ECDSAWithSHA512:
		return true
	}
	return false
}

// Raw returns the CRL's DER encoding. The caller must not modify it.
func (c *CRL) Raw() []byte { return c.raw }

// RawIssuer returns the DER encoding of the CRL's issuer name. The caller
// must not modify it.
func (c *CRL) RawIssuer() []byte { return c.rawIssuer }

// Issuer returns the CRL's issuer name in RFC 2253 form.
func (c *CRL) Issuer() string { return c.issuerName }

// ThisUpdate returns the CRL's thisUpdate time.
func (c *CRL) ThisUpdate() time.Time { return c.thisUpdate }

// NextUpdate returns the CRL's nextUpdate time, or the zero time when the
// CRL has none.
func (c *CRL) NextUpdate() time.Time { return c.nextUpdate }

// Number returns the CRL's cRLNumber, or nil when it has none. The caller
// must not modify it.
func (c *CRL) Number() *big.Int { return c.number }

// BaseNumber returns the BaseCRLNumber of a delta CRL, or nil for a complete
// CRL. The caller must not modify it.
func (c *CRL) BaseNumber() *big.Int { return c.baseNumber }

// IsDelta reports whether c is a delta CRL (it has a deltaCRLIndicator).
func (c *CRL) IsDelta() bool { return c.baseNumber != nil }

// Len returns the number of revoked entries.
func (c *CRL) Len() int { return c.count }
