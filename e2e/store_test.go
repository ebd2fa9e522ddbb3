package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/pki"
)

// cli runs an admin-client command of the binary against admin and returns stdout, stderr and exit code.
func cli(t testing.TB, admin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, append(args, "--admin", admin)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), exitCode(err)
}

// storeConfig is a document for store mode: no trust_stores (they are resources of their own).
func (s *site) storeConfig() string {
	doc := s.config("verify")
	i := strings.Index(doc, "trust_stores:")
	j := strings.Index(doc, "listeners:")
	return doc[:i] + doc[j:]
}

// TestStoreModeSeedWorkflow is the README's store-mode walk-through on the real binary: create a trust
// store, attach it to a verify listener, add a CRL, see the revoked client refused, remove the CRL, see it
// accepted — all without a restart.
func TestStoreModeSeedWorkflow(t *testing.T) {
	s := newSite(t)
	dataDir := filepath.Join(s.dir, "data")
	admin := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startStoreServer(t, dataDir, admin)
	// Empty store: alive, not ready.
	if resp, err := http.Get("http://" + admin + "/readyz"); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("readyz on an empty store: %v %v, want 503", resp, err)
	}

	// 1. Create the trust store.
	out, errOut, code := cli(t, admin, "trust-store", "create", "--name", "clients", "--ca-certificates-bundle", filepath.Join(s.dir, "bundle.pem"))
	if code != 0 || !strings.Contains(out, "clients") {
		t.Fatalf("trust-store create: exit %d\n%s%s", code, out, errOut)
	}
	// A second create with the same name: ALB's error name, exit 1.
	if _, errOut, code := cli(t, admin, "trust-store", "create", "--name", "clients", "--ca-certificates-bundle", filepath.Join(s.dir, "bundle.pem")); code != 1 || !strings.Contains(errOut, "DuplicateTrustStoreName") {
		t.Errorf("duplicate create: exit %d, %s", code, errOut)
	}

	// 2. Attach it to a verify listener.
	docPath := s.write(t, "store.yaml", []byte(s.storeConfig()))
	if out, errOut, code := cli(t, admin, "apply", "-f", docPath); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	good := s.issuing.Client(t, "good.client")
	waitFor(t, "the listener", 10*time.Second, func() bool { _, err := s.get(t, good); return err == nil })

	// 3. Add a CRL revoking the client: refused, without a restart.
	crlPath := s.write(t, "revoking.crl", pki.EncodeCRLPEM(s.issuing.CRL(t, good.Cert)))
	out, errOut, code = cli(t, admin, "trust-store", "add-revocations", "--name", "clients", "--crl", crlPath, "--output", "json")
	if code != 0 {
		t.Fatalf("add-revocations: exit %d\n%s%s", code, out, errOut)
	}
	var added struct {
		Revocations []struct {
			ID int64 `json:"revocation_id"`
		} `json:"revocations"`
	}
	if err := json.Unmarshal([]byte(out), &added); err != nil || len(added.Revocations) != 1 {
		t.Fatalf("add-revocations --output json: %v\n%s", err, out)
	}
	waitFor(t, "the revocation to apply", 10*time.Second, func() bool { _, err := s.get(t, good); return err != nil })

	// explain asks the running server why the client is refused.
	chainPath := s.write(t, "good-chain.pem", good.ChainPEM())
	out, errOut, code = cli(t, admin, "explain", "--trust-store", "clients", "--cert", chainPath)
	if code != 1 || !strings.Contains(out, "Failed:ClientCertCrlHit") || !strings.Contains(out, "revoked by CRL") {
		t.Errorf("explain of the revoked client: exit %d\n%s%s", code, out, errOut)
	}

	// The trust store is in use: it cannot be deleted.
	if _, errOut, code := cli(t, admin, "trust-store", "delete", "--name", "clients"); code != 1 || !strings.Contains(errOut, "TrustStoreInUse") {
		t.Errorf("delete of a trust store in use: exit %d, %s", code, errOut)
	}

	// 4. Remove the CRL: accepted again.
	id := fmt.Sprint(added.Revocations[0].ID)
	if out, errOut, code := cli(t, admin, "trust-store", "remove-revocations", "--name", "clients", "--revocation-ids", id); code != 0 {
		t.Fatalf("remove-revocations: exit %d\n%s%s", code, out, errOut)
	}
	waitFor(t, "the removal to apply", 10*time.Second, func() bool { _, err := s.get(t, good); return err == nil })

	// Bad input through the API: clear ALB error names, nothing changes.
	bad := s.write(t, "bad-bundle.pem", []byte("\n"+string(s.root.BundlePEM())))
	if _, errOut, code := cli(t, admin, "trust-store", "modify", "--name", "clients", "--ca-certificates-bundle", bad); code != 1 || !strings.Contains(errOut, "InvalidCaCertificatesBundle") || !strings.Contains(errOut, "line 1") {
		t.Errorf("modify with a bad bundle: exit %d, %s", code, errOut)
	}
	if _, errOut, code := cli(t, admin, "trust-store", "create", "--name", "-bad-", "--ca-certificates-bundle", filepath.Join(s.dir, "bundle.pem")); code != 1 || !strings.Contains(errOut, "ValidationError") {
		t.Errorf("create with a bad name: exit %d, %s", code, errOut)
	}
	garbage := s.write(t, "garbage.crl", []byte("not a CRL"))
	if _, errOut, code := cli(t, admin, "trust-store", "add-revocations", "--name", "clients", "--crl", garbage); code != 1 || !strings.Contains(errOut, "InvalidRevocationContent") {
		t.Errorf("add-revocations with garbage: exit %d, %s", code, errOut)
	}

	// A PUT with a stale ETag is refused with 412.
	req, _ := http.NewRequest(http.MethodPut, "http://"+admin+"/api/v1/config", strings.NewReader(s.storeConfig()))
	req.Header.Set("If-Match", `"1"`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusPreconditionFailed {
		t.Errorf("PUT with a stale ETag: %d, want 412", resp.StatusCode)
	}
	if _, err := s.get(t, good); err != nil {
		t.Errorf("after refused changes the client is no longer served: %v", err)
	}
	// Revocation ids are never reused.
	out, _, _ = cli(t, admin, "trust-store", "add-revocations", "--name", "clients", "--crl", crlPath, "--output", "json")
	var again struct {
		Revocations []struct {
			ID int64 `json:"revocation_id"`
		} `json:"revocations"`
	}
	if err := json.Unmarshal([]byte(out), &again); err != nil || len(again.Revocations) != 1 || again.Revocations[0].ID <= added.Revocations[0].ID {
		t.Errorf("a revocation id was reused: first %v, then %s", added.Revocations, out)
	}
	// The blob collector ran at start (a pass deletes nothing within its grace period) and says so.
	resp, err = http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metricsText, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`mtlslb_store_blob_collections_total{result="success"} `, `mtlslb_store_blobs{state="referenced"} `} {
		if !strings.Contains(string(metricsText), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestFileModeRefusesWrites: in file mode the file is the source of truth; the admin API says so with 409.
func TestFileModeRefusesWrites(t *testing.T) {
	s := newSite(t)
	s.write(t, "lb.yaml", []byte(s.config("verify")))
	p := s.serve(t)
	waitFor(t, "the admin API", 10*time.Second, func() bool {
		resp, err := http.Get("http://" + p.admin + "/readyz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	})
	_, errOut, code := cli(t, p.admin, "trust-store", "create", "--name", "x", "--ca-certificates-bundle", filepath.Join(s.dir, "bundle.pem"))
	if code != 1 || !strings.Contains(errOut, "source of truth") {
		t.Errorf("write in file mode: exit %d, %s", code, errOut)
	}
}
