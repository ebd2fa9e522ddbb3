package tlsconfig

import "crypto/tls"

// Policy is a named TLS preset in ALB's vocabulary.
type Policy struct {
	MinVersion, MaxVersion uint16
	// CipherSuites are the TLS 1.2 suites; TLS 1.3 suites are not configurable in crypto/tls (all three are
	// offered, which is what every ALB TLS13 policy offers).
	CipherSuites []uint16
	// Curves are the key-exchange groups offered, in preference order.
	Curves []tls.CurveID
	// Unavailable lists the policy's suites that crypto/tls cannot offer, for the documentation.
	Unavailable []string
}

// DefaultPolicy is ALB's default security policy.
const DefaultPolicy = "ELBSecurityPolicy-TLS13-1-2-2021-06"

// Policies are the security policies mtlslb knows. More of alb-compat §8 arrive with layer-7 routing.
var Policies = map[string]Policy{
	DefaultPolicy: {
		MinVersion: tls.VersionTLS12,
		MaxVersion: tls.VersionTLS13,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		},
		// ALB offers post-quantum key exchange only in its PQ policies; the default offers classic groups.
		Curves:      []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP384},
		Unavailable: []string{"ECDHE-ECDSA-AES256-SHA384", "ECDHE-RSA-AES256-SHA384"},
	},
}
