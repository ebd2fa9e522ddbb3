package tlsconfig

import (
	"crypto/tls"
	"slices"
	"strings"
)

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

// The TLS 1.2 suites of ALB's TLS13 policies, by OpenSSL name.
var (
	suitesAEAD = []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	}
	suitesDefault = []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	}
	suitesExt1 = append(append([]uint16(nil), suitesDefault...),
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
		tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	)
	classicCurves = []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP384}
)

// Policies are the security policies mtlslb knows (alb-compat §8). ALB's TLS 1.3 suites are the three every
// TLS 1.3 stack offers, which crypto/tls does not let a server configure.
var Policies = map[string]Policy{
	DefaultPolicy: {
		MinVersion:   tls.VersionTLS12,
		MaxVersion:   tls.VersionTLS13,
		CipherSuites: suitesDefault,
		// ALB offers post-quantum key exchange only in its PQ policies; the default offers classic groups.
		Curves:      classicCurves,
		Unavailable: []string{"ECDHE-ECDSA-AES256-SHA384", "ECDHE-RSA-AES256-SHA384"},
	},
	"ELBSecurityPolicy-TLS13-1-2-Res-2021-06": {
		MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13,
		CipherSuites: suitesAEAD, Curves: classicCurves,
	},
	"ELBSecurityPolicy-TLS13-1-3-2021-06": {
		MinVersion: tls.VersionTLS13, MaxVersion: tls.VersionTLS13, Curves: classicCurves,
	},
	"ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06": {
		MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13,
		CipherSuites: suitesExt1, Curves: classicCurves,
		Unavailable: []string{"ECDHE-ECDSA-AES256-SHA384", "ECDHE-RSA-AES256-SHA384"},
	},
	"ELBSecurityPolicy-TLS13-1-2-PQ-2025-09": {
		MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13,
		CipherSuites: suitesDefault,
		// The hybrid group first: clients that offer it get post-quantum key exchange, others a classic one.
		Curves:      []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256, tls.CurveP384},
		Unavailable: []string{"ECDHE-ECDSA-AES256-SHA384", "ECDHE-RSA-AES256-SHA384"},
	},
}

// PolicyNames returns the known policy names, sorted.
func PolicyNames() string {
	names := make([]string, 0, len(Policies))
	for n := range Policies {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
