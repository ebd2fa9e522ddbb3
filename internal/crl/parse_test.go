package crl

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/der"
)

// DER building blocks for hand-made CRLs: structures crypto/x509 will not
// create, signed for real.
var (
	algECDSAWithSHA256 = []byte{0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02}
	algECDSAWithSHA1   = []byte{0x30, 0x09, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01}
	versionV2          = der.Append(nil, der.Integer, []byte{1})
)

func utcTime(t time.Time) []byte {
	return der.Append(nil, der.UTCTime, []byte(t.UTC().Format("060102150405Z")))
}

func derInteger(tb testing.TB, n int64) []byte {
	tb.Helper()
	b, err := asn1.Marshal(big.NewInt(n))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// ext encodes an Extension; oid is dotted.
func ext(tb testing.TB, oid asn1.ObjectIdentifier, critical bool, value []byte) []byte {
	tb.Helper()
	id, err := asn1.Marshal(oid)
	if err != nil {
		tb.Fatal(err)
	}
	if critical {
		id = der.Append(id, der.Boolean, []byte{0xff})
	}
	return der.Append(nil, der.Sequence, append(id, der.Append(nil, der.OctetString, value)...))
}

// crlExtensions wraps extensions as [0] EXPLICIT Extensions.
func crlExtensions(exts ...[]byte) []byte {
	return der.Append(nil, tagContextCons0, der.Append(nil, der.Sequence, bytes.Join(exts, nil)))
}

// entry encodes one revokedCertificates entry; exts may be nil.
func entry(serial []byte, exts []byte) []byte {
	body := append(append([]byte(nil), serial...), utcTime(testNow.Add(-time.Hour))...)
	if exts != nil {
		body = append(body, der.Append(nil, der.Sequence, exts)...)
	}
	return der.Append(nil, der.Sequence, body)
}

// tbsFields are the TBSCertList fields, each a whole DER element (nil to
// omit).
type tbsFields struct {
	version, sigAlg, issuer, thisUpdate, nextUpdate, revoked, extensions []byte
}

func (ca *testCA) defaultTBS() tbsFields {
	return tbsFields{
		version:    versionV2,
		sigAlg:     algECDSAWithSHA256,
		issuer:     ca.cert.RawSubject,
		thisUpdate: utcTime(testNow.Add(-time.Hour)),
		nextUpdate: utcTime(testNow.Add(24 * time.Hour)),
	}
}

// assemble signs the TBSCertList with ca's key and returns the CRL DER.
// sha1Digest signs a SHA-1 digest instead of SHA-256.
func (ca *testCA) assemble(tb testing.TB, f tbsFields, sha1Digest bool) []byte {
	tb.Helper()
	tbs := der.Append(nil, der.Sequence, bytes.Join([][]byte{f.version, f.sigAlg, f.issuer, f.thisUpdate, f.nextUpdate, f.revoked, f.extensions}, nil))
	var digest []byte
	hash := crypto.SHA256
	if sha1Digest {
		d := sha1.Sum(tbs)
		digest, hash = d[:], crypto.SHA1
	} else {
		d := sha256.Sum256(tbs)
		digest = d[:]
	}
	sig, err := ca.key.Sign(rand.Reader, digest, hash)
	if err != nil {
		tb.Fatal(err)
	}
	body := append(append(tbs, f.sigAlg...), der.Append(nil, der.BitString, append([]byte{0}, sig...))...)
	return der.Append(nil, der.Sequence, body)
}

func toPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

func TestParseAccessors(t *testing.T) {
	ca := newRootCA(t, "Accessor CA")
	entries := []x509.RevocationListEntry{revoke(7, 1), revoke(-7, 0), revoke(1<<40, 6)}
	raw := ca.crl(t, entries, withNumber(42))
	for _, tc := range []struct {
		name  string
		input []byte
	}{
		{"DER", raw},
		{"PEM", toPEM(raw)},
		{"PEM with surrounding space", append(append([]byte("\n  "), toPEM(raw)...), "\n\n"...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(tc.input)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(c.Raw(), raw) || !bytes.Equal(c.RawIssuer(), ca.cert.RawSubject) {
				t.Error("Raw or RawIssuer differ from the input")
			}
			if c.Issuer() != "CN=Accessor CA" {
				t.Errorf("Issuer() = %q", c.Issuer())
			}
			if !c.ThisUpdate().Equal(testNow.Add(-time.Hour)) || !c.NextUpdate().Equal(testNow.Add(24*time.Hour)) {
				t.Errorf("ThisUpdate %v, NextUpdate %v", c.ThisUpdate(), c.NextUpdate())
			}
			if c.Number().Int64() != 42 || c.IsDelta() || c.BaseNumber() != nil || c.Len() != 3 {
				t.Errorf("Number %v, IsDelta %v, BaseNumber %v, Len %d", c.Number(), c.IsDelta(), c.BaseNumber(), c.Len())
			}
			for _, e := range entries {
				serial, _ := asn1.Marshal(e.SerialNumber)
				d := der.Reader(serial)
				content, _ := d.Read(der.Integer)
				if _, ok := c.entries.lookup(c.raw, content); !ok {
					t.Errorf("serial %v not found in the index", e.SerialNumber)
				}
			}
			if _, ok := c.entries.lookup(c.raw, []byte{0x00, 0xf9}); ok {
				t.Error("serial 249 found, only -7 (F9) is listed")
			}
		})
	}
}

func TestParseV1AndDelta(t *testing.T) {
	ca := newRootCA(t, "V1 CA")
	v1 := ca.defaultTBS()
	v1.version = nil
	v1.nextUpdate = nil
	v1.revoked = der.Append(nil, der.Sequence, entry(derInteger(t, 3), nil))
	c, err := Parse(ca.assemble(t, v1, false))
	if err != nil {
		t.Fatalf("v1 CRL: %v", err)
	}
	if c.Number() != nil || !c.NextUpdate().IsZero() || c.Len() != 1 {
		t.Errorf("v1 CRL: Number %v, NextUpdate %v, Len %d", c.Number(), c.NextUpdate(), c.Len())
	}
	if err := c.CheckSignatureFrom(ca.cert); err != nil {
		t.Errorf("v1 CRL signature: %v", err)
	}

	d := mustParse(t, ca.crl(t, nil, withNumber(8), withDelta(t, 5)))
	if !d.IsDelta() || d.BaseNumber().Int64() != 5 || d.Number().Int64() != 8 {
		t.Errorf("delta CRL: IsDelta %v, BaseNumber %v, Number %v", d.IsDelta(), d.BaseNumber(), d.Number())
	}
}

func TestParseErrors(t *testing.T) {
	ca := newRootCA(t, "Bad CA")
	good := ca.crl(t, []x509.RevocationListEntry{revoke(2, 1)})
	goodPEM := toPEM(good)
	oidUnknown := asn1.ObjectIdentifier{1, 2, 3, 4}
	oidCRLNumberID := asn1.ObjectIdentifier{2, 5, 29, 20}
	oidDelta := asn1.ObjectIdentifier{2, 5, 29, 27}
	oidIDP := asn1.ObjectIdentifier{2, 5, 29, 28}
	oidCertIssuer := asn1.ObjectIdentifier{2, 5, 29, 29}
	oidReason := asn1.ObjectIdentifier{2, 5, 29, 21}
	number := ext(t, oidCRLNumberID, false, derInteger(t, 1))
	dirName, err := asn1.Marshal(pkix.Name{CommonName: "Other CA"}.ToRDNSequence())
	if err != nil {
		t.Fatal(err)
	}
	certIssuerValue := der.Append(nil, der.Sequence, der.Append(nil, generalNameDirName, dirName))

	with := func(mod func(*tbsFields)) []byte {
		f := ca.defaultTBS()
		mod(&f)
		return ca.assemble(t, f, false)
	}
	sha1TBS := ca.defaultTBS()
	sha1TBS.sigAlg = algECDSAWithSHA1
	sha1Signed := ca.assemble(t, sha1TBS, true)
	tests := []struct {
		name  string
		input []byte
		err   string
	}{
		{"empty", nil, "parsing CRL: empty input"},
		{"garbage", []byte("hello, world"), "parsing CRL: not a DER CertificateList SEQUENCE"},
		{"truncated", good[:len(good)-5], "parsing CRL: not a DER CertificateList SEQUENCE"},
		{"trailing data", append(append([]byte(nil), good...), 0), "parsing CRL: trailing data after the CertificateList"},
		{"indefinite length", append([]byte{0x30, 0x80}, append(append([]byte(nil), good[2:]...), 0, 0)...), "parsing CRL: not a DER CertificateList SEQUENCE"},
		{"PEM of another type", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: good}), `parsing CRL: PEM block is "CERTIFICATE", want "X509 CRL"`},
		{"PEM followed by data", append(append([]byte(nil), goodPEM...), "junk"...), "parsing CRL: data after the PEM block (one CRL per file)"},
		{"two PEM blocks", append(append([]byte(nil), goodPEM...), goodPEM...), "parsing CRL: data after the PEM block (one CRL per file)"},
		{"PEM headers", pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: good}), "parsing CRL: PEM headers are not allowed in a CRL"},
		{"text before PEM", append([]byte("Certificate Revocation List (CRL):\n"), goodPEM...), "parsing CRL: text before the PEM block"},
		{"malformed PEM", []byte("-----BEGIN X509 CRL-----\n!!!\n-----END X509 CRL-----\n"), "parsing CRL: malformed PEM"},
		{"unknown critical extension", ca.crl(t, nil, withExtension(oidUnknown, true, []byte{5, 0})), "parsing CRL: unknown critical CRL extension 1.2.3.4"},
		{"unknown critical entry extension", ca.crl(t, []x509.RevocationListEntry{{SerialNumber: big.NewInt(2), RevocationTime: testNow, ExtraExtensions: []pkix.Extension{{Id: oidUnknown, Critical: true, Value: []byte{5, 0}}}}}),
			"parsing CRL: revoked entry 1: unknown critical CRL entry extension 1.2.3.4"},
		{"extension twice", with(func(f *tbsFields) { f.extensions = crlExtensions(number, number) }), "parsing CRL: extension 2.5.29.20 appears twice"},
		{"empty extensions", with(func(f *tbsFields) {
			f.extensions = der.Append(nil, tagContextCons0, der.Append(nil, der.Sequence, nil))
		}), "parsing CRL: empty crlExtensions"},
		{"negative CRL number", with(func(f *tbsFields) { f.extensions = crlExtensions(ext(t, oidCRLNumberID, false, derInteger(t, -1))) }), "parsing CRL: malformed cRLNumber"},
		{"CRL number of 21 octets", with(func(f *tbsFields) {
			f.extensions = crlExtensions(ext(t, oidCRLNumberID, false, der.Append(nil, der.Integer, append([]byte{0x01}, make([]byte, 20)...))))
		}), "parsing CRL: malformed cRLNumber"},
		{"delta without CRL number", with(func(f *tbsFields) { f.extensions = crlExtensions(ext(t, oidDelta, true, derInteger(t, 1))) }), "parsing CRL: a delta CRL without a cRLNumber"},
		{"delta base not below its number", with(func(f *tbsFields) { f.extensions = crlExtensions(number, ext(t, oidDelta, true, derInteger(t, 1))) }),
			"parsing CRL: the delta CRL's BaseCRLNumber is not below its cRLNumber"},
		{"empty issuer", with(func(f *tbsFields) { f.issuer = der.Append(nil, der.Sequence, nil) }), "parsing CRL: empty issuer name"},
		{"nextUpdate before thisUpdate", with(func(f *tbsFields) { f.nextUpdate = utcTime(testNow.Add(-2 * time.Hour)) }), "parsing CRL: nextUpdate is before thisUpdate"},
		{"thisUpdate with a time zone", with(func(f *tbsFields) { f.thisUpdate = der.Append(nil, der.UTCTime, []byte("2601020304+0100")) }), "parsing CRL: malformed thisUpdate"},
		{"thisUpdate on 31 April", with(func(f *tbsFields) { f.thisUpdate = der.Append(nil, der.UTCTime, []byte("250431000000Z")) }), "parsing CRL: malformed thisUpdate"},
		{"removeFromCRL in a complete CRL", ca.crl(t, []x509.RevocationListEntry{revoke(2, reasonRemoveFromCRL)}), "parsing CRL: an entry has reason removeFromCRL but the CRL is not a delta CRL"},
		{"reason code 7", with(func(f *tbsFields) {
			f.revoked = der.Append(nil, der.Sequence, entry(derInteger(t, 2), ext(t, oidReason, false, der.Append(nil, der.Enumerated, []byte{7}))))
		}), "parsing CRL: revoked entry 1: malformed or repeated reasonCode"},
		{"empty entry extensions", with(func(f *tbsFields) { f.revoked = der.Append(nil, der.Sequence, entry(derInteger(t, 2), []byte{})) }), "parsing CRL: revoked entry 1: empty crlEntryExtensions"},
		{"certificateIssuer in a direct CRL", with(func(f *tbsFields) {
			f.revoked = der.Append(nil, der.Sequence, entry(derInteger(t, 2), ext(t, oidCertIssuer, true, certIssuerValue)))
		}), "parsing CRL: an entry carries a certificateIssuer extension but the CRL is not indirect"},
		{"serial listed twice", ca.crl(t, []x509.RevocationListEntry{revoke(2, 1), revoke(3, 1), revoke(2, 6)}), "parsing CRL: serial number 02 is listed twice"},
		{"non-minimal serial", with(func(f *tbsFields) {
			f.revoked = der.Append(nil, der.Sequence, entry(der.Append(nil, der.Integer, []byte{0, 1}), nil))
		}), "parsing CRL: revoked entry 1: malformed serial number"},
		{"serial of 256 octets", with(func(f *tbsFields) {
			f.revoked = der.Append(nil, der.Sequence, entry(der.Append(nil, der.Integer, append([]byte{1}, make([]byte, 255)...)), nil))
		}), "parsing CRL: revoked entry 1: serial number longer than 255 octets"},
		{"IDP flag encoded as FALSE", ca.crl(t, nil, withIDP(idp{falseFlag: true})), "parsing CRL: issuingDistributionPoint: onlyContainsUserCerts is encoded as FALSE instead of being omitted"},
		{"IDP reasons without a reason", ca.crl(t, nil, withIDP(idp{reasons: []int{0}})), "parsing CRL: issuingDistributionPoint: malformed onlySomeReasons"},
		{"IDP unknown field", ca.crl(t, nil, withExtension(oidIDP, true, der.Append(nil, der.Sequence, der.Append(nil, der.ClassContextSpecific|6, []byte{0xff})))),
			"parsing CRL: issuingDistributionPoint: unknown or misordered field"},
		{"IDP all flags", ca.crl(t, nil, withIDP(idp{onlyUser: true, onlyAttr: true})),
			"parsing CRL: issuingDistributionPoint: more than one of onlyContainsUserCerts, onlyContainsCACerts and onlyContainsAttributeCerts"},
		{"SHA-1 signature", sha1Signed,
			"parsing CRL: signature algorithm ECDSA-SHA1 is not supported (want SHA-256, SHA-384 or SHA-512 with RSA PKCS #1 v1.5, RSA-PSS or ECDSA)"},
		{"unknown signature algorithm", with(func(f *tbsFields) {
			f.sigAlg = der.Append(nil, der.Sequence, der.Append(nil, der.OID, []byte{0x2a, 0x03, 0x04}))
		}),
			"parsing CRL: unknown signature algorithm"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(tc.input)
			if err == nil {
				t.Fatalf("parsed (%d entries), want error %q", c.Len(), tc.err)
			}
			if err.Error() != tc.err {
				t.Errorf("error %q,\nwant %q", err, tc.err)
			}
		})
	}
	if _, err := Parse(ca.assemble(t, ca.defaultTBS(), false)); err != nil {
		t.Errorf("the hand-made baseline does not parse: %v", err)
	}
}

