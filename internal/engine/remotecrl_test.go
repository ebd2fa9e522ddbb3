package engine_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/engine"
	"github.com/mtlslb/mtlslb/internal/testpki"
)

// TestRemoteCRLsWaitsForFirstAnswer: a URL that takes a while to answer its first request is waited for, not
// reported as "no answer yet" because an attempt has started (serve refused a configuration that way when the
// first fetch was in flight); a URL that fails ends the wait with its error.
func TestRemoteCRLsWaitsForFirstAnswer(t *testing.T) {
	ca := testpki.NewCA(t)
	der := ca.CRL(t)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond) // several of Get's 50 ms polls
		w.Header().Set("Content-Type", "application/pkix-crl")
		_, _ = w.Write(der)
	}))
	t.Cleanup(slow.Close)
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	}))
	t.Cleanup(failing.Close)

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r := engine.NewRemoteCRLs(ctx, "", nil, nil)
	got, err := r.Get(slow.URL+"/ca.crl", 0)
	if err != nil {
		t.Fatalf("Get of a slow URL: %v", err)
	}
	if !bytes.Equal(got, der) {
		t.Error("Get returned other bytes than the URL's CRL")
	}
	start := time.Now()
	_, err = r.Get(failing.URL+"/ca.crl", 0)
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("Get of a failing URL: %v, want an error naming the 503", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Get of a failing URL took %v: it should end with the first failed attempt", d)
	}
}
