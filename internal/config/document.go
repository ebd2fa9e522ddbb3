package config

import (
	"encoding/json"
	"fmt"
	"time"
)

// Document is the whole configuration of one load balancer: the document of
// interface.md. Its json tags are the contract's keys, shared by the YAML
// file, the admin API and the store.
type Document struct {
	// Name is the load balancer's name, the `elb` field of the logs.
	// Default "mtlslb". ALB's rules: 1–32 letters, digits and hyphens, not
	// starting or ending with a hyphen (so it never breaks a log line).
	Name string `json:"name"`

	// Attributes are the load balancer attributes (ALB's names, snake_case).
	Attributes Attributes `json:"attributes"`

	// TrustStores are the CA bundles and CRLs that verify-mode listeners
	// authenticate clients against.
	TrustStores []TrustStore `json:"trust_stores,omitempty"`

	// Listeners accept connections on an address and port.
	Listeners []Listener `json:"listeners,omitempty"`

	// TargetGroups are the backends that actions forward to.
	TargetGroups []TargetGroup `json:"target_groups,omitempty"`
}

// Attributes are the load balancer attributes.
type Attributes struct {
	// IdleTimeoutSeconds closes a connection idle for this long: 1–4000,
	// default 60. 0 means the default.
	IdleTimeoutSeconds int `json:"idle_timeout_seconds"`

	// ConnectionLogs is the connection log (alb-compat.md §5). Disabled
	// unless enabled here.
	ConnectionLogs LogDestination `json:"connection_logs"`

	// AccessLogs is the access log (alb-compat.md §6). Disabled unless
	// enabled here.
	AccessLogs LogDestination `json:"access_logs"`

	// XFFHeaderProcessingMode is what happens to X-Forwarded-For: append
	// (default), preserve or remove.
	XFFHeaderProcessingMode string `json:"xff_header_processing_mode"`

	// PreserveHostHeader forwards the client's Host header unchanged.
	PreserveHostHeader bool `json:"preserve_host_header"`

	// TLSVersionAndCipherSuiteHeaders adds X-Amzn-Tls-Version and
	// X-Amzn-Tls-Cipher-Suite to forwarded requests.
	TLSVersionAndCipherSuiteHeaders bool `json:"tls_version_and_cipher_suite_headers"`

	// DesyncMitigationMode is monitor, defensive (default) or strictest.
	DesyncMitigationMode string `json:"desync_mitigation_mode"`

	// HTTP2Enabled offers HTTP/2 to clients through ALPN. Default true, as
	// ALB; a pointer because false must stay distinguishable from unset.
	HTTP2Enabled *bool `json:"http2_enabled"`
}

// LogDestination is where one log goes.
type LogDestination struct {
	// Enabled turns the log on. Default false.
	Enabled bool `json:"enabled"`

	// Path is the file to write, relative to the document's directory, or
	// "-" for standard output. Required when Enabled.
	Path FilePath `json:"path,omitzero"`
}

// Stdout is the value of a log path that means standard output.
const Stdout = "-"

