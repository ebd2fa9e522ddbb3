package crlfetch_test

import (
	"context"
	"crypto/x509/pkix"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/mtlslb/mtlslb/internal/crl"
	"github.com/mtlslb/mtlslb/internal/crlfetch"
	"github.com/mtlslb/mtlslb/internal/pki"
)

// Example fetches a CRL from a server on 127.0.0.1, keeps a copy on disk,
// and hands each new CRL to the code that recompiles the trust store.
func Example() {
	ca, err := pki.NewRoot(pkix.Name{CommonName: "Example CA"})
	if err != nil {
		fmt.Println(err)
		return
	}
	der, err := ca.CRL(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write(der)
	}))
	defer srv.Close()
	dir, err := os.MkdirTemp("", "crlfetch-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	updates := make(chan *crl.CRL, 1)
	f, err := crlfetch.New(crlfetch.Options{
		URL:      srv.URL + "/example.crl",
		CacheDir: dir,
		OnUpdate: func(c *crl.CRL, _ []byte) { updates <- c },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.Start(ctx)
	}()

	c := <-updates // the engine would recompile the trust store here
	st := f.Status()
	fmt.Println("issuer:", c.Issuer())
	fmt.Println("source:", st.Source, "stale:", st.Stale, "error:", st.LastError == "")
	cancel()
	<-done
	// Output:
	// issuer: CN=Example CA
	// source: network stale: false error: true
}
