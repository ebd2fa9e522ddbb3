package upstream

import (
	"context"
	"errors"
	"net"
	"net/http"
	"syscall"
)

// Reasons for the error_reason field of the access log when a request to a target fails.
//
// ALB's documented error_reason codes cover authentication, weighted target groups, Lambda and WAF,
// and ALB leaves the field "-" for a 502 or 504 caused by an instance or IP target. mtlslb names the
// failure instead, in ALB's style: the names follow ALB's CloudWatch metrics for the same events
// (TargetConnectionErrorCount, TargetTLSNegotiationErrorCount) and its Lambda and WAF codes
// (LambdaConnectionTimeout, WAFResponseReadTimeout).
const (
	// ReasonTargetConnectionError: the target refused or reset the connection, or was unreachable.
	ReasonTargetConnectionError = "TargetConnectionError"
	// ReasonTargetConnectionTimeout: the TCP connect or the TLS handshake with the target timed out.
	ReasonTargetConnectionTimeout = "TargetConnectionTimeout"
	// ReasonTargetTLSNegotiationError: the TLS handshake with the target failed: no common version,
	// cipher or ALPN protocol, a certificate that did not verify, or the target refused ours.
	ReasonTargetTLSNegotiationError = "TargetTLSNegotiationError"
	// ReasonTargetResponseTimeout: the target accepted the request but sent no response headers in time.
	ReasonTargetResponseTimeout = "TargetResponseTimeout"
	// ReasonTargetResponseError: the target closed the connection before a complete response, or sent
	// a malformed one.
	ReasonTargetResponseError = "TargetResponseError"
)

// StatusClientClosedRequest is ALB's 460: the client went away before the response. It is logged,
// never sent.
const StatusClientClosedRequest = 460

// ErrHTTP2NotNegotiated is wrapped in the error of a connection to an HTTP2 or GRPC target group's
// target that did not select "h2" in ALPN.
var ErrHTTP2NotNegotiated = errors.New("target did not negotiate HTTP/2 (ALPN h2)")

// dialError marks a failure to open the TCP connection to a target.
type dialError struct{ err error }

func (e *dialError) Error() string { return "connecting to target: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// handshakeError marks a failure of the TLS handshake with a target, ALPN included.
type handshakeError struct {
	addr string
	err  error
}

func (e *handshakeError) Error() string {
	return "TLS handshake with target " + e.addr + ": " + e.err.Error()
}
func (e *handshakeError) Unwrap() error { return e.err }

// ErrorReason maps the error of a round trip through a transport of this package to the status mtlslb
// answers with and the access log's error_reason. A nil error gives (0, "").
//
// Timeouts answer 504, everything else the target did wrong 502 (alb-compat §7). A request whose
// context was cancelled gives StatusClientClosedRequest with no reason: the client left, and there is
// nobody to answer.
func ErrorReason(err error) (status int, reason string) {
	if err == nil {
		return 0, ""
	}
	// Cancellation first: a client that leaves mid-handshake surfaces as a handshake error wrapping
	// context.Canceled, and it is not the target's fault.
	if errors.Is(err, context.Canceled) {
		return StatusClientClosedRequest, ""
	}
	if de := (*dialError)(nil); errors.As(err, &de) {
		if isTimeout(err) {
			return http.StatusGatewayTimeout, ReasonTargetConnectionTimeout
		}
		return http.StatusBadGateway, ReasonTargetConnectionError
	}
	if he := (*handshakeError)(nil); errors.As(err, &he) {
		if isTimeout(err) {
			return http.StatusGatewayTimeout, ReasonTargetConnectionTimeout
		}
		if isReset(err) {
			// A target that drops the connection during the handshake is refusing the connection,
			// not disagreeing about TLS parameters.
			return http.StatusBadGateway, ReasonTargetConnectionError
		}
		return http.StatusBadGateway, ReasonTargetTLSNegotiationError
	}
	// With TLS 1.3 the client finishes its handshake before the target has checked the client
	// certificate, so the target's refusal arrives as an alert on the first read, after our handshake
	// succeeded. It is still a TLS negotiation failure.
	if oe := (*net.OpError)(nil); errors.As(err, &oe) && oe.Op == "remote error" {
		return http.StatusBadGateway, ReasonTargetTLSNegotiationError
	}
	if isTimeout(err) {
		return http.StatusGatewayTimeout, ReasonTargetResponseTimeout
	}
	if isReset(err) || errors.Is(err, syscall.ECONNREFUSED) {
		return http.StatusBadGateway, ReasonTargetConnectionError
	}
	return http.StatusBadGateway, ReasonTargetResponseError
}

// isTimeout reports whether err is a deadline: the transports' own timeouts (dial, handshake,
// response headers) are net.Errors that say so, and a context deadline is one too.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED)
}
