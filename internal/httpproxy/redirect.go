package httpproxy

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/mtlslb/mtlslb/internal/config"
)

// Redirect is a compiled redirect action. Each part may use ALB's placeholders #{protocol}, #{host}, #{port},
// #{path} (the path without its leading slash) and #{query} (without the "?").
type Redirect struct {
	Protocol, Host, Port, Path, Query string
	Status                            int
}

// CompileRedirect checks a redirect and fills ALB's defaults. As ALB, a redirect that keeps protocol, host, port
// and path all unchanged is refused: it could only send the client back where it came from.
func CompileRedirect(c *config.RedirectConfig) (*Redirect, error) {
	rd := &Redirect{Protocol: c.Protocol, Host: c.Host, Port: c.Port, Path: c.Path, Query: c.Query}
	def := func(s *string, d string) {
		if *s == "" {
			*s = d
		}
	}
	def(&rd.Protocol, "#{protocol}")
	def(&rd.Host, "#{host}")
	def(&rd.Port, "#{port}")
	def(&rd.Path, "/#{path}")
	if c.Query == "" {
		rd.Query = "#{query}"
	}
	switch rd.Protocol {
	case "HTTP", "HTTPS", "#{protocol}":
	default:
		return nil, fmt.Errorf("redirect.protocol: must be HTTP, HTTPS or #{protocol}, not %q", rd.Protocol)
	}
	if rd.Port != "#{port}" {
		if n, err := strconv.Atoi(rd.Port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("redirect.port: must be 1–65535 or #{port}, not %q", rd.Port)
		}
	}
	for _, part := range []string{rd.Host, rd.Path, rd.Query} {
		if strings.ContainsFunc(part, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return nil, fmt.Errorf("redirect: %q contains a control character", part)
		}
	}
	switch c.StatusCode {
	case "HTTP_301":
		rd.Status = http.StatusMovedPermanently
	case "HTTP_302":
		rd.Status = http.StatusFound
	default:
		return nil, errors.New("redirect.status_code: must be HTTP_301 or HTTP_302")
	}
	// Location puts back a path's missing leading slash, so "#{path}" is "/#{path}" too.
	if rd.Protocol == "#{protocol}" && rd.Host == "#{host}" && rd.Port == "#{port}" && strings.TrimPrefix(rd.Path, "/") == "#{path}" {
		return nil, errors.New("redirect: protocol, host, port and path are all unchanged, so the redirect would loop; change at least one")
	}
	return rd, nil
}

// Location returns the URL a request is redirected to; loop is true when it is the request's own URL.
func (rd *Redirect) Location(r *http.Request, tls bool, listenerPort int) (loc string, loop bool) {
	proto := "http"
	if tls {
		proto = "https"
	}
	host := hostOnly(r.Host)
	port := strconv.Itoa(listenerPort)
	path := strings.TrimPrefix(r.URL.EscapedPath(), "/")
	query := r.URL.RawQuery
	expand := func(s string) string {
		if !strings.Contains(s, "#{") {
			return s
		}
		return strings.NewReplacer("#{protocol}", proto, "#{host}", host, "#{port}", port, "#{path}", path, "#{query}", query).Replace(s)
	}
	p := strings.ToLower(expand(rd.Protocol))
	h := expand(rd.Host)
	pt := expand(rd.Port)
	pa := expand(rd.Path)
	if !strings.HasPrefix(pa, "/") {
		pa = "/" + pa
	}
	q := expand(rd.Query)
	var b strings.Builder
	b.WriteString(p)
	b.WriteString("://")
	if strings.Contains(h, ":") && !strings.HasPrefix(h, "[") {
		b.WriteString("[" + h + "]")
	} else {
		b.WriteString(h)
	}
	if !(p == "http" && pt == "80" || p == "https" && pt == "443") {
		b.WriteString(":" + pt)
	}
	b.WriteString(pa)
	if q != "" {
		b.WriteString("?" + q)
	}
	loc = b.String()
	loop = p == proto && strings.EqualFold(h, host) && pt == port && pa == "/"+path && q == query
	return loc, loop
}
