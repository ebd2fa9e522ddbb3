package truststore

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/crl"
)

func TestStatusStrings(t *testing.T) {
	tests := []struct {
		status    Status
		str, code string
	}{
		{StatusSuccess, "Success", ""},
		{StatusClientCertMaxSizeExceeded, "Failed:ClientCertMaxSizeExceeded", "ClientCertMaxSizeExceeded"},
		{StatusClientCertInvalid, "Failed:ClientCertInvalid", "ClientCertInvalid"},
		{StatusClientCertTypeUnsupported, "Failed:ClientCertTypeUnsupported", "ClientCertTypeUnsupported"},
		{StatusClientCertMaxChainDepthExceeded, "Failed:ClientCertMaxChainDepthExceeded", "ClientCertMaxChainDepthExceeded"},
		{StatusClientCertUntrusted, "Failed:ClientCertUntrusted", "ClientCertUntrusted"},
		{StatusClientCertNotYetValid, "Failed:ClientCertNotYetValid", "ClientCertNotYetValid"},
		{StatusClientCertExpired, "Failed:ClientCertExpired", "ClientCertExpired"},
		{StatusClientCertPurposeInvalid, "Failed:ClientCertPurposeInvalid", "ClientCertPurposeInvalid"},
		{StatusClientCertCrlHit, "Failed:ClientCertCrlHit", "ClientCertCrlHit"},
		{StatusClientCertCrlProcessingError, "Failed:ClientCertCrlProcessingError", "ClientCertCrlProcessingError"},
		{StatusClientCertRejected, "Failed:ClientCertRejected", "ClientCertRejected"},
		{StatusUnmappedConnectionError, "Failed:UnmappedConnectionError", "UnmappedConnectionError"},
		{Status(200), "Failed:UnmappedConnectionError", "UnmappedConnectionError"},
	}
	for _, tt := range tests {
		t.Run(tt.str, func(t *testing.T) {
			if got := tt.status.String(); got != tt.str {
				t.Errorf("String() = %q, want %q", got, tt.str)
			}
			if got := tt.status.Code(); got != tt.code {
				t.Errorf("Code() = %q, want %q", got, tt.code)
			}
		})
	}
}

// verifyCase is one verification scenario: a trust store, a presented chain
// and the expected outcome.
type verifyCase struct {
	cfg    Config
	chain  [][]byte
	opts   VerifyOptions
	status Status
	cert   int    // expected Result.Cert
	detail string // substring of Result.Detail
}

// chainPKI is root → intermediate → leaf, the intermediate presented by
// the client, the root in the bundle.
type chainPKI struct {
	root, inter *testCA
	leaf        *x509.Certificate
}

func newChainPKI(tb testing.TB, interOpts []certOption, leafOpts ...certOption) *chainPKI {
	tb.Helper()
	root := newRootCA(tb, "Root CA")
	inter := root.issueCA(tb, "Issuing CA", interOpts...)
	return &chainPKI{root: root, inter: inter, leaf: inter.issueLeaf(tb, "client.example", leafOpts...)}
}

func (p *chainPKI) config(crls ...[]byte) Config {
	cfg := Config{Name: "partners", Bundle: pemBundle(p.root.cert), BundleSource: "bundle.pem"}
	for i, data := range crls {
		cfg.CRLs = append(cfg.CRLs, CRLSource{ID: int64(i + 1), Data: data, Source: fmt.Sprintf("crl%d.pem", i+1)})
	}
	return cfg
}

func (p *chainPKI) chain() [][]byte { return rawChain(p.leaf, p.inter.cert) }

