package e2e

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/pki"
	"github.com/mtlslb/mtlslb/internal/testpki"
)

// storeServer is a running `mtlslb serve --data-dir`.
type storeServer struct {
	admin   string
	dataDir string
	cmd     *exec.Cmd
	logs    *syncBuffer
	done    chan error
}

// startStoreServer starts `mtlslb serve --data-dir` with a plain-HTTP admin API and waits for it.
func startStoreServer(t testing.TB, dataDir, admin string) *storeServer {
	t.Helper()
	srv := launchStoreServer(t, dataDir, admin)
	waitFor(t, "the admin API", 15*time.Second, func() bool {
		resp, err := http.Get("http://" + admin + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	return srv
}

// launchStoreServer starts `mtlslb serve --data-dir` with extra flags, without waiting for it.
func launchStoreServer(t testing.TB, dataDir, admin string, extra ...string) *storeServer {
	t.Helper()
	srv := &storeServer{admin: admin, dataDir: dataDir, logs: &syncBuffer{}, done: make(chan error, 1)}
	srv.cmd = exec.Command(binary, append([]string{"serve", "--data-dir", dataDir, "--admin-address", admin, "--drain-timeout", "2s"}, extra...)...)
	srv.cmd.Stdout, srv.cmd.Stderr = srv.logs, srv.logs
	if err := srv.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { srv.done <- srv.cmd.Wait() }()
	t.Cleanup(func() {
		_ = srv.cmd.Process.Kill()
		<-srv.done
		srv.done <- nil
		if t.Failed() {
			t.Logf("mtlslb output:\n%s", srv.logs.String())
		}
	})
	return srv
}

// api sends a JSON request to the admin API and returns the status and body.
func api(t testing.TB, admin, method, path string, body any, header http.Header) (int, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, "http://"+admin+path, r)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

type fileBody struct {
	Name    string `json:"name,omitempty"`
	PEM     string `json:"pem,omitempty"`
	Content []byte `json:"content,omitempty"`
}

// absoluteStoreConfig is the store-mode document with absolute certificate paths, for a direct PUT.
func (s *site) absoluteStoreConfig(extra string) []byte {
	doc := s.storeConfig()
	doc = strings.ReplaceAll(doc, "certificate: server.pem", "certificate: "+filepath.Join(s.dir, "server.pem"))
	doc = strings.ReplaceAll(doc, "private_key: server-key.pem", "private_key: "+filepath.Join(s.dir, "server-key.pem"))
	doc = strings.ReplaceAll(doc, "path: connection.log", "path: "+filepath.Join(s.dir, "connection.log"))
	return []byte(strings.Replace(doc, "    default_actions:", extra+"    default_actions:", 1))
}

// TestChangesUnderLoad: under continuous full handshakes and keep-alive requests, the bundle is replaced,
// CRLs added and removed and the listener changed 100 times; not one request or handshake fails.
func TestChangesUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test; runs without -short")
	}
	s := newSite(t)
	srv := startStoreServer(t, filepath.Join(s.dir, "data"), fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	bundleA := string(s.root.BundlePEM())
	bundleB := bundleA + string(testpki.NewCA(t).BundlePEM())
	if code, body := api(t, srv.admin, "POST", "/api/v1/trust-stores", map[string]any{
		"name": "clients", "ca_certificates_bundle": fileBody{Name: "a.pem", PEM: bundleA},
	}, nil); code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	if code, body := api(t, srv.admin, "PUT", "/api/v1/config", s.absoluteStoreConfig(""), nil); code != http.StatusOK {
		t.Fatalf("put config: %d %s", code, body)
	}
	good := s.issuing.Client(t, "good.client")
	waitFor(t, "the listener", 15*time.Second, func() bool { _, err := s.get(t, good); return err == nil })

	victim := s.issuing.Client(t, "victim.client")
	crlPEM := pki.EncodeCRLPEM(s.issuing.CRL(t, victim.Cert))
	cert := good.TLSCertificate()
	tlsCfg := &tls.Config{RootCAs: s.root.Pool(), ServerName: "127.0.0.1", Certificates: []tls.Certificate{cert}}
	url := fmt.Sprintf("https://127.0.0.1:%d/", s.port)

	var handshakes, keepalive, failures atomic.Int64
	var firstFailure atomic.Value
	fail := func(err error) {
		failures.Add(1)
		firstFailure.CompareAndSwap(nil, err.Error())
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	do := func(c *http.Client, counter *atomic.Int64) {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			resp, err := c.Get(url)
			if err != nil {
				fail(err)
				continue
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				fail(fmt.Errorf("status %d", resp.StatusCode))
				continue
			}
			counter.Add(1)
		}
	}
	full := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg, DisableKeepAlives: true}}
	kept := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	wg.Add(2)
	go do(full, &handshakes)
	go do(kept, &keepalive)

	var lastID int64
	for i := range 100 {
		var code int
		var body []byte
		switch i % 4 {
		case 0: // replace the bundle (alternating between two that both trust the client)
			b := bundleA
			if i%8 == 0 {
				b = bundleB
			}
			code, body = api(t, srv.admin, "PUT", "/api/v1/trust-stores/clients", map[string]any{"ca_certificates_bundle": fileBody{Name: "bundle.pem", PEM: b}}, nil)
		case 1: // add a CRL (revoking somebody else)
			code, body = api(t, srv.admin, "POST", "/api/v1/trust-stores/clients/revocations", map[string]any{"revocations": []fileBody{{Name: "victim.crl", Content: crlPEM}}}, nil)
			var resp struct {
				Revocations []struct {
					ID int64 `json:"revocation_id"`
				} `json:"revocations"`
			}
			if json.Unmarshal(body, &resp) == nil && len(resp.Revocations) == 1 {
				lastID = resp.Revocations[0].ID
			}
		case 2: // remove it again
			code, body = api(t, srv.admin, "DELETE", fmt.Sprintf("/api/v1/trust-stores/clients/revocations/%d", lastID), nil, nil)
		case 3: // change the listener: a header rename on, then off
			extra := ""
			if i%8 == 3 {
				extra = "    header_names:\n      x_amzn_mtls_clientcert_subject: X-Client-Subject\n"
			}
			code, body = api(t, srv.admin, "PUT", "/api/v1/config", s.absoluteStoreConfig(extra), nil)
		}
		if code >= 300 {
			t.Fatalf("change %d refused: %d %s", i, code, body)
		}
		// Each change is one store transaction; wait until the server has applied it, so that every one of
		// the 100 is served in turn rather than coalesced with the next.
		waitForStored(t, srv.admin, int64(3+i))
	}
	close(stop)
	wg.Wait()
	t.Logf("under 100 changes: %d full handshakes, %d keep-alive requests, %d failures", handshakes.Load(), keepalive.Load(), failures.Load())
	if n := failures.Load(); n != 0 {
		t.Errorf("%d requests failed during the changes; first: %v", n, firstFailure.Load())
	}
	if handshakes.Load() < 20 || keepalive.Load() < 20 {
		t.Errorf("too little load to mean anything: %d handshakes, %d keep-alive requests", handshakes.Load(), keepalive.Load())
	}
	// The victim was refused while its CRL was in: the last change removed it, so now it is accepted.
	if _, err := s.get(t, victim); err != nil {
		t.Errorf("after the CRL was removed the victim is still refused: %v", err)
	}
}

