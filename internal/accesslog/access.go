package accesslog

import (
	"net/netip"
	"strconv"
	"time"
)

// RequestType is the access log's first field: the kind of request or
// connection the line is about.
type RequestType string

// The request types of alb-compat.md §6, as ALB writes them.
const (
	TypeHTTP  RequestType = "http"  // HTTP/1.x without TLS
	TypeHTTPS RequestType = "https" // HTTP/1.x over TLS
	TypeH2    RequestType = "h2"    // HTTP/2 over TLS
	TypeGRPCS RequestType = "grpcs" // gRPC over TLS
	TypeWS    RequestType = "ws"    // WebSocket
	TypeWSS   RequestType = "wss"   // WebSocket over TLS
)

// Action is one entry of the access log's actions_executed field.
type Action string

// The actions ALB names in actions_executed, in the order they run.
const (
	ActionWAF           Action = "waf"
	ActionWAFFailed     Action = "waf-failed"
	ActionAuthenticate  Action = "authenticate"
	ActionRedirect      Action = "redirect"
	ActionFixedResponse Action = "fixed-response"
	ActionForward       Action = "forward"
)

// NotApplicable is a processing time that does not apply, logged as -1 as
// ALB does (for instance the target and response times of a request never
// sent to a target).
const NotApplicable time.Duration = -1

// Values of AccessRecord.MatchedRulePriority besides a rule's priority
// (1 to 50000).
const (
	// PriorityDefault: no rule matched and the default action ran.
	PriorityDefault = 0
	// PriorityError: evaluating the rules failed; logged as -1.
	PriorityError = -1
	// PriorityNone: the request never reached rule evaluation (a malformed
	// request, for one); logged as "-". Any value below -1 is logged so.
	PriorityNone = -2
)

// maxUserAgent is where a User-Agent is cut, as ALB cuts it at 8 KB.
const maxUserAgent = 8 << 10

// AccessRecord is one access-log record: one request, or one WebSocket
// connection when it closes. Fields left zero are logged as "-", except
// where a field's comment says otherwise (see AppendAccessLine).
type AccessRecord struct {
	// Type is http, https, h2, grpcs, ws or wss.
	Type RequestType
	// Time is when the response was sent to the client (for WebSocket,
	// when the connection closed).
	Time time.Time
	// ELB is the load balancer's name.
	ELB string
	// Client is the client's address and port (after a PROXY header).
	Client netip.AddrPort
	// Target is the target that handled the request; the zero value when
	// the request was not forwarded.
	Target netip.AddrPort
	// RequestProcessingTime runs from receiving the request to sending it
	// to a target; TargetProcessingTime from then to the target's response
	// headers; ResponseProcessingTime from then to the response's first
	// byte to the client. Each is logged in seconds with three decimals,
	// or -1 when negative (NotApplicable). Zero is a real 0.000: a caller
	// must set NotApplicable explicitly.
	RequestProcessingTime  time.Duration
	TargetProcessingTime   time.Duration
	ResponseProcessingTime time.Duration
	// ELBStatusCode is the status sent to the client, TargetStatusCode the
	// one the target returned; 0 is logged as "-".
	ELBStatusCode    int
	TargetStatusCode int
	// ReceivedBytes and SentBytes count the request and response, headers
	// included, as ALB counts them.
	ReceivedBytes int64
	SentBytes     int64
	// Method, URL and Proto make the "request" field: "GET
	// https://www.example.com:443/path?q HTTP/1.1". The URL is
	// scheme://host:port/uri, with the URI as the client sent it. Each
	// empty part is "-", so a request that could not be parsed logs
	// "- - -".
	Method string
	URL    string
	Proto  string
	// UserAgent is the request's User-Agent, cut at 8 KiB.
	UserAgent string
	// TLSCipher and TLSVersion are crypto/tls's codes, logged by their
	// OpenSSL names as ssl_cipher and ssl_protocol; 0 for no TLS.
	TLSCipher  uint16
	TLSVersion uint16
	// TargetGroup is the target group's name (ALB logs an ARN here).
	TargetGroup string
	// TraceID is the X-Amzn-Trace-Id value sent to the target.
	TraceID string
	// DomainName is the SNI server name the client sent.
	DomainName string
	// ChosenCert identifies the certificate presented to the client
	// (ALB logs its ARN), or "session-reused" for a resumed session.
	ChosenCert string
	// MatchedRulePriority is the priority of the rule that matched,
	// PriorityDefault (0, the zero value) for the default action,
	// PriorityError or PriorityNone.
	MatchedRulePriority int
	// RequestCreationTime is when the first byte of the request arrived.
	RequestCreationTime time.Time
	// Actions are the actions taken, in order: "authenticate,forward".
	Actions []Action
	// RedirectURL is the Location of a redirect action's response.
	RedirectURL string
	// ErrorReason is ALB's error_reason code, when the request failed.
	ErrorReason string
	// TargetPortList and TargetStatusCodeList are the targets tried and
	// their statuses, in order. When nil they default to Target and
	// TargetStatusCode alone, the common case of one attempt.
	TargetPortList       []netip.AddrPort
	TargetStatusCodeList []int
	// Classification (Acceptable, Ambiguous, Severe) and
	// ClassificationReason are the desync mitigation verdict on the
	// request.
	Classification       string
	ClassificationReason string
	// ConnTraceID is the conn_trace_id of the connection, the same id as in
	// its connection-log line.
	ConnTraceID TraceID
}

