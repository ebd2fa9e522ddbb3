package der_test

import (
	"fmt"

	"github.com/mtlslb/mtlslb/internal/der"
)

// Reading an Extension (RFC 5280 §4.1): extnID, critical DEFAULT FALSE,
// extnValue.
func ExampleReader() {
	ext := []byte{
		0x30, 0x0d, // SEQUENCE
		0x06, 0x03, 0x55, 0x1d, 0x13, // OBJECT IDENTIFIER 2.5.29.19
		0x01, 0x01, 0xff, // BOOLEAN TRUE
		0x04, 0x03, 0x30, 0x01, 0xff, // OCTET STRING
	}
	r := der.Reader(ext)
	seq, err := r.Read(der.Sequence)
	if err != nil || !r.Empty() {
		fmt.Println("not one SEQUENCE")
		return
	}
	fields := der.Reader(seq)
	id, err := fields.Read(der.OID)
	if err != nil {
		fmt.Println("malformed extnID:", err)
		return
	}
	critical := false
	if flag, present, err := fields.ReadOptional(der.Boolean); err != nil {
		fmt.Println("malformed critical:", err)
		return
	} else if present {
		if critical, err = der.ParseBoolean(flag); err != nil {
			fmt.Println("malformed critical:", err)
			return
		}
	}
	value, err := fields.Read(der.OctetString)
	if err != nil || !fields.Empty() {
		fmt.Println("malformed extnValue")
		return
	}
	// Compare identifiers as contents octets: no parse, no allocation.
	fmt.Println("basicConstraints:", string(id) == "\x55\x1d\x13")
	oid, _ := der.ParseOID(id)
	fmt.Printf("%v critical=%v value=%x\n", oid, critical, value)
	// Output:
	// basicConstraints: true
	// 2.5.29.19 critical=true value=3001ff
}
