// Package der is the strict, allocation-free DER reader of the parsers of
// outside input: certificates' extensions, distinguished names and CRLs.
//
// encoding/asn1 is not used there because its reflection allocates for every
// element, which matters on the per-handshake path (names compared while
// building a chain, serials and distribution points read for revocation), and
// because it accepts encodings DER forbids, which a parser of hostile input
// must refuse rather than normalise.
//
// A Reader is a byte slice that its methods consume from the front. They
// accept only definite lengths in their shortest form, of at most four length
// octets; ReadElement also reads tag numbers of the high-tag-number form,
// which attribute values of a name may use, while the other methods refuse
// them, as nothing else in a certificate or CRL has them. Contents are
// returned as subslices of the input: nothing is copied.
//
// The value helpers check or decode the contents octets of INTEGER, BOOLEAN,
// BIT STRING and OBJECT IDENTIFIER. Object identifiers are best compared as
// their contents octets (a string constant such as "\x55\x1d\x14" for
// 2.5.29.20), which needs neither a parse nor an allocation; ParseOID turns
// them into an asn1.ObjectIdentifier where one is wanted.
package der
