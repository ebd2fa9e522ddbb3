package x509path

import "fmt"

// validate runs the RFC 5280 §6.1 checks that need the whole path (leaf
// first, anchor last): pathLenConstraint, name constraints and certificate
// policies. Per-issuer checks (cA, keyCertSign, critical extensions) were
// made when the path was built; signatures are checked after this.
func validate(path []*certInfo) error {
	if err := checkPathLen(path); err != nil {
		return err
	}
	if err := checkNameConstraints(path); err != nil {
		return err
	}
	return checkPolicies(path)
}

// checkPathLen implements §6.1.4 (l) and (m), starting from the anchor's own
// pathLenConstraint when it has one.
func checkPathLen(path []*certInfo) error {
	anchor := path[len(path)-1].cert
	remaining := len(path) // larger than any count on this path: unconstrained
	if anchor.BasicConstraintsValid && anchor.MaxPathLen >= 0 {
		remaining = anchor.MaxPathLen
	}
	// Intermediates from the anchor down; the leaf (path[0]) issues nothing.
	for i := len(path) - 2; i >= 1; i-- {
		c := path[i]
		if !c.isSelfIssued() {
			if remaining <= 0 {
				return fmt.Errorf("pathLenConstraint exceeded by %q", describe(c.cert))
			}
			remaining--
		}
		if c.cert.BasicConstraintsValid && c.cert.MaxPathLen >= 0 && c.cert.MaxPathLen < remaining {
			remaining = c.cert.MaxPathLen
		}
	}
	return nil
}

// checkNameConstraints implements §6.1.3 (b) and (c) with §6.1.4 (g): each
// certificate's names must satisfy the constraints of every CA above it,
// anchor included. Checking each CA's constraints separately is equivalent
// to intersecting permitted subtrees and uniting excluded ones. Self-issued
// intermediates are exempt, the leaf never is.
func checkNameConstraints(path []*certInfo) error {
	for i := len(path) - 2; i >= 0; i-- {
		c := path[i]
		if i > 0 && c.isSelfIssued() {
			continue
		}
		for j := i + 1; j < len(path); j++ {
			// Errors were reported by caError when the CA was accepted.
			nc, _ := path[j].constraints()
			if nc == nil {
				continue
			}
			names, err := c.namesOf()
			if err != nil {
				return fmt.Errorf("names of %q cannot be checked against name constraints: %w", describe(c.cert), err)
			}
			if err := nc.check(names); err != nil {
				return fmt.Errorf("%q violates the name constraints of %q: %w", describe(c.cert), describe(path[j].cert), err)
			}
		}
	}
	return nil
}
