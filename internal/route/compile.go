package route

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"

	"github.com/mtlslb/mtlslb/internal/config"
)

// ruleCompiler gathers the problems of one rule and its per-rule counts.
type ruleCompiler struct {
	errs      []error
	values    int
	wildcards int
}

func (rc *ruleCompiler) add(path, format string, args ...any) {
	rc.errs = append(rc.errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
}

// compileRule compiles rules[i]; path is "rules[i]".
func compileRule(path string, i int, cr *config.Rule) (rule, error) {
	rc := &ruleCompiler{}
	r := rule{priority: cr.Priority, index: i, certPolicy: cr.RequireClientCertificate}
	if cr.Priority < MinPriority || cr.Priority > MaxPriority {
		rc.add(path+".priority", "%d is not between %d and %d", cr.Priority, MinPriority, MaxPriority)
	}
	if len(cr.Conditions) == 0 {
		rc.add(path+".conditions", "required: at least one condition")
	}
	// ALB allows at most one of each of these per rule; http_header and
	// query_string may repeat (one per header, or to AND several pairs).
	seen := map[conditionKind]int{}
	for j := range cr.Conditions {
		cp := fmt.Sprintf("%s.conditions[%d]", path, j)
		c, ok := rc.condition(cp, &cr.Conditions[j])
		if !ok {
			continue
		}
		switch c.kind {
		case kindHost, kindPath, kindMethod, kindSourceIP:
			if first, dup := seen[c.kind]; dup {
				rc.add(cp, "%s is also conditions[%d]: a rule has at most one (list the alternatives as its values)", c.kind, first)
			} else {
				seen[c.kind] = j
			}
		}
		r.conds = append(r.conds, c)
		switch c.kind {
		case kindHost:
			r.hosts = c.patterns
		case kindCert:
			r.certPolicy = true
		}
	}
	if rc.values > MaxValuesPerRule {
		rc.add(path+".conditions", "%d values in all; a rule has at most %d", rc.values, MaxValuesPerRule)
	}
	if rc.wildcards > MaxWildcardsPerRule {
		rc.add(path+".conditions", "%d wildcards (* and ?) in all; a rule has at most %d", rc.wildcards, MaxWildcardsPerRule)
	}
	sortConditions(r.conds)
	return r, errors.Join(rc.errs...)
}

// sortConditions puts the cheap conditions first (a stable insertion sort:
// a rule has at most five).
func sortConditions(cs []condition) {
	for i := 1; i < len(cs); i++ {
		for j := i; j > 0 && cs[j].kind < cs[j-1].kind; j-- {
			cs[j], cs[j-1] = cs[j-1], cs[j]
		}
	}
}

// String returns the document's key for the kind.
func (k conditionKind) String() string {
	switch k {
	case kindMethod:
		return "http_request_method"
	case kindSourceIP:
		return "source_ip"
	case kindHost:
		return "host_header"
	case kindPath:
		return "path_pattern"
	case kindHeader:
		return "http_header"
	case kindQuery:
		return "query_string"
	case kindCert:
		return "client_certificate"
	}
	return fmt.Sprintf("conditionKind(%d)", int(k))
}

const conditionKinds = "path_pattern, host_header, http_header, http_request_method, query_string, source_ip or client_certificate"

// condition compiles one condition; ok is false when it has not exactly
// one kind (nothing else can be said about it).
func (rc *ruleCompiler) condition(path string, cc *config.Condition) (c condition, ok bool) {
	set := 0
	for _, isSet := range []bool{cc.PathPattern != nil, cc.HostHeader != nil, cc.HTTPHeader != nil,
		cc.HTTPRequestMethod != nil, cc.QueryString != nil, cc.SourceIP != nil, cc.ClientCertificate != nil} {
		if isSet {
			set++
		}
	}
	switch set {
	case 0:
		rc.add(path, "needs one of %s", conditionKinds)
		return c, false
	case 1:
	default:
		rc.add(path, "one condition per entry: set one of %s, not %d", conditionKinds, set)
		return c, false
	}
	switch {
	case cc.HostHeader != nil:
		c.kind = kindHost
		c.patterns = rc.patterns(path+".host_header", cc.HostHeader.Values, validHostPattern, true,
			"a host pattern (letters, digits, -, ., * and ?)")
	case cc.PathPattern != nil:
		c.kind = kindPath
		c.patterns = rc.patterns(path+".path_pattern", cc.PathPattern.Values, visibleASCII, false,
			"a path pattern (visible ASCII characters)")
	case cc.HTTPHeader != nil:
		c.kind = kindHeader
		hp := path + ".http_header"
		name := cc.HTTPHeader.HTTPHeaderName
		if !validHeaderName(name) {
			rc.add(hp+".http_header_name", "%q is not a header name of 1–%d token characters (no wildcards)", name, MaxHeaderNameLength)
		}
		c.header = http.CanonicalHeaderKey(name)
		c.patterns = rc.patterns(hp, cc.HTTPHeader.Values, headerValuePattern, true,
			"a header value pattern (visible ASCII characters and spaces)")
	case cc.HTTPRequestMethod != nil:
		c.kind = kindMethod
		c.methods = rc.methods(path+".http_request_method", cc.HTTPRequestMethod.Values)
	case cc.SourceIP != nil:
		c.kind = kindSourceIP
		c.prefixes = rc.prefixes(path+".source_ip", cc.SourceIP.Values)
	case cc.QueryString != nil:
		c.kind = kindQuery
		c.pairs = rc.queryPairs(path+".query_string", cc.QueryString.Values)
	case cc.ClientCertificate != nil:
		// Beyond ALB: not counted against ALB's value and wildcard limits, which are about ALB's own conditions.
		c.kind = kindCert
		c.cert = rc.certCondition(path+".client_certificate", cc.ClientCertificate)
	}
	return c, true
}

// count checks a condition's number of values and adds it to the rule's.
func (rc *ruleCompiler) count(path string, n int) {
	rc.values += n
	switch {
	case n == 0:
		rc.add(path, "required: at least one value")
	case n > MaxValuesPerCondition:
		rc.add(path, "%d values; a condition has at most %d", n, MaxValuesPerCondition)
	}
}

// pattern checks one wildcard pattern and compiles it.
func (rc *ruleCompiler) pattern(path, s string, valid func(string) bool, fold, escapes bool, what string) Pattern {
	switch {
	case s == "":
		rc.add(path, "empty: must be %s", what)
	case len(s) > MaxPatternLength:
		rc.add(path, "%d characters; at most %d", len(s), MaxPatternLength)
	case !valid(s):
		rc.add(path, "%q is not %s", s, what)
	}
	p := CompilePattern(s, fold, escapes)
	rc.wildcards += p.Wildcards()
	return p
}

func (rc *ruleCompiler) patterns(path string, values []string, valid func(string) bool, fold bool, what string) []Pattern {
	vp := path + ".values"
	rc.count(vp, len(values))
	ps := make([]Pattern, 0, len(values))
	for i, s := range values {
		ps = append(ps, rc.pattern(fmt.Sprintf("%s[%d]", vp, i), s, valid, fold, false, what))
	}
	return ps
}

func (rc *ruleCompiler) methods(path string, values []string) []string {
	vp := path + ".values"
	rc.count(vp, len(values))
	for i, s := range values {
		if !validMethod(s) {
			rc.add(fmt.Sprintf("%s[%d]", vp, i), "%q is not a method of 1–%d characters A–Z, - and _ (case-sensitive, no wildcards)", s, MaxMethodLength)
		}
	}
	return values
}

func (rc *ruleCompiler) prefixes(path string, values []string) []netip.Prefix {
	vp := path + ".values"
	rc.count(vp, len(values))
	ps := make([]netip.Prefix, 0, len(values))
	for i, s := range values {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			rc.add(fmt.Sprintf("%s[%d]", vp, i), "%q is not a CIDR block such as 192.0.2.0/24 or 2001:db8::/32", s)
			continue
		}
		// 192.0.2.7/24 means 192.0.2.0/24, as ALB reads it.
		ps = append(ps, p.Masked())
	}
	return ps
}