// TrustStore is a named CA bundle with its revocation lists
// (alb-compat.md §4). Beyond ALB's keys it carries the limits ALB fixes and
// the policy for stale CRLs.
type TrustStore struct {
	// Name is 1–32 letters and digits, with single hyphens between them.
	Name string `json:"name"`

	// CACertificatesBundle is the PEM bundle of CA certificates, relative to
	// the document's directory.
	CACertificatesBundle FilePath `json:"ca_certificates_bundle"`

	// Revocations are the CRLs of the trust store, each a file or a URL.
	Revocations []Revocation `json:"revocations,omitempty"`

	// StaleCRLPolicy says what a CRL whose nextUpdate has passed does:
	// "use" (default: still used, with a warning), "reject" (certificates
	// of its issuer fail with ClientCertCrlProcessingError), or a grace
	// duration such as "72h" (used for that long past nextUpdate, then
	// rejected). Parsed by Validate into StaleCRLAction and StaleCRLGrace.
	StaleCRLPolicy string `json:"stale_crl_policy"`

	// MaxCRLAge (beyond ALB), a duration such as "168h", makes a CRL whose
	// thisUpdate is older than this unusable, whatever its nextUpdate says
	// (certificates of its issuer then fail with
	// ClientCertCrlProcessingError). Empty: no limit. Parsed by Validate
	// into MaxCRLAgeDuration.
	MaxCRLAge string `json:"max_crl_age,omitempty"`

	// RequireCRL (beyond ALB) makes every issuer on a verified path need a
	// CRL in this trust store: a certificate whose issuer has none fails
	// with ClientCertCrlProcessingError. Default false, as ALB.
	RequireCRL bool `json:"require_crl"`

	// RevokeLiveConnections (beyond ALB) makes every applied configuration
	// re-verify, against this trust store as it now is, the client
	// certificate of each live connection that a verify-mode listener
	// admitted with it, and close the connections that would now be
	// refused: a CRL that revokes the certificate, but also a CA removed
	// from the bundle or any other verification failure (fail closed, as a
	// handshake would). Default false: a change applies to new handshakes
	// only, and a connection authenticated before it is closed after its
	// next response.
	RevokeLiveConnections bool `json:"revoke_live_connections"`

	// MaxChainDepth is the most certificates a client may present, and the
	// longest path, leaf and anchor included: 1–16, default 4 (ALB's).
	MaxChainDepth int `json:"max_chain_depth"`

	// MaxCertificateSize is the largest DER certificate accepted from a
	// client or in the bundle, in bytes: 1–1048576, default 16384 (ALB's).
	MaxCertificateSize int `json:"max_certificate_size"`

	// MaxCACertificates is the most certificates the bundle may hold:
	// 1–1000000, default 1000 (ALB caps it at 25).
	MaxCACertificates int `json:"max_ca_certificates"`

	// MaxRevocations is the most CRLs the trust store may hold: 1–10000,
	// default 30 (ALB's).
	MaxRevocations int `json:"max_revocations"`

	// MaxCRLSize is the largest CRL file accepted, in bytes: up to 1 GiB,
	// default 52428800 (50 MiB, ALB's).
	MaxCRLSize int64 `json:"max_crl_size"`

	// MaxRevokedEntries is the most revoked serials across the trust
	// store's CRLs: up to 100000000, default 500000 (ALB's).
	MaxRevokedEntries int `json:"max_revoked_entries"`

	// StaleCRLAction is StaleCRLPolicy parsed. Set by Validate.
	StaleCRLAction StaleCRLAction `json:"-"`

	// StaleCRLGrace is the grace period when StaleCRLAction is
	// StaleCRLGrace. Set by Validate.
	StaleCRLGrace time.Duration `json:"-"`

	// MaxCRLAgeDuration is MaxCRLAge parsed; 0 means no limit. Set by
	// Validate.
	MaxCRLAgeDuration time.Duration `json:"-"`
}

// StaleCRLAction is what a trust store does with a CRL past its nextUpdate.
type StaleCRLAction int

const (
	// StaleCRLUse keeps using the CRL (with a warning): the default.
	StaleCRLUse StaleCRLAction = iota
	// StaleCRLReject stops using it: certificates of its issuer fail.
	StaleCRLReject
	// StaleCRLUseForGrace keeps using it for TrustStore.StaleCRLGrace past
	// nextUpdate, then rejects as StaleCRLReject.
	StaleCRLUseForGrace
)

// String returns the policy word of the action.
func (a StaleCRLAction) String() string {
	switch a {
	case StaleCRLUse:
		return "use"
	case StaleCRLReject:
		return "reject"
	case StaleCRLUseForGrace:
		return "grace"
	}
	return fmt.Sprintf("StaleCRLAction(%d)", int(a))
}

// Revocation is one CRL of a trust store: exactly one of CRL and URL.
type Revocation struct {
	// CRL is a CRL file (PEM or DER), relative to the document's directory.
	CRL FilePath `json:"crl,omitzero"`

	// URL (beyond ALB) is an http or https address the CRL is fetched from
	// and refreshed.
	URL string `json:"url,omitempty"`

	// RefreshInterval (with URL) is how often the CRL is fetched again at the least, as a Go duration
	// ("1h", the default; at least "1s"); it is also fetched before its nextUpdate.
	RefreshInterval string `json:"refresh_interval,omitempty"`

	// RefreshEvery is RefreshInterval parsed by Validate.
	RefreshEvery time.Duration `json:"-"`

	// ID is the revocation id, as ALB's RevocationId: increasing and never
	// reused in the life of the trust store. The store assigns it in store
	// mode; in a file it is left out and the CRL's position (from 1) is used.
	ID int64 `json:"revocation_id,omitempty"`
}

