package x509path

import (
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"github.com/mtlslb/mtlslb/internal/conformance"
)

// pkitsNotStructural lists the cases of this package's sections whose
// expected failure is not a property of the path: Build must find the path,
// and the case is then skipped because the failure is the caller's to find.
var pkitsNotStructural = map[string]string{
	"4.5.2": "the end entity is revoked by a CRL signed with the rolled-over key; revocation is checked by the caller",
	"4.5.5": "the end entity is revoked by a CRL signed with the rolled-over key; revocation is checked by the caller",
	"4.5.7": "the end entity is revoked by a CRL signed with a separate CRL signing key; revocation is checked by the caller",
	"4.7.4": "the CA's keyUsage lacks cRLSign, so its CRL cannot be used and revocation status is unknown; revocation is checked by the caller",
	"4.7.5": "the CA's keyUsage lacks cRLSign, so its CRL cannot be used and revocation status is unknown; revocation is checked by the caller",
}

// pkitsDSA are the cases signed with DSA, which crypto/x509 cannot verify and
// mtlslb refuses by policy (keys RSA or ECDSA only).
var pkitsDSA = map[string]bool{"4.1.4": true, "4.1.5": true, "4.1.6": true}

// pkitsSectionScope says whether a PKITS section is this package's.
func pkitsSectionScope(number string) (inScope bool, reason string) {
	parts := strings.Split(number, ".")
	if len(parts) < 2 {
		return false, "malformed case number"
	}
	switch parts[1] {
	case "1", "3", "5", "6", "7", "13", "16":
		return true, ""
	case "8", "9", "10", "11", "12":
		return true, "" // policy sections: only cases with default policy inputs, see below
	case "2":
		return false, "section 4.2 tests validity dates, which the caller checks per path"
	case "4":
		return false, "section 4.4 tests basic CRL revocation, which the caller checks per path"
	case "14":
		return false, "section 4.14 tests CRL distribution points, which the caller checks per path"
	case "15":
		return false, "section 4.15 tests delta CRLs, which the caller checks per path"
	}
	return false, "unknown section"
}

// defaultPolicyInputs reports whether a case runs with the RFC 5280 default
// initial policy inputs, which is all Build implements. An input that only
// states the expected user-constrained-policy-set (an output Build does not
// report) leaves the initial inputs at their defaults.
func defaultPolicyInputs(inputs map[string]any) (empty, defaults bool) {
	for k := range inputs {
		if k != "SetUserConstrainedPolicySet" {
			return false, false
		}
	}
	return len(inputs) == 0, true
}

// TestPKITS runs the path-structure sections of NIST PKITS: certs[0] is the
// only anchor, the last certificate the leaf, the rest presented
// intermediates; dates and CRLs are ignored. Build must find a path exactly
// when the case should validate.
func TestPKITS(t *testing.T) {
	// Subtests run one after another, so plain counters are safe.
	var passed, structuralOnly, outOfScope, dsa, policyInputs int
	t.Cleanup(func() {
		t.Logf("PKITS: %d passed; %d path found as expected but failure not structural (skipped); skipped: %d out-of-scope section, %d DSA, %d policy inputs",
			passed, structuralOnly, outOfScope, dsa, policyInputs)
	})
	suite := conformance.LoadPKITS(t)
	for _, tc := range suite.Cases {
		t.Run(tc.Number+" "+tc.Title, func(t *testing.T) {
			inScope, reason := pkitsSectionScope(tc.Number)
			if !inScope {
				outOfScope++
				t.Skip(reason)
			}
			if pkitsDSA[tc.Number] {
				dsa++
				t.Skip("DSA signatures: crypto/x509 cannot verify them and mtlslb refuses DSA by policy")
			}
			empty, defaults := defaultPolicyInputs(tc.PolicyInputs)
			if !empty && !defaults {
				policyInputs++
				t.Skipf("needs certificate policy inputs %v; Build implements only the RFC 5280 defaults", tc.PolicyInputs)
			}
			certs := make([]*x509.Certificate, len(tc.Certs))
			for i, stem := range tc.Certs {
				certs[i] = suite.Cert(t, stem)
			}
			anchors := NewAnchors(certs[:1])
			leaf := certs[len(certs)-1]
			intermediates := certs[1 : len(certs)-1]
			paths, err := Build(leaf, intermediates, anchors, Options{})
			if err != nil && !errors.Is(err, ErrNoPath) {
				t.Fatalf("Build: unexpected error kind: %v", err)
			}
			found := err == nil
			if why, ok := pkitsNotStructural[tc.Number]; ok {
				if !found {
					t.Fatalf("the path is structurally valid, but Build failed: %v", err)
				}
				structuralOnly++
				t.Skipf("path found as expected; expected failure not structural: %s", why)
			}
			switch {
			case tc.ShouldValidate && !found:
				t.Fatalf("should validate, Build failed: %v", err)
			case !tc.ShouldValidate && found:
				t.Fatalf("should not validate, Build found %d path(s), first of %d certificates", len(paths), len(paths[0]))
			}
			if found {
				checkPathShape(t, paths, leaf, anchors)
			} else {
				t.Logf("refused as expected: %v", err)
			}
			passed++
		})
	}
}

// checkPathShape asserts what Build promises of every returned path.
func checkPathShape(t testing.TB, paths [][]*x509.Certificate, leaf *x509.Certificate, anchors *Anchors) {
	t.Helper()
	for i, p := range paths {
		if len(p) == 0 || p[0] != leaf {
			t.Fatalf("path %d does not start with the leaf", i)
		}
		last := p[len(p)-1]
		isAnchor := false
		for _, a := range anchors.Certificates() {
			isAnchor = isAnchor || a == last
		}
		if !isAnchor && len(p) > 1 {
			t.Fatalf("path %d does not end at an anchor", i)
		}
		if i > 0 && len(p) < len(paths[i-1]) {
			t.Fatalf("path %d is shorter than path %d: not best first", i, i-1)
		}
	}
}
