package config

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// specPath is interface.md, the contract, beside the repository as CI
// clones it.
const specPath = "../../../shared/spec/interface.md"

// specExample returns the configuration example of interface.md: its first
// YAML block.
func specExample(tb testing.TB) []byte {
	tb.Helper()
	b, err := os.ReadFile(specPath)
	if err != nil {
		tb.Fatalf("the contract must be readable beside the repository: %v", err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindSubmatch(b)
	if m == nil {
		tb.Fatalf("%s has no yaml block", specPath)
	}
	return m[1]
}

// minimalVerify is the smallest document the server runs in verify mode.
const minimalVerify = `
trust_stores:
  - name: partners
    ca_certificates_bundle: pki/ca.pem
listeners:
  - port: 8443
    protocol: HTTPS
    certificates:
      - { certificate: pki/server.pem, private_key: pki/server-key.pem }
    mutual_authentication: { mode: verify, trust_store: partners }
    default_actions:
      - { type: forward, target_group: app }
target_groups:
  - name: app
    targets: [{ id: 127.0.0.1, port: 8080 }]
`

// problemsOf returns the problems of err as "path: message" lines without
// their line numbers, failing the test when err is not a *ValidationError.
func problemsOf(tb testing.TB, err error) []string {
	tb.Helper()
	var verr *ValidationError
	if !errors.As(err, &verr) {
		tb.Fatalf("error %v (%T) is not a *ValidationError", err, err)
	}
	out := make([]string, len(verr.Errors))
	for i, fe := range verr.Errors {
		fe.Line = 0
		out[i] = fe.Error()
	}
	return out
}

func TestParseInterfaceExample(t *testing.T) {
	_, err := Parse(specExample(t), t.TempDir())
	got := problemsOf(t, err)
	want := []string{
		// The contract's example decodes in full: what is left is what the
		// server does not run yet, and the two target groups its rule
		// names without defining them.
		`listeners[0].rules[0].actions[0].forward.target_groups[0].target_group: no target group named "api-v1"`,
		`listeners[0].rules[0].actions[0].forward.target_groups[1].target_group: no target group named "api-v2"`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}

	d, probs := decode(specExample(t))
	if len(probs) != 0 {
		t.Fatalf("the contract's example must decode without a problem, got %v", probs)
	}
	l := d.Listeners[0]
	if l.MutualAuthentication.Mode != ModeVerify || l.MutualAuthentication.AdvertiseTrustStoreCANames != Off ||
		l.HeaderName(HeaderClientCertSubject) != "X-Client-Subject" || len(l.Rules) != 3 ||
		l.Rules[1].Actions[0].FixedResponse.StatusCode != "403" || d.TargetGroups[0].HealthCheck.Matcher.HTTPCode != "200-299" {
		t.Errorf("decoded listener is not the example's: %+v", l)
	}
}

func TestParseMinimalVerify(t *testing.T) {
	dir := t.TempDir()
	d, err := Parse([]byte(minimalVerify), dir)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	l := d.Listeners[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"name", d.Name, "mtlslb"},
		{"idle timeout", d.Attributes.IdleTimeoutSeconds, 60},
		{"connection logs", d.Attributes.ConnectionLogs.Enabled, false},
		{"http2", *d.Attributes.HTTP2Enabled, true},
		{"ssl policy", l.SSLPolicy, DefaultSSLPolicy},
		{"advertise", l.MutualAuthentication.AdvertiseTrustStoreCANames, Off},
		{"certificate raw", l.Certificates[0].Certificate.Raw, "pki/server.pem"},
		{"certificate abs", l.Certificates[0].Certificate.Abs, filepath.Join(dir, "pki/server.pem")},
		{"key abs", l.Certificates[0].PrivateKey.Path(), filepath.Join(dir, "pki/server-key.pem")},
		{"bundle abs", d.TrustStores[0].CACertificatesBundle.Path(), filepath.Join(dir, "pki/ca.pem")},
		{"chain depth", d.TrustStores[0].MaxChainDepth, 4},
		{"certificate size", d.TrustStores[0].MaxCertificateSize, 16384},
		{"ca certificates", d.TrustStores[0].MaxCACertificates, 1000},
		{"stale policy", d.TrustStores[0].StaleCRLAction, StaleCRLUse},
		{"revoke live connections", d.TrustStores[0].RevokeLiveConnections, false},
		{"tg protocol", d.TargetGroups[0].Protocol, ProtocolHTTP},
		{"tg version", d.TargetGroups[0].ProtocolVersion, "HTTP1"},
		{"algorithm", d.TargetGroups[0].Attributes.LoadBalancingAlgorithmType, "round_robin"},
		{"deregistration", *d.TargetGroups[0].Attributes.DeregistrationDelayTimeoutSeconds, 300},
		{"hc interval", d.TargetGroups[0].HealthCheck.IntervalSeconds, 30},
		{"hc timeout", d.TargetGroups[0].HealthCheck.TimeoutSeconds, 5},
		{"hc healthy", d.TargetGroups[0].HealthCheck.HealthyThresholdCount, 5},
		{"hc unhealthy", d.TargetGroups[0].HealthCheck.UnhealthyThresholdCount, 2},
		{"hc path", d.TargetGroups[0].HealthCheck.Path, "/"},
		{"hc matcher", d.TargetGroups[0].HealthCheck.Matcher.HTTPCode, "200"},
		{"forward", l.DefaultActions[0].ForwardTargetGroups()[0].TargetGroup, "app"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// listenerDoc is a valid document around one listener body (indented as a
// list item's keys) and the trust store "partners" and target group "app".
func listenerDoc(listener string) string {
	return `
trust_stores:
  - name: partners
    ca_certificates_bundle: ca.pem
target_groups:
  - name: app
    targets: [{ id: 10.0.0.1, port: 8080 }]
listeners:
` + listener
}

// httpsListener is a valid HTTPS listener body with extra keys appended.
func httpsListener(port int, extra string) string {
	return `  - port: ` + strconv.Itoa(port) + `
    protocol: HTTPS
    certificates: [{ certificate: s.pem, private_key: k.pem }]
    default_actions: [{ type: forward, target_group: app }]
` + extra
}

func TestParseProblems(t *testing.T) {
	cases := []struct {
		name string
		doc  string
		want []string
	}{
		{
			name: "missing trust store reference",
			doc:  listenerDoc(httpsListener(8443, "    mutual_authentication: { mode: verify, trust_store: nosuch }\n")),
			want: []string{`listeners[0].mutual_authentication.trust_store: no trust store named "nosuch"`},
		},
		{
			name: "verify without trust store",
			doc:  listenerDoc(httpsListener(8443, "    mutual_authentication: { mode: verify }\n")),
			want: []string{`listeners[0].mutual_authentication.trust_store: required in verify mode`},
		},
		{
			name: "duplicate port on one address",
			doc: listenerDoc(httpsListener(8443, "    address: 127.0.0.1\n") +
				httpsListener(8443, "    address: 127.0.0.1\n")),
			want: []string{`listeners[1].port: port 8443 on 127.0.0.1 is already used by listeners[0]`},
		},
		{
			name: "port on every interface clashes with one address",
			doc:  listenerDoc(httpsListener(8443, "    address: 127.0.0.1\n") + httpsListener(8443, "")),
			want: []string{`listeners[1].port: port 8443 on every interface is already used by listeners[0]`},
		},
		{
			name: "unknown nested key",
			doc:  listenerDoc(httpsListener(8443, "    mutual_authentication: { mdoe: verify }\n")),
			want: []string{`listeners[0].mutual_authentication.mdoe: unknown field (did you mean "mode"?)`},
		},
		{
			name: "unknown top-level key",
			doc:  listenerDoc(httpsListener(8443, "")) + "zzzzzz: 1\n",
			want: []string{`zzzzzz: unknown field`},
		},
		{
			name: "key in the wrong case",
			doc:  listenerDoc(httpsListener(8443, "    Address: 127.0.0.1\n")),
			want: []string{`listeners[0].Address: unknown field (did you mean "address"?)`},
		},
		{
			name: "bad mode",
			doc:  listenerDoc(httpsListener(8443, "    mutual_authentication: { mode: strict, trust_store: partners }\n")),
			want: []string{`listeners[0].mutual_authentication.mode: must be off, passthrough, verify or optional, not "strict"`},
		},
		{
			name: "trust store in off mode",
			doc:  listenerDoc(httpsListener(8443, "    mutual_authentication: { mode: off, trust_store: partners }\n")),
			want: []string{`listeners[0].mutual_authentication.trust_store: only allowed in verify and optional modes (mode is off)`},
		},
		{
			name: "trust store in passthrough mode",
			doc:  listenerDoc(httpsListener(8443, "    mutual_authentication: { mode: passthrough, trust_store: partners }\n")),
			want: []string{`listeners[0].mutual_authentication.trust_store: only allowed in verify and optional modes (mode is passthrough)`},
		},
		{
			name: "advertise outside verify mode",
			doc:  listenerDoc(httpsListener(8443, "    mutual_authentication: { mode: passthrough, advertise_trust_store_ca_names: on }\n")),
			want: []string{`listeners[0].mutual_authentication.advertise_trust_store_ca_names: on only in verify and optional modes (mode is passthrough)`},
		},
		{
			name: "bad advertise value",
			doc:  listenerDoc(httpsListener(8443, "    mutual_authentication: { mode: verify, trust_store: partners, advertise_trust_store_ca_names: sometimes }\n")),
			want: []string{`listeners[0].mutual_authentication.advertise_trust_store_ca_names: must be on or off, not "sometimes"`},
		},
		{
			name: "bad trust store names",
			doc: `
trust_stores:
  - { name: bad--name, ca_certificates_bundle: a.pem }
  - { name: -lead, ca_certificates_bundle: a.pem }
  - { name: under_score, ca_certificates_bundle: a.pem }
  - { name: abcdefghijabcdefghijabcdefghijabc, ca_certificates_bundle: a.pem }
  - { ca_certificates_bundle: a.pem }
`,
			want: []string{
				`trust_stores[0].name: "bad--name" must be 1–32 letters and digits, with single hyphens between them`,
				`trust_stores[1].name: "-lead" must be 1–32 letters and digits, with single hyphens between them`,
				`trust_stores[2].name: "under_score" must be 1–32 letters and digits, with single hyphens between them`,
				`trust_stores[3].name: "abcdefghijabcdefghijabcdefghijabc" must be 1–32 letters and digits, with single hyphens between them`,
				`trust_stores[4].name: required`,
			},
		},
		{
			name: "bad durations",
			doc: `
trust_stores:
  - { name: a, ca_certificates_bundle: a.pem, stale_crl_policy: 3 days }
  - { name: b, ca_certificates_bundle: a.pem, stale_crl_policy: -1h, max_crl_age: 7d }
`,
			want: []string{
				`trust_stores[0].stale_crl_policy: must be use, reject or a duration such as "72h", not "3 days"`,
				`trust_stores[1].stale_crl_policy: must be use, reject or a duration such as "72h", not "-1h"`,
				`trust_stores[1].max_crl_age: must be a duration such as "168h", not "7d"`,
			},
		},
		{
			name: "trust store limits",
			doc: `
trust_stores:
  - name: a
    ca_certificates_bundle: a.pem
    max_chain_depth: 17
    max_certificate_size: -1
    max_revocations: 1
    revocations: [{ crl: a.crl }, { crl: b.crl }]
`,
			want: []string{
				`trust_stores[0].max_chain_depth: must be between 1 and 16, not 17`,
				`trust_stores[0].max_certificate_size: must be between 1 and 1048576, not -1`,
				`trust_stores[0].revocations: 2 revocation lists, more than max_revocations (1)`,
			},
		},
		{
			name: "require_crl without revocations",
			doc:  "trust_stores: [{ name: a, ca_certificates_bundle: a.pem, require_crl: true }]\n",
			want: []string{`trust_stores[0].require_crl: true with no revocations would refuse every client certificate`},
		},
		{
			name: "revoke_live_connections not a boolean",
			doc:  "trust_stores: [{ name: a, ca_certificates_bundle: a.pem, revoke_live_connections: sometimes }]\n",
			want: []string{`trust_stores[0].revoke_live_connections: expected true or false, got string "sometimes"`},
		},
		{
			name: "revocation needs one source",
			doc: `
trust_stores:
  - name: a
    ca_certificates_bundle: a.pem
    revocations: [{}, { crl: a.crl, url: "https://x/a.crl" }, { url: "ftp://x/a.crl" }]
`,
			want: []string{
				`trust_stores[0].revocations[0]: needs crl (a file) or url`,
				`trust_stores[0].revocations[1]: set crl or url, not both`,
				`trust_stores[0].revocations[2].url: "ftp://x/a.crl" must be an http or https URL`,
			},
		},
		{
			name: "port 0 and port out of range",
			doc:  listenerDoc(httpsListener(0, "") + httpsListener(70000, "")),
			want: []string{
				`listeners[0].port: must be between 1 and 65535, not 0`,
				`listeners[1].port: must be between 1 and 65535, not 70000`,
			},
		},
		{
			name: "port as a string",
			doc:  listenerDoc(strings.Replace(httpsListener(1, ""), "port: 1", `port: "8443"`, 1)),
			want: []string{`listeners[0].port: expected an integer, got string "8443"`},
		},
		{
			name: "https without certificates",
			doc: listenerDoc(`  - port: 8443
    protocol: HTTPS
    default_actions: [{ type: forward, target_group: app }]
`),
			want: []string{`listeners[0].certificates: an HTTPS listener needs at least one certificate`},
		},
		{
			name: "certificate without key",
			doc: listenerDoc(`  - port: 8443
    protocol: HTTPS
    certificates: [{ certificate: s.pem }]
    default_actions: [{ type: forward, target_group: app }]
`),
			want: []string{`listeners[0].certificates[0].private_key: required`},
		},
		{
			name: "missing protocol",
			doc: listenerDoc(`  - port: 8443
    default_actions: [{ type: forward, target_group: app }]
`),
			want: []string{`listeners[0].protocol: required: HTTP, HTTPS, TCP or TLS`},
		},
		{
			name: "forward to unknown target group",
			doc: listenerDoc(`  - port: 8443
    protocol: HTTPS
    certificates: [{ certificate: s.pem, private_key: k.pem }]
    default_actions: [{ type: forward, target_group: ap }]
`),
			want: []string{`listeners[0].default_actions[0].target_group: no target group named "ap"`},
		},
		{
			name: "forward in both forms",
			doc: listenerDoc(`  - port: 8443
    protocol: HTTPS
    certificates: [{ certificate: s.pem, private_key: k.pem }]
    default_actions:
      - type: forward
        target_group: app
        forward: { target_groups: [{ target_group: app }] }
`),
			want: []string{`listeners[0].default_actions[0].target_group: set target_group or forward, not both`},
		},
		{
			name: "no default action",
			doc: listenerDoc(`  - port: 8443
    protocol: HTTPS
    certificates: [{ certificate: s.pem, private_key: k.pem }]
`),
			want: []string{`listeners[0].default_actions: required: one action`},
		},
		{
			name: "invalid header renames",
			doc: listenerDoc(httpsListener(8443, `    header_names:
      x_amzn_mtls_clientcert_subject: X Client Subject
      x_amzn_mtls_clientcert_issuer: Host
      x_amzn_mtls_clientcert_colour: X-Colour
`)),
			want: []string{
				"listeners[0].header_names.x_amzn_mtls_clientcert_subject: \"X Client Subject\" is not a valid header name (letters, digits and !#$%&'*+-.^_`|~)",
				`listeners[0].header_names.x_amzn_mtls_clientcert_issuer: "Host" is a header that mtlslb or HTTP itself manages`,
				`listeners[0].header_names.x_amzn_mtls_clientcert_colour: unknown header key (one of x_amzn_mtls_clientcert, x_amzn_mtls_clientcert_serial_number, x_amzn_mtls_clientcert_issuer, x_amzn_mtls_clientcert_subject, x_amzn_mtls_clientcert_validity, x_amzn_mtls_clientcert_leaf, x_amzn_tls_version, x_amzn_tls_cipher_suite)`,
			},
		},
		{
			name: "header renamed onto another header's name",
			doc: listenerDoc(httpsListener(8443, `    header_names:
      x_amzn_mtls_clientcert_subject: x-amzn-mtls-clientcert-issuer
`)),
			want: []string{`listeners[0].header_names.x_amzn_mtls_clientcert_subject: "x-amzn-mtls-clientcert-issuer" is also the name of x_amzn_mtls_clientcert_issuer`},
		},
		{
			name: "two headers renamed to one name",
			doc: listenerDoc(httpsListener(8443, `    header_names:
      x_amzn_mtls_clientcert_subject: X-Client
      x_amzn_mtls_clientcert_leaf: x-client
`)),
			want: []string{`listeners[0].header_names.x_amzn_mtls_clientcert_leaf: "x-client" is also the name of x_amzn_mtls_clientcert_subject`},
		},
		{
			name: "duplicate names",
			doc: `
trust_stores:
  - { name: partners, ca_certificates_bundle: a.pem }
  - { name: partners, ca_certificates_bundle: b.pem }
target_groups:
  - { name: app }
  - { name: app }
`,
			want: []string{
				`trust_stores[1].name: duplicate trust store name "partners" (also trust_stores[0])`,
				`target_groups[1].name: duplicate target group name "app" (also target_groups[0])`,
			},
		},
		{
			name: "bad target group names and targets",
			doc: `
target_groups:
  - name: -app
    targets:
      - { id: "10.0.0.256", port: 80 }
      - { id: backend.internal, port: 0 }
      - { id: backend.internal, port: 80, weight: 1 }
      - { id: backend.internal, port: 80 }
`,
			want: []string{
				`target_groups[0].name: "-app" must be 1–32 letters, digits and hyphens, not starting or ending with a hyphen`,
				`target_groups[0].targets[0].id: "10.0.0.256" is not an IP address or a host name`,
				`target_groups[0].targets[1].port: must be between 1 and 65535, not 0`,
				`target_groups[0].targets[3]: backend.internal:80 is also target_groups[0].targets[2]`,
			},
		},
		{
			name: "health check",
			doc: `
target_groups:
  - name: app
    health_check: { protocol: TCP, interval_seconds: 5, timeout_seconds: 5, matcher: { http_code: "600" } }
  - name: app2
    health_check: { path: healthz, matcher: { http_code: "200-199" }, port: 0 }
`,
			want: []string{
				`target_groups[0].health_check.protocol: an HTTP target group is checked with HTTP or HTTPS, not TCP`,
				`target_groups[0].health_check.timeout_seconds: 5 must be less than interval_seconds (5)`,
				`target_groups[0].health_check.matcher: only HTTP and HTTPS health checks have a matcher`,
				`target_groups[1].health_check.port: must be "traffic-port" or a port between 1 and 65535, not "0"`,
				`target_groups[1].health_check.path: must start with / and be at most 1024 characters, not "healthz"`,
				`target_groups[1].health_check.matcher.http_code: "200-199" must be codes 200–499 as "200", "200,202" or "200-299"`,
			},
		},
		{
			name: "boolean where a string belongs",
			doc:  listenerDoc(strings.Replace(httpsListener(8443, ""), "protocol: HTTPS", "protocol: yes", 1)),
			want: []string{
				`listeners[0].protocol: expected a string, got true (YAML reads unquoted yes, no, on and off as booleans: quote the value)`,
			},
		},
		{
			name: "wrong shapes",
			doc: `
attributes: [1, 2]
listeners: { port: 1 }
target_groups:
  - name: app
    targets: [ "10.0.0.1:80" ]
    attributes: { proxy_protocol_v2: maybe, slow_start_duration_seconds: 1.5 }
`,
			want: []string{
				`attributes: expected a mapping, got a list`,
				`listeners: expected a list, got a mapping`,
				`target_groups[0].targets[0]: expected a mapping, got string "10.0.0.1:80"`,
				`target_groups[0].attributes.proxy_protocol_v2: expected true or false, got string "maybe"`,
				`target_groups[0].attributes.slow_start_duration_seconds: expected an integer, got 1.5`,
			},
		},
		{
			name: "document is not a mapping",
			doc:  "- a\n- b\n",
			want: []string{`the document must be a mapping of keys, got a list`},
		},
		{
			name: "attributes",
			doc: `
name: my_lb
attributes:
  idle_timeout_seconds: 5000
  connection_logs: { enabled: true }
  access_logs: { enabled: true, path: same.log }
  xff_header_processing_mode: drop
`,
			want: []string{
				`name: "my_lb" must be 1–32 letters, digits and hyphens, not starting or ending with a hyphen`,
				`attributes.idle_timeout_seconds: must be between 1 and 4000, not 5000`,
				`attributes.connection_logs.path: required when enabled: a file, or "-" for standard output`,
				`attributes.xff_header_processing_mode: must be append, preserve or remove, not "drop"`,
			},
		},
		{
			name: "logs share a file",
			doc: `
attributes:
  connection_logs: { enabled: true, path: logs/x.log }
  access_logs: { enabled: true, path: ./logs/x.log }
`,
			want: []string{`attributes.access_logs.path: "./logs/x.log" is also attributes.connection_logs.path: use two files`},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := Parse([]byte(c.doc), t.TempDir())
			if err == nil {
				t.Fatalf("Parse accepted the document: %+v", d)
			}
			if d != nil {
				t.Errorf("Parse returned a document with an error")
			}
			if diff := cmp.Diff(c.want, problemsOf(t, err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseSyntaxErrors(t *testing.T) {
	cases := []struct {
		name string
		doc  string
		want FieldError
	}{
		{
			name: "bad indentation",
			doc:  "name: a\nlisteners:\n  - port: 8443\n   protocol: HTTPS\n",
			want: FieldError{Line: 4, Msg: "invalid YAML: did not find expected '-' indicator"},
		},
		{
			name: "unclosed flow sequence",
			doc:  "name: a\ntarget_groups: [\n",
			want: FieldError{Line: 2, Msg: "invalid YAML: did not find expected node content"},
		},
		{
			name: "unclosed quote",
			doc:  "name: a\nlisteners: \"x\n",
			want: FieldError{Line: 2, Msg: "invalid YAML: found unexpected end of stream"},
		},
		{
			name: "error on the first line",
			doc:  "name: a: b\nlisteners: []\n",
			want: FieldError{Line: 1, Msg: "invalid YAML: mapping values are not allowed in this context"},
		},
		{
			name: "duplicate key",
			doc:  "name: a\nlisteners:\n  - port: 1\n    port: 2\n",
			want: FieldError{Path: "listeners[0].port", Line: 4, Msg: `duplicate key "port"`},
		},
		{
			name: "tab indentation",
			doc:  "name: a\nattributes:\n\tidle_timeout_seconds: 5\n",
			want: FieldError{Line: 3, Msg: "invalid YAML: found character that cannot start any token"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.doc), "")
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("error %v is not a *ValidationError", err)
			}
			if diff := cmp.Diff([]FieldError{c.want}, verr.Errors); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			if !strings.Contains(err.Error(), "(line ") {
				t.Errorf("message %q does not give the line", err)
			}
		})
	}
}

func TestParseReportsEverythingWithLines(t *testing.T) {
	doc := `name: demo
trust_stores:
  - name: partners
    ca_certificates_bundle: ca.pem
    stale_crl_policy: sometimes
listeners:
  - port: 8443
    protocol: HTTPS
    certificates: [{ certificate: s.pem, private_key: k.pem }]
    mutual_authentication:
      mdoe: verify
      trust_store: partners
    default_actions: [{ type: forward, target_group: nosuch }]
  - port: 8443
    protocol: HTTP
    default_actions: [{ type: forward, target_group: app }]
target_groups:
  - name: app
    targets: [{ id: 10.0.0.1, port: 0 }]
`
	_, err := Parse([]byte(doc), "")
	want := `trust_stores[0].stale_crl_policy: must be use, reject or a duration such as "72h", not "sometimes" (line 5)
listeners[0].mutual_authentication.mdoe: unknown field (did you mean "mode"?) (line 11)
listeners[0].mutual_authentication.trust_store: only allowed in verify and optional modes (mode is off) (line 12)
listeners[0].default_actions[0].target_group: no target group named "nosuch" (line 13)
listeners[1].port: port 8443 on every interface is already used by listeners[0] (line 14)
target_groups[0].targets[0].port: must be between 1 and 65535, not 0 (line 19)`
	if err == nil {
		t.Fatal("Parse accepted the document")
	}
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
}

func TestParseYAML11Booleans(t *testing.T) {
	// Unquoted on and off are booleans in YAML 1.1, which the YAML library
	// speaks: the keys that take them must still mean what was written.
	doc := listenerDoc(httpsListener(8443, "    mutual_authentication: { mode: verify, trust_store: partners, advertise_trust_store_ca_names: on }\n") +
		httpsListener(8444, "    mutual_authentication: { mode: off, advertise_trust_store_ca_names: off }\n"))
	d, err := Parse([]byte(doc), "")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := d.Listeners[0].MutualAuthentication.AdvertiseTrustStoreCANames; got != On {
		t.Errorf("advertise unquoted on = %q, want on", got)
	}
	if got := d.Listeners[1].MutualAuthentication; got.Mode != ModeOff || got.AdvertiseTrustStoreCANames != Off {
		t.Errorf("unquoted off = %+v, want mode off, advertise off", got)
	}
}

func TestRevokeLiveConnections(t *testing.T) {
	cases := []struct {
		name  string
		value string // the key's YAML value; "" leaves the key out
		want  bool
	}{
		{name: "default", want: false},
		{name: "true", value: "true", want: true},
		{name: "false", value: "false", want: false},
		{name: "YAML 1.1 yes", value: "yes", want: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := minimalVerify
			if c.value != "" {
				doc = strings.Replace(doc, "    ca_certificates_bundle: pki/ca.pem\n",
					"    ca_certificates_bundle: pki/ca.pem\n    revoke_live_connections: "+c.value+"\n", 1)
			}
			d, err := Parse([]byte(doc), t.TempDir())
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := d.TrustStores[0].RevokeLiveConnections; got != c.want {
				t.Errorf("RevokeLiveConnections = %t, want %t", got, c.want)
			}
			if probs := CheckSupported(d); len(probs) != 0 {
				t.Errorf("CheckSupported: %v", probs)
			}
		})
	}
}

func TestParseJSON(t *testing.T) {
	doc := `{
  "trust_stores": [{"name": "partners", "ca_certificates_bundle": "ca.pem", "stale_crl_policy": "72h", "max_crl_age": "168h"}],
  "listeners": [{
    "port": 8443, "protocol": "HTTPS",
    "certificates": [{"certificate": "s.pem", "private_key": "k.pem"}],
    "mutual_authentication": {"mode": "verify", "trust_store": "partners", "advertise_trust_store_ca_names": true},
    "default_actions": [{"type": "forward", "forward": {"target_groups": [{"target_group": "app"}]}}]
  }],
  "target_groups": [{"name": "app", "targets": [{"id": "backend.internal", "port": 8080}]}]
}`
	d, err := Parse([]byte(doc), "")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	ts := d.TrustStores[0]
	if ts.StaleCRLAction != StaleCRLUseForGrace || ts.StaleCRLGrace != 72*time.Hour || ts.MaxCRLAgeDuration != 168*time.Hour {
		t.Errorf("durations = %v %v %v, want grace 72h, max age 168h", ts.StaleCRLAction, ts.StaleCRLGrace, ts.MaxCRLAgeDuration)
	}
	if got := d.Listeners[0].MutualAuthentication.AdvertiseTrustStoreCANames; got != On {
		t.Errorf("advertise true = %q, want on", got)
	}
	fw := d.Listeners[0].DefaultActions[0].ForwardTargetGroups()
	if len(fw) != 1 || fw[0].TargetGroup != "app" || *fw[0].Weight != 1 {
		t.Errorf("forward = %+v, want app with weight 1", fw)
	}

	_, err = Parse([]byte(`{"listeners": [{"port": 1, "protocol": "HTTPS", "extra": 1}]}`), "")
	if err == nil || !strings.Contains(err.Error(), "listeners[0].extra: unknown field (line 1)") {
		t.Errorf("unknown key in JSON: got %v", err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lb.yaml")
	doc := minimalVerify + `
attributes:
  connection_logs: { enabled: true, path: "-" }
  access_logs: { enabled: true, path: /var/log/access.log }
`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got, want := d.TrustStores[0].CACertificatesBundle.Abs, filepath.Join(dir, "pki", "ca.pem"); got != want {
		t.Errorf("bundle = %q, want %q", got, want)
	}
	if got := d.Attributes.ConnectionLogs.Path.Abs; got != Stdout {
		t.Errorf("stdout log path = %q, want -", got)
	}
	if got := d.Attributes.AccessLogs.Path.Abs; got != "/var/log/access.log" {
		t.Errorf("absolute log path = %q, want it unchanged", got)
	}

	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file: got %v, want a not-exist error", err)
	}
	if err := os.WriteFile(path, []byte("listeners: [{ port: 0 }]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var verr *ValidationError
	if _, err := Load(path); !errors.As(err, &verr) {
		t.Errorf("Load of a bad document: got %v, want a *ValidationError", err)
	}
}

func TestParseTooLarge(t *testing.T) {
	_, err := Parse(make([]byte, MaxDocumentSize+1), "")
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("got %v, want a size error", err)
	}
}

func TestCheckSupported(t *testing.T) {
	cases := []struct {
		name string
		doc  string
		want []string
	}{
		{
			name: "layer-4 listener and target group",
			doc: `
listeners:
  - port: 443
    protocol: TCP
    default_actions: [{ type: forward, target_group: tcp }]
target_groups:
  - { name: tcp, protocol: TCP, targets: [{ id: 10.0.0.1, port: 443 }] }
`,
			want: nil,
		},
		{
			name: "default action other than one forward",
			doc: `
target_groups:
  - { name: app, targets: [{ id: 10.0.0.1, port: 80 }] }
  - { name: app2, targets: [{ id: 10.0.0.2, port: 80 }] }
listeners:
  - port: 8443
    protocol: HTTPS
    certificates: [{ certificate: s.pem, private_key: k.pem }]
    default_actions: [{ type: fixed_response, fixed_response: { status_code: 404 } }]
  - port: 8444
    protocol: HTTPS
    certificates: [{ certificate: s.pem, private_key: k.pem }]
    default_actions:
      - type: forward
        forward:
          target_groups: [{ target_group: app }, { target_group: app2, weight: 0 }]
          stickiness: { enabled: true, duration_seconds: 60 }
`,
			want: nil,
		},
		{
			name: "target group features",
			doc: `
target_groups:
  - name: app
    protocol: HTTPS
    protocol_version: GRPC
    attributes:
      load_balancing_algorithm_type: least_outstanding_requests
      slow_start_duration_seconds: 30
      stickiness: { enabled: true, type: app_cookie, cookie_name: SESSION }
`,
			want: []string{
				`target_groups[0].attributes.stickiness.type: app_cookie not supported yet (use lb_cookie)`,
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, probs := decode([]byte(c.doc))
			if len(probs) != 0 {
				t.Fatalf("decode: %v", probs)
			}
			SetDefaults(d)
			if err := validateOnly(d); err != nil {
				t.Fatalf("the document must be valid apart from support: %v", err)
			}
			var got []string
			for _, fe := range CheckSupported(d) {
				got = append(got, fe.Error())
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("CheckSupported (-want +got):\n%s", diff)
			}
		})
	}
}

// validateOnly is Validate without the support check.
func validateOnly(d *Document) error {
	v := validator{trustStores: map[string]string{}, targetGroups: map[string]targetGroupRef{}}
	v.document(d)
	return v.probs.err()
}

func TestSetDefaultsKeepsValues(t *testing.T) {
	zero := 0
	d := &Document{
		Name: "x",
		TargetGroups: []TargetGroup{{
			Name:       "tcp",
			Protocol:   ProtocolTLS,
			Attributes: TargetGroupAttributes{DeregistrationDelayTimeoutSeconds: &zero},
		}},
		Listeners: []Listener{{Protocol: ProtocolHTTP}},
	}
	SetDefaults(d)
	once, err := d.Normalized()
	if err != nil {
		t.Fatal(err)
	}
	SetDefaults(d)
	twice, err := d.Normalized()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(once), string(twice)); diff != "" {
		t.Errorf("SetDefaults is not idempotent (-once +twice):\n%s", diff)
	}
	tg := d.TargetGroups[0]
	if *tg.Attributes.DeregistrationDelayTimeoutSeconds != 0 {
		t.Errorf("an explicit 0 deregistration delay became %d", *tg.Attributes.DeregistrationDelayTimeoutSeconds)
	}
	if tg.HealthCheck.Protocol != ProtocolTCP || tg.HealthCheck.TimeoutSeconds != 10 || tg.HealthCheck.Matcher != nil ||
		tg.ProtocolVersion != "" || tg.Attributes.Stickiness.Type != "source_ip" {
		t.Errorf("TLS target group defaults = %+v", tg)
	}
	if d.Listeners[0].SSLPolicy != "" {
		t.Errorf("an HTTP listener got a TLS policy %q", d.Listeners[0].SSLPolicy)
	}
}

func TestHeaderNames(t *testing.T) {
	l := Listener{HeaderNames: map[string]string{HeaderClientCertLeaf: "X-Leaf"}}
	for _, key := range HeaderKeys() {
		want := DefaultHeaderName(key)
		if key == HeaderClientCertLeaf {
			want = "X-Leaf"
		}
		if got := l.HeaderName(key); got != want || got == "" {
			t.Errorf("HeaderName(%s) = %q, want %q", key, got, want)
		}
	}
	if DefaultHeaderName("x_other") != "" {
		t.Error("DefaultHeaderName of an unknown key is not empty")
	}
}

func TestEditDistance(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"mode", "mode", 0},
		{"mdoe", "mode", 1},
		{"mod", "mode", 1},
		{"prot", "port", 1},
		{"abc", "xyz", 3},
		{"", "abc", 3},
	}
	for _, c := range cases {
		if got := editDistance(c.a, c.b); got != c.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestParseHostileInput(t *testing.T) {
	laughs := "a: &a [x, x, x, x, x, x, x, x, x]\n"
	for _, c := range "bcdefghij" {
		prev := string(c - 1)
		laughs += string(c) + ": &" + string(c) + " [" + strings.TrimSuffix(strings.Repeat("*"+prev+", ", 9), ", ") + "]\n"
	}
	cases := []struct {
		name, doc, want string
	}{
		{"alias expansion", laughs, "invalid YAML: document contains excessive aliasing"},
		{"deep nesting", strings.Repeat("[", 20000) + strings.Repeat("]", 20000), "invalid YAML: exceeded max depth of 10000 (line 1)"},
		{"recursive alias", "a: &x [*x]\n", "invalid YAML: "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.doc), "")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestNormalizedLeavesDocumentAlone(t *testing.T) {
	d := &Document{Listeners: []Listener{{Port: 1, Protocol: ProtocolHTTPS}}}
	out, err := d.Normalized()
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "" || d.Listeners[0].SSLPolicy != "" || d.Attributes.HTTP2Enabled != nil {
		t.Errorf("Normalized changed its document: %+v", d)
	}
	if !strings.Contains(string(out), "name: mtlslb\n") || !strings.Contains(string(out), "ssl_policy: "+DefaultSSLPolicy) {
		t.Errorf("Normalized output lacks the defaults:\n%s", out)
	}
}

func BenchmarkParseInterfaceExample(b *testing.B) {
	doc := specExample(b)
	b.ReportAllocs()
	for b.Loop() {
		d, _ := parse(doc, "/etc/mtlslb")
		if d == nil {
			b.Fatal("no document")
		}
	}
}