func TestCheckSignatureFrom(t *testing.T) {
	ca := newRootCA(t, "Signing CA")
	other := newRootCA(t, "Other CA")
	sameName := newRootCA(t, "Signing CA")
	noCRLSign := newRootCA(t, "Signing CA", withKeyUsage(x509.KeyUsageCertSign))
	list := mustParse(t, ca.crl(t, nil))
	tests := []struct {
		name   string
		issuer *x509.Certificate
		err    string
	}{
		{"issuer", ca.cert, ""},
		{"no issuer", nil, "checking CRL signature: no issuer certificate"},
		{"another name", other.cert, `checking CRL signature: the CRL's issuer "CN=Signing CA" is not the certificate's subject "CN=Other CA"`},
		{"the same name, another key", sameName.cert, "checking CRL signature: the signature does not verify with the issuer's public key"},
		{"no cRLSign", noCRLSign.cert, "checking CRL signature: the certificate's keyUsage does not include cRLSign"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := list.CheckSignatureFrom(tc.issuer)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.err {
				t.Errorf("error %q, want %q", got, tc.err)
			}
		})
	}
}

func TestParseStalePolicy(t *testing.T) {
	tests := []struct {
		in     string
		policy StalePolicy
		grace  time.Duration
		err    string
	}{
		{in: "use", policy: StaleUse},
		{in: "reject", policy: StaleReject},
		{in: "72h", policy: StaleGrace, grace: 72 * time.Hour},
		{in: "90m", policy: StaleGrace, grace: 90 * time.Minute},
		{in: "0s", err: `stale CRL policy "0s": the grace period must be positive`},
		{in: "-1h", err: `stale CRL policy "-1h": the grace period must be positive`},
		{in: "Use", err: `stale CRL policy "Use": want use, reject or a duration such as 72h`},
		{in: "", err: `stale CRL policy "": want use, reject or a duration such as 72h`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			p, g, err := ParseStalePolicy(tc.in)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || p != tc.policy || g != tc.grace {
				t.Fatalf("got %v, %v, %v; want %v, %v", p, g, err, tc.policy, tc.grace)
			}
			if tc.policy != StaleGrace && p.String() != tc.in {
				t.Errorf("String() = %q, want %q", p.String(), tc.in)
			}
		})
	}
}
