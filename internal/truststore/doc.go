// Package truststore compiles a trust store (a CA bundle and its revocation
// lists) into an immutable Store and verifies client certificate chains
// against it, the way AWS Application Load Balancer mutual authentication
// does (docs: shared/spec/alb-compat.md §2 and §4).
//
// New parses the bundle with ALB's file rules, checks every CA certificate
// and compiles the CRLs; every problem is a typed error carrying ALB's error
// name (BundleError, RevocationError) and naming the file, the certificate's
// position and its line. Store.Verify and Store.VerifyCertificates run the
// verification steps of §2 in their fixed order, so the first failing step
// decides the connection-log status (Status), and explain the failure in one
// sentence (Result.Detail).
//
// A Store is safe for concurrent use and is never modified: a changed bundle
// or CRL produces a new Store that replaces the old one atomically.
package truststore
