package httpproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"time"

	"github.com/mtlslb/mtlslb/internal/balance"
)

// Config is one listener generation's forwarding setup. It is immutable once passed to New.
type Config struct {
	// Owned are the header names this listener owns (see OwnedNames); inbound copies are always removed.
	Owned []string
	// ListenerPort is the value of X-Forwarded-Port.
	ListenerPort string
	// TargetGroup receives every request (the default forward action).
	TargetGroup *balance.TargetGroup
	// Transport carries requests to targets; shared across generations so pooled connections survive reloads.
	Transport http.RoundTripper
	// ConnInfo returns the connection information of a request; nil means the request did not arrive through
	// an authenticated connection of this package's listener, and is refused.
	ConnInfo func(r *http.Request) *ConnInfo
	// Retired reports whether this generation has been replaced; its connections are then closed after the
	// response in flight, so clients reconnect under the new configuration.
	Retired func() bool
	// Observe is told the status of every response (generated is true when mtlslb answered itself, ALB's
	// HTTPCode_ELB_*); nil observes nothing.
	Observe func(code int, generated bool)
	Logger  *slog.Logger
}

// Handler forwards requests per its Config.
type Handler struct {
	cfg   Config
	proxy *httputil.ReverseProxy
}

// New returns a Handler for cfg.
func New(cfg Config) *Handler {
	h := &Handler{cfg: cfg}
	h.proxy = &httputil.ReverseProxy{
		Rewrite:      h.rewrite,
		Transport:    cfg.Transport,
		ErrorHandler: h.proxyError,
		// Flush streamed responses (server-sent events, long polls) as they come.
		FlushInterval: -1,
		ModifyResponse: func(resp *http.Response) error {
			h.observe(resp.StatusCode, false)
			return nil
		},
	}
	return h
}

func (h *Handler) observe(code int, generated bool) {
	if h.cfg.Observe != nil {
		h.cfg.Observe(code, generated)
	}
}

// generate answers a request itself, counted as an mtlslb-generated response.
func (h *Handler) generate(w http.ResponseWriter, msg string, code int) {
	h.observe(code, true)
	http.Error(w, msg, code)
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ci := h.cfg.ConnInfo(r)
	if ci == nil {
		// Fail closed: no identity information means we cannot vouch for the request.
		h.generate(w, "mtlslb: connection state unavailable", http.StatusInternalServerError)
		return
	}
	if h.cfg.Retired != nil && h.cfg.Retired() {
		w.Header().Set("Connection", "close")
	}
	if ci.Oversize != "" {
		h.generate(w, fmt.Sprintf("mtlslb: the %s header would exceed %d bytes; the client certificate chain is too large to forward", ci.Oversize, MaxHeaderValue), http.StatusBadRequest)
		return
	}
	if h.cfg.TargetGroup.Len() == 0 {
		h.generate(w, "mtlslb: target group "+h.cfg.TargetGroup.Name+" has no registered targets", http.StatusServiceUnavailable)
		return
	}
	h.proxy.ServeHTTP(w, r)
}

func (h *Handler) rewrite(pr *httputil.ProxyRequest) {
	// The group is fixed for this generation and not empty (ServeHTTP checked), so Pick cannot fail.
	pr.SetURL(h.cfg.TargetGroup.Pick().URL)
	pr.Out.Host = pr.In.Host // as ALB with preserve_host_header off: the client's Host, not the target's

	out := pr.Out.Header
	stripOwned(out, h.cfg.Owned)

	// ReverseProxy removed the inbound X-Forwarded-* from Out; ALB's default mode appends to the client's list.
	clientIP, _, err := net.SplitHostPort(pr.In.RemoteAddr)
	if err != nil {
		clientIP = pr.In.RemoteAddr
	}
	if prior := pr.In.Header.Values("X-Forwarded-For"); len(prior) > 0 {
		xff := prior[0]
		for _, p := range prior[1:] {
			xff += ", " + p
		}
		out.Set("X-Forwarded-For", xff+", "+clientIP)
	} else {
		out.Set("X-Forwarded-For", clientIP)
	}
	out.Set("X-Forwarded-Proto", "https")
	out.Set("X-Forwarded-Port", h.cfg.ListenerPort)

	for _, f := range h.cfg.ConnInfo(pr.In).Fields {
		out[f.Name] = []string{f.Value}
	}
}

func (h *Handler) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusBadGateway
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		status = http.StatusGatewayTimeout
	}
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		// The client went away (ALB logs 460); there is nobody to answer.
		return
	}
	if h.cfg.Logger != nil {
		h.cfg.Logger.Warn("target request failed", "target_group", h.cfg.TargetGroup.Name, "status", status, "err", err)
	}
	h.generate(w, fmt.Sprintf("mtlslb: %s from target group %s", http.StatusText(status), h.cfg.TargetGroup.Name), status)
}

// NewTransport returns the transport for HTTP targets: pooled, with generous idle limits per target, because
// net/http's default of 2 idle connections per host turns a busy load balancer into a connection factory.
func NewTransport() *http.Transport {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext:           d.DialContext,
		MaxIdleConns:          4096,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}