func TestVerify(t *testing.T) {
	past := testNow.Add(-48 * time.Hour)
	future := testNow.Add(48 * time.Hour)
	expired := withValidity(testNow.Add(-365*24*time.Hour), past)
	notYet := withValidity(future, future.Add(365*24*time.Hour))
	longAgo := testNow.Add(-30 * 24 * time.Hour)

	tests := map[string]func(t *testing.T) verifyCase{
		"success": func(t *testing.T) verifyCase {
			p := newChainPKI(t, nil)
			return verifyCase{cfg: p.config(), chain: p.chain(), status: StatusSuccess, cert: -1}
		},
		"success with intermediate in bundle": func(t *testing.T) verifyCase {
			p := newChainPKI(t, nil)
			cfg := p.config()
			cfg.Bundle = pemBundle(p.inter.cert)
			return verifyCase{cfg: cfg, chain: rawChain(p.leaf), status: StatusSuccess, cert: -1}
		},
		"success with root also presented": func(t *testing.T) verifyCase {
			p := newChainPKI(t, nil)
			return verifyCase{cfg: p.config(), chain: rawChain(p.leaf, p.inter.cert, p.root.cert), status: StatusSuccess, cert: -1}
		},
		"success with good CRLs and RequireCRL": func(t *testing.T) verifyCase {
			p := newChainPKI(t, nil)
			cfg := p.config(p.root.freshCRL(t), p.inter.freshCRL(t, big.NewInt(999999)))
			cfg.RequireCRL = true
			return verifyCase{cfg: cfg, chain: p.chain(), status: StatusSuccess, cert: -1}
		},
		"no certificate": func(t *testing.T) verifyCase {
			p := newChainPKI(t, nil)
			return verifyCase{cfg: p.config(), chain: nil, status: StatusUnmappedConnectionError, cert: -1}
		},

		// Step 1.
		"oversized intermediate": func(t *testing.T) verifyCase {
			p := newChainPKI(t, []certOption{manyNames(300)})
			cfg := p.config()
			cfg.Limits.MaxCertificateSize = 4096
			return verifyCase{cfg: cfg, chain: p.chain(), status: StatusClientCertMaxSizeExceeded, cert: 1, detail: "more than the limit of 4096"}
		},
		"oversized before invalid": func(t *testing.T) verifyCase {
			p := newChainPKI(t, []certOption{manyNames(300)})
			cfg := p.config()
			cfg.Limits.MaxCertificateSize = 4096
			return verifyCase{cfg: cfg, chain: [][]byte{[]byte("garbage"), p.inter.cert.Raw}, status: StatusClientCertMaxSizeExceeded, cert: 1}
		},

		// Step 2.
		"garbage leaf": func(t *testing.T) verifyCase {
			p := newChainPKI(t, nil)
			return verifyCase{cfg: p.config(), chain: [][]byte{[]byte("garbage")}, status: StatusClientCertInvalid, cert: 0, detail: "does not parse"}
		},
		"garbage intermediate": func(t *testing.T) verifyCase {
			p := newChainPKI(t, nil)
			return verifyCase{cfg: p.config(), chain: [][]byte{p.leaf.Raw, p.inter.cert.Raw[:100]}, status: StatusClientCertInvalid, cert: 1}
		},
		"trailing data": func(t *testing.T) verifyCase {
			p := newChainPKI(t, nil)
			return verifyCase{cfg: p.config(), chain: [][]byte{append(append([]byte{}, p.leaf.Raw...), 0), p.inter.cert.Raw}, status: StatusClientCertInvalid, cert: 0}
		},

		// Step 3.
		"P-224 leaf": func(t *testing.T) verifyCase {
			p := newChainPKI(t, nil)
			leaf := issueLeafWithKey(t, p.inter, p224Key(t))
			return verifyCase{cfg: p.config(), chain: rawChain(leaf, p.inter.cert), status: StatusClientCertTypeUnsupported, cert: 0, detail: "P-224"}
		},
		"SHA-1 leaf": func(t *testing.T) verifyCase {
			p := newChainPKI(t, nil, func(c *x509.Certificate) { c.SignatureAlgorithm = x509.ECDSAWithSHA1 })
			return verifyCase{cfg: p.config(), chain: p.chain(), status: StatusClientCertTypeUnsupported, cert: 0, detail: "ECDSA-SHA1"}
		},
		"unsupported leaf before too many": func(t *testing.T) verifyCase {
			p := newChainPKI(t, nil, func(c *x509.Certificate) { c.SignatureAlgorithm = x509.ECDSAWithSHA1 })
			c := p.inter.cert.Raw
			return verifyCase{cfg: p.config(), chain: [][]byte{p.leaf.Raw, c, c, c, c}, status: StatusClientCertTypeUnsupported, cert: 0}
		},
		"unsupported intermediate needed": func(t *testing.T) verifyCase {
			p := newChainPKI(t, nil)
			weak := crossSignWithKey(t, p.root, p224Key(t), "Weak Issuing CA")
			leaf := weak.issueLeaf(t, "client")
			return verifyCase{cfg: p.config(), chain: rawChain(leaf, weak.cert), status: StatusClientCertTypeUnsupported, cert: 1, detail: "certificate 1 (CN=Weak Issuing CA"}
		},
		"unsupported extra certificate ignored": func(t *testing.T) verifyCase {
			p := newChainPKI(t, nil)
			legacy := crossSignWithKey(t, p.root, p224Key(t), "Legacy CA")
			return verifyCase{cfg: p.config(), chain: rawChain(p.leaf, legacy.cert, p.inter.cert), status: StatusSuccess, cert: -1}
		},

		// Step 4.
		"too many certificates before untrusted": func(t *testing.T) verifyCase {
			p := newChainPKI(t, nil)
			stranger := newRootCA(t, "Stranger")
			j := stranger.cert.Raw
			return verifyCase{cfg: p.config(), chain: [][]byte{stranger.issueLeaf(t, "x").Raw, j, j, j, j}, status: StatusClientCertMaxChainDepthExceeded, cert: -1, detail: "presented 5 certificates"}
		},
		"path too deep": func(t *testing.T) verifyCase {
			root := newRootCA(t, "Root CA")
			i1 := root.issueCA(t, "I1")
			i2 := i1.issueCA(t, "I2")
			i3 := i2.issueCA(t, "I3")
			leaf := i3.issueLeaf(t, "deep client")
			cfg := Config{Bundle: pemBundle(root.cert)}
			return verifyCase{cfg: cfg, chain: rawChain(leaf, i3.cert, i2.cert, i1.cert), status: StatusClientCertMaxChainDepthExceeded, cert: 0, detail: "more than 4 certificates"}
		},
		"deep path within a raised limit": func(t *testing.T) verifyCase {
			root := newRootCA(t, "Root CA")
			i1 := root.issueCA(t, "I1")
			i2 := i1.issueCA(t, "I2")
			i3 := i2.issueCA(t, "I3")
			leaf := i3.issueLeaf(t, "deep client")
			cfg := Config{Bundle: pemBundle(root.cert), Limits: Limits{MaxChainDepth: 5}}
			return verifyCase{cfg: cfg, chain: rawChain(leaf, i3.cert, i2.cert, i1.cert), status: StatusSuccess, cert: -1}
		},

		// Step 5.
		"untrusted": func(t *testing.T) verifyCase {
			p := newChainPKI(t, nil)
			q := newChainPKI(t, nil)
			return verifyCase{cfg: p.config(), chain: q.chain(), status: StatusClientCertUntrusted, cert: 0, detail: `trust store "partners"`}
		},
		"untrusted and expired": func(t *testing.T) verifyCase {
			p := newChainPKI(t, nil)
			q := newChainPKI(t, []certOption{expired}, expired)
			return verifyCase{cfg: p.config(), chain: q.chain(), status: StatusClientCertUntrusted, cert: 0}
		},
		"intermediate missing": func(t *testing.T) verifyCase {
			p := newChainPKI(t, nil)
			return verifyCase{cfg: p.config(), chain: rawChain(p.leaf), status: StatusClientCertUntrusted, cert: 0}
		},
		"bad leaf signature": func(t *testing.T) verifyCase {
			p := newChainPKI(t, nil)
			impostor := newRootCA(t, "Issuing CA") // same name, another key
			return verifyCase{cfg: p.config(), chain: rawChain(impostor.issueLeaf(t, "x"), p.inter.cert), status: StatusClientCertUntrusted, cert: 0}
		},

		// Step 6.
		"expired leaf": func(t *testing.T) verifyCase {
			p := newChainPKI(t, nil, expired)
			return verifyCase{cfg: p.config(), chain: p.chain(), status: StatusClientCertExpired, cert: 0, detail: "certificate 0 (CN=client.example) expired at"}
		},
		"expired intermediate": func(t *testing.T) verifyCase {
			p := newChainPKI(t, []certOption{expired})
			return verifyCase{cfg: p.config(), chain: p.chain(), status: StatusClientCertExpired, cert: 1, detail: "certificate 1 (CN=Issuing CA,O=mtlslb test)"}
		},
		"expired anchor": func(t *testing.T) verifyCase {
			root := newRootCA(t, "Old Root", expired)
			leaf := root.issueLeaf(t, "client")
			return verifyCase{cfg: Config{Bundle: pemBundle(root.cert)}, chain: rawChain(leaf), status: StatusClientCertExpired, cert: -1, detail: "trust store certificate (CN=Old Root"}
		},
		"not yet valid leaf": func(t *testing.T) verifyCase {
			p := newChainPKI(t, nil, notYet)
			return verifyCase{cfg: p.config(), chain: p.chain(), status: StatusClientCertNotYetValid, cert: 0, detail: "not valid before"}
		},
		"expired leaf decides before not yet valid intermediate": func(t *testing.T) verifyCase {
			p := newChainPKI(t, []certOption{notYet}, expired)
			return verifyCase{cfg: p.config(), chain: p.chain(), status: StatusClientCertExpired, cert: 0}
		},
		"ignore expiry accepts expired": func(t *testing.T) verifyCase {
			p := newChainPKI(t, []certOption{expired}, expired)
			return verifyCase{cfg: p.config(), chain: p.chain(), opts: VerifyOptions{IgnoreExpiry: true}, status: StatusSuccess, cert: -1}
		},
		"ignore expiry keeps not yet valid": func(t *testing.T) verifyCase {
			p := newChainPKI(t, nil, notYet)
			return verifyCase{cfg: p.config(), chain: p.chain(), opts: VerifyOptions{IgnoreExpiry: true}, status: StatusClientCertNotYetValid, cert: 0}
		},
		"expired and purpose invalid": func(t *testing.T) verifyCase {
			p := newChainPKI(t, nil, expired, withEKU(x509.ExtKeyUsageServerAuth))
			return verifyCase{cfg: p.config(), chain: p.chain(), status: StatusClientCertExpired, cert: 0}
		},

		// Step 7.
		"server-only leaf": func(t *testing.T) verifyCase {
			p := newChainPKI(t, nil, withEKU(x509.ExtKeyUsageServerAuth))
			return verifyCase{cfg: p.config(), chain: p.chain(), status: StatusClientCertPurposeInvalid, cert: 0, detail: "lacks clientAuth"}
		},
		"leaf with anyExtendedKeyUsage": func(t *testing.T) verifyCase {
			p := newChainPKI(t, nil, withEKU(x509.ExtKeyUsageAny))
			return verifyCase{cfg: p.config(), chain: p.chain(), status: StatusSuccess, cert: -1}
		},
		"leaf without EKU": func(t *testing.T) verifyCase {
			p := newChainPKI(t, nil, withEKU())
			return verifyCase{cfg: p.config(), chain: p.chain(), status: StatusSuccess, cert: -1}
		},
		"leaf key usage without digitalSignature": func(t *testing.T) verifyCase {
			p := newChainPKI(t, nil, withKeyUsage(x509.KeyUsageKeyEncipherment))
			return verifyCase{cfg: p.config(), chain: p.chain(), status: StatusClientCertPurposeInvalid, cert: 0, detail: "digitalSignature"}
		},
		"intermediate restricted to serverAuth": func(t *testing.T) verifyCase {
			p := newChainPKI(t, []certOption{withEKU(x509.ExtKeyUsageServerAuth)}, withEKU())
			return verifyCase{cfg: p.config(), chain: p.chain(), status: StatusClientCertPurposeInvalid, cert: 1, detail: "certificate 1 (CN=Issuing CA"}
		},
		"intermediate restricted to clientAuth": func(t *testing.T) verifyCase {
			p := newChainPKI(t, []certOption{withEKU(x509.ExtKeyUsageClientAuth)})
			return verifyCase{cfg: p.config(), chain: p.chain(), status: StatusSuccess, cert: -1}
		},
		"intermediate with anyExtendedKeyUsage": func(t *testing.T) verifyCase {
			p := newChainPKI(t, []certOption{withEKU(x509.ExtKeyUsageAny)})
			return verifyCase{cfg: p.config(), chain: p.chain(), status: StatusSuccess, cert: -1}
		},

		// Steps 8 and 9.
		"revoked leaf": func(t *testing.T) verifyCase {
			p := newChainPKI(t, nil)
			return verifyCase{cfg: p.config(p.inter.freshCRL(t, p.leaf.SerialNumber)), chain: p.chain(), status: StatusClientCertCrlHit, cert: 0, detail: "certificate 0 (CN=client.example) is"}
		},
		"revoked intermediate": func(t *testing.T) verifyCase {
			p := newChainPKI(t, nil)
			return verifyCase{cfg: p.config(p.root.freshCRL(t, p.inter.cert.SerialNumber)), chain: p.chain(), status: StatusClientCertCrlHit, cert: 1}
		},
		"expired and revoked": func(t *testing.T) verifyCase {
			p := newChainPKI(t, nil, expired)
			return verifyCase{cfg: p.config(p.inter.freshCRL(t, p.leaf.SerialNumber)), chain: p.chain(), status: StatusClientCertExpired, cert: 0}
		},
		"stale CRL used by default": func(t *testing.T) verifyCase {
			p := newChainPKI(t, nil)
			return verifyCase{cfg: p.config(p.inter.crl(t, 1, longAgo, longAgo.Add(24*time.Hour))), chain: p.chain(), status: StatusSuccess, cert: -1}
		},
		"stale CRL rejected": func(t *testing.T) verifyCase {
			p := newChainPKI(t, nil)
			cfg := p.config(p.inter.crl(t, 1, longAgo, longAgo.Add(24*time.Hour)))
			cfg.CRLPolicy = crl.Policy{Stale: crl.StaleReject}
			return verifyCase{cfg: cfg, chain: p.chain(), status: StatusClientCertCrlProcessingError, cert: 0, detail: "cannot be determined"}
		},
		"revoked intermediate outranks unusable leaf CRL": func(t *testing.T) verifyCase {
			p := newChainPKI(t, nil)
			cfg := p.config(p.inter.crl(t, 1, longAgo, longAgo.Add(24*time.Hour)), p.root.freshCRL(t, p.inter.cert.SerialNumber))
			cfg.CRLPolicy = crl.Policy{Stale: crl.StaleReject}
			return verifyCase{cfg: cfg, chain: p.chain(), status: StatusClientCertCrlHit, cert: 1}
		},
		"CRL signed by a different key": func(t *testing.T) verifyCase {
			p := newChainPKI(t, nil)
			impostor := newRootCA(t, "Issuing CA") // same name, another key
			return verifyCase{cfg: p.config(impostor.freshCRL(t, p.leaf.SerialNumber)), chain: p.chain(), status: StatusClientCertCrlProcessingError, cert: 0}
		},
		"RequireCRL without the issuer's CRL": func(t *testing.T) verifyCase {
			p := newChainPKI(t, nil)
			cfg := p.config(p.root.freshCRL(t))
			cfg.RequireCRL = true
			return verifyCase{cfg: cfg, chain: p.chain(), status: StatusClientCertCrlProcessingError, cert: 0, detail: "requires one"}
		},
		"no CRL, RequireCRL off": func(t *testing.T) verifyCase {
			p := newChainPKI(t, nil)
			return verifyCase{cfg: p.config(p.root.freshCRL(t)), chain: p.chain(), status: StatusSuccess, cert: -1}
		},

		// Several candidate paths.
		"cross-signed: expired path skipped": func(t *testing.T) verifyCase {
			p := newChainPKI(t, nil)
			oldRoot := newRootCA(t, "Old Root")
			cross := crossSign(t, p.inter, oldRoot, expired)
			cfg := p.config()
			cfg.Bundle = pemBundle(oldRoot.cert, p.root.cert)
			return verifyCase{cfg: cfg, chain: rawChain(p.leaf, cross, p.inter.cert), status: StatusSuccess, cert: -1}
		},
		"cross-signed: furthest failure reported": func(t *testing.T) verifyCase {
			p := newChainPKI(t, nil)
			oldRoot := newRootCA(t, "Old Root")
			cross := crossSign(t, p.inter, oldRoot, expired)
			cfg := p.config(p.inter.freshCRL(t, p.leaf.SerialNumber))
			cfg.Bundle = pemBundle(oldRoot.cert, p.root.cert)
			return verifyCase{cfg: cfg, chain: rawChain(p.leaf, cross, p.inter.cert), status: StatusClientCertCrlHit, cert: 0}
		},
	}
	for name, setup := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tc := setup(t)
			if tc.opts.Now.IsZero() {
				tc.opts.Now = testNow
			}
			s := mustNew(t, tc.cfg)
			r := s.Verify(tc.chain, tc.opts)
			if r.Status != tc.status || r.Cert != tc.cert {
				t.Fatalf("Verify = %v cert %d (%s); want %v cert %d", r.Status, r.Cert, r.Detail, tc.status, tc.cert)
			}
			if !strings.Contains(r.Detail, tc.detail) {
				t.Errorf("Detail = %q, want it to contain %q", r.Detail, tc.detail)
			}
			checkResultShape(t, r)

			// The handshake entry point must agree whenever crypto/tls
			// would have parsed the chain.
			if certs, ok := parseAll(tc.chain); ok {
				r2 := s.VerifyCertificates(certs, tc.opts)
				if r2.Status != r.Status || r2.Cert != r.Cert || r2.Detail != r.Detail {
					t.Errorf("VerifyCertificates = %v cert %d (%s); Verify said %v cert %d (%s)", r2.Status, r2.Cert, r2.Detail, r.Status, r.Cert, r.Detail)
				}
			}
		})
	}
}