// Protocol is a listener's or target group's protocol.
type Protocol string

// The protocols of listeners and target groups.
const (
	ProtocolHTTP  Protocol = "HTTP"
	ProtocolHTTPS Protocol = "HTTPS"
	ProtocolTCP   Protocol = "TCP"
	ProtocolTLS   Protocol = "TLS"
)

// terminatesTLS reports whether a listener of protocol p holds certificates.
func (p Protocol) terminatesTLS() bool { return p == ProtocolHTTPS || p == ProtocolTLS }

// layer7 reports whether p carries HTTP.
func (p Protocol) layer7() bool { return p == ProtocolHTTP || p == ProtocolHTTPS }

// Listener accepts connections on one address and port.
type Listener struct {
	// Port is 1–65535. Required.
	Port int `json:"port"`

	// Address is the local IP address or host name to listen on. Empty:
	// every interface.
	Address string `json:"address,omitempty"`

	// Protocol is HTTP, HTTPS, TCP or TLS. Required.
	Protocol Protocol `json:"protocol"`

	// Certificates are the server certificates of an HTTPS or TLS listener
	// (at least one): the first is the default, the others are chosen by SNI.
	Certificates []Certificate `json:"certificates,omitempty"`

	// SSLPolicy names the TLS preset (alb-compat.md §8). Default, for HTTPS
	// and TLS listeners, DefaultSSLPolicy. The name is checked where the
	// presets live (tlsconfig), not here.
	SSLPolicy string `json:"ssl_policy,omitempty"`

	// MutualAuthentication is the client-certificate mode (alb-compat.md §1).
	MutualAuthentication MutualAuthentication `json:"mutual_authentication"`

	// HeaderNames renames some of the eight headers mtlslb owns, keyed by
	// the ALB attribute words (HeaderClientCert, …). See HeaderName.
	HeaderNames map[string]string `json:"header_names,omitempty"`

	// DefaultActions run when no rule matches: exactly one action.
	DefaultActions []Action `json:"default_actions"`

	// Rules are matched by priority, lowest first.
	Rules []Rule `json:"rules,omitempty"`

	// IdleTimeoutSeconds (TCP and TLS listeners) closes a connection on which
	// no byte moved for this long: 60–6000, default 350, as NLB. HTTP and
	// HTTPS listeners use the load balancer's idle_timeout_seconds.
	IdleTimeoutSeconds int `json:"idle_timeout_seconds,omitempty"`

	// ProxyProtocol accepts a PROXY protocol header (v1 or v2) in front of
	// connections from trusted networks only (beyond ALB).
	ProxyProtocol *ProxyProtocolConfig `json:"proxy_protocol,omitempty"`
}

// ProxyProtocolConfig says whose PROXY protocol headers a listener believes.
type ProxyProtocolConfig struct {
	// TrustedNetworks are CIDR blocks; a PROXY header from any other
	// address is refused as garbage. At least one.
	TrustedNetworks []string `json:"trusted_networks"`
}

// DefaultLayer4IdleTimeoutSeconds is the idle timeout of TCP and TLS
// listeners, NLB's 350 seconds.
const DefaultLayer4IdleTimeoutSeconds = 350

// DefaultSSLPolicy is the TLS preset of HTTPS and TLS listeners that name none.
const DefaultSSLPolicy = "ELBSecurityPolicy-TLS13-1-2-2021-06"

// Certificate is a server certificate and its key.
type Certificate struct {
	// Certificate is a PEM file, leaf first, which may include the chain.
	Certificate FilePath `json:"certificate"`

	// PrivateKey is the PEM file of the leaf's private key.
	PrivateKey FilePath `json:"private_key"`
}

// MutualAuthenticationMode is off, passthrough or verify.
type MutualAuthenticationMode string