func (rc *ruleCompiler) queryPairs(path string, values []config.QueryStringPair) []queryPair {
	vp := path + ".values"
	rc.count(vp, len(values))
	pairs := make([]queryPair, 0, len(values))
	for i, kv := range values {
		ip := fmt.Sprintf("%s[%d]", vp, i)
		qp := queryPair{anyKey: kv.Key == ""}
		if !qp.anyKey {
			qp.key = rc.pattern(ip+".key", kv.Key, queryKeyPattern, true, true,
				"a query key pattern (visible ASCII characters but & = and #)")
		}
		qp.value = rc.pattern(ip+".value", kv.Value, queryValuePattern, true, true,
			"a query value pattern (visible ASCII characters but & and #)")
		pairs = append(pairs, qp)
	}
	return pairs
}

// validHostPattern allows ALB's host-header characters.
func validHostPattern(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isAlnum(c) || c == '-' || c == '.' || c == '*' || c == '?') {
			return false
		}
	}
	return true
}

// visibleASCII allows 0x21–0x7E: ALB's rules apply to visible ASCII only.
func visibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// headerValuePattern is visible ASCII and inner spaces, which header
// values carry ("Mozilla/5.0 (X11; …)").
func headerValuePattern(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// queryKeyPattern and queryValuePattern refuse the characters that split a
// raw query: such a pattern could never match one parameter.
func queryKeyPattern(s string) bool {
	return visibleASCII(s) && !containsAny(s, "&=#")
}

func queryValuePattern(s string) bool {
	return visibleASCII(s) && !containsAny(s, "&#")
}

func validHeaderName(s string) bool {
	if s == "" || len(s) > MaxHeaderNameLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isAlnum(c) || containsAny("!#$%&'+-.^_`|~", string(c))) {
			return false
		}
	}
	return true
}

func validMethod(s string) bool {
	if s == "" || len(s) > MaxMethodLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func containsAny(s, chars string) bool {
	for i := 0; i < len(s); i++ {
		for j := 0; j < len(chars); j++ {
			if s[i] == chars[j] {
				return true
			}
		}
	}
	return false
}
