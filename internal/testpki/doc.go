// Package testpki is a thin layer over internal/pki for tests: every helper
// takes a testing.TB, marks itself a helper and fails the test on error, so
// a test builds a CA hierarchy in a few lines:
//
//	ca := testpki.NewCA(t)
//	issuing := ca.Intermediate(t, "Issuing CA")
//	client := issuing.Client(t, "client.example")
//	server := ca.Server(t, "127.0.0.1")
//	crl := issuing.CRL(t, client.Cert)
//
// It is imported only by tests.
package testpki
