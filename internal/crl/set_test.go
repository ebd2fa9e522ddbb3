package crl

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/der"
)

// crlSignedDespiteKeyUsage signs a CRL with ca's key even though ca's
// certificate may not sign CRLs (crypto/x509 refuses to create it).
func crlSignedDespiteKeyUsage(tb testing.TB, ca *testCA, entries []x509.RevocationListEntry) []byte {
	tb.Helper()
	issuer := *ca.cert
	issuer.KeyUsage |= x509.KeyUsageCRLSign
	rl := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: testNow.Add(-time.Hour), NextUpdate: testNow.Add(24 * time.Hour), RevokedCertificateEntries: entries}
	der, err := x509.CreateRevocationList(rand.Reader, rl, &issuer, ca.key)
	if err != nil {
		tb.Fatal(err)
	}
	return der
}

// crlWithIssuerEncoding signs a CRL of ca whose issuer name is encoded as
// rawIssuer (the same name, written differently).
func crlWithIssuerEncoding(tb testing.TB, ca *testCA, rawIssuer []byte) []byte {
	tb.Helper()
	issuer := *ca.cert
	issuer.RawSubject = rawIssuer
	rl := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: testNow.Add(-time.Hour), NextUpdate: testNow.Add(24 * time.Hour)}
	der, err := x509.CreateRevocationList(rand.Reader, rl, &issuer, ca.key)
	if err != nil {
		tb.Fatal(err)
	}
	return der
}

func sources(tb testing.TB, ders ...[]byte) []Source {
	tb.Helper()
	srcs := make([]Source, len(ders))
	for i, der := range ders {
		srcs[i] = Source{ID: int64(i + 1), CRL: mustParse(tb, der)}
	}
	return srcs
}