// The mutual authentication modes (alb-compat.md §1).
const (
	ModeOff         MutualAuthenticationMode = "off"
	ModePassthrough MutualAuthenticationMode = "passthrough"
	ModeVerify      MutualAuthenticationMode = "verify"
	// ModeOptional (beyond ALB) requests a certificate and verifies it if
	// one is given, as verify does; a client without one is let in, and
	// rules decide (client_certificate conditions, require_client_certificate).
	ModeOptional MutualAuthenticationMode = "optional"
)

// verifies reports whether mode m verifies client certificates against a
// trust store.
func (m MutualAuthenticationMode) verifies() bool { return m == ModeVerify || m == ModeOptional }

// UnmarshalJSON accepts a string, and also a boolean because YAML 1.1 reads
// an unquoted `mode: off` as false; true becomes "on", which Validate
// refuses with the list of modes.
func (m *MutualAuthenticationMode) UnmarshalJSON(data []byte) error {
	s, err := stringOrBool(data, "a mode (off, passthrough or verify)")
	if err != nil {
		return err
	}
	*m = MutualAuthenticationMode(s)
	return nil
}

// OnOff is "on" or "off".
type OnOff string

// The two values of an OnOff.
const (
	On  OnOff = "on"
	Off OnOff = "off"
)

// UnmarshalJSON accepts "on" and "off", and also true and false because
// YAML 1.1 reads unquoted on and off as booleans.
func (o *OnOff) UnmarshalJSON(data []byte) error {
	s, err := stringOrBool(data, "on or off")
	if err != nil {
		return err
	}
	*o = OnOff(s)
	return nil
}

// stringOrBool decodes a JSON string, or a boolean as "on"/"off".
func stringOrBool(data []byte, want string) (string, error) {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return "", err
	}
	switch v := v.(type) {
	case string:
		return v, nil
	case bool:
		if v {
			return string(On), nil
		}
		return string(Off), nil
	case nil:
		return "", nil
	}
	return "", fmt.Errorf("expected %s, got %s", want, describeJSON(v))
}

// MutualAuthentication is a listener's client-certificate setting.
type MutualAuthentication struct {
	// Mode is off (default), passthrough or verify.
	Mode MutualAuthenticationMode `json:"mode"`

	// TrustStore names the trust store of verify mode: required in verify
	// mode, refused in the others.
	TrustStore string `json:"trust_store,omitempty"`

	// IgnoreClientCertificateExpiry accepts expired certificates (not
	// certificates that are not yet valid). Verify mode only.
	IgnoreClientCertificateExpiry bool `json:"ignore_client_certificate_expiry"`

	// AdvertiseTrustStoreCANames sends the trust store's CA subjects in the
	// CertificateRequest: "on" or "off" (default). Verify mode only.
	AdvertiseTrustStoreCANames OnOff `json:"advertise_trust_store_ca_names"`

	// IdentityFilters (beyond ALB, as NLB's client certificate identity
	// filters) admit only verified certificates whose identity matches;
	// a miss fails the handshake as ClientCertRejected. Verify and optional
	// modes only.
	IdentityFilters *IdentityFilters `json:"identity_filters,omitempty"`
}

// IdentityFilters match a client certificate's identity: a certificate
// passes when any pattern of any list matches (wildcards * and ?,
// ASCII-case-insensitive). At least one list must have a value.
type IdentityFilters struct {
	SubjectCN []string `json:"subject_cn,omitempty"`
	SubjectOU []string `json:"subject_ou,omitempty"`
	SANDNS    []string `json:"san_dns,omitempty"`
	SANURI    []string `json:"san_uri,omitempty"`
}

// Empty reports whether no pattern is set.
func (f *IdentityFilters) Empty() bool {
	return f == nil || len(f.SubjectCN)+len(f.SubjectOU)+len(f.SANDNS)+len(f.SANURI) == 0
}

// Action is what a listener does with a request (or, for TCP and TLS
// listeners, a connection). Type says which of the other fields applies.
type Action struct {
	// Type is forward, fixed_response or redirect.
	Type string `json:"type"`

	// TargetGroup is the short form of a forward to one target group.
	// Exactly one of TargetGroup and Forward is set in a forward action.
	TargetGroup string `json:"target_group,omitempty"`

	// Forward forwards to one or more weighted target groups.
	Forward *ForwardConfig `json:"forward,omitempty"`

	// FixedResponse answers without a target.
	FixedResponse *FixedResponseConfig `json:"fixed_response,omitempty"`

	// Redirect answers with a redirect.
	Redirect *RedirectConfig `json:"redirect,omitempty"`
}

