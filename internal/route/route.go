package route

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/mtlslb/mtlslb/internal/config"
)

// Default is the index Match returns when no rule matches: the listener's
// default actions run.
const Default = -1

// ALB's limits on rules, enforced by Compile.
const (
	// MinPriority and MaxPriority bound a rule's priority.
	MinPriority = 1
	MaxPriority = 50000
	// MaxPatternLength is the longest value of a host_header, path_pattern,
	// http_header, or query_string key or value, in bytes.
	MaxPatternLength = 128
	// MaxValuesPerCondition is the most values (match evaluations) one
	// condition may list: ALB's documented three.
	MaxValuesPerCondition = 3
	// MaxValuesPerRule is the most values across a rule's conditions.
	MaxValuesPerRule = 5
	// MaxWildcardsPerRule is the most * and ? across a rule's patterns.
	MaxWildcardsPerRule = 5
	// MaxMethodLength is the longest http_request_method value.
	MaxMethodLength = 40
	// MaxHeaderNameLength is the longest http_header_name.
	MaxHeaderNameLength = 40
)

// Table is the compiled rules of one listener, in priority order. It is
// immutable once compiled: a configuration snapshot compiles its tables once
// and shares them between all the requests it serves.
// A nil *Table has no rules.
type Table struct {
	rules []rule
	// priorities[i] is the priority of rules[i] of the slice given to
	// Compile (t.rules is in priority order instead).
	priorities []int
	// requireCert[i] is rules[i]'s require_client_certificate, by the same
	// index, so the per-request check is one load.
	requireCert []bool
	// index narrows the rules Match evaluates by the request's path; nil when no rule has a path prefix.
	index *pathIndex
}

// rule is a compiled config.Rule.
type rule struct {
	priority int
	index    int // position in the slice given to Compile
	conds    []condition
	// hosts are the host_header patterns of the rule (nil: any host), for CertPolicy.
	hosts []Pattern
	// certPolicy is whether the rule looks at the client certificate (a client_certificate condition or
	// require_client_certificate), so that hosts served under different certificate policies can be told apart.
	certPolicy bool
}

// conditionKind orders conditions from cheapest to dearest to evaluate;
// conditions are ANDed, so the order changes speed, never the result.
type conditionKind uint8

const (
	kindMethod conditionKind = iota
	kindSourceIP
	kindHost
	kindPath
	kindHeader
	kindQuery
	kindCert
)

// condition is one compiled condition: the fields of its kind are set.
type condition struct {
	kind     conditionKind
	patterns []Pattern // host, path and header values
	methods  []string
	prefixes []netip.Prefix
	header   string // canonical header name
	pairs    []queryPair
	cert     *certCondition
}

// queryPair is a compiled query_string key/value pattern.
type queryPair struct {
	anyKey bool
	key    Pattern
	value  Pattern
}

// Compile compiles a listener's rules, checking them against ALB's rules and
// limits. It returns every problem found, each naming its place as
// rules[i].conditions[j]…, joined with errors.Join. The indexes Match
// returns are positions in rules.
func Compile(rules []config.Rule) (*Table, error) {
	t := &Table{rules: make([]rule, 0, len(rules)), priorities: make([]int, len(rules)), requireCert: make([]bool, len(rules))}
	var errs []error
	byPriority := make(map[int]int, len(rules))
	for i := range rules {
		path := fmt.Sprintf("rules[%d]", i)
		r, err := compileRule(path, i, &rules[i])
		if err != nil {
			errs = append(errs, err)
		}
		p := rules[i].Priority
		t.priorities[i] = p
		t.requireCert[i] = rules[i].RequireClientCertificate
		if first, dup := byPriority[p]; dup {
			errs = append(errs, fmt.Errorf("%s.priority: %d is also the priority of rules[%d]", path, p, first))
		} else {
			byPriority[p] = i
		}
		t.rules = append(t.rules, r)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("compiling listener rules: %w", errors.Join(errs...))
	}
	slices.SortFunc(t.rules, func(a, b rule) int { return a.priority - b.priority })
	t.index = buildPathIndex(t.rules)
	return t, nil
}

// Len returns the number of rules in the table, the default excluded.
func (t *Table) Len() int {
	if t == nil {
		return 0
	}
	return len(t.rules)
}

// Priority returns the priority of the rule at index i of the slice given
// to Compile, or 0 for Default (the access log's matched_rule_priority).
func (t *Table) Priority(i int) int {
	if t == nil || i < 0 || i >= len(t.priorities) {
		return 0
	}
	return t.priorities[i]
}

// Match returns the index, in the slice given to Compile, of the rule of
// lowest priority whose conditions all match r, or Default. clientIP is the
// address of the peer the request came from (for source_ip): the invalid
// Addr matches no source_ip condition. Match does not allocate.
func (t *Table) Match(r *http.Request, clientIP netip.Addr) int {
	return t.MatchClient(r, clientIP, nil)
}

