package httpproxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mtlslb/mtlslb/internal/accesslog"
	"github.com/mtlslb/mtlslb/internal/balance"
	"github.com/mtlslb/mtlslb/internal/route"
	"github.com/mtlslb/mtlslb/internal/traceid"
	"github.com/mtlslb/mtlslb/internal/upstream"
)

// XFFMode is the load balancer's xff_header_processing_mode.
type XFFMode uint8

// The X-Forwarded-For processing modes of ALB.
const (
	XFFAppend   XFFMode = iota // add the client's address to the list
	XFFPreserve                // forward the client's header unchanged (absent stays absent)
	XFFRemove                  // forward no X-Forwarded-For at all
)

// ParseXFFMode reads the document's value; "" is append.
func ParseXFFMode(s string) XFFMode {
	switch s {
	case "preserve":
		return XFFPreserve
	case "remove":
		return XFFRemove
	}
	return XFFAppend
}

// Limits of ALB on requests (alb-compat §7): larger requests are answered 400.
const (
	MaxRequestLine     = 16 << 10
	MaxHeaderLine      = 16 << 10
	MaxHeaderBytes     = 64 << 10
	MaxForwardedForIPs = 30
)

// Config is one listener generation's request handling. It is immutable once passed to New, apart from the
// access log, which SetAccessLog sets before the generation serves.
type Config struct {
	// ELB is the load balancer's name, for the access log.
	ELB string
	// TLS is true on HTTPS listeners: X-Forwarded-Proto https, access-log types https/h2/wss/grpcs.
	TLS bool
	// Port is the listener's port (X-Forwarded-Port, redirects' #{port}).
	Port int
	// Owned are the header names this listener owns (see OwnedNames); inbound copies are always removed.
	Owned []string
	// Rules are the listener's compiled rules; Actions[i] runs for rule i and Actions[len(Actions)-1] is the
	// default action.
	Rules   *route.Table
	Actions []*Action
	// XFF is the X-Forwarded-For mode; PreserveHost is preserve_host_header: the client's Host unchanged rather
	// than with the listener's port appended (see forwardedHost).
	XFF          XFFMode
	PreserveHost bool
	// Misdirected turns on the 421 check: the rules give different hosts different client-certificate policies.
	Misdirected bool
	// ConnInfo returns the connection information of a request; nil means the request did not arrive through
	// a connection of this package's listener, and is refused.
	ConnInfo func(r *http.Request) *ConnInfo
	// Retired reports whether this generation has been replaced; its connections are then closed after the
	// response in flight, so clients reconnect under the new configuration.
	Retired func() bool
	// Observe is told the status of every response (generated is true when mtlslb answered itself, ALB's
	// HTTPCode_ELB_*: the responses of §7, and those of fixed_response and redirect actions, which ALB counts
	// as originating from the load balancer too); nil observes nothing.
	Observe func(code int, generated bool)
	Logger  *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// ActionKind says what an Action does.
type ActionKind uint8

// The kinds of actions.
const (
	ActionForward ActionKind = iota
	ActionFixedResponse
	ActionRedirect
)

// Action is one compiled listener action.
type Action struct {
	Kind ActionKind
	// Priority is the priority of the rule the action belongs to, 0 for the default action.
	Priority int

	// Forward: the target groups, their weights (sum Total > 0) and the target-group stickiness duration
	// (0: off).
	Groups          []*TargetGroup
	Weights         []int
	Total           int
	GroupStickiness time.Duration

	// FixedResponse: status, content type and body.
	Status      int
	ContentType string
	Body        string

	// Redirect is the compiled redirect.
	Redirect *Redirect
}

// TargetGroup is a target group as one snapshot forwards to it.
type TargetGroup struct {
	Name     string
	Balancer *balance.Group
	// Scheme is http or https (the target group's protocol).
	Scheme string
	// GRPC marks a GRPC target group (access-log type grpcs).
	GRPC bool
	// Stickiness is the lb_cookie duration; 0 is off.
	Stickiness time.Duration
	// Cookie is the AWSALBTG value naming this group.
	Cookie string
	// ErrorReason maps a round-trip error to the status to answer and ALB's error_reason.
	ErrorReason func(error) (int, string)
	proxy       *httputil.ReverseProxy
	// direct lends connections for the direct HTTP/1.1 path (direct.go); nil when the transport has none.
	direct *upstream.ConnSource
}

// NewTargetGroup returns a TargetGroup forwarding through transport.
func NewTargetGroup(tg TargetGroup, transport http.RoundTripper) *TargetGroup {
	g := &tg
	if g.Scheme == "" {
		g.Scheme = "http"
	}
	if g.ErrorReason == nil {
		g.ErrorReason = DefaultErrorReason
	}
	g.Cookie = groupCookie(g.Name)
	g.direct = upstream.Direct(transport)
	g.proxy = &httputil.ReverseProxy{
		Rewrite:        rewrite,
		Transport:      transport,
		ErrorHandler:   g.proxyError,
		ModifyResponse: modifyResponse,
		// 0, not -1: a response of known length goes out with its headers in one write (one TLS record, one TCP
		// segment: -1 flushed headers and body apart, which cost a third more segments per request than nginx).
		// ReverseProxy still flushes every write of a response without a Content-Length (chunked, gRPC) or of
		// text/event-stream, so streams stream.
		FlushInterval: 0,
		BufferPool:    bufferPool{},
		ErrorLog:      nil,
	}
	return g
}

// Handler serves the requests of one listener generation.
type Handler struct {
	cfg       Config
	accessLog *accesslog.Writer
}

// New returns a Handler for cfg.
func New(cfg Config) *Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{cfg: cfg}
}

