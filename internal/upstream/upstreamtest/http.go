package upstreamtest

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// Response headers of the servers started by NewHTTPServer and NewH2Server, telling the test what
// the target saw.
const (
	// ProtoHeader carries r.Proto of the request as the target received it ("HTTP/1.1", "HTTP/2.0").
	ProtoHeader = "X-Upstreamtest-Proto"
	// ClientCNHeader carries the common name of the client certificate the target received, empty
	// when there was none.
	ClientCNHeader = "X-Upstreamtest-Client-Cn"
)

// NewHTTPServer starts an HTTP server on 127.0.0.1 speaking protos, over TLS with tlsConfig when it is
// not nil, and returns its address. Every request is answered 200 with ProtoHeader and ClientCNHeader
// set and the request body echoed. For clear-text HTTP/2, enable protos.SetUnencryptedHTTP2: the
// server then accepts HTTP/2 with prior knowledge.
func NewHTTPServer(t testing.TB, tlsConfig *tls.Config, protos http.Protocols) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening for the HTTP target: %v", err)
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(echo),
		Protocols:         &protos,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          quietLog(),
	}
	done := make(chan error, 1)
	if tlsConfig != nil {
		// ServeTLS adds the ALPN protocols protos allows to a clone of this config.
		srv.TLSConfig = tlsConfig.Clone()
		go func() { done <- srv.ServeTLS(ln, "", "") }()
	} else {
		go func() { done <- srv.Serve(ln) }()
	}
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("HTTP target: %v", err)
		}
	})
	return ln.Addr().String()
}

// NewH2Server starts an HTTP/2-only server, as NewHTTPServer: h2 over TLS when tlsConfig is not nil,
// h2c with prior knowledge otherwise.
func NewH2Server(t testing.TB, tlsConfig *tls.Config) string {
	t.Helper()
	var protos http.Protocols
	if tlsConfig != nil {
		protos.SetHTTP2(true)
	} else {
		protos.SetUnencryptedHTTP2(true)
	}
	return NewHTTPServer(t, tlsConfig, protos)
}

func echo(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(ProtoHeader, r.Proto)
	cn := ""
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		cn = r.TLS.PeerCertificates[0].Subject.CommonName
	}
	w.Header().Set(ClientCNHeader, cn)
	w.WriteHeader(http.StatusOK)
	if r.ContentLength != 0 {
		// Streams, so a test can send a large body without the target buffering it.
		io.Copy(w, r.Body)
	}
}