// checkResultShape checks the invariants every Result keeps.
func checkResultShape(tb testing.TB, r Result) {
	tb.Helper()
	if r.Status == StatusSuccess {
		if r.Err() != nil || r.Detail != "" || len(r.Path) == 0 || r.Path[0] != r.Leaf || r.Cert != -1 {
			tb.Errorf("malformed success %+v", r)
		}
		return
	}
	err := r.Err()
	var ve *VerifyError
	if !errors.As(err, &ve) {
		tb.Fatalf("Err() = %v, want a *VerifyError", err)
	}
	if want := r.Status.String() + ": " + r.Detail; err.Error() != want {
		tb.Errorf("Error() = %q, want %q", err.Error(), want)
	}
	if r.Detail == "" {
		tb.Errorf("failure %v without Detail", r.Status)
	}
}

func parseAll(raw [][]byte) ([]*x509.Certificate, bool) {
	if len(raw) == 0 {
		return nil, false
	}
	certs := make([]*x509.Certificate, len(raw))
	for i, r := range raw {
		c, err := x509.ParseCertificate(r)
		if err != nil {
			return nil, false
		}
		certs[i] = c
	}
	return certs, true
}

func manyNames(n int) certOption {
	return func(c *x509.Certificate) {
		for i := range n {
			c.DNSNames = append(c.DNSNames, fmt.Sprintf("host%03d.example.com", i))
		}
	}
}

