//go:debug x509negativeserial=1

package crl

// The directive above lets crypto/x509 parse certificates with negative
// serial numbers in this package's tests (PKITS 4.4.15 and the negative
// serial unit tests). A binary that wants to honour CRL entries for such
// certificates sets the same GODEBUG; the index itself needs nothing.
