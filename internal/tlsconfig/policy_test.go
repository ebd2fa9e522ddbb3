package tlsconfig

import (
	"crypto/tls"
	"net"
	"testing"

	"github.com/mtlslb/mtlslb/internal/testpki"
)

// TestPoliciesNegotiate runs a real handshake under each security policy against a client that offers
// everything Go has, and checks the version and key exchange each policy leads to; a client limited to TLS 1.2
// is refused by the TLS 1.3-only policy and served by the others.
func TestPoliciesNegotiate(t *testing.T) {
	ca := testpki.NewCA(t)
	server := ca.Server(t, "127.0.0.1").TLSCertificate()
	cases := []struct {
		policy string
		curve  tls.CurveID
		tls12  bool
	}{
		{"ELBSecurityPolicy-TLS13-1-2-2021-06", tls.X25519, true},
		{"ELBSecurityPolicy-TLS13-1-2-Res-2021-06", tls.X25519, true},
		{"ELBSecurityPolicy-TLS13-1-3-2021-06", tls.X25519, false},
		{"ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06", tls.X25519, true},
		{"ELBSecurityPolicy-TLS13-1-2-PQ-2025-09", tls.X25519MLKEM768, true},
	}
	for _, c := range cases {
		t.Run(c.policy, func(t *testing.T) {
			cfg, err := Build(Listener{Certificates: []tls.Certificate{server}, SSLPolicy: c.policy})
			if err != nil {
				t.Fatal(err)
			}
			handshake := func(client *tls.Config) (tls.ConnectionState, error) {
				a, b := net.Pipe()
				defer a.Close()
				defer b.Close()
				go func() { _ = tls.Server(a, cfg).Handshake() }()
				cc := tls.Client(b, client)
				err := cc.Handshake()
				return cc.ConnectionState(), err
			}
			st, err := handshake(&tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"})
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if st.Version != tls.VersionTLS13 || st.CurveID != c.curve {
				t.Errorf("negotiated %x with %v, want TLS 1.3 with %v", st.Version, st.CurveID, c.curve)
			}
			_, err = handshake(&tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1", MaxVersion: tls.VersionTLS12})
			if (err == nil) != c.tls12 {
				t.Errorf("TLS 1.2 client: err %v, want accepted %v", err, c.tls12)
			}
		})
	}
	if _, err := Build(Listener{Certificates: []tls.Certificate{server}, SSLPolicy: "ELBSecurityPolicy-2016-08"}); err == nil {
		t.Error("an unknown policy was accepted")
	}
}
