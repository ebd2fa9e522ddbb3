package crl

import "github.com/mtlslb/mtlslb/internal/der"

// Identifier octets of the context-specific elements of CRLs and
// certificates that Parse and Check read.
const (
	tagContextCons0    = der.ClassContextSpecific | der.Constructed | 0
	tagContextCons2    = der.ClassContextSpecific | der.Constructed | 2
	generalNameDirName = der.ClassContextSpecific | der.Constructed | 4 // directoryName [4] Name
)

// Object identifiers as the contents octets of their DER encoding, so that
// they compare with a string conversion instead of a parse.
const (
	oidCRLNumber          = "\x55\x1d\x14"   // 2.5.29.20
	oidReasonCode         = "\x55\x1d\x15"   // 2.5.29.21
	oidInvalidityDate     = "\x55\x1d\x18"   // 2.5.29.24
	oidDeltaCRLIndicator  = "\x55\x1d\x1b"   // 2.5.29.27
	oidIssuingDistPoint   = "\x55\x1d\x1c"   // 2.5.29.28
	oidCertificateIssuer  = "\x55\x1d\x1d"   // 2.5.29.29
	oidAuthorityKeyID     = "\x55\x1d\x23"   // 2.5.29.35
	oidFreshestCRL        = "\x55\x1d\x2e"   // 2.5.29.46
	maxCRLNumberBits      = 159              // RFC 5280 §5.2.3: at most 20 octets, non-negative
	maxSerialOctets       = 255              // RFC 5280 allows 20; a bound on what a hostile CRL makes us compare
	maxCRLBytes           = maxIndexedOffset // the index stores offsets in 31 bits
	reasonRemoveFromCRL   = 8
	reasonUnused          = 7 // value 7 is not used (RFC 5280 §5.3.1)
	reasonAACompromise    = 10
	reasonAbsent          = -1
	allReasons            = 0x1fe // ReasonFlags bits 1..8: every reason, without "unused" (bit 0)
	reasonFlagsMaxBits    = 9
	distributionPointFull = der.ClassContextSpecific | der.Constructed | 0 // fullName [0] GeneralNames, inside DistributionPointName
	distributionPointRel  = der.ClassContextSpecific | der.Constructed | 1 // nameRelativeToCRLIssuer [1] RDN
)

// reasonName returns the RFC 5280 §5.3.1 name of a CRLReason code, as the
// tail of a sentence.
func reasonName(code int) string {
	switch code {
	case reasonAbsent:
		return "no reason given"
	case 0:
		return "reason unspecified"
	case 1:
		return "reason keyCompromise"
	case 2:
		return "reason cACompromise"
	case 3:
		return "reason affiliationChanged"
	case 4:
		return "reason superseded"
	case 5:
		return "reason cessationOfOperation"
	case 6:
		return "reason certificateHold"
	case reasonRemoveFromCRL:
		return "reason removeFromCRL"
	case 9:
		return "reason privilegeWithdrawn"
	case reasonAACompromise:
		return "reason aACompromise"
	}
	return "unknown reason"
}