// SetAccessLog sets where access-log lines go (nil: nowhere). Call it before the handler serves.
func (h *Handler) SetAccessLog(w *accesslog.Writer) { h.accessLog = w }

type exchangeKey struct{}

// exchange is one request's state, pooled: what the access log needs and what the proxy hooks share.
type exchange struct {
	h       *Handler
	ci      *ConnInfo
	w       responseWriter
	body    countingBody
	action  *Action
	group   *TargetGroup
	target  *balance.Target
	traceID string
	rec     accesslog.AccessRecord
	start   time.Time
	sent    time.Time // request sent to the target
	resp    time.Time // target's response headers
	// setCookies are the stickiness cookies to add to the response.
	stickTarget, stickGroup bool
	targetStatus            int
	errorReason             string
	clientIP                netip.Addr
	verdict                 DesyncVerdict
	closeAfter              bool
	// denied is set when the matched rule's require_client_certificate refused the request: action is the
	// rule's (for its priority) but was not executed.
	denied bool
	// clientGone is set when the connection's ClientWatcher aborted the exchange: the client went away, which
	// the request's context may not show (the watcher reads the client in net/http's place).
	clientGone bool
}

// gone reports whether the client of r went away during the exchange.
func (x *exchange) gone(r *http.Request) bool {
	return x.clientGone || r.Context().Err() != nil
}