// AppendAccessLine appends r to dst as one access-log line, newline
// included, and returns the extended buffer. The thirty fields are those of
// alb-compat.md §6, in ALB's order, separated by single spaces:
//
//	type time elb client:port target:port request_processing_time
//	target_processing_time response_processing_time elb_status_code
//	target_status_code received_bytes sent_bytes "request" "user_agent"
//	ssl_cipher ssl_protocol target_group_arn "trace_id" "domain_name"
//	"chosen_cert_arn" matched_rule_priority request_creation_time
//	"actions_executed" "redirect_url" "error_reason" "target:port_list"
//	"target_status_code_list" "classification" "classification_reason"
//	conn_trace_id
//
// A value that is unknown or does not apply is "-", inside the quotes for
// a quoted field ("-"). Times are ISO 8601 UTC with microseconds; an
// address and port are written ip:port, an IPv6 address without brackets,
// as ALB does (a reader splits at the last colon).
//
// Quoted fields are escaped so that the line stays one line and each field
// ends at its first unescaped '"': '"' and '\' are written \" and \\, and
// every byte outside printable ASCII (controls, DEL, and the bytes of
// non-ASCII UTF-8) as \xHH. In "request", a space inside the method, URL
// or protocol is written \x20 as well, so that the field always splits into
// exactly three parts. Unquoted free-text fields from configuration (ELB,
// TargetGroup) have any space or control byte replaced by '_'.
func AppendAccessLine(dst []byte, r *AccessRecord) []byte {
	dst = appendName(dst, string(r.Type))
	dst = append(dst, ' ')
	dst = appendTime(dst, r.Time)
	dst = append(dst, ' ')
	dst = appendField(dst, r.ELB)
	dst = append(dst, ' ')
	dst = appendAddrPort(dst, r.Client)
	dst = append(dst, ' ')
	dst = appendAddrPort(dst, r.Target)

	dst = append(dst, ' ')
	dst = appendSeconds(dst, r.RequestProcessingTime)
	dst = append(dst, ' ')
	dst = appendSeconds(dst, r.TargetProcessingTime)
	dst = append(dst, ' ')
	dst = appendSeconds(dst, r.ResponseProcessingTime)

	dst = append(dst, ' ')
	dst = appendStatus(dst, r.ELBStatusCode)
	dst = append(dst, ' ')
	dst = appendStatus(dst, r.TargetStatusCode)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, r.ReceivedBytes, 10)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, r.SentBytes, 10)

	dst = append(dst, ' ', '"')
	dst = appendRequestPart(dst, r.Method)
	dst = append(dst, ' ')
	dst = appendRequestPart(dst, r.URL)
	dst = append(dst, ' ')
	dst = appendRequestPart(dst, r.Proto)
	dst = append(dst, '"', ' ')
	ua := r.UserAgent
	if len(ua) > maxUserAgent {
		ua = ua[:maxUserAgent]
	}
	dst = appendQuotedAccess(dst, ua)

	dst = append(dst, ' ')
	dst = appendName(dst, CipherSuiteName(r.TLSCipher))
	dst = append(dst, ' ')
	dst = appendName(dst, TLSVersionName(r.TLSVersion))
	dst = append(dst, ' ')
	dst = appendField(dst, r.TargetGroup)

	dst = append(dst, ' ')
	dst = appendQuotedAccess(dst, r.TraceID)
	dst = append(dst, ' ')
	dst = appendQuotedAccess(dst, r.DomainName)
	dst = append(dst, ' ')
	dst = appendQuotedAccess(dst, r.ChosenCert)

	dst = append(dst, ' ')
	if r.MatchedRulePriority < PriorityError {
		dst = append(dst, '-')
	} else {
		dst = strconv.AppendInt(dst, int64(r.MatchedRulePriority), 10)
	}
	dst = append(dst, ' ')
	dst = appendTime(dst, r.RequestCreationTime)

	dst = append(dst, ' ')
	dst = appendActions(dst, r.Actions)
	dst = append(dst, ' ')
	dst = appendQuotedAccess(dst, r.RedirectURL)
	dst = append(dst, ' ')
	dst = appendQuotedAccess(dst, r.ErrorReason)
	dst = append(dst, ' ')
	dst = appendTargetList(dst, r)
	dst = append(dst, ' ')
	dst = appendStatusList(dst, r)
	dst = append(dst, ' ')
	dst = appendQuotedAccess(dst, r.Classification)
	dst = append(dst, ' ')
	dst = appendQuotedAccess(dst, r.ClassificationReason)
	dst = append(dst, ' ')
	dst = r.ConnTraceID.appendField(dst)
	return append(dst, '\n')
}

