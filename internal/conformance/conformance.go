package conformance

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// maxModuleDepth bounds the walk up from the package under test to the
// module root.
const maxModuleDepth = 16

// PKITSCase is one case of pkits/cases.json (see shared/testdata/README.md).
type PKITSCase struct {
	Number string `json:"number"` // as in the PKITS document, e.g. "4.4.2"
	Title  string `json:"title"`
	// Certs are file stems under certs/: trust anchor first, end entity
	// last.
	Certs []string `json:"certs"`
	// CRLs are file stems under crls/ of the CRLs available to the
	// verifier.
	CRLs           []string `json:"crls"`
	ShouldValidate bool     `json:"should_validate"`
	// PolicyInputs is not empty for cases that depend on certificate
	// policy inputs.
	PolicyInputs map[string]any `json:"policy_inputs"`
}

// PKITS is the NIST PKITS 1.0.1 suite: its cases, and the certificates and
// CRLs they name.
type PKITS struct {
	// Count is the number of cases cases.json says it holds.
	Count int         `json:"count"`
	Cases []PKITSCase `json:"cases"`
	dir   string
}

// TestdataDir returns the shared test data directory, shared/testdata beside
// the repository, as a path relative to the package under test (go test
// runs a package's tests in its directory): "../../../shared/testdata" from
// internal/<package>. It fails tb when the directory is missing.
func TestdataDir(tb testing.TB) string {
	tb.Helper()
	rel := "."
	for range maxModuleDepth {
		if _, err := os.Stat(filepath.Join(rel, "go.mod")); err == nil {
			dir := filepath.Join(rel, "..", "shared", "testdata")
			if info, err := os.Stat(dir); err != nil || !info.IsDir() {
				tb.Fatalf("shared test data missing at %s (shared/ must be checked out beside the repository): %v", dir, err)
			}
			return dir
		} else if !errors.Is(err, fs.ErrNotExist) {
			tb.Fatalf("looking for the module root: %v", err)
		}
		rel = filepath.Join(rel, "..")
	}
	tb.Fatal("no go.mod above the package under test: cannot find the shared test data")
	return ""
}

// LoadPKITS reads pkits/cases.json. It fails tb when the file is missing,
// malformed or holds no case.
func LoadPKITS(tb testing.TB) *PKITS {
	tb.Helper()
	dir := filepath.Join(TestdataDir(tb), "pkits")
	data, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	if err != nil {
		tb.Fatalf("reading PKITS cases: %v", err)
	}
	suite := &PKITS{dir: dir}
	if err := json.Unmarshal(data, suite); err != nil {
		tb.Fatalf("decoding PKITS cases: %v", err)
	}
	if len(suite.Cases) == 0 {
		tb.Fatal("no PKITS cases")
	}
	return suite
}

// CertDER returns the DER of the certificate certs/<stem>.crt.
func (p *PKITS) CertDER(tb testing.TB, stem string) []byte {
	tb.Helper()
	return p.read(tb, "certs", stem+".crt")
}

// Cert returns the certificate certs/<stem>.crt, parsed. It fails tb when
// crypto/x509 refuses it; tests that expect that read CertDER.
func (p *PKITS) Cert(tb testing.TB, stem string) *x509.Certificate {
	tb.Helper()
	cert, err := x509.ParseCertificate(p.CertDER(tb, stem))
	if err != nil {
		tb.Fatalf("parsing PKITS certificate %s: %v", stem, err)
	}
	return cert
}

// CRLDER returns the DER of the CRL crls/<stem>.crl.
func (p *PKITS) CRLDER(tb testing.TB, stem string) []byte {
	tb.Helper()
	return p.read(tb, "crls", stem+".crl")
}

func (p *PKITS) read(tb testing.TB, dir, file string) []byte {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(p.dir, dir, file))
	if err != nil {
		tb.Fatalf("reading PKITS test data: %v", err)
	}
	return data
}
