package e2e

import (
	"fmt"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/pki"
)

// TestCRLFromURL: a trust store's CRL comes from a URL (a local HTTP server). The server publishes a new CRL
// revoking the client; mtlslb fetches it on its refresh interval and refuses the client, without a signal.
// Restarted while the URL is down, it serves with the last good copy from its cache.
func TestCRLFromURL(t *testing.T) {
	s := newSite(t)
	var current atomic.Value // []byte: the CRL the URL serves
	current.Store(s.issuing.CRLWith(t, nil, pki.WithCRLNumber(big.NewInt(1))))
	var up atomic.Bool
	up.Store(true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	crlSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write(current.Load().([]byte))
	})}
	go func() { _ = crlSrv.Serve(ln) }()
	t.Cleanup(func() { _ = crlSrv.Close() })

	doc := strings.Replace(s.config("verify"), "      - crl: issuing.crl",
		fmt.Sprintf("      - url: http://%s/issuing.crl\n        refresh_interval: 1s", ln.Addr()), 1)
	s.write(t, "lb.yaml", []byte(doc))
	p := s.serve(t)
	good := s.issuing.Client(t, "good.client")
	waitFor(t, "the listener", 15*time.Second, func() bool { _, err := s.get(t, good); return err == nil })

	// The CA publishes a newer CRL that revokes the client.
	current.Store(s.issuing.CRLWith(t, []pki.Revocation{pki.Revoke(good.Cert)}, pki.WithCRLNumber(big.NewInt(2))))
	waitFor(t, "the new CRL to be fetched and applied", 20*time.Second, func() bool { _, err := s.get(t, good); return err != nil })
	if !strings.Contains(p.stderr.String(), "new CRL from http://") {
		t.Errorf("the reload does not say why:\n%s", p.stderr.String())
	}

	// The last good copy is on disk beside the configuration.
	cached, _ := filepath.Glob(filepath.Join(s.dir, ".mtlslb-crl-cache", "*"))
	if len(cached) == 0 {
		t.Fatal("no cached copy of the fetched CRL")
	}

	// Restart with the URL down: the cached copy is in force at once (the client stays refused, others are served).
	_ = p.cmd.Process.Kill()
	<-p.done
	p.done <- nil
	up.Store(false)
	s.serve(t)
	other := s.issuing.Client(t, "other.client")
	waitFor(t, "the restarted listener", 15*time.Second, func() bool { _, err := s.get(t, other); return err == nil })
	if _, err := s.get(t, good); err == nil {
		t.Error("after a restart with the CRL URL down, the revoked client is accepted")
	}
}
