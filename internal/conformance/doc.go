// Package conformance loads the shared conformance test vectors for the
// tests of mtlslb's packages: the NIST PKITS cases and the certificates and
// CRLs they name, so that every package's PKITS test reads them the same
// way.
//
// The vectors live outside the repository, in shared/testdata beside it, as
// CI clones them. The loaders find that directory from the package under
// test and fail the test, never skip it, when it is missing: a conformance
// test that silently skips proves nothing.
//
// It is imported only by tests.
package conformance
