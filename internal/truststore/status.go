package truststore

// Status is the outcome of a client certificate verification, exactly as the
// connection log's tls_verify_status field reports it.
type Status uint8

// The statuses, in the order of the verification steps that produce them.
const (
	StatusSuccess Status = iota
	StatusClientCertMaxSizeExceeded
	StatusClientCertInvalid
	StatusClientCertTypeUnsupported
	StatusClientCertMaxChainDepthExceeded
	StatusClientCertUntrusted
	StatusClientCertNotYetValid
	StatusClientCertExpired
	StatusClientCertPurposeInvalid
	StatusClientCertCrlHit
	StatusClientCertCrlProcessingError
	StatusClientCertRejected
	StatusUnmappedConnectionError
)

// statusCodes holds the codes ALB logs after "Failed:", indexed by Status.
var statusCodes = [...]string{
	StatusSuccess:                         "",
	StatusClientCertMaxSizeExceeded:       "ClientCertMaxSizeExceeded",
	StatusClientCertInvalid:               "ClientCertInvalid",
	StatusClientCertTypeUnsupported:       "ClientCertTypeUnsupported",
	StatusClientCertMaxChainDepthExceeded: "ClientCertMaxChainDepthExceeded",
	StatusClientCertUntrusted:             "ClientCertUntrusted",
	StatusClientCertNotYetValid:           "ClientCertNotYetValid",
	StatusClientCertExpired:               "ClientCertExpired",
	StatusClientCertPurposeInvalid:        "ClientCertPurposeInvalid",
	StatusClientCertCrlHit:                "ClientCertCrlHit",
	StatusClientCertCrlProcessingError:    "ClientCertCrlProcessingError",
	StatusClientCertRejected:              "ClientCertRejected",
	StatusUnmappedConnectionError:         "UnmappedConnectionError",
}

// statusStrings holds the full connection-log values, built once so that
// String never allocates on the handshake path.
var statusStrings = [...]string{
	StatusSuccess:                         "Success",
	StatusClientCertMaxSizeExceeded:       "Failed:ClientCertMaxSizeExceeded",
	StatusClientCertInvalid:               "Failed:ClientCertInvalid",
	StatusClientCertTypeUnsupported:       "Failed:ClientCertTypeUnsupported",
	StatusClientCertMaxChainDepthExceeded: "Failed:ClientCertMaxChainDepthExceeded",
	StatusClientCertUntrusted:             "Failed:ClientCertUntrusted",
	StatusClientCertNotYetValid:           "Failed:ClientCertNotYetValid",
	StatusClientCertExpired:               "Failed:ClientCertExpired",
	StatusClientCertPurposeInvalid:        "Failed:ClientCertPurposeInvalid",
	StatusClientCertCrlHit:                "Failed:ClientCertCrlHit",
	StatusClientCertCrlProcessingError:    "Failed:ClientCertCrlProcessingError",
	StatusClientCertRejected:              "Failed:ClientCertRejected",
	StatusUnmappedConnectionError:         "Failed:UnmappedConnectionError",
}

// String returns the connection-log value: "Success" or "Failed:<code>".
// An unknown Status is reported as an unmapped connection error rather than
// as success, so a programming error can never log a failure as accepted.
func (s Status) String() string {
	if int(s) >= len(statusStrings) {
		return statusStrings[StatusUnmappedConnectionError]
	}
	return statusStrings[s]
}

// Code returns ALB's failure code ("ClientCertExpired"), or "" for success.
func (s Status) Code() string {
	if int(s) >= len(statusCodes) {
		return statusCodes[StatusUnmappedConnectionError]
	}
	return statusCodes[s]
}
