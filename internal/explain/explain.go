// Package explain answers the question operators ask most about mutual TLS: why was this client refused?
// It runs a presented chain through a trust store exactly as a handshake would (the same Verify, the same
// steps and statuses) and reports the verdict with the sentence that says what failed and what would fix it,
// the chain as presented and the path that was verified.
package explain

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/mtlslb/mtlslb/internal/clientcert"
	"github.com/mtlslb/mtlslb/internal/truststore"
)

// Certificate is one certificate of a report.
type Certificate struct {
	Position     int       `json:"position"`
	Subject      string    `json:"subject"`
	Issuer       string    `json:"issuer"`
	SerialNumber string    `json:"serial_number"`
	NotBefore    time.Time `json:"not_before"`
	NotAfter     time.Time `json:"not_after"`
	IsCA         bool      `json:"is_ca"`
}

// Report is the verdict on a chain.
type Report struct {
	TrustStore string        `json:"trust_store"`
	At         time.Time     `json:"at"`
	Status     string        `json:"status"`           // "Success" or "Failed:<code>", as the connection log
	Detail     string        `json:"detail,omitempty"` // what failed, and what would fix it
	Failed     *int          `json:"failed_certificate,omitempty"`
	Presented  []Certificate `json:"presented"`
	Path       []Certificate `json:"verified_path,omitempty"` // leaf … anchor; on failure the path judged, if any
}

// Options are the verification inputs besides the chain.
type Options struct {
	At           time.Time // zero: now
	IgnoreExpiry bool      // the listener's ignore_client_certificate_expiry
}

// ParseChain reads the PEM CERTIFICATE blocks of data, leaf first, as raw DER: the certificates are left for
// Verify to parse, so a malformed one is reported as the handshake would report it (ClientCertInvalid).
func ParseChain(data []byte) ([][]byte, error) {
	var raw [][]byte
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is a %q, not a CERTIFICATE", len(raw)+1, b.Type)
		}
		raw = append(raw, b.Bytes)
	}
	if len(raw) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block found: give the client's chain, leaf first")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("text after the last PEM block")
	}
	return raw, nil
}

// Explain verifies the chain (raw DER, leaf first) against store.
func Explain(store *truststore.Store, chain [][]byte, opts Options) Report {
	at := opts.At
	if at.IsZero() {
		at = time.Now()
	}
	r := store.Verify(chain, truststore.VerifyOptions{Now: at, IgnoreExpiry: opts.IgnoreExpiry})
	rep := Report{TrustStore: store.Name(), At: at.UTC(), Status: r.Status.String(), Detail: r.Detail}
	if r.Status != truststore.StatusSuccess && r.Cert >= 0 {
		pos := r.Cert
		rep.Failed = &pos
	}
	for i, der := range chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			rep.Presented = append(rep.Presented, Certificate{Position: i, Subject: "(does not parse: " + err.Error() + ")"})
			continue
		}
		rep.Presented = append(rep.Presented, describe(i, c))
	}
	for i, c := range r.Path {
		rep.Path = append(rep.Path, describe(i, c))
	}
	return rep
}

func describe(pos int, c *x509.Certificate) Certificate {
	return Certificate{
		Position: pos, Subject: clientcert.Subject(c), Issuer: clientcert.Issuer(c), SerialNumber: clientcert.Serial(c),
		NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC(), IsCA: c.IsCA,
	}
}
