package crl

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// vectorDir holds BoringSSL's CRL unit-test vectors (see its README).
const vectorDir = "../../../shared/testdata/crl-vectors"

// vectorTime and vectorPolicy are the conditions the vectors were written
// for: checked on 2017-03-09, a CRL older than 7 days is too old.
var (
	vectorTime   = time.Date(2017, 3, 9, 0, 0, 0, 0, time.UTC)
	vectorPolicy = Policy{Stale: StaleReject, MaxAge: 7 * 24 * time.Hour}
)

// vector is one decoded vector file.
type vector struct {
	crl  []byte
	ca   []*x509.Certificate // CA CERTIFICATE, then CA CERTIFICATE 2 if present
	leaf *x509.Certificate
}

func readVector(tb testing.TB, path string) vector {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var v vector
	var ca2 *x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		switch block.Type {
		case "CRL":
			v.crl = block.Bytes
		case "CA CERTIFICATE", "CA CERTIFICATE 2", "CERTIFICATE":
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				tb.Fatalf("%s: %s: %v", path, block.Type, err)
			}
			switch block.Type {
			case "CA CERTIFICATE":
				v.ca = append([]*x509.Certificate{cert}, v.ca...)
			case "CA CERTIFICATE 2":
				ca2 = cert
			default:
				v.leaf = cert
			}
		default:
			tb.Fatalf("%s: unexpected PEM block %q", path, block.Type)
		}
	}
	if ca2 != nil {
		v.ca = append(v.ca, ca2)
	}
	if v.crl == nil || len(v.ca) == 0 || v.leaf == nil {
		tb.Fatalf("%s: missing CRL, CA CERTIFICATE or CERTIFICATE block", path)
	}
	return v
}

// vectorOutcome runs one vector through Parse, NewSet and Check. With
// inBundle the CA certificates form the bundle (signatures are checked by
// NewSet); without, the bundle is empty and the CA certificates are only
// presented and on the path (signatures are checked by Check).
func vectorOutcome(tb testing.TB, v vector, inBundle bool) (stage string, r Result) {
	tb.Helper()
	list, err := Parse(v.crl)
	if err != nil {
		return "Parse: " + err.Error(), Result{Status: Unusable}
	}
	var bundle []*x509.Certificate
	if inBundle {
		bundle = v.ca
	}
	set, err := NewSet([]Source{{ID: 7, CRL: list}}, bundle)
	if err != nil {
		return "NewSet: " + err.Error(), Result{Status: Unusable}
	}
	path := append([]*x509.Certificate{v.leaf}, v.ca...)
	r = set.Check(CheckInput{
		Cert:      v.leaf,
		Issuer:    v.ca[0],
		Path:      path,
		Presented: path[:len(path)-1],
		Now:       vectorTime,
		Policy:    vectorPolicy,
	})
	return "Check: " + r.Status.String() + ": " + r.Reason, r
}

// vectorExceptions are the vectors whose result differs from the file name's
// in letter, with the reason. They still fail closed.
var vectorExceptions = map[string]string{
	// The CRL's issuer is another CA, so the Set holds no CRL from the
	// leaf's issuer and says NotCovered, which a trust store accepts unless
	// it requires a CRL for every issuer (BoringSSL's test supplies the CRL
	// as the one that must cover the leaf, which is that stricter mode).
	"bad_wrong_issuer": "NotCovered",
}

// TestVectors runs every CRL vector and expects the result its name says:
// good → Good, revoked → Revoked, bad/invalid → refused (a Parse or NewSet
// error, or Unusable), except as vectorExceptions says.
func TestVectors(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(vectorDir, "*.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no vectors in %s: the shared test data must be checked out beside the repository", vectorDir)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".pem")
		v := readVector(t, file)
		for _, mode := range []struct {
			name     string
			inBundle bool
		}{{"bundle", true}, {"presented", false}} {
			t.Run(name+"/"+mode.name, func(t *testing.T) {
				stage, r := vectorOutcome(t, v, mode.inBundle)
				t.Log(stage)
				switch {
				case strings.HasPrefix(name, "good"):
					if r.Status != Good {
						t.Errorf("want Good, got %s", stage)
					}
				case strings.HasPrefix(name, "revoked"):
					if r.Status != Revoked {
						t.Errorf("want Revoked, got %s", stage)
					}
				case vectorExceptions[name] != "":
					if r.Status.String() != vectorExceptions[name] {
						t.Errorf("want %s (a listed exception), got %s", vectorExceptions[name], stage)
					}
				case strings.HasPrefix(name, "bad"), strings.HasPrefix(name, "invalid"):
					if r.Status != Unusable {
						t.Errorf("want the CRL refused (Parse or NewSet error, or Unusable), got %s", stage)
					}
				default:
					t.Fatalf("vector name %q has no expected result", name)
				}
			})
		}
	}
}
