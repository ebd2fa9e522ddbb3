package engine_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mtlslb/mtlslb/internal/config"
	"github.com/mtlslb/mtlslb/internal/engine"
)

// BenchmarkCompile1000Listeners measures compiling a document of 1,000 verify-mode HTTPS listeners sharing
// one trust store and one target group: the work a reload does before it swaps anything (every certificate
// and key read and parsed, every tls.Config built). The 10 M-revocation side of a snapshot is measured by
// BenchmarkScaleTrustStoreCompile in internal/truststore.
func BenchmarkCompile1000Listeners(b *testing.B) {
	f := newFixture(b)
	var doc strings.Builder
	doc.WriteString(`name: bench
trust_stores:
  - name: clients
    ca_certificates_bundle: bundle.pem
    revocations:
      - crl: issuing.crl
listeners:
`)
	for i := range 1000 {
		fmt.Fprintf(&doc, `  - port: %d
    address: 127.0.0.1
    protocol: HTTPS
    certificates: [{ certificate: server.pem, private_key: server-key.pem }]
    mutual_authentication: { mode: verify, trust_store: clients }
    default_actions: [{ type: forward, target_group: app }]
`, 20000+i)
	}
	fmt.Fprintf(&doc, "target_groups:\n  - name: app\n    targets: [{ id: 127.0.0.1, port: %s }]\n", f.backendPort())
	path := f.write(b, "big.yaml", []byte(doc.String()))
	eng := engine.New(engine.Options{})
	b.ReportAllocs()
	for b.Loop() {
		d, err := config.Load(path)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := eng.Compile(d); err != nil {
			b.Fatal(err)
		}
	}
}
