package httpproxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/mtlslb/mtlslb/internal/accesslog"
)

// responseWriter counts what is sent to the client and when its first byte went, for the access log. It
// passes Flush and Hijack through (Unwrap), so streaming and WebSocket upgrades work as without it.
type responseWriter struct {
	rw        http.ResponseWriter
	status    int
	bytes     int64
	first     time.Time
	now       func() time.Time
	generated bool
	hijacked  bool
}

func (w *responseWriter) reset(rw http.ResponseWriter) { *w = responseWriter{rw: rw, now: time.Now} }

func (w *responseWriter) Header() http.Header { return w.rw.Header() }

func (w *responseWriter) WriteHeader(code int) {
	if w.status == 0 || code < 200 {
		if code >= 200 || code == http.StatusSwitchingProtocols {
			w.status = code
			w.first = w.now()
		}
	}
	w.rw.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
		w.first = w.now()
	}
	n, err := w.rw.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Flush implements http.Flusher.
func (w *responseWriter) Flush() {
	if f, ok := w.rw.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack implements http.Hijacker (WebSocket upgrades through ReverseProxy).
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.rw).Hijack()
	if err == nil {
		w.hijacked = true
	}
	return c, brw, err
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.rw }

// countingBody counts the request body bytes read.
type countingBody struct {
	rc  io.ReadCloser
	n   int64
	err error // the first read error other than io.EOF: the client's, not the target's
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n += int64(n)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

func (b *countingBody) Close() error { return b.rc.Close() }

// bufferPool lends ReverseProxy its copy buffers instead of allocating 32 KiB per response.
type bufferPool struct{}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *copyBuffers.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { copyBuffers.Put(&b) }

var (
	actionsForward  = []accesslog.Action{accesslog.ActionForward}
	actionsFixed    = []accesslog.Action{accesslog.ActionFixedResponse}
	actionsRedirect = []accesslog.Action{accesslog.ActionRedirect}
)

// fillRecord completes the access-log record of x.
func (h *Handler) fillRecord(x *exchange, r *http.Request, rec *accesslog.AccessRecord, code int) {
	now := h.cfg.Now()
	ci := x.ci
	rec.Time = now
	rec.ELB = h.cfg.ELB
	rec.RequestCreationTime = x.start
	rec.ELBStatusCode = code
	rec.TargetStatusCode = x.targetStatus
	rec.Method, rec.URL, rec.Proto = r.Method, requestURL(r, h.cfg.TLS, h.cfg.Port), r.Proto
	rec.UserAgent = r.UserAgent()
	rec.ErrorReason = x.errorReason
	rec.TraceID = x.traceID
	rec.MatchedRulePriority = accesslog.PriorityNone
	rec.Classification, rec.ClassificationReason = x.verdict.Class, x.verdict.Reason
	rec.RequestProcessingTime, rec.TargetProcessingTime, rec.ResponseProcessingTime = accesslog.NotApplicable, accesslog.NotApplicable, accesslog.NotApplicable
	if ci != nil {
		rec.Client = ci.Client
		rec.TLSCipher, rec.TLSVersion = ci.TLSCipher, ci.TLSVersion
		rec.DomainName = ci.ServerName
		rec.ChosenCert = ci.ChosenCert
		rec.ConnTraceID = accesslog.TraceID(ci.TraceID)
	}
	rec.Type = requestType(r, h.cfg.TLS, x)
	if a := x.action; a != nil {
		rec.MatchedRulePriority = a.Priority
		switch {
		case x.denied:
		case a.Kind == ActionForward:
			rec.Actions = actionsForward
		case a.Kind == ActionFixedResponse:
			rec.Actions = actionsFixed
		case a.Kind == ActionRedirect:
			rec.Actions = actionsRedirect
		}
	}
	if x.group != nil {
		rec.TargetGroup = x.group.Name
	}
	if x.target != nil {
		rec.Target = x.target.Addr
	}
	switch {
	case !x.sent.IsZero():
		rec.RequestProcessingTime = x.sent.Sub(x.start)
		if !x.resp.IsZero() {
			rec.TargetProcessingTime = x.resp.Sub(x.sent)
			if !x.w.first.IsZero() {
				rec.ResponseProcessingTime = max(x.w.first.Sub(x.resp), 0)
			}
		}
	case x.w.generated || x.action != nil:
		rec.RequestProcessingTime = now.Sub(x.start)
	}
	rec.ReceivedBytes = requestHeaderBytes(r) + x.body.n
	rec.SentBytes = responseHeaderBytes(x.w.Header(), code) + x.w.bytes
}

func requestType(r *http.Request, tls bool, x *exchange) accesslog.RequestType {
	switch {
	case x.w.hijacked || x.w.status == http.StatusSwitchingProtocols:
		if tls {
			return accesslog.TypeWSS
		}
		return accesslog.TypeWS
	case r.ProtoMajor == 2 && x.group != nil && x.group.GRPC:
		return accesslog.TypeGRPCS
	case r.ProtoMajor == 2:
		return accesslog.TypeH2
	case tls:
		return accesslog.TypeHTTPS
	}
	return accesslog.TypeHTTP
}

// requestURL is the access log's URL: scheme://host:port/uri as the client sent the URI.
func requestURL(r *http.Request, tls bool, port int) string {
	scheme := "http://"
	if tls {
		scheme = "https://"
	}
	return scheme + hostOnly(r.Host) + ":" + strconv.Itoa(port) + r.RequestURI
}

// requestHeaderBytes estimates the bytes of the request line and headers as the client sent them.
func requestHeaderBytes(r *http.Request) int64 {
	n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto) + 2 + len("Host: ") + len(r.Host) + 2 + 2
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + 2 + len(v) + 2
		}
	}
	return int64(n)
}

// responseHeaderBytes estimates the bytes of the status line and headers sent.
func responseHeaderBytes(h http.Header, code int) int64 {
	n := len("HTTP/1.1 200 ") + len(http.StatusText(code)) + 2 + 2
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + 2 + len(v) + 2
		}
	}
	return int64(n)
}

// LogGenerated writes the access-log line of a response mtlslb sent outside any request it could parse (a 408
// for a request that never completed): request "- - -", no rule evaluated.
func (h *Handler) LogGenerated(ci *ConnInfo, code int, reason string) {
	if h.accessLog == nil || !h.accessLog.Enabled() {
		return
	}
	now := h.cfg.Now()
	rec := accesslog.AccessRecord{
		Type: accesslog.TypeHTTP, Time: now, ELB: h.cfg.ELB, ELBStatusCode: code, ErrorReason: reason,
		MatchedRulePriority:   accesslog.PriorityNone,
		RequestProcessingTime: accesslog.NotApplicable, TargetProcessingTime: accesslog.NotApplicable,
		ResponseProcessingTime: accesslog.NotApplicable, RequestCreationTime: now,
	}
	if h.cfg.TLS {
		rec.Type = accesslog.TypeHTTPS
	}
	if ci != nil {
		rec.Client, rec.TLSCipher, rec.TLSVersion = ci.Client, ci.TLSCipher, ci.TLSVersion
		rec.DomainName, rec.ChosenCert, rec.ConnTraceID = ci.ServerName, ci.ChosenCert, accesslog.TraceID(ci.TraceID)
	}
	h.accessLog.WriteAccess(&rec)
}
