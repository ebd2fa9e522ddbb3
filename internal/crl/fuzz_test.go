package crl

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"

	"github.com/mtlslb/mtlslb/internal/conformance"
)

// vectorSeeds returns the CRL and leaf of every vector, for fuzz corpora.
func vectorSeeds(f *testing.F) (crls, leaves [][]byte) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join(vectorDir, "*.pem"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no vectors in %s: %v", vectorDir, err)
	}
	for _, file := range files {
		v := readVector(f, file)
		crls = append(crls, v.crl)
		leaves = append(leaves, v.leaf.Raw)
	}
	return crls, leaves
}

// generatedSeeds are CRLs with the features the vectors lack: several
// entries with reasons, an IDP with names and reasons, a delta CRL.
func generatedSeeds(f *testing.F, ca *testCA) [][]byte {
	f.Helper()
	return [][]byte{
		ca.crl(f, nil, withIDP(idp{uris: []string{"http://crl.example/a.crl"}, onlyUser: true, reasons: []int{1, 3}})),
		ca.crl(f, nil, withIDP(idp{indirect: true})),
		ca.crl(f, []x509.RevocationListEntry{revoke(2, 1), revoke(-3, 6), revoke(1<<62, 0)}, withNumber(9), withDelta(f, 4)),
	}
}

// FuzzParse feeds Parse arbitrary bytes: it must never panic, and what it
// accepts must parse again the same and go through NewSet and Check.
func FuzzParse(f *testing.F) {
	ca := newRootCA(f, "Fuzz CA")
	leaf := ca.issueLeaf(f, "fuzz", withDistributionPoints("http://crl.example/a.crl"))
	crls, _ := vectorSeeds(f)
	for _, der := range append(crls, generatedSeeds(f, ca)...) {
		f.Add(der)
		f.Add(toPEM(der))
	}
	pkitsCRLs, err := filepath.Glob(filepath.Join(conformance.TestdataDir(f), "pkits", "crls", "*.crl"))
	if err != nil || len(pkitsCRLs) == 0 {
		f.Fatalf("no PKITS CRLs: %v", err)
	}
	for _, file := range pkitsCRLs[:20] {
		der, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(der)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		again, err := Parse(c.Raw())
		if err != nil {
			t.Fatalf("Raw() of a parsed CRL does not parse: %v", err)
		}
		if again.Len() != c.Len() || again.Issuer() != c.Issuer() || !again.ThisUpdate().Equal(c.ThisUpdate()) {
			t.Fatal("parsing Raw() gives another CRL")
		}
		set, err := NewSet([]Source{{ID: 1, CRL: c}}, []*x509.Certificate{ca.cert})
		if err != nil {
			return // a CRL in ca's name that ca did not sign
		}
		in := CheckInput{Cert: leaf, Issuer: ca.cert, Path: []*x509.Certificate{leaf, ca.cert}, Now: testNow}
		checkResult(t, set.Check(in))
	})
}

// FuzzCheck pairs arbitrary CRLs with arbitrary certificates, so that
// Check's reading of certificates (serial, cRLDistributionPoints) and of
// CRL scopes meets hostile input. The CRLs are checked lazily against the
// fuzz CA, whose name the seeds use.
func FuzzCheck(f *testing.F) {
	ca := newRootCA(f, "Test Intermediate CA")
	crls, leaves := vectorSeeds(f)
	for i := range crls {
		f.Add(crls[i], leaves[i])
	}
	for _, der := range generatedSeeds(f, ca) {
		f.Add(der, ca.issueLeaf(f, "fuzz", withDistributionPoints("http://crl.example/a.crl")).Raw)
	}
	f.Fuzz(func(t *testing.T, crlDER, certDER []byte) {
		c, err := Parse(crlDER)
		if err != nil {
			return
		}
		cert, err := x509.ParseCertificate(certDER)
		if err != nil {
			return
		}
		set, err := NewSet([]Source{{ID: 1, CRL: c}}, nil)
		if err != nil {
			t.Fatalf("NewSet without a bundle: %v", err)
		}
		path := []*x509.Certificate{cert, ca.cert}
		in := CheckInput{Cert: cert, Issuer: ca.cert, Path: path, Presented: path, Now: testNow, Policy: Policy{Stale: StaleReject}}
		r := set.Check(in)
		checkResult(t, r)
		if again := set.Check(in); again != r {
			t.Fatalf("second Check %+v, first %+v", again, r)
		}
	})
}

// checkResult holds the invariants of every Result.
func checkResult(t *testing.T, r Result) {
	t.Helper()
	switch r.Status {
	case Good, NotCovered:
		if r.Reason != "" {
			t.Fatalf("%s with a reason: %q", r.Status, r.Reason)
		}
	case Revoked, Unusable:
		if r.Reason == "" {
			t.Fatalf("%s without a reason", r.Status)
		}
	default:
		t.Fatalf("unknown status %d", r.Status)
	}
}