func TestCheck(t *testing.T) {
	c := newChain(t)
	leaf := c.inter.issueLeaf(t, "client")
	other := c.inter.issueLeaf(t, "other client")
	withDP := c.inter.issueLeaf(t, "client with DP", withDistributionPoints("http://crl.example/a.crl", "ldap://crl.example/a"))
	negative := c.inter.withNegativeSerial(t, c.inter.issueLeaf(t, "negative"), -300)
	subCA := c.inter.issueCA(t, "Sub CA").cert
	withCRLIssuer := c.inter.issueLeaf(t, "indirect", withCRLIssuer(t, "http://crl.example/i.crl", pkix.Name{CommonName: "CRL Issuer"}))
	// A distribution point whose reasons have 8 unused bits: crypto/x509
	// does not read reasons, so only Check sees the damage.
	badDP := der.Append(nil, tagContextCons0, der.Append(nil, distributionPointFull, der.Append(nil, der.ClassContextSpecific|6, []byte("http://crl.example/a.crl"))))
	badDP = der.Append(badDP, der.ClassContextSpecific|1, []byte{8, 0})
	malformedDP := c.inter.issueLeaf(t, "malformed DP", func(c *x509.Certificate) {
		c.ExtraExtensions = append(c.ExtraExtensions, pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 31}, Value: der.Append(nil, der.Sequence, der.Append(nil, der.Sequence, badDP))})
	})
	day := 24 * time.Hour
	impostor := newRootCA(t, "Test Issuing CA") // the same name, another key

	// The CA's name written with another string type and case.
	upper, err := asn1.Marshal(pkix.RDNSequence{{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "TEST ISSUING CA"}}})
	if err != nil {
		t.Fatal(err)
	}

	reject := Policy{Stale: StaleReject}
	tests := []struct {
		name   string
		crls   [][]byte
		cert   *x509.Certificate
		policy Policy
		want   Status
		reason string // the whole Reason, or with a trailing "…" a prefix
	}{
		{name: "not revoked", crls: [][]byte{c.inter.crl(t, []x509.RevocationListEntry{revokeCert(other, 1)})}, cert: leaf, want: Good},
		{name: "no entries", crls: [][]byte{c.inter.crl(t, nil)}, cert: leaf, want: Good},
		{name: "revoked", crls: [][]byte{c.inter.crl(t, []x509.RevocationListEntry{revokeCert(other, 4), revokeCert(leaf, 1)})}, cert: leaf, want: Revoked,
			reason: `revoked by CRL 1 (issuer "CN=Test Issuing CA") on 2025-12-31T03:04:05Z, reason keyCompromise`},
		{name: "revoked without reason", crls: [][]byte{c.inter.crl(t, []x509.RevocationListEntry{revokeCert(leaf, 0)})}, cert: leaf, want: Revoked,
			reason: `revoked by CRL 1 (issuer "CN=Test Issuing CA") on 2025-12-31T03:04:05Z, no reason given`},
		{name: "no CRL from the issuer", crls: [][]byte{c.root.crl(t, []x509.RevocationListEntry{revokeCert(leaf, 1)})}, cert: leaf, want: NotCovered},
		{name: "negative serial revoked", crls: [][]byte{c.inter.crl(t, []x509.RevocationListEntry{revoke(-300, 1)})}, cert: negative, want: Revoked, reason: "revoked by CRL 1 …"},
		{name: "negative serial is not its magnitude", crls: [][]byte{c.inter.crl(t, []x509.RevocationListEntry{revoke(300, 1)})}, cert: negative, want: Good},
		{name: "issuer name encoded differently", crls: [][]byte{crlWithIssuerEncoding(t, c.inter, upper)}, cert: leaf, want: Good},

		{name: "stale, policy use", crls: [][]byte{c.inter.crl(t, nil, withTimes(testNow.Add(-2*day), testNow.Add(-2*time.Hour)))}, cert: leaf, want: Good},
		{name: "stale and revoked, policy use", crls: [][]byte{c.inter.crl(t, []x509.RevocationListEntry{revokeCert(leaf, 1)}, withTimes(testNow.Add(-2*day), testNow.Add(-2*time.Hour)))}, cert: leaf, want: Revoked, reason: "revoked by CRL 1 …"},
		{name: "stale, policy reject", crls: [][]byte{c.inter.crl(t, nil, withTimes(testNow.Add(-2*day), testNow.Add(-2*time.Hour)))}, cert: leaf, policy: reject, want: Unusable,
			reason: `CRL 1 (issuer "CN=Test Issuing CA") cannot be used: its nextUpdate 2026-01-02T01:04:05Z has passed and the stale CRL policy is reject`},
		{name: "stale, within grace", crls: [][]byte{c.inter.crl(t, nil, withTimes(testNow.Add(-2*day), testNow.Add(-2*time.Hour)))}, cert: leaf, policy: Policy{Stale: StaleGrace, Grace: 3 * time.Hour}, want: Good},
		{name: "stale, beyond grace", crls: [][]byte{c.inter.crl(t, nil, withTimes(testNow.Add(-2*day), testNow.Add(-2*time.Hour)))}, cert: leaf, policy: Policy{Stale: StaleGrace, Grace: time.Hour}, want: Unusable,
			reason: `CRL 1 (issuer "CN=Test Issuing CA") cannot be used: its nextUpdate 2026-01-02T01:04:05Z has passed by more than the 1h0m0s grace period`},
		{name: "thisUpdate in the future", crls: [][]byte{c.inter.crl(t, nil, withTimes(testNow.Add(time.Hour), testNow.Add(2*day)))}, cert: leaf, want: Unusable,
			reason: `CRL 1 (issuer "CN=Test Issuing CA") cannot be used: its thisUpdate 2026-01-02T04:04:05Z is in the future`},
		{name: "older than MaxAge", crls: [][]byte{c.inter.crl(t, nil, withTimes(testNow.Add(-10*day), testNow.Add(day)))}, cert: leaf, policy: Policy{MaxAge: 7 * day}, want: Unusable,
			reason: `CRL 1 (issuer "CN=Test Issuing CA") cannot be used: its thisUpdate 2025-12-23T03:04:05Z is older than the maximum age of 168h0m0s`},
		{name: "within MaxAge", crls: [][]byte{c.inter.crl(t, nil, withTimes(testNow.Add(-6*day), testNow.Add(day)))}, cert: leaf, policy: Policy{MaxAge: 7 * day}, want: Good},

		{name: "wrong signer", crls: [][]byte{impostor.crl(t, nil)}, cert: leaf, want: Unusable,
			reason: `CRL 1 (issuer "CN=Test Issuing CA") cannot be used: its signature does not verify with the issuing certificate or any other certificate of that name`},
		{name: "wrong signer listing the certificate", crls: [][]byte{impostor.crl(t, []x509.RevocationListEntry{revokeCert(leaf, 1)})}, cert: leaf, want: Unusable, reason: "CRL 1 …"},
		{name: "wrong signer beside a good CRL", crls: [][]byte{impostor.crl(t, nil), c.inter.crl(t, nil)}, cert: leaf, want: Good},
		{name: "a usable CRL revokes, another cannot be used", crls: [][]byte{impostor.crl(t, nil), c.inter.crl(t, []x509.RevocationListEntry{revokeCert(leaf, 1)})}, cert: leaf, want: Revoked, reason: "revoked by CRL 2 …"},
		{name: "a stale CRL beside a fresh one", crls: [][]byte{c.inter.crl(t, nil, withTimes(testNow.Add(-2*day), testNow.Add(-time.Hour))), c.inter.crl(t, nil, withNumber(2))}, cert: leaf, policy: reject, want: Good},

		{name: "IDP onlyContainsUserCerts, leaf", crls: [][]byte{c.inter.crl(t, nil, withIDP(idp{onlyUser: true}))}, cert: leaf, want: Good},
		{name: "IDP onlyContainsUserCerts, CA", crls: [][]byte{c.inter.crl(t, nil, withIDP(idp{onlyUser: true}))}, cert: subCA, want: Unusable,
			reason: `CRL 1 (issuer "CN=Test Issuing CA") cannot be used: it holds only end-entity certificates`},
		{name: "IDP onlyContainsCACerts, CA", crls: [][]byte{c.inter.crl(t, nil, withIDP(idp{onlyCA: true}))}, cert: subCA, want: Good},
		{name: "IDP onlyContainsCACerts, leaf", crls: [][]byte{c.inter.crl(t, nil, withIDP(idp{onlyCA: true}))}, cert: leaf, want: Unusable,
			reason: `CRL 1 (issuer "CN=Test Issuing CA") cannot be used: it holds only CA certificates`},
		{name: "user and CA partitions", crls: [][]byte{c.inter.crl(t, nil, withIDP(idp{onlyCA: true})), c.inter.crl(t, nil, withIDP(idp{onlyUser: true}), withNumber(2))}, cert: leaf, want: Good},
		{name: "IDP URI the certificate names", crls: [][]byte{c.inter.crl(t, nil, withIDP(idp{uris: []string{"ldap://crl.example/a"}}))}, cert: withDP, want: Good},
		{name: "IDP URI the certificate does not name", crls: [][]byte{c.inter.crl(t, nil, withIDP(idp{uris: []string{"http://crl.example/b.crl"}}))}, cert: withDP, want: Unusable,
			reason: `CRL 1 (issuer "CN=Test Issuing CA") cannot be used: its distribution point is not one the certificate names`},
		{name: "IDP URI, certificate without distribution points", crls: [][]byte{c.inter.crl(t, nil, withIDP(idp{uris: []string{"http://crl.example/a.crl"}}))}, cert: leaf, want: Unusable, reason: "CRL 1 …"},
		{name: "IDP URI partition revokes", crls: [][]byte{c.inter.crl(t, []x509.RevocationListEntry{revokeCert(withDP, 1)}, withIDP(idp{uris: []string{"http://crl.example/a.crl"}}))}, cert: withDP, want: Revoked, reason: "revoked by CRL 1 …"},
		{name: "onlySomeReasons alone", crls: [][]byte{c.inter.crl(t, nil, withIDP(idp{reasons: []int{1, 2}}))}, cert: leaf, want: Unusable,
			reason: `the usable CRLs from issuer "CN=Test Issuing CA" (such as CRL 1) cover only some revocation reasons`},
		{name: "onlySomeReasons, complete union", crls: [][]byte{
			c.inter.crl(t, nil, withIDP(idp{reasons: []int{1, 2}})),
			c.inter.crl(t, nil, withIDP(idp{reasons: []int{3, 4, 5, 6, 7, 8}}), withNumber(2)),
		}, cert: leaf, want: Good},
		{name: "onlySomeReasons, revoked", crls: [][]byte{c.inter.crl(t, []x509.RevocationListEntry{revokeCert(leaf, 1)}, withIDP(idp{reasons: []int{1, 2}}))}, cert: leaf, want: Revoked, reason: "revoked by CRL 1 …"},
		{name: "indirect CRL", crls: [][]byte{c.inter.crl(t, nil, withIDP(idp{indirect: true}))}, cert: leaf, want: Unusable,
			reason: `CRL 1 (issuer "CN=Test Issuing CA") cannot be used: it is an indirect CRL, which mtlslb does not support`},
		{name: "indirect CRL beside a good one", crls: [][]byte{c.inter.crl(t, nil, withIDP(idp{indirect: true})), c.inter.crl(t, nil, withNumber(2))}, cert: leaf, want: Unusable, reason: "CRL 1 …"},
		{name: "onlyContainsAttributeCerts", crls: [][]byte{c.inter.crl(t, nil, withIDP(idp{onlyAttr: true}))}, cert: leaf, want: Unusable,
			reason: `CRL 1 (issuer "CN=Test Issuing CA") cannot be used: it holds only attribute certificates`},
		{name: "certificate names a cRLIssuer", crls: [][]byte{c.inter.crl(t, nil)}, cert: withCRLIssuer, want: Unusable,
			reason: "the certificate names a separate CRL issuer (cRLIssuer in its cRLDistributionPoints), which mtlslb does not support"},
		{name: "certificate with malformed distribution points", crls: [][]byte{c.inter.crl(t, nil)}, cert: malformedDP, want: Unusable,
			reason: `the certificate's cRLDistributionPoints extension is malformed, so the scope of the CRLs from issuer "CN=Test Issuing CA" cannot be decided`},
		{name: "certificate names a cRLIssuer, no CRL", crls: [][]byte{c.root.crl(t, nil)}, cert: withCRLIssuer, want: NotCovered},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := mustSet(t, sources(t, tc.crls...), c.root.cert)
			r := set.Check(c.input(tc.cert, tc.policy))
			if r.Status != tc.want {
				t.Fatalf("status %s (%s), want %s", r.Status, r.Reason, tc.want)
			}
			checkReason(t, r.Reason, tc.reason)
			// Checking again must give the same answer from the caches.
			if again := set.Check(c.input(tc.cert, tc.policy)); again != r {
				t.Errorf("second check %+v, first %+v", again, r)
			}
		})
	}
}