var exchangePool = sync.Pool{New: func() any { return new(exchange) }}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	x := exchangePool.Get().(*exchange)
	*x = exchange{h: h, start: h.cfg.Now()}
	x.w.reset(rw)
	defer func() {
		h.finish(x, r)
		x.w.reset(nil)
		x.body = countingBody{}
		exchangePool.Put(x)
	}()
	w := &x.w

	ci := h.cfg.ConnInfo(r)
	if ci == nil {
		// Fail closed: no identity information means we cannot vouch for the request.
		h.generate(x, r, http.StatusInternalServerError, "ConnectionStateUnavailable", "mtlslb has no state for this connection.")
		return
	}
	x.ci = ci
	x.clientIP = ci.ClientIP
	if h.cfg.Retired != nil && h.cfg.Retired() {
		w.Header().Set("Connection", "close")
	}
	if ci.Desync != nil && r.ProtoMajor == 1 {
		if v, ok := ci.Desync.NextVerdict(); ok {
			x.verdict = v
			if v.Block {
				w.Header().Set("Connection", "close")
				h.generate(x, r, http.StatusBadRequest, "DesyncMitigation",
					"The request is ambiguous ("+v.Reason+") and this load balancer does not forward such requests.")
				return
			}
			x.closeAfter = v.CloseAfter
		}
	}
	if ci.Oversize != "" {
		h.generate(x, r, http.StatusBadRequest, "ClientCertificateHeaderTooLarge",
			"The "+ci.Oversize+" header would exceed "+strconv.Itoa(MaxHeaderValue)+" bytes: the client certificate chain is too large to forward.")
		return
	}
	if msg := checkLimits(r); msg != "" {
		h.generate(x, r, http.StatusBadRequest, "RequestHeaderTooLarge", msg)
		return
	}
	if r.Method == http.MethodTrace {
		h.generate(x, r, http.StatusMethodNotAllowed, "MethodNotAllowed", "TRACE is not allowed.")
		return
	}
	if countXFF(r.Header) > MaxForwardedForIPs {
		h.generate(x, r, 463, "TooManyForwardedForAddresses",
			"X-Forwarded-For lists more than "+strconv.Itoa(MaxForwardedForIPs)+" addresses.")
		return
	}
	if h.cfg.Misdirected && misdirected(h.cfg.Rules, ci.ServerName, r.Host) {
		h.generate(x, r, http.StatusMisdirectedRequest, "MisdirectedRequest",
			"This connection was authenticated for "+ci.ServerName+", and "+hostOnly(r.Host)+
				" has a different client-certificate policy: open a new connection for "+hostOnly(r.Host)+".")
		return
	}

	idx := h.cfg.Rules.MatchClient(r, x.clientIP, ci.Identity)
	a := h.cfg.Actions[len(h.cfg.Actions)-1]
	if idx != route.Default {
		a = h.cfg.Actions[idx]
		if h.cfg.Rules.RequiresClientCertificate(idx) && (ci.Identity == nil || !ci.Identity.Verified) {
			// The access log names the rule (matched_rule_priority) but no executed action: nothing ran.
			x.action, x.denied = a, true
			h.denyNoCertificate(x, r)
			return
		}
	}
	x.action = a
	switch a.Kind {
	case ActionFixedResponse:
		h.fixedResponse(x, r, a)
	case ActionRedirect:
		h.redirect(x, r, a)
	default:
		h.forward(x, r, a)
	}
}

// checkLimits returns why r exceeds ALB's request-line or header-line limits, or "".
func checkLimits(r *http.Request) string {
	if len(r.RequestURI) > MaxRequestLine {
		return "The request line is longer than 16 KiB."
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			if len(k)+len(v)+2 > MaxHeaderLine {
				return "The " + k + " header is longer than 16 KiB."
			}
		}
	}
	return ""
}

func countXFF(h http.Header) int {
	n := 0
	for _, v := range h["X-Forwarded-For"] {
		n += strings.Count(v, ",") + 1
	}
	return n
}

// misdirected reports whether a request for host arrived on a connection whose TLS server name was another
// host with a different client-certificate policy (RFC 9110 §15.5.20: 421).
func misdirected(rules *route.Table, sni, host string) bool {
	if sni == "" {
		return false
	}
	host = hostOnly(host)
	if strings.EqualFold(sni, host) {
		return false
	}
	return rules.CertPolicy(sni) != rules.CertPolicy(host)
}

func hostOnly(h string) string { return route.HostOnly(h) }