// waitForStored waits until the server has applied the store at revision rev or later.
func waitForStored(t testing.TB, admin string, rev int64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("store revision %d to apply", rev), 15*time.Second, func() bool {
		var st struct {
			Stored int64 `json:"stored_revision"`
		}
		_, body := api(t, admin, "GET", "/api/v1/status", nil, nil)
		return json.Unmarshal(body, &st) == nil && st.Stored >= rev
	})
}

// TestKillDuringAdminWrites: kill -9 while revocations are being added; after a restart every acknowledged
// write is there and the store opens. A second process on the same data directory is refused at once.
func TestKillDuringAdminWrites(t *testing.T) {
	s := newSite(t)
	dataDir := filepath.Join(s.dir, "data")
	admin := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	srv := startStoreServer(t, dataDir, admin)
	if code, body := api(t, admin, "POST", "/api/v1/trust-stores", map[string]any{
		"name": "clients", "ca_certificates_bundle": fileBody{Name: "bundle.pem", PEM: string(s.root.BundlePEM())},
	}, nil); code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}

	// A second mtlslb on the same data directory: a clear refusal within about a second.
	start := time.Now()
	out, err := exec.Command(binary, "serve", "--data-dir", dataDir, "--admin-address", fmt.Sprintf("127.0.0.1:%d", freePort(t))).CombinedOutput()
	if exitCode(err) != 1 || !strings.Contains(string(out), "another mtlslb") {
		t.Errorf("second serve on a held data directory: %v\n%s", err, out)
	}
	t.Logf("second serve refused after %v", time.Since(start).Round(time.Millisecond))

	crlPEM := pki.EncodeCRLPEM(s.issuing.CRL(t))
	acked := make(chan int64, 1000)
	go func() {
		defer close(acked)
		for range 1000 {
			code, body := api(t, admin, "POST", "/api/v1/trust-stores/clients/revocations", map[string]any{"revocations": []fileBody{{Name: "c.crl", Content: crlPEM}}}, nil)
			if code != http.StatusCreated {
				return // the process is gone
			}
			var resp struct {
				Revocations []struct {
					ID int64 `json:"revocation_id"`
				} `json:"revocations"`
			}
			if json.Unmarshal(body, &resp) == nil && len(resp.Revocations) == 1 {
				acked <- resp.Revocations[0].ID
			}
		}
	}()
	var ids []int64
	for id := range acked {
		ids = append(ids, id)
		if len(ids) == 25 {
			if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(ids) < 25 {
		t.Fatalf("only %d writes acknowledged before the writer stopped", len(ids))
	}
	<-srv.done
	srv.done <- nil

	srv2 := startStoreServer(t, dataDir, fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	code, body := api(t, srv2.admin, "GET", "/api/v1/trust-stores/clients/revocations", nil, nil)
	if code != http.StatusOK {
		t.Fatalf("after restart: %d %s", code, body)
	}
	var stored struct {
		Revocations []struct {
			ID int64 `json:"revocation_id"`
		} `json:"revocations"`
	}
	if err := json.Unmarshal(body, &stored); err != nil {
		t.Fatal(err)
	}
	have := map[int64]bool{}
	for _, r := range stored.Revocations {
		have[r.ID] = true
	}
	for _, id := range ids {
		if !have[id] {
			t.Errorf("acknowledged revocation %d is missing after kill -9", id)
		}
	}
	t.Logf("%d acknowledged writes before kill -9, %d stored after restart", len(ids), len(stored.Revocations))
}
