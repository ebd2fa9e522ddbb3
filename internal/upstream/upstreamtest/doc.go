// Package upstreamtest runs real targets on 127.0.0.1 for tests of mtlslb's layer-7 forwarding: an
// HTTP server that reports what it saw, a gRPC server with unary and streaming echo methods and the
// standard health service, and a WebSocket echo server with a matching one-message client.
//
// Every server is stopped by t.Cleanup. TLS is the caller's: pass a *tls.Config holding the target's
// certificate (and ClientAuth for upstream mutual TLS), or nil for clear text. The package is
// imported only by tests.
package upstreamtest
