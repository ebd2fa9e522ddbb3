package config

// The keys of Listener.HeaderNames: the words of ALB's
// routing.http.request.<key>.header_name attributes, one per header mtlslb
// owns (alb-compat.md §3.1).
const (
	HeaderClientCert             = "x_amzn_mtls_clientcert"
	HeaderClientCertSerialNumber = "x_amzn_mtls_clientcert_serial_number"
	HeaderClientCertIssuer       = "x_amzn_mtls_clientcert_issuer"
	HeaderClientCertSubject      = "x_amzn_mtls_clientcert_subject"
	HeaderClientCertValidity     = "x_amzn_mtls_clientcert_validity"
	HeaderClientCertLeaf         = "x_amzn_mtls_clientcert_leaf"
	HeaderTLSVersion             = "x_amzn_tls_version"
	HeaderTLSCipherSuite         = "x_amzn_tls_cipher_suite"
)

// HeaderKeys returns the eight header keys in a fixed order.
func HeaderKeys() []string {
	return []string{
		HeaderClientCert,
		HeaderClientCertSerialNumber,
		HeaderClientCertIssuer,
		HeaderClientCertSubject,
		HeaderClientCertValidity,
		HeaderClientCertLeaf,
		HeaderTLSVersion,
		HeaderTLSCipherSuite,
	}
}

// DefaultHeaderName returns ALB's name of the header with the given key
// ("X-Amzn-Mtls-Clientcert-Subject"), or "" for a key that is not one of
// HeaderKeys.
func DefaultHeaderName(key string) string {
	switch key {
	case HeaderClientCert:
		return "X-Amzn-Mtls-Clientcert"
	case HeaderClientCertSerialNumber:
		return "X-Amzn-Mtls-Clientcert-Serial-Number"
	case HeaderClientCertIssuer:
		return "X-Amzn-Mtls-Clientcert-Issuer"
	case HeaderClientCertSubject:
		return "X-Amzn-Mtls-Clientcert-Subject"
	case HeaderClientCertValidity:
		return "X-Amzn-Mtls-Clientcert-Validity"
	case HeaderClientCertLeaf:
		return "X-Amzn-Mtls-Clientcert-Leaf"
	case HeaderTLSVersion:
		return "X-Amzn-Tls-Version"
	case HeaderTLSCipherSuite:
		return "X-Amzn-Tls-Cipher-Suite"
	}
	return ""
}

// HeaderName returns the name the listener uses for the header with the
// given key: its rename if any, else ALB's default.
func (l *Listener) HeaderName(key string) string {
	if name := l.HeaderNames[key]; name != "" {
		return name
	}
	return DefaultHeaderName(key)
}