// The action types.
const (
	ActionForward       = "forward"
	ActionFixedResponse = "fixed_response"
	ActionRedirect      = "redirect"
)

// ForwardTargetGroups returns the target groups a forward action sends to,
// whichever form the document used: `target_group: X` gives X with weight 1.
func (a *Action) ForwardTargetGroups() []WeightedTargetGroup {
	if a.TargetGroup != "" {
		one := 1
		return []WeightedTargetGroup{{TargetGroup: a.TargetGroup, Weight: &one}}
	}
	if a.Forward != nil {
		return a.Forward.TargetGroups
	}
	return nil
}

// ForwardConfig forwards to weighted target groups.
type ForwardConfig struct {
	// TargetGroups are 1–5 target groups with their weights.
	TargetGroups []WeightedTargetGroup `json:"target_groups"`

	// Stickiness keeps a client on the target group it was sent to.
	Stickiness *ForwardStickiness `json:"stickiness,omitempty"`
}

// WeightedTargetGroup is a target group of a forward action and its weight.
type WeightedTargetGroup struct {
	// TargetGroup is the target group's name.
	TargetGroup string `json:"target_group"`

	// Weight is 0–999, default 1. A pointer because 0 (no traffic) is a
	// value of its own.
	Weight *int `json:"weight,omitempty"`
}

// ForwardStickiness is target-group stickiness of a forward action.
type ForwardStickiness struct {
	// Enabled turns it on.
	Enabled bool `json:"enabled"`

	// DurationSeconds is 1–604800 (7 days), required when enabled.
	DurationSeconds int `json:"duration_seconds,omitempty"`
}

// FixedResponseConfig is a response mtlslb writes itself.
type FixedResponseConfig struct {
	// StatusCode is a 2XX, 4XX or 5XX code, as a string ("403").
	StatusCode string `json:"status_code"`

	// ContentType is text/plain, text/css, text/html,
	// application/javascript or application/json.
	ContentType string `json:"content_type,omitempty"`

	// MessageBody is at most 1024 bytes.
	MessageBody string `json:"message_body,omitempty"`
}

// RedirectConfig is a redirect. Every part may use the #{protocol},
// #{host}, #{port}, #{path} and #{query} placeholders, as ALB.
type RedirectConfig struct {
	// Protocol is HTTP, HTTPS or #{protocol}.
	Protocol string `json:"protocol,omitempty"`

	// Port is 1–65535 or #{port}, as a string.
	Port string `json:"port,omitempty"`

	// Host is the host name.
	Host string `json:"host,omitempty"`

	// Path starts with a slash.
	Path string `json:"path,omitempty"`

	// Query is the query string, without the leading "?".
	Query string `json:"query,omitempty"`

	// StatusCode is HTTP_301 or HTTP_302. Required.
	StatusCode string `json:"status_code"`
}

// Rule is a listener rule: when every condition matches, the actions run.
type Rule struct {
	// Priority is 1–50000, unique within the listener; lowest first.
	Priority int `json:"priority"`

	// Conditions must all match; at least one.
	Conditions []Condition `json:"conditions"`

	// Actions run on a match: exactly one action.
	Actions []Action `json:"actions"`

	// RequireClientCertificate (beyond ALB) answers 403, with a page saying
	// why, to a matching request whose connection has no verified client
	// certificate, instead of running the actions. Listeners in optional
	// mode use it to protect some routes of a hostname.
	RequireClientCertificate bool `json:"require_client_certificate,omitempty"`
}