func appendTime(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(dst, '-')
	}
	return t.UTC().AppendFormat(dst, connTimeLayout)
}

// appendAddrPort appends ip:port, IPv6 without brackets, or "-".
func appendAddrPort(dst []byte, ap netip.AddrPort) []byte {
	if !ap.IsValid() {
		return append(dst, '-')
	}
	dst = ap.Addr().Unmap().AppendTo(dst)
	dst = append(dst, ':')
	return strconv.AppendUint(dst, uint64(ap.Port()), 10)
}

func appendSeconds(dst []byte, d time.Duration) []byte {
	if d < 0 {
		return append(dst, "-1"...)
	}
	return strconv.AppendFloat(dst, d.Seconds(), 'f', 3, 64)
}

func appendStatus(dst []byte, code int) []byte {
	if code <= 0 {
		return append(dst, '-')
	}
	return strconv.AppendInt(dst, int64(code), 10)
}

func appendRequestPart(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, '-')
	}
	return appendEscaped(dst, s, true)
}

// appendQuotedAccess appends s as a quoted access-log field, "-" when empty.
func appendQuotedAccess(dst []byte, s string) []byte {
	dst = append(dst, '"')
	if s == "" {
		dst = append(dst, '-')
	} else {
		dst = appendEscaped(dst, s, false)
	}
	return append(dst, '"')
}

// appendEscaped appends s escaped as AppendAccessLine documents; space too
// when escapeSpace is set.
func appendEscaped(dst []byte, s string, escapeSpace bool) []byte {
	const hexDigits = "0123456789abcdef"
	for i := range len(s) {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < ' ' || c >= 0x7f || c == ' ' && escapeSpace:
			dst = append(dst, '\\', 'x', hexDigits[c>>4], hexDigits[c&0x0f])
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

func appendActions(dst []byte, actions []Action) []byte {
	if len(actions) == 0 {
		return append(dst, `"-"`...)
	}
	dst = append(dst, '"')
	for i, a := range actions {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendEscaped(dst, string(a), true)
	}
	return append(dst, '"')
}

// appendTargetList appends "target:port_list": space-separated, as ALB
// separates the targets of retried requests.
func appendTargetList(dst []byte, r *AccessRecord) []byte {
	list := r.TargetPortList
	if list == nil && r.Target.IsValid() {
		list = []netip.AddrPort{r.Target}
	}
	return appendQuotedList(dst, list, appendAddrPort)
}

// appendStatusList appends "target_status_code_list", space-separated.
func appendStatusList(dst []byte, r *AccessRecord) []byte {
	list := r.TargetStatusCodeList
	if list == nil && r.TargetStatusCode > 0 {
		list = []int{r.TargetStatusCode}
	}
	return appendQuotedList(dst, list, appendStatus)
}

// appendQuotedList appends list's items, space-separated and quoted, or "-"
// when it is empty.
func appendQuotedList[T any](dst []byte, list []T, appendItem func([]byte, T) []byte) []byte {
	if len(list) == 0 {
		return append(dst, `"-"`...)
	}
	dst = append(dst, '"')
	for i, item := range list {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = appendItem(dst, item)
	}
	return append(dst, '"')
}
