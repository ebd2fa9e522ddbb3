package x509path

import (
	"crypto/x509"
	"fmt"
)

// anyPolicy is the special policy identifier 2.5.29.32.0. It is never
// modified.
var anyPolicy = func() x509.OID {
	oid, err := x509.OIDFromInts([]uint64{2, 5, 29, 32, 0})
	if err != nil {
		panic(err)
	}
	return oid
}()

// policyNode is a node of the current depth of the valid policy graph
// (RFC 9618, which replaces the RFC 5280 tree and its exponential growth).
type policyNode struct {
	valid    x509.OID
	expected []x509.OID
}

// checkPolicies runs RFC 5280 §6.1 certificate policy processing, as updated
// by RFC 9618, with the default inputs: user-initial-policy-set {anyPolicy},
// initial-explicit-policy, initial-policy-mapping-inhibit and
// initial-any-policy-inhibit all false.
//
// With those inputs the user-constrained policy set is the
// authority-constrained one, which is empty exactly when the graph is NULL.
// So the outcome needs only the graph's deepest level, not its edges: every
// node at the deepest level links back to the root, and the first node on
// that chain with a policy other than anyPolicy has anyPolicy as its only
// parent. That keeps this linear in the number of policies per certificate.
func checkPolicies(path []*certInfo) error {
	n := len(path) - 1 // certificates to process: all but the anchor
	explicitPolicy, inhibitAnyPolicy, policyMapping := n+1, n+1, n+1
	null := false
	var level []policyNode // nil while the graph is just its root
	root := true

	for i := n - 1; i >= 0; i-- {
		c := path[i]
		cert := c.cert
		leaf := i == 0
		selfIssued := !leaf && c.isSelfIssued()

		// §6.1.3 (d), (e).
		if len(cert.Policies) == 0 {
			null, level, root = true, nil, false
		} else if !null {
			level = nextPolicyLevel(level, root, cert.Policies, inhibitAnyPolicy > 0 || selfIssued)
			root = false
			if len(level) == 0 {
				null = true
			}
		}
		// §6.1.3 (f).
		if explicitPolicy == 0 && null {
			return fmt.Errorf("no acceptable certificate policy at %q, and a CA requires an explicit policy", describe(cert))
		}
		if leaf {
			break
		}
		// §6.1.4 (a), (b).
		for _, m := range cert.PolicyMappings {
			if m.IssuerDomainPolicy.Equal(anyPolicy) || m.SubjectDomainPolicy.Equal(anyPolicy) {
				return fmt.Errorf("%q maps a policy to or from anyPolicy", describe(cert))
			}
		}
		// The certificate had policies (or the graph is NULL), so level is
		// no longer the implicit root here.
		if !null && len(cert.PolicyMappings) > 0 {
			level = applyPolicyMappings(level, cert.PolicyMappings, policyMapping > 0)
			if len(level) == 0 {
				null = true
			}
		}
		// §6.1.4 (h), (i), (j).
		if !c.isSelfIssued() {
			explicitPolicy = decrement(explicitPolicy)
			policyMapping = decrement(policyMapping)
			inhibitAnyPolicy = decrement(inhibitAnyPolicy)
		}
		if cert.RequireExplicitPolicy > 0 || cert.RequireExplicitPolicyZero {
			explicitPolicy = min(explicitPolicy, cert.RequireExplicitPolicy)
		}
		if cert.InhibitPolicyMapping > 0 || cert.InhibitPolicyMappingZero {
			policyMapping = min(policyMapping, cert.InhibitPolicyMapping)
		}
		if cert.InhibitAnyPolicy > 0 || cert.InhibitAnyPolicyZero {
			inhibitAnyPolicy = min(inhibitAnyPolicy, cert.InhibitAnyPolicy)
		}
	}
	// §6.1.5 (a), (b), (g).
	explicitPolicy = decrement(explicitPolicy)
	if path[0].cert.RequireExplicitPolicyZero {
		explicitPolicy = 0
	}
	if explicitPolicy == 0 && null {
		return fmt.Errorf("no acceptable certificate policy for %q, and a CA requires an explicit policy", describe(path[0].cert))
	}
	return nil
}

func decrement(v int) int {
	if v > 0 {
		return v - 1
	}
	return v
}

// nextPolicyLevel computes the next depth of the graph from the previous one
// (root: the initial graph of one anyPolicy node) and a certificate's
// policies, per RFC 9618 §6.1.3 (d)(1) and (d)(2). anyAllowed is
// inhibit_anyPolicy > 0, or a self-issued intermediate.
func nextPolicyLevel(prev []policyNode, root bool, policies []x509.OID, anyAllowed bool) []policyNode {
	next := make([]policyNode, 0, len(policies))
	prevHasAny := root || indexPolicy(prev, anyPolicy) >= 0
	hasAny := false
	for _, p := range policies {
		if p.Equal(anyPolicy) {
			hasAny = true
			continue
		}
		if indexPolicy(next, p) >= 0 {
			continue // a repeated policy
		}
		if prevHasAny || expects(prev, p) {
			next = append(next, policyNode{valid: p, expected: []x509.OID{p}})
		}
	}
	if hasAny && anyAllowed {
		if root {
			if indexPolicy(next, anyPolicy) < 0 {
				next = append(next, policyNode{valid: anyPolicy, expected: []x509.OID{anyPolicy}})
			}
			return next
		}
		for _, parent := range prev {
			for _, e := range parent.expected {
				if indexPolicy(next, e) < 0 {
					next = append(next, policyNode{valid: e, expected: []x509.OID{e}})
				}
			}
		}
	}
	return next
}

// applyPolicyMappings runs §6.1.4 (b) on the current level: with mapping
// allowed, a mapped policy's node expects the subject domain policies (a node
// is made under anyPolicy if needed); with mapping inhibited, the nodes of
// mapped policies are deleted.
func applyPolicyMappings(level []policyNode, mappings []x509.PolicyMapping, allowed bool) []policyNode {
	for i, m := range mappings {
		id := m.IssuerDomainPolicy
		if seen := firstMapping(mappings, id); seen < i {
			continue // already handled with the first mapping of id
		}
		at := indexPolicy(level, id)
		if !allowed {
			if at >= 0 {
				level = append(level[:at], level[at+1:]...)
			}
			continue
		}
		var subjects []x509.OID
		for _, other := range mappings[i:] {
			if other.IssuerDomainPolicy.Equal(id) {
				subjects = append(subjects, other.SubjectDomainPolicy)
			}
		}
		switch {
		case at >= 0:
			level[at].expected = subjects
		case indexPolicy(level, anyPolicy) >= 0:
			level = append(level, policyNode{valid: id, expected: subjects})
		}
	}
	return level
}

func firstMapping(mappings []x509.PolicyMapping, id x509.OID) int {
	for i, m := range mappings {
		if m.IssuerDomainPolicy.Equal(id) {
			return i
		}
	}
	return -1
}

func indexPolicy(level []policyNode, p x509.OID) int {
	for i := range level {
		if level[i].valid.Equal(p) {
			return i
		}
	}
	return -1
}

func expects(level []policyNode, p x509.OID) bool {
	for i := range level {
		for _, e := range level[i].expected {
			if e.Equal(p) {
				return true
			}
		}
	}
	return false
}