func checkReason(tb testing.TB, got, want string) {
	tb.Helper()
	if prefix, ok := strings.CutSuffix(want, "…"); ok {
		if !strings.HasPrefix(got, prefix) {
			tb.Errorf("reason %q, want it to start with %q", got, prefix)
		}
		return
	}
	if got != want {
		tb.Errorf("reason %q,\nwant %q", got, want)
	}
}

// TestCheckSignatureSources covers where a CRL's signer may come from: the
// bundle (checked by NewSet), the issuing certificate, the other key of a
// rollover on the path, and a separate CRL signing certificate the client
// presents (issued by the path or the bundle, itself not revoked).
func TestCheckSignatureSources(t *testing.T) {
	root := newRootCA(t, "Root")
	inter := root.issueCA(t, "Issuing CA")
	leaf := inter.issueLeaf(t, "client")
	crlSigner := root.issueCA(t, "Issuing CA", withKeyUsage(x509.KeyUsageCRLSign))
	stranger := newRootCA(t, "Stranger")
	strangerSigned := stranger.issueCA(t, "Issuing CA", withKeyUsage(x509.KeyUsageCRLSign))
	noCRLSignInter := root.issueCA(t, "Restricted CA", withKeyUsage(x509.KeyUsageCertSign))
	restrictedLeaf := noCRLSignInter.issueLeaf(t, "client")

	path := []*x509.Certificate{leaf, inter.cert, root.cert}
	in := func(presented ...*x509.Certificate) CheckInput {
		return CheckInput{Cert: leaf, Issuer: inter.cert, Path: path, Presented: append([]*x509.Certificate{leaf, inter.cert}, presented...), Now: testNow}
	}
	tests := []struct {
		name   string
		crls   [][]byte
		bundle []*x509.Certificate
		in     CheckInput
		want   Status
		reason string
	}{
		{name: "issuing certificate", crls: [][]byte{inter.crl(t, nil)}, bundle: []*x509.Certificate{root.cert}, in: in(), want: Good},
		{name: "issuing certificate in the bundle", crls: [][]byte{inter.crl(t, nil)}, bundle: []*x509.Certificate{root.cert, inter.cert}, in: in(), want: Good},
		{name: "separate CRL signer presented", crls: [][]byte{crlSigner.crl(t, nil)}, bundle: []*x509.Certificate{root.cert}, in: in(crlSigner.cert), want: Good},
		{name: "separate CRL signer revokes", crls: [][]byte{crlSigner.crl(t, []x509.RevocationListEntry{revokeCert(leaf, 1)})}, bundle: []*x509.Certificate{root.cert}, in: in(crlSigner.cert), want: Revoked, reason: "revoked by CRL 1 …"},
		{name: "separate CRL signer not presented", crls: [][]byte{crlSigner.crl(t, nil)}, bundle: []*x509.Certificate{root.cert}, in: in(), want: Unusable, reason: "CRL 1 …"},
		{name: "separate CRL signer revoked itself", crls: [][]byte{crlSigner.crl(t, nil), root.crl(t, []x509.RevocationListEntry{revokeCert(crlSigner.cert, 1)})}, bundle: []*x509.Certificate{root.cert}, in: in(crlSigner.cert), want: Unusable, reason: "CRL 1 …"},
		{name: "separate CRL signer from a stranger", crls: [][]byte{strangerSigned.crl(t, nil)}, bundle: []*x509.Certificate{root.cert}, in: in(strangerSigned.cert), want: Unusable, reason: "CRL 1 …"},
		{name: "issuer without cRLSign", crls: [][]byte{crlSignedDespiteKeyUsage(t, noCRLSignInter, nil)}, bundle: []*x509.Certificate{root.cert},
			in:   CheckInput{Cert: restrictedLeaf, Issuer: noCRLSignInter.cert, Path: []*x509.Certificate{restrictedLeaf, noCRLSignInter.cert, root.cert}, Now: testNow},
			want: Unusable, reason: `CRL 1 (issuer "CN=Restricted CA") cannot be used: the issuing certificate may not sign CRLs (its keyUsage lacks cRLSign) and no other certificate of that name signed it`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := mustSet(t, sources(t, tc.crls...), tc.bundle...)
			r := set.Check(tc.in)
			if r.Status != tc.want {
				t.Fatalf("status %s (%s), want %s", r.Status, r.Reason, tc.want)
			}
			checkReason(t, r.Reason, tc.reason)
		})
	}
}

