package config

import (
	"strings"
	"testing"
)

// TestNewKeysBadInput: each key added for layer 7 and layer 4 refuses a bad value with its path.
func TestNewKeysBadInput(t *testing.T) {
	const head = `
trust_stores:
  - { name: clients, ca_certificates_bundle: b.pem }
target_groups:
  - { name: app, targets: [{ id: 127.0.0.1, port: 80 }] }
  - { name: tcp, protocol: TCP, targets: [{ id: 127.0.0.1, port: 443 }] }
listeners:
`
	cases := []struct {
		name, listener, want string
	}{
		{"optional needs a trust store", `
  - port: 443
    protocol: HTTPS
    certificates: [{ certificate: s.pem, private_key: k.pem }]
    mutual_authentication: { mode: optional }
    default_actions: [{ type: forward, target_group: app }]`, "listeners[0].mutual_authentication.trust_store: required in optional mode"},
		{"optional on a TLS listener", `
  - port: 443
    protocol: TLS
    certificates: [{ certificate: s.pem, private_key: k.pem }]
    mutual_authentication: { mode: optional, trust_store: clients }
    default_actions: [{ type: forward, target_group: tcp }]`, "listeners[0].mutual_authentication.mode: optional needs an HTTPS listener"},
		{"client_certificate condition without verification", `
  - port: 443
    protocol: HTTPS
    certificates: [{ certificate: s.pem, private_key: k.pem }]
    rules:
      - priority: 1
        conditions: [{ client_certificate: { subject_cn: ["a*"] } }]
        actions: [{ type: forward, target_group: app }]
    default_actions: [{ type: forward, target_group: app }]`, "listeners[0].rules[0].conditions[0].client_certificate: needs a listener in verify or optional mode"},
		{"require_client_certificate in off mode", `
  - port: 443
    protocol: HTTPS
    certificates: [{ certificate: s.pem, private_key: k.pem }]
    rules:
      - priority: 1
        require_client_certificate: true
        conditions: [{ path_pattern: { values: ["/x"] } }]
        actions: [{ type: forward, target_group: app }]
    default_actions: [{ type: forward, target_group: app }]`, "listeners[0].rules[0].require_client_certificate: needs a listener in verify or optional mode"},
		{"empty identity filters", `
  - port: 443
    protocol: HTTPS
    certificates: [{ certificate: s.pem, private_key: k.pem }]
    mutual_authentication: { mode: verify, trust_store: clients, identity_filters: {} }
    default_actions: [{ type: forward, target_group: app }]`, "listeners[0].mutual_authentication.identity_filters: set at least one of"},
		{"idle timeout on an HTTPS listener", `
  - port: 443
    protocol: HTTPS
    idle_timeout_seconds: 100
    certificates: [{ certificate: s.pem, private_key: k.pem }]
    default_actions: [{ type: forward, target_group: app }]`, "listeners[0].idle_timeout_seconds: only TCP and TLS listeners"},
		{"idle timeout out of range", `
  - port: 443
    protocol: TCP
    idle_timeout_seconds: 10
    default_actions: [{ type: forward, target_group: tcp }]`, "listeners[0].idle_timeout_seconds: must be between 60 and 6000, not 10"},
		{"bad trusted network", `
  - port: 443
    protocol: TCP
    proxy_protocol: { trusted_networks: ["10.0.0.300/8"] }
    default_actions: [{ type: forward, target_group: tcp }]`, `listeners[0].proxy_protocol.trusted_networks[0]: "10.0.0.300/8" is not a CIDR block`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(head+strings.TrimPrefix(c.listener, "\n")), t.TempDir())
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Parse error:\n%v\nwant one containing %q", err, c.want)
			}
		})
	}
}

func TestTargetGroupTLSBadInput(t *testing.T) {
	doc := `
target_groups:
  - name: plain
    targets: [{ id: 127.0.0.1, port: 80 }]
    tls: { ca_certificates_bundle: ca.pem }
  - name: half
    protocol: HTTPS
    targets: [{ id: 127.0.0.1, port: 443 }]
    tls: { certificate: c.pem, server_name: "bad name" }
  - name: lc
    targets: [{ id: 127.0.0.1, port: 80 }]
    attributes: { load_balancing_algorithm_type: least_connections }
`
	_, err := Parse([]byte(doc), t.TempDir())
	for _, want := range []string{
		"target_groups[0].tls: only HTTPS target groups open TLS connections",
		"target_groups[1].tls: certificate and private_key go together",
		`target_groups[1].tls.server_name: "bad name" is not a host name`,
		`target_groups[2].attributes.load_balancing_algorithm_type: must be round_robin, least_outstanding_requests or weighted_random, not "least_connections"`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse error:\n%v\nwant one containing %q", err, want)
		}
	}
}
