package crl

import (
	"bytes"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/conformance"
)

// pkitsSections are the PKITS sections about revocation: basic revocation,
// key rollover, the cRLSign key usage, distribution points, delta CRLs.
var pkitsSections = []string{"4.4.", "4.5.", "4.7.4", "4.7.5", "4.14.", "4.15."}

// pkitsExceptions are the valid cases that mtlslb refuses, with the reason.
// Refusing fails closed; no invalid case may be accepted.
var pkitsExceptions = map[string]string{
	"4.14.4":  "crypto/x509 cannot parse the EE certificate (a nameRelativeToCRLIssuer distribution point)",
	"4.14.5":  "crypto/x509 cannot parse the EE certificate (a nameRelativeToCRLIssuer distribution point)",
	"4.14.22": "indirect CRLs are not supported (Unusable)",
	"4.14.24": "indirect CRLs are not supported (Unusable)",
	"4.14.25": "indirect CRLs are not supported (Unusable)",
	"4.14.28": "a cRLIssuer in the certificate's distribution point is not supported (Unusable)",
	"4.14.29": "crypto/x509 cannot parse the EE certificate (a nameRelativeToCRLIssuer distribution point with a cRLIssuer)",
	"4.14.30": "a cRLIssuer in the certificate's distribution point is not supported (Unusable)",
	"4.14.33": "a cRLIssuer in the certificate's distribution point is not supported (Unusable)",
}

// TestPKITSRevocation runs the revocation sections of PKITS through Check:
// the path is built from each case's certificates by signature, every
// certificate on it but the anchor is checked against its issuer's CRLs, and
// the case validates when every one is Good (PKITS gives every CA a CRL, so
// NotCovered counts as a failure here, as with a trust store that requires
// CRLs). Invalid cases may also fail before Check (a CRL that Parse or NewSet
// refuses, a certificate crypto/x509 refuses, no valid path).
func TestPKITSRevocation(t *testing.T) {
	suite := conformance.LoadPKITS(t)
	ran := 0
	for _, tc := range suite.Cases {
		if !inSections(tc.Number) {
			continue
		}
		ran++
		t.Run(tc.Number+"_"+strings.ReplaceAll(tc.Title, " ", "_"), func(t *testing.T) {
			valid, why := runPKITSCase(t, suite, tc)
			t.Logf("valid=%v %s", valid, why)
			switch {
			case pkitsExceptions[tc.Number] != "":
				if valid || !tc.ShouldValidate {
					t.Errorf("listed as a refused valid case (%s), got valid=%v", pkitsExceptions[tc.Number], valid)
				}
			case valid != tc.ShouldValidate:
				t.Errorf("should_validate=%v, got valid=%v %s", tc.ShouldValidate, valid, why)
			}
		})
	}
	if ran == 0 {
		t.Fatal("no PKITS case in the revocation sections")
	}
}

// runPKITSCase reports whether the case's path passes revocation checking,
// and if not, why.
func runPKITSCase(tb testing.TB, suite *conformance.PKITS, tc conformance.PKITSCase) (bool, string) {
	tb.Helper()
	now := time.Date(2012, 1, 1, 0, 0, 0, 0, time.UTC)
	policy := Policy{Stale: StaleReject}
	certs := make([]*x509.Certificate, len(tc.Certs))
	for i, name := range tc.Certs {
		cert, err := x509.ParseCertificate(suite.CertDER(tb, name))
		if err != nil {
			return false, "crypto/x509 refuses certificate " + name + ": " + err.Error()
		}
		certs[i] = cert
	}
	srcs := make([]Source, len(tc.CRLs))
	for i, name := range tc.CRLs {
		list, err := Parse(suite.CRLDER(tb, name))
		if err != nil {
			return false, "CRL " + name + " refused: " + err.Error()
		}
		srcs[i] = Source{ID: int64(i + 1), CRL: list}
	}
	set, err := NewSet(srcs, certs[:1])
	if err != nil {
		return false, "NewSet refused: " + err.Error()
	}
	path, ok := buildPath(certs)
	if !ok {
		return false, "no path from the end entity to the anchor (path validation refuses it)"
	}
	for i := 0; i < len(path)-1; i++ {
		r := set.Check(CheckInput{Cert: path[i], Issuer: path[i+1], Path: path, Presented: certs[1:], Now: now, Policy: policy})
		if r.Status != Good {
			return false, r.Status.String() + ": " + r.Reason
		}
	}
	return true, ""
}

func inSections(number string) bool {
	for _, s := range pkitsSections {
		if strings.HasPrefix(number, s) {
			return true
		}
	}
	return false
}

// buildPath returns the path from the case's end entity (last) to its trust
// anchor (first), choosing each issuer among the case's certificates by name
// and signature. Certificates off the path (CRL signers) are left out.
func buildPath(certs []*x509.Certificate) ([]*x509.Certificate, bool) {
	anchor := certs[0]
	path := []*x509.Certificate{certs[len(certs)-1]}
	for cur := path[0]; !bytes.Equal(cur.Raw, anchor.Raw); {
		var next *x509.Certificate
		for _, c := range certs {
			if onPath(c, path) {
				continue
			}
			if bytes.Equal(c.RawSubject, cur.RawIssuer) && cur.CheckSignatureFrom(c) == nil {
				next = c
				break
			}
		}
		if next == nil {
			return nil, false
		}
		path = append(path, next)
		cur = next
	}
	return path, true
}