func (h *Handler) forward(x *exchange, r *http.Request, a *Action) {
	g := a.Groups[0]
	if len(a.Groups) > 1 {
		g = nil
		if a.GroupStickiness > 0 {
			if c, err := r.Cookie(CookieTargetGroup); err == nil {
				for i, cand := range a.Groups {
					if cand.Cookie == c.Value && a.Weights[i] > 0 {
						g = cand
						break
					}
				}
			}
		}
		if g == nil {
			g = a.Groups[balance.WeightedChoice(a.Weights, a.Total)]
		}
		x.stickGroup = a.GroupStickiness > 0
	}
	x.group = g
	if g.Balancer.Len() == 0 {
		h.generate(x, r, http.StatusServiceUnavailable, "NoRegisteredTargets",
			"Target group "+g.Name+" has no registered targets.")
		return
	}
	var sticky string
	if g.Stickiness > 0 {
		if c, err := r.Cookie(CookieTarget); err == nil {
			sticky = c.Value
		}
	}
	t, _ := g.Balancer.Pick(sticky)
	if t == nil {
		h.generate(x, r, http.StatusServiceUnavailable, "NoEligibleTargets",
			"Every target of target group "+g.Name+" has weight 0.")
		return
	}
	x.target = t
	x.stickTarget = g.Stickiness > 0
	if x.stickTarget || x.stickGroup {
		h.setStickyCookies(x, r)
	}
	// Forward's value is usable even with an error: a malformed or repeated inbound header is replaced by a
	// new Root rather than forwarded as the client wrote it. Repeated headers are joined with ',' so that they
	// count as one value that cannot be trusted (traceid.Forward).
	x.traceID, _ = traceid.Forward(strings.Join(r.Header.Values(traceid.HeaderName), ","), x.start)
	if r.Body != nil && r.Body != http.NoBody {
		x.body.rc = r.Body
		r.Body = &x.body
	}
	t.Begin()
	defer t.End()
	if x.closeAfter {
		x.w.Header().Set("Connection", "close")
	}
	if g.directOK(r) {
		h.direct(x, r, g)
		return
	}
	// The exchange rides on the request's context so the ReverseProxy hooks (shared by every request of the
	// target group) can find it.
	r2 := r.WithContext(context.WithValue(r.Context(), exchangeKey{}, x))
	g.proxy.ServeHTTP(&x.w, r2)
}

// Cookie names of ALB's stickiness.
const (
	CookieTarget      = "AWSALB"
	CookieTargetCORS  = "AWSALBCORS"
	CookieTargetGroup = "AWSALBTG"
	CookieGroupCORS   = "AWSALBTGCORS"
)

func (h *Handler) setStickyCookies(x *exchange, r *http.Request) {
	hdr := x.w.Header()
	now := x.start
	if x.stickTarget {
		d := x.group.Stickiness
		hdr.Add("Set-Cookie", stickyCookie(CookieTarget, x.target.Cookie, now, d, false))
		if h.cfg.TLS {
			hdr.Add("Set-Cookie", stickyCookie(CookieTargetCORS, x.target.Cookie, now, d, true))
		}
	}
	if x.stickGroup {
		d := x.action.GroupStickiness
		hdr.Add("Set-Cookie", stickyCookie(CookieTargetGroup, x.group.Cookie, now, d, false))
		if h.cfg.TLS {
			hdr.Add("Set-Cookie", stickyCookie(CookieGroupCORS, x.group.Cookie, now, d, true))
		}
	}
}

// stickyCookie writes a stickiness cookie as ALB does: path /, an expiry, and for the CORS twin SameSite=None;
// Secure so cross-origin requests keep it.
func stickyCookie(name, value string, now time.Time, d time.Duration, cors bool) string {
	s := name + "=" + value + "; Expires=" + now.Add(d).UTC().Format(http.TimeFormat) + "; Path=/"
	if cors {
		s += "; SameSite=None; Secure"
	}
	return s
}

