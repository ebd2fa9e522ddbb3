// Command tool is the load generator, the target and the PKI writer of the layer-7 comparison in bench/l7
// (mtlslb against nginx and HAProxy). It is a module of its own so that the main module's `go test ./...`
// neither builds nor tests it.
//
//	tool loadgen -url https://127.0.0.1:8443/svc42/x -c 64 -d 10s -cert client.pem -key client-key.pem -ca server-ca.pem
//	tool target -addr 127.0.0.1:8080
//	tool pki -dir DIR
//
// The load generator and the target speak HTTP/1.1 themselves over net.Conn and crypto/tls instead of using
// net/http: on a two-core machine every cycle they spend is taken from the proxy under test, and a hand-rolled
// keep-alive loop with precomputed requests and responses costs a fraction of net/http's client and server.
package main
