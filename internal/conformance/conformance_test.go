package conformance

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestTestdataDir(t *testing.T) {
	// From internal/conformance, as from every internal/<package>.
	if got, want := TestdataDir(t), filepath.Join("..", "..", "..", "shared", "testdata"); got != want {
		t.Errorf("TestdataDir = %q, want %q", got, want)
	}
}

// fatalRecorder is a testing.TB that records a fatal failure. Any other
// method (Skip among them) panics on the nil embedded TB.
type fatalRecorder struct {
	testing.TB
	failed bool
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatal(...any) {
	r.failed = true
	runtime.Goexit()
}

func (r *fatalRecorder) Fatalf(string, ...any) { r.Fatal() }

func TestTestdataDirMissingFails(t *testing.T) {
	repo := filepath.Join(t.TempDir(), "repo")
	pkg := filepath.Join(repo, "internal", "pkg")
	if err := os.MkdirAll(pkg, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "go.mod"), []byte("module example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(pkg)
	r := &fatalRecorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		TestdataDir(r)
	}()
	<-done
	if !r.failed {
		t.Fatal("TestdataDir returned without shared/testdata beside the repository; it must fail the test")
	}
}

func TestLoadPKITS(t *testing.T) {
	suite := LoadPKITS(t)
	if len(suite.Cases) != suite.Count {
		t.Fatalf("%d cases, cases.json says %d", len(suite.Cases), suite.Count)
	}
	for _, tc := range suite.Cases {
		if tc.Number == "" || tc.Title == "" || len(tc.Certs) < 2 {
			t.Fatalf("case %+v lacks a number, a title, or an anchor and an end entity", tc)
		}
	}
	first := suite.Cases[0]
	anchor := suite.Cert(t, first.Certs[0])
	if anchor.Subject.CommonName == "" {
		t.Errorf("anchor %s has no common name", first.Certs[0])
	}
	if len(first.CRLs) == 0 || len(suite.CRLDER(t, first.CRLs[0])) == 0 {
		t.Errorf("case %s: no CRL to read", first.Number)
	}
}