func rewrite(pr *httputil.ProxyRequest) {
	x := pr.In.Context().Value(exchangeKey{}).(*exchange)
	h := x.h
	pr.Out.URL.Scheme = x.group.Scheme
	pr.Out.URL.Host = x.target.URL.Host
	// SetURL would join paths; targets are addressed by host only, the path is the client's.
	pr.Out.Host = forwardedHost(pr.In.Host, h.cfg.PreserveHost, h.cfg.TLS, x.ci.Port)

	out := pr.Out.Header
	stripOwned(out, h.cfg.Owned)
	// ReverseProxy removed the inbound X-Forwarded-* from Out; ALB's modes decide what goes on.
	x.forwardingHeaders(pr.In.Header, mapSink(out))
	x.sent = h.cfg.Now()
}

// headerSink receives the headers mtlslb adds to a forwarded request: a header map (the ReverseProxy path) or
// the wire (the direct path).
type headerSink interface {
	// set sets name to values, replacing any.
	set(name string, values []string)
	// setOne sets name to one value (the wire needs no slice for it).
	setOne(name, value string)
	// appendXFF sets X-Forwarded-For to the prior values, then the client's address.
	appendXFF(prior []string, client string)
}

// forwardingHeaders gives sink the headers a request forwarded to a target carries besides the client's own
// (alb-compat §3 and §5): X-Forwarded-For by the listener's mode, X-Forwarded-Proto and -Port, the trace id,
// and the connection's identity and TLS headers. in is the client's header map.
func (x *exchange) forwardingHeaders(in http.Header, sink headerSink) {
	switch x.h.cfg.XFF {
	case XFFAppend:
		sink.appendXFF(in["X-Forwarded-For"], x.ci.ClientAddr)
	case XFFPreserve:
		if prior := in["X-Forwarded-For"]; len(prior) > 0 {
			sink.set("X-Forwarded-For", prior)
		}
	}
	if x.h.cfg.TLS {
		sink.set("X-Forwarded-Proto", protoHTTPS)
	} else {
		sink.set("X-Forwarded-Proto", protoHTTP)
	}
	if x.ci.portValues != nil {
		sink.set("X-Forwarded-Port", x.ci.portValues)
	} else {
		sink.setOne("X-Forwarded-Port", x.ci.Port)
	}
	if x.traceID != "" {
		sink.setOne(traceid.HeaderName, x.traceID)
	}
	for _, f := range x.ci.Fields {
		if f.values != nil {
			sink.set(f.Name, f.values)
		} else {
			sink.setOne(f.Name, f.Value)
		}
	}
}

// mapSink sets forwarding headers in a header map.
type mapSink http.Header

func (m mapSink) set(name string, values []string) { m[name] = values }

func (m mapSink) setOne(name, value string) { m[name] = []string{value} }

func (m mapSink) appendXFF(prior []string, client string) {
	if len(prior) > 0 {
		m["X-Forwarded-For"] = []string{strings.Join(prior, ", ") + ", " + client}
	} else {
		m["X-Forwarded-For"] = []string{client}
	}
}

// forwardedHost is the Host sent to targets. With preserve_host_header (ALB's attribute) it is the client's,
// unchanged; without it (ALB's default) a Host without a port gets the listener's port appended when that
// port is not the scheme's default, as ALB does ("www.example.com" on listener 8443 is sent as
// "www.example.com:8443").
func forwardedHost(host string, preserve, tls bool, port string) string {
	if appended := portToAppend(host, preserve, tls, port); appended != "" {
		return host + ":" + appended
	}
	return host
}

// portToAppend returns the port forwardedHost appends to host, or "".
func portToAppend(host string, preserve, tls bool, port string) string {
	switch {
	case preserve || port == "" || host == "":
		return ""
	case (tls && port == "443") || (!tls && port == "80"):
		return ""
	case strings.HasPrefix(host, "["):
		if strings.HasSuffix(host, "]") {
			return port
		}
		return ""
	case strings.IndexByte(host, ':') >= 0:
		return ""
	}
	return port
}