func p224Key(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// issueLeafWithKey issues a client certificate for a given key.
func issueLeafWithKey(tb testing.TB, ca *testCA, key *ecdsa.PrivateKey) *x509.Certificate {
	tb.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serialCounter.Add(1)),
		NotBefore:             testNow.Add(-time.Hour),
		NotAfter:              testNow.Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	tmpl.Subject.CommonName = "odd key client"
	return sign(tb, tmpl, key, ca)
}

// crossSignWithKey issues a CA certificate named name for key, signed by issuer.
func crossSignWithKey(tb testing.TB, issuer *testCA, key *ecdsa.PrivateKey, name string) *testCA {
	tb.Helper()
	return &testCA{cert: sign(tb, caTemplate(name, nil), key, issuer), key: key}
}

func TestNewRevocationErrors(t *testing.T) {
	root := newRootCA(t, "Root CA")
	impostor := newRootCA(t, "Root CA") // same name, another key
	bundle := pemBundle(root.cert)
	good := root.freshCRL(t)
	serials := make([]*big.Int, 20)
	for i := range serials {
		serials[i] = big.NewInt(int64(i + 1))
	}

	tests := []struct {
		name   string
		crls   [][]byte
		limits Limits
		id     int64
		code   string
		msg    string
	}{
		{name: "garbage", crls: [][]byte{good, []byte("not a CRL")}, id: 2, code: CodeInvalidRevocationContent},
		{name: "PEM garbage", crls: [][]byte{pemOf("X509 CRL", []byte{0x30, 0x00})}, id: 1, code: CodeInvalidRevocationContent},
		{name: "bad signature from bundle issuer", crls: [][]byte{impostor.freshCRL(t)}, id: 1, code: CodeInvalidRevocationContent, msg: "signature does not verify"},
		{name: "too many lists", crls: [][]byte{good, good, good}, limits: Limits{MaxCRLs: 2}, id: 3, code: CodeTooManyTrustStoreRevocationEntries},
		{name: "too many entries", crls: [][]byte{root.freshCRL(t, serials...)}, limits: Limits{MaxRevokedEntries: 10}, id: 1, code: CodeTooManyTrustStoreRevocationEntries},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Bundle: bundle, Limits: tt.limits}
			for i, data := range tt.crls {
				cfg.CRLs = append(cfg.CRLs, CRLSource{ID: int64(i + 1), Data: data, Source: fmt.Sprintf("crl%d.pem", i+1)})
			}
			_, err := New(cfg)
			var re *RevocationError
			if !errors.As(err, &re) {
				t.Fatalf("New error = %v, want a *RevocationError", err)
			}
			if re.ID != tt.id || re.Code() != tt.code || !strings.Contains(re.Msg, tt.msg) {
				t.Errorf("got id %d code %s msg %q; want id %d code %s msg containing %q", re.ID, re.Code(), re.Msg, tt.id, tt.code, tt.msg)
			}
			if want := fmt.Sprintf("crl%d.pem: revocation %d: ", tt.id, tt.id); !strings.HasPrefix(err.Error(), want) {
				t.Errorf("Error() = %q, want prefix %q", err.Error(), want)
			}
		})
	}
}

