package httpproxy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// generate answers a request itself (alb-compat §7): the status, a short page that says what happened and
// what to do (HTML for browsers, JSON for Accept: application/json, plain text otherwise), counted as an
// mtlslb-generated response and logged with reason as error_reason.
func (h *Handler) generate(x *exchange, r *http.Request, status int, reason, detail string) {
	x.errorReason = reason
	x.w.generated = true
	hdr := x.w.Header()
	// A generated answer never carries what a target or an earlier step put there.
	for _, k := range []string{"Set-Cookie", "Location", "Content-Encoding", "Content-Length"} {
		hdr.Del(k)
	}
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Cache-Control", "no-store")
	text := statusText(status)
	var body string
	switch accept := r.Header.Get("Accept"); {
	case strings.Contains(accept, "application/json"):
		hdr.Set("Content-Type", "application/json")
		b, _ := json.Marshal(struct {
			Status  int    `json:"status"`
			Error   string `json:"error"`
			Message string `json:"message"`
		}{status, reason, detail})
		body = string(b) + "\n"
	case strings.Contains(accept, "text/html"):
		hdr.Set("Content-Type", "text/html; charset=utf-8")
		t := strconv.Itoa(status) + " " + html.EscapeString(text)
		body = "<!DOCTYPE html>\n<html><head><title>" + t + "</title></head><body>\n<h1>" + t + "</h1>\n<p>" +
			html.EscapeString(detail) + "</p>\n<p><small>mtlslb · " + html.EscapeString(reason) + "</small></p>\n</body></html>\n"
	default:
		hdr.Set("Content-Type", "text/plain; charset=utf-8")
		body = strconv.Itoa(status) + " " + text + ": " + detail + " (" + reason + ")\n"
	}
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	x.w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(&x.w, body)
	}
}

// statusText is http.StatusText with ALB's own codes.
func statusText(code int) string {
	switch code {
	case 460:
		return "Client Closed Connection"
	case 463:
		return "Too Many X-Forwarded-For Addresses"
	}
	return http.StatusText(code)
}

// groupCookie is the AWSALBTG value that names a target group: an opaque digest of its name.
func groupCookie(name string) string {
	sum := sha256.Sum256([]byte("target-group\x00" + name))
	return hex.EncodeToString(sum[:12])
}