// TestKeyRollover: the CA's new key signs leaves and its old key may sign
// the CRL; both CA certificates are on the path (the new key certified by
// the old one, self-issued). A certificate never vouches for the CRL that
// decides its own status.
func TestKeyRollover(t *testing.T) {
	root := newRootCA(t, "Root")
	oldCA := root.issueCA(t, "Rolling CA")
	newKey := newKey(t)
	newWithOld := &testCA{cert: oldCA.sign(t, caTemplate("Rolling CA", 99), newKey.Public()), key: newKey, serial: 100}
	leaf := newWithOld.issueLeaf(t, "client")
	path := []*x509.Certificate{leaf, newWithOld.cert, oldCA.cert, root.cert}
	for _, tc := range []struct {
		name         string
		signer       *testCA
		entries      []x509.RevocationListEntry
		cert, issuer *x509.Certificate
		want         Status
	}{
		{"old key signs, leaf not revoked", oldCA, nil, leaf, newWithOld.cert, Good},
		{"old key signs, leaf revoked", oldCA, []x509.RevocationListEntry{revokeCert(leaf, 1)}, leaf, newWithOld.cert, Revoked},
		{"new key signs, leaf", newWithOld, nil, leaf, newWithOld.cert, Good},
		{"old key signs, new-with-old certificate", oldCA, nil, newWithOld.cert, oldCA.cert, Good},
		{"new key signs, new-with-old certificate", newWithOld, nil, newWithOld.cert, oldCA.cert, Unusable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := mustSet(t, sources(t, tc.signer.crl(t, tc.entries)), root.cert)
			r := set.Check(CheckInput{Cert: tc.cert, Issuer: tc.issuer, Path: path, Presented: path[:3], Now: testNow})
			if r.Status != tc.want {
				t.Fatalf("status %s (%s), want %s", r.Status, r.Reason, tc.want)
			}
		})
	}
}