// TestVerifyConcurrent runs handshakes in parallel against one store whose
// intermediate CRL is checked lazily (its signature is verified and cached
// at the first handshake), for the race detector.
func TestVerifyConcurrent(t *testing.T) {
	p := newChainPKI(t, nil)
	revoked := p.inter.issueLeaf(t, "revoked")
	s := mustNew(t, p.config(p.root.freshCRL(t), p.inter.freshCRL(t, revoked.SerialNumber)))
	if s.Name() != "partners" || len(s.CACertificates()) != 1 || !s.CACertificates()[0].Equal(p.root.cert) {
		t.Fatalf("Name %q, CACertificates %d", s.Name(), len(s.CACertificates()))
	}
	good := []*x509.Certificate{p.leaf, p.inter.cert}
	bad := []*x509.Certificate{revoked, p.inter.cert}
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			var err error
			for range 50 {
				if r := s.VerifyCertificates(good, VerifyOptions{Now: testNow}); r.Status != StatusSuccess {
					err = fmt.Errorf("goroutine %d: good chain: %v (%s)", g, r.Status, r.Detail)
					break
				}
				if r := s.VerifyCertificates(bad, VerifyOptions{Now: testNow}); r.Status != StatusClientCertCrlHit {
					err = fmt.Errorf("goroutine %d: revoked chain: %v (%s)", g, r.Status, r.Detail)
					break
				}
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