var (
	protoHTTPS = []string{"https"}
	protoHTTP  = []string{"http"}
)

func modifyResponse(resp *http.Response) error {
	x := resp.Request.Context().Value(exchangeKey{}).(*exchange)
	x.resp = x.h.cfg.Now()
	x.targetStatus = resp.StatusCode
	return nil
}

func (g *TargetGroup) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	g.fail(r.Context().Value(exchangeKey{}).(*exchange), r, err)
}

// fail answers a request whose exchange with x.target failed before the response began.
func (g *TargetGroup) fail(x *exchange, r *http.Request, err error) {
	if x.gone(r) {
		// The client went away (ALB logs 460); there is nobody to answer. Returning would let net/http
		// answer a half-closed client 200 with an empty body, so abort the connection (or the HTTP/2
		// stream) instead; the access-log line is still written on the way out.
		x.w.status = 460
		x.errorReason = "ClientClosedConnection"
		panic(http.ErrAbortHandler)
	}
	status, reason := g.ErrorReason(err)
	x.h.cfg.Logger.Warn("target request failed", "target_group", g.Name, "target", x.target.ID, "status", status, "reason", reason, "err", err)
	x.h.generate(x, r, status, reason, http.StatusText(status)+" from target "+x.target.ID+" of target group "+g.Name+".")
}

// DefaultErrorReason maps a round-trip error to 504 for timeouts and 502 otherwise, with ALB-style reasons.
func DefaultErrorReason(err error) (int, string) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return http.StatusGatewayTimeout, "TargetTimeout"
	}
	return http.StatusBadGateway, "TargetConnectionError"
}

func (h *Handler) fixedResponse(x *exchange, r *http.Request, a *Action) {
	hdr := x.w.Header()
	ct := a.ContentType
	if ct == "" {
		ct = "text/plain"
	}
	hdr.Set("Content-Type", ct+"; charset=utf-8")
	hdr.Set("Content-Length", strconv.Itoa(len(a.Body)))
	// No target answered: ALB counts it among HTTPCode_ELB_* (and in HTTP_Fixed_Response_Count).
	x.w.generated = true
	x.w.WriteHeader(a.Status)
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(&x.w, a.Body)
	}
}

func (h *Handler) redirect(x *exchange, r *http.Request, a *Action) {
	loc, loop := a.Redirect.Location(r, h.cfg.TLS, h.cfg.Port)
	if loop {
		h.generate(x, r, http.StatusInternalServerError, "RedirectLoop",
			"The redirect rule would send the client back to the same URL.")
		return
	}
	x.rec.RedirectURL = loc
	x.w.Header().Set("Location", loc)
	// ALB's HTTPCode_ELB_3XX_Count is "redirection codes that originate from the load balancer": these.
	x.w.generated = true
	x.w.WriteHeader(a.Redirect.Status)
}

func (h *Handler) denyNoCertificate(x *exchange, r *http.Request) {
	detail := "This route requires a verified client certificate, and this connection presented none."
	h.generate(x, r, http.StatusForbidden, "ClientCertificateRequired", detail)
}

// finish writes the access-log line and counts the response.
func (h *Handler) finish(x *exchange, r *http.Request) {
	code := x.w.status
	switch {
	case code != 0:
	case x.w.hijacked && x.targetStatus == http.StatusSwitchingProtocols:
		// ReverseProxy writes the target's 101 on the hijacked connection, past this writer.
		code = http.StatusSwitchingProtocols
	default:
		code = http.StatusOK
	}
	if code != 460 && h.cfg.Observe != nil {
		h.cfg.Observe(code, x.w.generated)
	}
	if h.accessLog == nil || !h.accessLog.Enabled() {
		return
	}
	rec := &x.rec
	h.fillRecord(x, r, rec, code)
	h.accessLog.WriteAccess(rec)
}