func TestDeltaCRLs(t *testing.T) {
	c := newChain(t)
	leaf := c.inter.issueLeaf(t, "client")
	held := c.inter.issueLeaf(t, "held")
	stale := withTimes(testNow.Add(-48*time.Hour), testNow.Add(-time.Hour))
	base := func(entries ...x509.RevocationListEntry) []byte { return c.inter.crl(t, entries, withNumber(10)) }
	delta := func(baseNumber, number int64, entries []x509.RevocationListEntry, opts ...crlOption) []byte {
		return c.inter.crl(t, entries, append([]crlOption{withNumber(number), withDelta(t, baseNumber)}, opts...)...)
	}
	reject := Policy{Stale: StaleReject}
	tests := []struct {
		name   string
		crls   [][]byte
		cert   *x509.Certificate
		policy Policy
		want   Status
		reason string
	}{
		{name: "delta revokes", crls: [][]byte{base(), delta(10, 11, []x509.RevocationListEntry{revokeCert(leaf, 1)})}, cert: leaf, want: Revoked,
			reason: `revoked by delta CRL 2 (issuer "CN=Test Issuing CA") on 2025-12-31T03:04:05Z, reason keyCompromise`},
		{name: "neither revokes", crls: [][]byte{base(), delta(10, 11, []x509.RevocationListEntry{revokeCert(held, 1)})}, cert: leaf, want: Good},
		{name: "base revokes", crls: [][]byte{base(revokeCert(leaf, 1)), delta(10, 11, nil)}, cert: leaf, want: Revoked, reason: "revoked by CRL 1 …"},
		{name: "delta releases a hold", crls: [][]byte{base(revokeCert(held, 6)), delta(10, 11, []x509.RevocationListEntry{revokeCert(held, reasonRemoveFromCRL)})}, cert: held, want: Good},
		{name: "newest delta wins", crls: [][]byte{base(revokeCert(held, 6)), delta(9, 12, []x509.RevocationListEntry{revokeCert(held, reasonRemoveFromCRL)}), delta(10, 11, []x509.RevocationListEntry{revokeCert(held, 6)})}, cert: held, want: Good},
		{name: "delta alone", crls: [][]byte{delta(10, 11, nil)}, cert: leaf, want: Unusable,
			reason: `the CRLs from issuer "CN=Test Issuing CA" are all delta CRLs, and no complete CRL they apply to is in the trust store`},
		{name: "delta on a newer base is ignored", crls: [][]byte{base(), delta(11, 12, []x509.RevocationListEntry{revokeCert(leaf, 1)})}, cert: leaf, want: Good},
		{name: "delta older than the base is ignored", crls: [][]byte{base(), delta(5, 9, []x509.RevocationListEntry{revokeCert(leaf, 1)})}, cert: leaf, want: Good},
		{name: "fresh delta cures a stale base", crls: [][]byte{c.inter.crl(t, nil, withNumber(10), stale), delta(10, 11, nil)}, cert: leaf, policy: reject, want: Good},
		{name: "stale base without delta", crls: [][]byte{c.inter.crl(t, nil, withNumber(10), stale)}, cert: leaf, policy: reject, want: Unusable, reason: "CRL 1 …"},
		{name: "stale delta", crls: [][]byte{base(), delta(10, 11, nil, stale)}, cert: leaf, policy: reject, want: Unusable,
			reason: `CRL 1 (issuer "CN=Test Issuing CA") cannot be used: its newest delta CRL 2 cannot be used: its nextUpdate 2026-01-02T02:04:05Z has passed and the stale CRL policy is reject`},
		{name: "delta with another scope is ignored", crls: [][]byte{base(), delta(10, 11, []x509.RevocationListEntry{revokeCert(leaf, 1)}, withIDP(idp{onlyCA: true}))}, cert: leaf, want: Good},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := mustSet(t, sources(t, tc.crls...), c.root.cert)
			r := set.Check(c.input(tc.cert, tc.policy))
			if r.Status != tc.want {
				t.Fatalf("status %s (%s), want %s", r.Status, r.Reason, tc.want)
			}
			checkReason(t, r.Reason, tc.reason)
		})
	}
}

