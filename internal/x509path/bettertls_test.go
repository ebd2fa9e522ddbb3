package x509path

import (
	"crypto/x509"
	"slices"
	"testing"
	"time"

	"github.com/Netflix/bettertls/test-suites/certutil"
	"github.com/Netflix/bettertls/test-suites/pathbuilding"
	test_case "github.com/Netflix/bettertls/test-suites/test-case"
)

// TestBetterTLSPathBuilding runs the Netflix BetterTLS path-building suite
// (trust graphs with cross-signed, expired, unconstrained and mis-issued
// edges) against Build. The suite's root is the only anchor and its chain is
// presented as sent, up to 35 intermediates in graph order.
//
// Build leaves dates and extended key usage to its caller, so the test plays
// the caller: a case passes if Build returns at least one path on which every
// certificate is within its validity period and every CA's extended key
// usage, if any, allows the suite's purpose (serverAuth). That is exactly
// why Build returns several candidate paths.
func TestBetterTLSPathBuilding(t *testing.T) {
	rootCert, rootKey, err := certutil.GenerateSelfSignedCert("bettertls_trust_root")
	if err != nil {
		t.Fatal(err)
	}
	anchors := NewAnchors([]*x509.Certificate{rootCert})
	now := time.Now()

	provider := pathbuilding.NewTestCaseProvider()
	n, err := provider.GetTestCaseCount()
	if err != nil {
		t.Fatal(err)
	}
	passed, maxSigs, maxNodesUsed := 0, 0, 0
	for i := range n {
		tc, err := provider.GetTestCase(i)
		if err != nil {
			t.Fatal(err)
		}
		impl := tc.(*pathbuilding.TestCaseImpl)
		chain, err := tc.GetCertificates(rootCert, rootKey)
		if err != nil {
			t.Fatal(err)
		}
		presented := make([]*x509.Certificate, len(chain.Certificate))
		for j, der := range chain.Certificate {
			if presented[j], err = x509.ParseCertificate(der); err != nil {
				t.Fatalf("case %d: parsing certificate %d: %v", i, j, err)
			}
		}
		paths, buildErr := Build(presented[0], presented[1:], anchors, Options{})
		// The search bounds must leave room for the suite's largest graphs.
		b := newBuilder(presented[0], presented[1:], NewAnchors([]*x509.Certificate{rootCert}), Options{})
		b.search()
		if b.exhausted != "" {
			t.Errorf("case %d: search stopped after %s", i, b.exhausted)
		}
		maxSigs, maxNodesUsed = max(maxSigs, b.sigChecks), max(maxNodesUsed, len(b.nodes))
		accepted := slices.ContainsFunc(paths, func(p []*x509.Certificate) bool { return callerAccepts(p, now) })
		want := tc.ExpectedResult() == test_case.EXPECTED_RESULT_PASS
		if accepted != want {
			t.Errorf("case %d (graph %s, %s->%s, invalid edges %v, reason %s): accepted=%v, want %v; %d paths, error %v",
				i, impl.ExplicitTestCase.TrustGraph.Name(), impl.ExplicitTestCase.SrcNode, impl.ExplicitTestCase.DstNode,
				impl.ExplicitTestCase.InvalidEdges, impl.InvalidReason, accepted, want, len(paths), buildErr)
			continue
		}
		passed++
	}
	t.Logf("BetterTLS pathbuilding: %d of %d cases passed; at most %d signature verifications (bound %d) and %d partial paths (bound %d) per case",
		passed, n, maxSigs, maxSignatureChecks, maxNodesUsed, maxNodes)
}

// callerAccepts applies the checks Build leaves to its caller: validity
// dates, and extended key usage nesting for the suite's serverAuth purpose.
func callerAccepts(path []*x509.Certificate, now time.Time) bool {
	for _, c := range path {
		if now.Before(c.NotBefore) || now.After(c.NotAfter) {
			return false
		}
		if len(c.ExtKeyUsage) > 0 && !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageServerAuth) &&
			!slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny) {
			return false
		}
	}
	return true
}