// MatchClient is Match for a connection with a client-certificate identity (nil: none), which
// client_certificate conditions read.
func (t *Table) MatchClient(r *http.Request, clientIP netip.Addr, client *Client) int {
	if t == nil {
		return Default
	}
	// An IPv4 client on a dual-stack socket arrives as ::ffff:a.b.c.d; ALB
	// would see the IPv4 address, so the prefixes are IPv4 too.
	clientIP = clientIP.Unmap().WithZone("")
	in := request{r: r, ip: clientIP, client: client}
	if t.index != nil {
		return t.matchIndexed(&in)
	}
	return t.scan(&in, 0)
}

// scan is MatchClient's loop without the index: the rules from position from on, in priority order.
func (t *Table) scan(in *request, from int) int {
	for k := from; k < len(t.rules); k++ {
		if t.rules[k].match(in) {
			return t.rules[k].index
		}
	}
	return Default
}

// request is what Match computes once per request rather than per rule.
type request struct {
	r          *http.Request
	client     *Client
	ip         netip.Addr
	host       string
	hostParsed bool
}

func (in *request) hostName() string {
	if !in.hostParsed {
		in.host = hostName(in.r)
		in.hostParsed = true
	}
	return in.host
}

func (r *rule) match(in *request) bool {
	for k := range r.conds {
		if !r.conds[k].match(in) {
			return false
		}
	}
	return true
}

func (c *condition) match(in *request) bool {
	switch c.kind {
	case kindMethod:
		m := in.r.Method
		if m == "" {
			m = http.MethodGet // net/http's meaning of an empty Method
		}
		return slices.Contains(c.methods, m)
	case kindSourceIP:
		if !in.ip.IsValid() {
			return false
		}
		for _, p := range c.prefixes {
			if p.Contains(in.ip) {
				return true
			}
		}
		return false
	case kindHost:
		return anyMatch(c.patterns, in.hostName())
	case kindPath:
		return anyMatch(c.patterns, requestPath(in.r))
	case kindHeader:
		return headerMatch(c, in.r)
	case kindQuery:
		if in.r.URL == nil {
			return false
		}
		return queryMatch(c.pairs, in.r.URL.RawQuery)
	case kindCert:
		return c.cert.match(in.client)
	}
	return false
}

// RequiresClientCertificate reports whether the rule at index i (of the slice given to Compile) has
// require_client_certificate.
func (t *Table) RequiresClientCertificate(i int) bool {
	if t == nil || i < 0 || i >= len(t.requireCert) {
		return false
	}
	return t.requireCert[i]
}

// CertPolicy summarises how the rules treat client certificates for requests to host: bit k is set when the
// k-th rule (in priority order, the first 63) that looks at the client certificate is limited by host_header
// to hosts that include host; bit 63 stands for all later ones. Two hosts with different CertPolicy values
// are served under different client-certificate policies, so a request whose Host differs from the TLS SNI
// must not borrow the connection's authentication (ALB's 421). It does not allocate.
func (t *Table) CertPolicy(host string) uint64 {
	if t == nil {
		return 0
	}
	var bits uint64
	k := 0
	for i := range t.rules {
		r := &t.rules[i]
		if !r.certPolicy || r.hosts == nil {
			continue
		}
		if anyMatch(r.hosts, host) {
			bits |= 1 << min(k, 63)
		}
		k++
	}
	return bits
}

func anyMatch(ps []Pattern, s string) bool {
	for k := range ps {
		if ps[k].Match(s) {
			return true
		}
	}
	return false
}

// hostName is the request's host without its port (host_header matches the
// name only, as ALB): "[::1]:443" gives "::1".
func hostName(r *http.Request) string {
	h := r.Host
	if h == "" && r.URL != nil {
		h = r.URL.Host
	}
	return HostOnly(h)
}

// HostOnly is a Host header's host without its port: "[::1]:443" gives "::1", "example.com:8443"
// "example.com".
func HostOnly(h string) string {
	if strings.HasPrefix(h, "[") {
		if end := strings.IndexByte(h, ']'); end > 0 {
			return h[1:end]
		}
		return h
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		return h[:i]
	}
	return h
}

// requestPath is the decoded path, without the query: the form net/http
// parsed, so "/%61dmin" meets the rules written for "/admin" (a deny rule
// must not be dodged by percent-encoding).
func requestPath(r *http.Request) string {
	if r.URL == nil {
		return ""
	}
	return r.URL.Path
}

func headerMatch(c *condition, r *http.Request) bool {
	if c.header == "Host" {
		// net/http moves Host out of the header map.
		return anyMatch(c.patterns, r.Host)
	}
	// Each header line is matched on its own; a header sent twice matches
	// when either line does. An absent header matches nothing, not even *.
	for _, v := range r.Header[c.header] {
		if anyMatch(c.patterns, v) {
			return true
		}
	}
	return false
}

// queryMatch walks the raw query without decoding it (decoding allocates
// and would blur an encoded & or = into a separator): patterns are written
// in the query's encoded form, and as the match is case-insensitive %2f and
// %2F are one. A parameter without = has the empty value.
func queryMatch(pairs []queryPair, raw string) bool {
	for raw != "" {
		var param string
		param, raw, _ = strings.Cut(raw, "&")
		if param == "" {
			continue
		}
		key, value, _ := strings.Cut(param, "=")
		for k := range pairs {
			p := &pairs[k]
			if (p.anyKey || p.key.Match(key)) && p.value.Match(value) {
				return true
			}
		}
	}
	return false
}