// Condition is one condition of a rule: exactly one field is set.
type Condition struct {
	// PathPattern matches the path against wildcard patterns (* and ?).
	PathPattern *ValuesCondition `json:"path_pattern,omitempty"`

	// HostHeader matches the host name against wildcard patterns.
	HostHeader *ValuesCondition `json:"host_header,omitempty"`

	// HTTPHeader matches a header's value against wildcard patterns.
	HTTPHeader *HTTPHeaderCondition `json:"http_header,omitempty"`

	// HTTPRequestMethod matches the method.
	HTTPRequestMethod *ValuesCondition `json:"http_request_method,omitempty"`

	// QueryString matches query parameters.
	QueryString *QueryStringCondition `json:"query_string,omitempty"`

	// SourceIP matches the client address against CIDR blocks.
	SourceIP *ValuesCondition `json:"source_ip,omitempty"`

	// ClientCertificate (beyond ALB) matches the connection's client
	// certificate.
	ClientCertificate *ClientCertificateCondition `json:"client_certificate,omitempty"`
}

// ClientCertificateCondition matches the client certificate of the
// request's connection. Every field set must match (AND); within a list
// any pattern may match (OR). Patterns use * and ?, ASCII-case-insensitive.
// A connection without a verified certificate matches only verified: false.
type ClientCertificateCondition struct {
	// Verified, when set, matches connections with (true) or without
	// (false) a client certificate verified against the trust store.
	Verified *bool `json:"verified,omitempty"`

	// SubjectCN and SubjectOU match the leaf's subject attributes.
	SubjectCN []string `json:"subject_cn,omitempty"`
	SubjectOU []string `json:"subject_ou,omitempty"`

	// SANDNS and SANURI match the leaf's subject alternative names.
	SANDNS []string `json:"san_dns,omitempty"`
	SANURI []string `json:"san_uri,omitempty"`

	// Issuer matches the leaf's issuer, written as in the
	// X-Amzn-Mtls-Clientcert-Issuer header (RFC 2253).
	Issuer []string `json:"issuer,omitempty"`
}

// ValuesCondition matches when any of its values matches.
type ValuesCondition struct {
	// Values are the patterns; at least one.
	Values []string `json:"values"`
}

// HTTPHeaderCondition matches one header.
type HTTPHeaderCondition struct {
	// HTTPHeaderName is the header's name.
	HTTPHeaderName string `json:"http_header_name"`

	// Values are wildcard patterns; at least one.
	Values []string `json:"values"`
}

// QueryStringCondition matches when any of its pairs matches.
type QueryStringCondition struct {
	// Values are key/value patterns; at least one.
	Values []QueryStringPair `json:"values"`
}

// QueryStringPair is a query parameter pattern; an empty key matches any key.
type QueryStringPair struct {
	// Key is the parameter's name pattern, optional.
	Key string `json:"key,omitempty"`

	// Value is the parameter's value pattern. Required.
	Value string `json:"value"`
}

// TargetGroup is a set of targets that actions forward to.
type TargetGroup struct {
	// Name is 1–32 letters, digits and hyphens, not starting or ending with
	// a hyphen; unique.
	Name string `json:"name"`

	// Protocol is how mtlslb talks to the targets: HTTP (default), HTTPS,
	// TCP or TLS.
	Protocol Protocol `json:"protocol"`

	// ProtocolVersion is HTTP1 (default), HTTP2 or GRPC for HTTP and HTTPS
	// target groups; empty for TCP and TLS.
	ProtocolVersion string `json:"protocol_version,omitempty"`

	// Targets are the statically registered targets.
	Targets []Target `json:"targets,omitempty"`

	// HealthCheck is the active health check of every target.
	HealthCheck HealthCheck `json:"health_check"`

	// Attributes are the target group attributes.
	Attributes TargetGroupAttributes `json:"attributes"`

	// TLS (beyond ALB, HTTPS target groups only) sets how mtlslb's TLS
	// connections to targets authenticate: a client certificate to present
	// (upstream mTLS) and a CA bundle to verify targets against. Without it,
	// as ALB, targets' certificates are not verified.
	TLS *TargetTLS `json:"tls,omitempty"`
}

// TargetTLS is the TLS client side of an HTTPS target group.
type TargetTLS struct {
	// Certificate and PrivateKey are the client certificate (PEM, may
	// include the chain) presented to targets that ask for one.
	Certificate FilePath `json:"certificate,omitzero"`
	PrivateKey  FilePath `json:"private_key,omitzero"`

	// CACertificatesBundle verifies the targets' certificates when set.
	CACertificatesBundle FilePath `json:"ca_certificates_bundle,omitzero"`

	// ServerName is the name sent in SNI and verified in the target's
	// certificate; default the target's id.
	ServerName string `json:"server_name,omitempty"`
}

