package truststore

import (
	"crypto/x509"
	"fmt"
	"time"

	"github.com/mtlslb/mtlslb/internal/crl"
)

// The functions here build Result.Detail. They run only on failure, never on
// an accepted handshake, so they may allocate freely.

// certRef names a certificate for a message: "certificate 1 (CN=Issuing CA)",
// or "trust store certificate (CN=Root)" when the client did not send it.
func certRef(pos int, c *x509.Certificate) string {
	if pos < 0 {
		return fmt.Sprintf("trust store certificate (%s)", nameString(c.RawSubject))
	}
	return fmt.Sprintf("certificate %d (%s)", pos, nameString(c.RawSubject))
}

func (s *Store) detailTooLarge(pos, size int) string {
	return fmt.Sprintf("certificate %d is %d bytes of DER, more than the limit of %d; the client needs a smaller certificate, or raise the trust store's maximum certificate size",
		pos, size, s.limits.MaxCertificateSize)
}

func detailInvalid(pos int, err error) string {
	return fmt.Sprintf("certificate %d does not parse as an X.509 certificate (%v); the client must send well-formed DER certificates", pos, err)
}

func detailType(pos int, c *x509.Certificate, p typeProblem) string {
	return fmt.Sprintf("%s %s; reissue it with a supported key and signature", certRef(pos, c), p.describe(c))
}

func (s *Store) detailTooMany(n int) string {
	return fmt.Sprintf("the client presented %d certificates, more than the limit of %d; send fewer intermediates, or raise max_chain_depth", n, s.limits.MaxChainDepth)
}

func (s *Store) detailTooDeep(leaf *x509.Certificate) string {
	return fmt.Sprintf("%s chains to trust store %q only through paths of more than %d certificates (leaf and CA included); add an intermediate CA to the trust store, or raise max_chain_depth",
		certRef(0, leaf), s.name, s.limits.MaxChainDepth)
}

func (s *Store) detailUntrusted(leaf *x509.Certificate, err error) string {
	why := "no path was found"
	if err != nil {
		why = err.Error()
	}
	return fmt.Sprintf("%s does not chain to a CA certificate of trust store %q (%s); add the issuing CA to the trust store, or have the client send its intermediate certificates",
		certRef(0, leaf), s.name, why)
}

// detailPath explains the failure f of path; pos is the failing certificate's
// presented position.
func (s *Store) detailPath(f pathFailure, path []*x509.Certificate, pos int, opts VerifyOptions) string {
	c := path[f.index]
	ref := certRef(pos, c)
	switch f.status {
	case StatusClientCertNotYetValid:
		return fmt.Sprintf("%s is not valid before %s (now %s); check the clocks of the issuing CA and of this load balancer, or wait",
			ref, c.NotBefore.UTC().Format(time.RFC3339), opts.Now.UTC().Format(time.RFC3339))
	case StatusClientCertExpired:
		if f.index == 0 {
			return fmt.Sprintf("%s expired at %s; the client needs a renewed certificate", ref, c.NotAfter.UTC().Format(time.RFC3339))
		}
		return fmt.Sprintf("%s expired at %s; renew that CA certificate (in the trust store or in what the client sends)", ref, c.NotAfter.UTC().Format(time.RFC3339))
	case StatusClientCertPurposeInvalid:
		switch f.why {
		case purposeLeafEKU:
			return fmt.Sprintf("%s may not be used for client authentication: its extended key usage lacks %s; reissue it with that usage", ref, purposeName(s.purpose))
		case purposeLeafKeyUsage:
			return fmt.Sprintf("%s may not be used for client authentication: its key usage lacks digitalSignature; reissue it with digitalSignature", ref)
		default:
			return fmt.Sprintf("%s restricts the extended key usage of the certificates it issues and does not allow %s; use a CA allowed to issue client certificates",
				ref, purposeName(s.purpose))
		}
	case StatusClientCertCrlHit:
		return fmt.Sprintf("%s is %s; the client needs a new certificate", ref, crlReason(f.crl, "revoked"))
	case StatusClientCertCrlProcessingError:
		if f.crl.Status == crl.NotCovered {
			return fmt.Sprintf("%s has no revocation list from its issuer %s in trust store %q, and the trust store requires one; add the issuer's CRL",
				ref, nameString(path[f.index+1].RawSubject), s.name)
		}
		return fmt.Sprintf("the revocation status of %s cannot be determined (%s); upload a current, correctly signed CRL from its issuer",
			ref, crlReason(f.crl, "no usable revocation list"))
	}
	return ref + " failed verification"
}

func crlReason(r crl.Result, fallback string) string {
	if r.Reason != "" {
		return r.Reason
	}
	if r.CRLID != 0 {
		return fmt.Sprintf("%s (CRL %d)", fallback, r.CRLID)
	}
	return fallback
}

func purposeName(u x509.ExtKeyUsage) string {
	switch u {
	case x509.ExtKeyUsageClientAuth:
		return "clientAuth"
	case x509.ExtKeyUsageServerAuth:
		return "serverAuth"
	}
	return fmt.Sprintf("extended key usage %d", u)
}
