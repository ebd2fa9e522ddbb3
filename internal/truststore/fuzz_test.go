package truststore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func FuzzParseBundle(f *testing.F) {
	root := newRootCA(f, "Root CA")
	other := newRootCA(f, "Other CA")
	leaf := root.issueLeaf(f, "client")
	two := pemBundle(root.cert, other.cert)
	f.Add(two)
	f.Add(bytes.ReplaceAll(two, []byte("\n"), []byte("\r\n")))
	f.Add(append([]byte("# comment\n"), two...))
	f.Add(append([]byte("# bad - comment\n"), two...))
	f.Add(pemBundle(leaf))
	f.Add(two[:len(two)/2])
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := New(Config{Bundle: data, BundleSource: "fuzz.pem", Limits: Limits{MaxCACertificates: 8}})
		if err != nil {
			var be *BundleError
			if !errors.As(err, &be) {
				t.Fatalf("error %v is not a *BundleError", err)
			}
			if be.Error() == "" || be.Code() != CodeInvalidCaCertificatesBundle {
				t.Fatalf("malformed error %#v", be)
			}
			return
		}
		certs := s.CACertificates()
		if len(certs) == 0 || len(certs) > 8 {
			t.Fatalf("accepted a bundle of %d certificates", len(certs))
		}
		for _, c := range certs {
			if !c.IsCA || checkType(c) != typeOK {
				t.Fatalf("accepted an unusable CA certificate %s", c.Subject)
			}
		}
	})
}

// FuzzVerify feeds arbitrary presented chains to a store with a root, an
// intermediate's CRL and RequireCRL. The input is a sequence of
// certificates, each prefixed by its length as two big-endian bytes.
func FuzzVerify(f *testing.F) {
	p := newChainPKI(f, nil)
	other := newChainPKI(f, nil)
	store := mustNew(f, p.config(p.root.freshCRL(f), p.inter.freshCRL(f, p.leaf.SerialNumber)))
	f.Add(encodeChain(p.chain()))
	f.Add(encodeChain(other.chain()))
	f.Add(encodeChain(rawChain(p.leaf)))
	f.Add(encodeChain([][]byte{p.leaf.Raw[:200], p.inter.cert.Raw}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		chain := decodeChain(data)
		r := store.Verify(chain, VerifyOptions{Now: testNow})
		checkResultShape(t, r)
		if r.Cert < -1 || r.Cert >= len(chain) {
			t.Fatalf("Cert %d out of range for %d certificates", r.Cert, len(chain))
		}
		if certs, ok := parseAll(chain); ok {
			r2 := store.VerifyCertificates(certs, VerifyOptions{Now: testNow})
			if r2.Status != r.Status || r2.Cert != r.Cert {
				t.Fatalf("VerifyCertificates %v/%d disagrees with Verify %v/%d", r2.Status, r2.Cert, r.Status, r.Cert)
			}
		}
	})
}

func encodeChain(chain [][]byte) []byte {
	var b []byte
	for _, c := range chain {
		b = binary.BigEndian.AppendUint16(b, uint16(len(c)))
		b = append(b, c...)
	}
	return b
}

func decodeChain(data []byte) [][]byte {
	var chain [][]byte
	for len(data) >= 2 {
		n := int(binary.BigEndian.Uint16(data))
		data = data[2:]
		n = min(n, len(data))
		chain = append(chain, data[:n])
		data = data[n:]
	}
	return chain
}