func TestNewSet(t *testing.T) {
	c := newChain(t)
	impostor := newRootCA(t, "Test Issuing CA")
	restricted := c.root.issueCA(t, "Restricted CA", withKeyUsage(x509.KeyUsageCertSign))
	tests := []struct {
		name   string
		srcs   []Source
		bundle []*x509.Certificate
		err    string // "" for success
	}{
		{name: "issuer in the bundle", srcs: []Source{{ID: 5, CRL: mustParse(t, c.inter.crl(t, nil))}}, bundle: []*x509.Certificate{c.root.cert, c.inter.cert}},
		{name: "issuer not in the bundle", srcs: []Source{{ID: 5, CRL: mustParse(t, impostor.crl(t, nil))}}, bundle: []*x509.Certificate{c.root.cert}},
		{name: "bad signature", srcs: []Source{{ID: 5, CRL: mustParse(t, impostor.crl(t, nil))}}, bundle: []*x509.Certificate{c.root.cert, c.inter.cert},
			err: `compiling CRLs: revocation id 5: issuer "CN=Test Issuing CA" is in the CA bundle but did not sign it: checking CRL signature: `},
		{name: "issuer without cRLSign", srcs: []Source{{ID: 6, CRL: mustParse(t, crlSignedDespiteKeyUsage(t, restricted, nil))}}, bundle: []*x509.Certificate{restricted.cert},
			err: `compiling CRLs: revocation id 6: issuer "CN=Restricted CA" is in the CA bundle but did not sign it: checking CRL signature: the certificate's keyUsage does not include cRLSign`},
		{name: "one of two bundle certificates of the name signed", srcs: []Source{{ID: 5, CRL: mustParse(t, c.inter.crl(t, nil))}}, bundle: []*x509.Certificate{impostor.cert, c.inter.cert}},
		{name: "missing CRL", srcs: []Source{{ID: 9}}, err: "compiling CRLs: revocation id 9: no CRL"},
		{name: "empty", srcs: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewSet(tc.srcs, tc.bundle)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.err != "" && err == nil:
				t.Fatalf("no error, want %q", tc.err)
			case tc.err != "" && !strings.HasPrefix(err.Error(), tc.err):
				t.Fatalf("error %q, want it to start with %q", err, tc.err)
			}
		})
	}
}