// Target is one backend.
type Target struct {
	// ID is an IP address or a host name.
	ID string `json:"id"`

	// Port is 1–65535. Required.
	Port int `json:"port"`

	// Weight (beyond ALB) is the target's share for weighted_random: 0–999,
	// default 1.
	Weight *int `json:"weight,omitempty"`
}

// HealthCheck is a target group's active health check; the defaults are
// ALB's (NLB's for TCP checks).
type HealthCheck struct {
	// Enabled turns the check on. Default true.
	Enabled *bool `json:"enabled"`

	// Protocol is HTTP, HTTPS or TCP. Default: the target group's protocol
	// (TCP for a TLS target group). HTTP and HTTPS target groups cannot use
	// TCP.
	Protocol Protocol `json:"protocol"`

	// Port is "traffic-port" (default: each target's port) or 1–65535.
	Port string `json:"port"`

	// Path is the request path of HTTP and HTTPS checks. Default "/".
	Path string `json:"path,omitempty"`

	// IntervalSeconds is 5–300, default 30. 0 means the default.
	IntervalSeconds int `json:"interval_seconds"`

	// TimeoutSeconds is 2–120 and less than IntervalSeconds; default 5 for
	// HTTP and HTTPS checks, 10 for TCP checks. 0 means the default.
	TimeoutSeconds int `json:"timeout_seconds"`

	// HealthyThresholdCount is 2–10, default 5. 0 means the default.
	HealthyThresholdCount int `json:"healthy_threshold_count"`

	// UnhealthyThresholdCount is 2–10, default 2. 0 means the default.
	UnhealthyThresholdCount int `json:"unhealthy_threshold_count"`

	// Matcher says which responses are healthy (HTTP and HTTPS checks).
	// Default http_code "200", or grpc_code "12" for GRPC target groups.
	Matcher *Matcher `json:"matcher,omitempty"`
}

// TrafficPort is the health-check port that means each target's own port.
const TrafficPort = "traffic-port"

// Matcher is the healthy response of an HTTP or HTTPS health check: one of
// HTTPCode and GRPCCode.
type Matcher struct {
	// HTTPCode is codes 200–499 as "200", "200,202" or "200-299".
	HTTPCode string `json:"http_code,omitempty"`

	// GRPCCode is gRPC codes 0–99 in the same forms, for GRPC target groups.
	GRPCCode string `json:"grpc_code,omitempty"`
}

// TargetGroupAttributes are the target group attributes.
type TargetGroupAttributes struct {
	// LoadBalancingAlgorithmType is round_robin (default),
	// least_outstanding_requests or weighted_random.
	LoadBalancingAlgorithmType string `json:"load_balancing_algorithm_type"`

	// DeregistrationDelayTimeoutSeconds is how long a removed target keeps
	// its connections: 0–3600, default 300. A pointer because 0 is a value.
	DeregistrationDelayTimeoutSeconds *int `json:"deregistration_delay_timeout_seconds"`

	// SlowStartDurationSeconds is 0 (off, default) or 30–900.
	SlowStartDurationSeconds int `json:"slow_start_duration_seconds"`

	// Stickiness binds a client to a target.
	Stickiness TargetGroupStickiness `json:"stickiness"`

	// ProxyProtocolV2 sends a PROXY v2 header first (TCP and TLS target
	// groups only).
	ProxyProtocolV2 bool `json:"proxy_protocol_v2"`
}

// TargetGroupStickiness binds a client to one target.
type TargetGroupStickiness struct {
	// Enabled turns it on. Default false.
	Enabled bool `json:"enabled"`

	// Type is lb_cookie (default for HTTP and HTTPS), app_cookie, or
	// source_ip (default for TCP and TLS).
	Type string `json:"type"`

	// CookieDurationSeconds is 1–604800, default 86400.
	CookieDurationSeconds int `json:"cookie_duration_seconds,omitempty"`

	// CookieName is the application's cookie, required for app_cookie.
	CookieName string `json:"cookie_name,omitempty"`
}