func TestSetLen(t *testing.T) {
	c := newChain(t)
	set := mustSet(t, sources(t,
		c.inter.crl(t, []x509.RevocationListEntry{revoke(2, 0), revoke(3, 0)}),
		c.root.crl(t, []x509.RevocationListEntry{revoke(2, 0)}),
	))
	if set.Len() != 3 {
		t.Errorf("Len() = %d, want 3", set.Len())
	}
	var nilSet *Set
	if nilSet.Len() != 0 || nilSet.Check(CheckInput{}).Status != NotCovered {
		t.Error("a nil Set must hold nothing")
	}
}

// TestCheckConcurrent runs Check from many goroutines on a Set whose CRL is
// verified lazily, for the race detector.
func TestCheckConcurrent(t *testing.T) {
	c := newChain(t)
	leaves := make([]*x509.Certificate, 8)
	var entries []x509.RevocationListEntry
	for i := range leaves {
		leaves[i] = c.inter.issueLeaf(t, "client")
		if i%2 == 1 {
			entries = append(entries, revokeCert(leaves[i], 1))
		}
	}
	set := mustSet(t, sources(t, c.inter.crl(t, entries)), c.root.cert)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Go(func() {
			for i := 0; i < 200; i++ {
				k := (g + i) % len(leaves)
				want := Good
				if k%2 == 1 {
					want = Revoked
				}
				if r := set.Check(c.input(leaves[k], Policy{})); r.Status != want {
					t.Errorf("leaf %d: %s, want %s", k, r.Status, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestCheckDoesNotAllocate pins the per-handshake promise: Good and
// NotCovered answers allocate nothing once the signature verdict is cached.
func TestCheckDoesNotAllocate(t *testing.T) {
	c := newChain(t)
	leaf := c.inter.issueLeaf(t, "client", withDistributionPoints("http://crl.example/a.crl"))
	revoked := c.inter.issueLeaf(t, "revoked")
	lazy := mustSet(t, sources(t, c.inter.crl(t, []x509.RevocationListEntry{revokeCert(revoked, 1)}, withIDP(idp{uris: []string{"http://crl.example/a.crl"}, onlyUser: true}))), c.root.cert)
	bundled := mustSet(t, sources(t, c.inter.crl(t, []x509.RevocationListEntry{revokeCert(revoked, 1)})), c.root.cert, c.inter.cert)
	rootLeaf := c.root.issueLeaf(t, "root client")
	rootIn := CheckInput{Cert: rootLeaf, Issuer: c.root.cert, Path: []*x509.Certificate{rootLeaf, c.root.cert}, Now: testNow}
	tests := []struct {
		name string
		set  *Set
		in   CheckInput
		want Status
	}{
		{"good, signature checked lazily", lazy, c.input(leaf, Policy{Stale: StaleReject, MaxAge: time.Hour * 24}), Good},
		{"good, signature checked by NewSet", bundled, c.input(leaf, Policy{}), Good},
		{"not covered", bundled, rootIn, NotCovered},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if r := tc.set.Check(tc.in); r.Status != tc.want {
				t.Fatalf("status %s (%s), want %s", r.Status, r.Reason, tc.want)
			}
			if n := testing.AllocsPerRun(100, func() { tc.set.Check(tc.in) }); n != 0 {
				t.Errorf("%v allocations per Check, want 0", n)
			}
		})
	}
}

func TestCaches(t *testing.T) {
	var v verdictCache
	for i := 0; i < 3*maxCachedVerdicts; i++ {
		v.put(verdictKey{crl: int32(i)}, true)
		if len(v.m) > maxCachedVerdicts {
			t.Fatalf("verdict cache holds %d entries, bound %d", len(v.m), maxCachedVerdicts)
		}
	}
	var n nameCache
	for i := 0; i < 3*maxCachedNames; i++ {
		n.put([]byte{byte(i), byte(i >> 8)}, 1)
		if len(n.m) > maxCachedNames {
			t.Fatalf("name cache holds %d entries, bound %d", len(n.m), maxCachedNames)
		}
	}
	n.put(make([]byte, maxCachedNameBytes+1), 1)
	if _, found := n.get(make([]byte, maxCachedNameBytes+1)); found {
		t.Error("a name longer than the bound was cached")
	}
}

func TestStatusString(t *testing.T) {
	for st, want := range map[Status]string{NotCovered: "NotCovered", Good: "Good", Revoked: "Revoked", Unusable: "Unusable", 9: "Status(9)"} {
		if st.String() != want {
			t.Errorf("%d: %q, want %q", st, st.String(), want)
		}
	}
}

// TestIndirectCRLEntries: an indirect CRL whose entries name another issuer
// makes that issuer's certificates Unusable (they may be listed there).
func TestIndirectCRLEntries(t *testing.T) {
	c := newChain(t)
	other := c.root.issueCA(t, "Other Issuing CA")
	leaf := other.issueLeaf(t, "client")
	certIssuer := der.Append(nil, der.Sequence, der.Append(nil, generalNameDirName, other.cert.RawSubject))
	der := c.inter.crl(t, []x509.RevocationListEntry{{
		SerialNumber:    leaf.SerialNumber,
		RevocationTime:  testNow.Add(-time.Hour),
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 29}, Critical: true, Value: certIssuer}},
	}}, withIDP(idp{indirect: true}))
	set := mustSet(t, sources(t, der), c.root.cert)
	path := []*x509.Certificate{leaf, other.cert, c.root.cert}
	r := set.Check(CheckInput{Cert: leaf, Issuer: other.cert, Path: path, Now: testNow})
	if r.Status != Unusable || r.CRLID != 1 {
		t.Fatalf("status %s, CRL %d (%s), want Unusable by CRL 1", r.Status, r.CRLID, r.Reason)
	}
	checkReason(t, r.Reason, `indirect CRL 1 lists certificates of issuer "CN=Other Issuing CA", and mtlslb does not support indirect CRLs`)
}
