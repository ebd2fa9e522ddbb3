package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Validate checks a document after SetDefaults and returns nil, or a
// *ValidationError with every problem found, each with its path (Parse and
// Load add the source lines and sort by them). Problems of CheckSupported
// are included, last, so a document that Validate accepts is one the server
// runs in full.
//
// Validate also parses the fields that other fields are written in
// (durations) into the fields marked "set by Validate"; it changes nothing
// else. It does not read any file.
func Validate(d *Document) error {
	v := validator{
		trustStores:  map[string]string{},
		targetGroups: map[string]targetGroupRef{},
	}
	v.document(d)
	v.probs.list = append(v.probs.list, CheckSupported(d)...)
	return v.probs.err()
}

// validator carries the problems found so far and the names that
// references are checked against.
type validator struct {
	probs        problems
	trustStores  map[string]string // name → path
	targetGroups map[string]targetGroupRef
}

// targetGroupRef is a named target group and where the document has it.
type targetGroupRef struct {
	path string
	tg   *TargetGroup
}

func (v *validator) add(path, format string, args ...any) {
	v.probs.add(path, format, args...)
}

func (v *validator) document(d *Document) {
	if !validResourceName(d.Name) {
		v.add("name", "%q must be 1–32 letters, digits and hyphens, not starting or ending with a hyphen", d.Name)
	}
	v.attributes("attributes", &d.Attributes)

	// Names are indexed before listeners are checked, so that a listener
	// may name a trust store or target group listed after it.
	for i := range d.TrustStores {
		v.trustStore(index("trust_stores", i), &d.TrustStores[i])
	}
	for i := range d.TargetGroups {
		v.targetGroup(index("target_groups", i), &d.TargetGroups[i])
	}
	type bound struct {
		path string
		addr string // "" for every interface
	}
	ports := map[int][]bound{}
	for i := range d.Listeners {
		path := index("listeners", i)
		l := &d.Listeners[i]
		v.listener(path, l)
		if l.Port < 1 || l.Port > 65535 {
			continue
		}
		addr := listenAddress(l.Address)
		for _, other := range ports[l.Port] {
			// A listener on every interface takes the port on all of them,
			// so it clashes with any other listener on that port.
			if other.addr == addr || other.addr == "" || addr == "" {
				v.add(field(path, "port"), "port %d on %s is already used by %s", l.Port, describeAddress(l.Address), other.path)
				break
			}
		}
		ports[l.Port] = append(ports[l.Port], bound{path: path, addr: addr})
	}
}

// listenAddress gives the form in which two addresses are compared.
func listenAddress(a string) string {
	if ip, err := netip.ParseAddr(a); err == nil {
		if ip.IsUnspecified() {
			return ""
		}
		return ip.Unmap().String()
	}
	return strings.ToLower(strings.TrimSuffix(a, "."))
}

func describeAddress(a string) string {
	if listenAddress(a) == "" {
		return "every interface"
	}
	return a
}

func (v *validator) attributes(path string, a *Attributes) {
	if a.IdleTimeoutSeconds < 1 || a.IdleTimeoutSeconds > 4000 {
		v.add(field(path, "idle_timeout_seconds"), "must be between 1 and 4000, not %d", a.IdleTimeoutSeconds)
	}
	v.logDestination(field(path, "connection_logs"), &a.ConnectionLogs)
	v.logDestination(field(path, "access_logs"), &a.AccessLogs)
	cl, al := a.ConnectionLogs, a.AccessLogs
	if cl.Enabled && al.Enabled && cl.Path.Raw != "" && cl.Path.Raw != Stdout && cl.Path.Path() == al.Path.Path() {
		// Two writers rotating one file would cut each other's lines.
		v.add(field(path, "access_logs.path"), "%q is also attributes.connection_logs.path: use two files", al.Path.Raw)
	}
	v.oneOf(field(path, "xff_header_processing_mode"), a.XFFHeaderProcessingMode, "append", "preserve", "remove")
	v.oneOf(field(path, "desync_mitigation_mode"), a.DesyncMitigationMode, "monitor", "defensive", "strictest")
}

func (v *validator) logDestination(path string, l *LogDestination) {
	if l.Enabled && l.Path.Raw == "" {
		v.add(field(path, "path"), `required when enabled: a file, or "-" for standard output`)
		return
	}
	v.filePath(field(path, "path"), l.Path, false)
}

// filePath checks a path that the engine will open; required says whether
// it may be empty.
func (v *validator) filePath(path string, p FilePath, required bool) {
	switch {
	case p.Raw == "":
		if required {
			v.add(path, "required")
		}
	case strings.ContainsRune(p.Raw, 0):
		v.add(path, "%q contains a NUL byte", p.Raw)
	}
}

func (v *validator) trustStore(path string, ts *TrustStore) {
	namePath := field(path, "name")
	switch {
	case ts.Name == "":
		v.add(namePath, "required")
	case !validTrustStoreName(ts.Name):
		v.add(namePath, "%q must be 1–32 letters and digits, with single hyphens between them", ts.Name)
	}
	if ts.Name != "" {
		if first, dup := v.trustStores[ts.Name]; dup {
			v.add(namePath, "duplicate trust store name %q (also %s)", ts.Name, first)
		} else {
			v.trustStores[ts.Name] = path
		}
	}
	v.filePath(field(path, "ca_certificates_bundle"), ts.CACertificatesBundle, true)

	ids := map[int64]int{}
	for i, r := range ts.Revocations {
		rp := index(field(path, "revocations"), i)
		if r.ID < 0 {
			v.add(field(rp, "revocation_id"), "must be positive, not %d", r.ID)
		} else if j, dup := ids[r.ID]; dup && r.ID != 0 {
			v.add(field(rp, "revocation_id"), "%d is also the id of revocations[%d]", r.ID, j)
		}
		ids[r.ID] = i
		switch {
		case r.CRL.Raw == "" && r.URL == "":
			v.add(rp, "needs crl (a file) or url")
		case r.CRL.Raw != "" && r.URL != "":
			v.add(rp, "set crl or url, not both")
		case r.CRL.Raw != "":
			v.filePath(field(rp, "crl"), r.CRL, true)
		default:
			if u, err := url.Parse(r.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				v.add(field(rp, "url"), "%q must be an http or https URL", r.URL)
			}
		}
		if r.RefreshInterval != "" {
			d, err := time.ParseDuration(r.RefreshInterval)
			switch {
			case r.URL == "":
				v.add(field(rp, "refresh_interval"), "applies to a CRL fetched from a url only")
			case err != nil || d < time.Second:
				v.add(field(rp, "refresh_interval"), "%q must be a duration of at least 1s, such as 15m or 1h", r.RefreshInterval)
			default:
				ts.Revocations[i].RefreshEvery = d
			}
		}
	}

	v.intRange(field(path, "max_chain_depth"), ts.MaxChainDepth, 1, 16)
	v.intRange(field(path, "max_certificate_size"), ts.MaxCertificateSize, 1, 1<<20)
	v.intRange(field(path, "max_ca_certificates"), ts.MaxCACertificates, 1, 1_000_000)
	v.intRange(field(path, "max_revocations"), ts.MaxRevocations, 1, 10_000)
	if ts.MaxCRLSize < 1 || ts.MaxCRLSize > 1<<30 {
		v.add(field(path, "max_crl_size"), "must be between 1 and %d, not %d", 1<<30, ts.MaxCRLSize)
	}
	v.intRange(field(path, "max_revoked_entries"), ts.MaxRevokedEntries, 1, 100_000_000)
	if ts.RequireCRL && len(ts.Revocations) == 0 {
		v.add(field(path, "require_crl"), "true with no revocations would refuse every client certificate")
	}
	if ts.MaxRevocations >= 1 && len(ts.Revocations) > ts.MaxRevocations {
		v.add(field(path, "revocations"), "%d revocation lists, more than max_revocations (%d)", len(ts.Revocations), ts.MaxRevocations)
	}

	ts.StaleCRLAction, ts.StaleCRLGrace = StaleCRLUse, 0
	switch ts.StaleCRLPolicy {
	case "use":
	case "reject":
		ts.StaleCRLAction = StaleCRLReject
	default:
		d, err := positiveDuration(ts.StaleCRLPolicy)
		if err != nil {
			v.add(field(path, "stale_crl_policy"), `must be use, reject or a duration such as "72h", not %q`, ts.StaleCRLPolicy)
		} else {
			ts.StaleCRLAction, ts.StaleCRLGrace = StaleCRLUseForGrace, d
		}
	}
	ts.MaxCRLAgeDuration = 0
	if ts.MaxCRLAge != "" {
		d, err := positiveDuration(ts.MaxCRLAge)
		if err != nil {
			v.add(field(path, "max_crl_age"), `must be a duration such as "168h", not %q`, ts.MaxCRLAge)
		} else {
			ts.MaxCRLAgeDuration = d
		}
	}
}

// positiveDuration parses a Go duration ("72h", "90m") that must be above 0.
func positiveDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d <= 0 {
		return 0, fmt.Errorf("duration %q is not positive", s)
	}
	return d, nil
}

func (v *validator) targetGroup(path string, tg *TargetGroup) {
	namePath := field(path, "name")
	switch {
	case tg.Name == "":
		v.add(namePath, "required")
	case !validResourceName(tg.Name):
		v.add(namePath, "%q must be 1–32 letters, digits and hyphens, not starting or ending with a hyphen", tg.Name)
	}
	if tg.Name != "" {
		if first, dup := v.targetGroups[tg.Name]; dup {
			v.add(namePath, "duplicate target group name %q (also %s)", tg.Name, first.path)
		} else {
			v.targetGroups[tg.Name] = targetGroupRef{path: path, tg: tg}
		}
	}
	protoOK := v.protocol(field(path, "protocol"), tg.Protocol)
	if protoOK {
		if tg.Protocol.layer7() {
			v.oneOf(field(path, "protocol_version"), tg.ProtocolVersion, "HTTP1", "HTTP2", "GRPC")
		} else if tg.ProtocolVersion != "" {
			v.add(field(path, "protocol_version"), "only HTTP and HTTPS target groups have a protocol version")
		}
	}

	type endpoint struct {
		id   string
		port int
	}
	seen := map[endpoint]int{}
	for i, t := range tg.Targets {
		tp := index(field(path, "targets"), i)
		switch {
		case t.ID == "":
			v.add(field(tp, "id"), "required: an IP address or a host name")
		case !validHost(t.ID):
			v.add(field(tp, "id"), "%q is not an IP address or a host name", t.ID)
		}
		v.port(field(tp, "port"), t.Port)
		if t.Weight != nil {
			v.intRange(field(tp, "weight"), *t.Weight, 0, 999)
		}
		key := endpoint{listenAddress(t.ID), t.Port}
		if first, dup := seen[key]; dup && t.ID != "" {
			v.add(tp, "%s:%d is also %s", t.ID, t.Port, index(field(path, "targets"), first))
		} else {
			seen[key] = i
		}
	}
	if protoOK {
		v.healthCheck(field(path, "health_check"), tg)
	}
	v.targetGroupAttributes(field(path, "attributes"), tg, protoOK)
	if t := tg.TLS; t != nil {
		tp := field(path, "tls")
		if protoOK && tg.Protocol != ProtocolHTTPS {
			v.add(tp, "only HTTPS target groups open TLS connections to their targets (protocol is %s)", tg.Protocol)
		}
		if t.Certificate.IsZero() != t.PrivateKey.IsZero() {
			v.add(tp, "certificate and private_key go together: set both or neither")
		}
		v.filePath(field(tp, "certificate"), t.Certificate, false)
		v.filePath(field(tp, "private_key"), t.PrivateKey, false)
		v.filePath(field(tp, "ca_certificates_bundle"), t.CACertificatesBundle, false)
		if t.ServerName != "" && !validHost(t.ServerName) {
			v.add(field(tp, "server_name"), "%q is not a host name", t.ServerName)
		}
	}
}

func (v *validator) healthCheck(path string, tg *TargetGroup) {
	hc := &tg.HealthCheck
	hp := field(path, "protocol")
	switch hc.Protocol {
	case ProtocolHTTP, ProtocolHTTPS:
	case ProtocolTCP:
		if tg.Protocol.layer7() {
			v.add(hp, "an %s target group is checked with HTTP or HTTPS, not TCP", tg.Protocol)
		}
	default:
		v.add(hp, "must be HTTP, HTTPS or TCP, not %q", hc.Protocol)
	}
	if hc.Port != TrafficPort {
		if n, err := strconv.Atoi(hc.Port); err != nil || n < 1 || n > 65535 {
			v.add(field(path, "port"), "must be %q or a port between 1 and 65535, not %q", TrafficPort, hc.Port)
		}
	}
	v.intRange(field(path, "interval_seconds"), hc.IntervalSeconds, 5, 300)
	v.intRange(field(path, "timeout_seconds"), hc.TimeoutSeconds, 2, 120)
	if hc.TimeoutSeconds >= hc.IntervalSeconds && hc.IntervalSeconds >= 5 && hc.TimeoutSeconds >= 2 {
		v.add(field(path, "timeout_seconds"), "%d must be less than interval_seconds (%d)", hc.TimeoutSeconds, hc.IntervalSeconds)
	}
	v.intRange(field(path, "healthy_threshold_count"), hc.HealthyThresholdCount, 2, 10)
	v.intRange(field(path, "unhealthy_threshold_count"), hc.UnhealthyThresholdCount, 2, 10)

	if !hc.Protocol.layer7() {
		if hc.Path != "" {
			v.add(field(path, "path"), "only HTTP and HTTPS health checks have a path")
		}
		if hc.Matcher != nil {
			v.add(field(path, "matcher"), "only HTTP and HTTPS health checks have a matcher")
		}
		return
	}
	if !strings.HasPrefix(hc.Path, "/") || len(hc.Path) > 1024 {
		v.add(field(path, "path"), "must start with / and be at most 1024 characters, not %q", hc.Path)
	}
	mp := field(path, "matcher")
	switch m := hc.Matcher; {
	case m == nil || (m.HTTPCode == "" && m.GRPCCode == ""):
		v.add(mp, "needs http_code or grpc_code")
	case m.HTTPCode != "" && m.GRPCCode != "":
		v.add(mp, "set http_code or grpc_code, not both")
	case m.GRPCCode != "":
		if tg.ProtocolVersion != "GRPC" {
			v.add(field(mp, "grpc_code"), "only for GRPC target groups; use http_code")
		} else if !validCodes(m.GRPCCode, 0, 99) {
			v.add(field(mp, "grpc_code"), `%q must be codes 0–99 as "0", "0,12" or "0-99"`, m.GRPCCode)
		}
	default:
		if tg.ProtocolVersion == "GRPC" {
			v.add(field(mp, "http_code"), "a GRPC target group is checked with grpc_code")
		} else if !validCodes(m.HTTPCode, 200, 499) {
			v.add(field(mp, "http_code"), `%q must be codes 200–499 as "200", "200,202" or "200-299"`, m.HTTPCode)
		}
	}
}

// validCodes reports whether s is one code, a comma-separated list of codes,
// or a range "low-high", each within [lo, hi].
func validCodes(s string, lo, hi int) bool {
	code := func(c string) (int, bool) {
		if c == "" || len(c) > 3 || strings.TrimLeft(c, "0123456789") != "" {
			return 0, false
		}
		n, _ := strconv.Atoi(c)
		return n, n >= lo && n <= hi
	}
	if a, b, isRange := strings.Cut(s, "-"); isRange {
		x, ok1 := code(a)
		y, ok2 := code(b)
		return ok1 && ok2 && x < y
	}
	for c := range strings.SplitSeq(s, ",") {
		if _, ok := code(c); !ok {
			return false
		}
	}
	return true
}

func (v *validator) targetGroupAttributes(path string, tg *TargetGroup, protoOK bool) {
	a := &tg.Attributes
	if !protoOK || tg.Protocol.layer7() {
		v.oneOf(field(path, "load_balancing_algorithm_type"), a.LoadBalancingAlgorithmType,
			"round_robin", "least_outstanding_requests", "weighted_random")
	} else {
		v.oneOf(field(path, "load_balancing_algorithm_type"), a.LoadBalancingAlgorithmType,
			"round_robin", "least_connections")
	}
	if a.DeregistrationDelayTimeoutSeconds != nil {
		v.intRange(field(path, "deregistration_delay_timeout_seconds"), *a.DeregistrationDelayTimeoutSeconds, 0, 3600)
	}
	if s := a.SlowStartDurationSeconds; s != 0 && (s < 30 || s > 900) {
		v.add(field(path, "slow_start_duration_seconds"), "must be 0 (off) or between 30 and 900, not %d", s)
	}
	if protoOK && a.ProxyProtocolV2 && tg.Protocol.layer7() {
		v.add(field(path, "proxy_protocol_v2"), "only TCP and TLS target groups send a PROXY protocol header")
	}
	if !protoOK {
		return
	}
	sp := field(path, "stickiness")
	st := &a.Stickiness
	if tg.Protocol.layer7() {
		if !v.oneOf(field(sp, "type"), st.Type, "lb_cookie", "app_cookie") {
			return
		}
		v.intRange(field(sp, "cookie_duration_seconds"), st.CookieDurationSeconds, 1, 604800)
		switch {
		case st.Type == "app_cookie" && st.CookieName == "":
			v.add(field(sp, "cookie_name"), "required for app_cookie stickiness")
		case st.Type == "app_cookie" && !validToken(st.CookieName):
			v.add(field(sp, "cookie_name"), "%q is not a valid cookie name", st.CookieName)
		case st.Type != "app_cookie" && st.CookieName != "":
			v.add(field(sp, "cookie_name"), "only for app_cookie stickiness")
		}
		return
	}
	v.oneOf(field(sp, "type"), st.Type, "source_ip")
	if st.CookieDurationSeconds != 0 || st.CookieName != "" {
		v.add(sp, "source_ip stickiness has no cookie")
	}
}

func (v *validator) listener(path string, l *Listener) {
	v.port(field(path, "port"), l.Port)
	if l.Address != "" && !validHost(l.Address) {
		v.add(field(path, "address"), "%q is not an IP address or a host name", l.Address)
	}
	protoOK := v.protocol(field(path, "protocol"), l.Protocol)

	cp := field(path, "certificates")
	switch {
	case protoOK && l.Protocol.terminatesTLS() && len(l.Certificates) == 0:
		v.add(cp, "an %s listener needs at least one certificate", l.Protocol)
	case protoOK && !l.Protocol.terminatesTLS() && len(l.Certificates) > 0:
		v.add(cp, "only HTTPS and TLS listeners take certificates")
	}
	for i, c := range l.Certificates {
		p := index(cp, i)
		v.filePath(field(p, "certificate"), c.Certificate, true)
		v.filePath(field(p, "private_key"), c.PrivateKey, true)
	}
	if protoOK && !l.Protocol.terminatesTLS() && l.SSLPolicy != "" {
		v.add(field(path, "ssl_policy"), "only HTTPS and TLS listeners take a TLS policy")
	}

	v.mutualAuthentication(field(path, "mutual_authentication"), l, protoOK)
	v.headerNames(field(path, "header_names"), l, protoOK)

	ap := field(path, "default_actions")
	switch len(l.DefaultActions) {
	case 0:
		v.add(ap, "required: one action")
	case 1:
	default:
		v.add(ap, "exactly one action, not %d", len(l.DefaultActions))
	}
	for i := range l.DefaultActions {
		v.action(index(ap, i), &l.DefaultActions[i], l.Protocol, protoOK)
	}

	rp := field(path, "rules")
	if protoOK && !l.Protocol.layer7() && len(l.Rules) > 0 {
		v.add(rp, "only HTTP and HTTPS listeners have rules")
	}
	if l.IdleTimeoutSeconds != 0 {
		ip := field(path, "idle_timeout_seconds")
		if protoOK && l.Protocol.layer7() {
			v.add(ip, "only TCP and TLS listeners have their own idle timeout; HTTP and HTTPS listeners use attributes.idle_timeout_seconds")
		} else {
			v.intRange(ip, l.IdleTimeoutSeconds, 60, 6000)
		}
	}
	if pp := l.ProxyProtocol; pp != nil {
		np := field(path, "proxy_protocol.trusted_networks")
		if len(pp.TrustedNetworks) == 0 {
			v.add(np, "required: at least one CIDR block whose PROXY headers are believed")
		}
		for i, n := range pp.TrustedNetworks {
			if _, err := netip.ParsePrefix(n); err != nil {
				v.add(index(np, i), "%q is not a CIDR block such as 10.0.0.0/8", n)
			}
		}
	}
	priorities := map[int]int{}
	for i := range l.Rules {
		v.rule(index(rp, i), &l.Rules[i], l, protoOK)
		p := l.Rules[i].Priority
		if first, dup := priorities[p]; dup {
			v.add(field(index(rp, i), "priority"), "priority %d is also %s", p, index(rp, first))
		} else {
			priorities[p] = i
		}
	}
}

func (v *validator) mutualAuthentication(path string, l *Listener, protoOK bool) {
	ma := &l.MutualAuthentication
	modeOK := true
	switch ma.Mode {
	case ModeOff:
	case ModePassthrough:
		if protoOK && l.Protocol != ProtocolHTTPS {
			v.add(field(path, "mode"), "passthrough needs an HTTPS listener (the certificate is passed in a header)")
		}
	case ModeVerify:
		if protoOK && !l.Protocol.terminatesTLS() {
			v.add(field(path, "mode"), "verify needs an HTTPS or TLS listener")
		}
	case ModeOptional:
		if protoOK && l.Protocol != ProtocolHTTPS {
			v.add(field(path, "mode"), "optional needs an HTTPS listener (its rules decide what a client without a certificate may reach)")
		}
	default:
		v.add(field(path, "mode"), "must be off, passthrough, verify or optional, not %q", ma.Mode)
		modeOK = false
	}

	tp := field(path, "trust_store")
	switch {
	case ma.Mode.verifies() && ma.TrustStore == "":
		v.add(tp, "required in %s mode", ma.Mode)
	case ma.Mode.verifies():
		if _, ok := v.trustStores[ma.TrustStore]; !ok {
			v.add(tp, "no trust store named %q", ma.TrustStore)
		}
	case ma.TrustStore != "" && modeOK:
		v.add(tp, "only allowed in verify and optional modes (mode is %s)", ma.Mode)
	}
	if ma.IgnoreClientCertificateExpiry && !ma.Mode.verifies() && modeOK {
		v.add(field(path, "ignore_client_certificate_expiry"), "only allowed in verify and optional modes (mode is %s)", ma.Mode)
	}
	if f := ma.IdentityFilters; f != nil {
		fp := field(path, "identity_filters")
		switch {
		case !ma.Mode.verifies() && modeOK:
			v.add(fp, "only allowed in verify and optional modes (mode is %s): filters apply to verified certificates", ma.Mode)
		case f.Empty():
			v.add(fp, "set at least one of subject_cn, subject_ou, san_dns, san_uri")
		}
		v.certPatterns(field(fp, "subject_cn"), f.SubjectCN)
		v.certPatterns(field(fp, "subject_ou"), f.SubjectOU)
		v.certPatterns(field(fp, "san_dns"), f.SANDNS)
		v.certPatterns(field(fp, "san_uri"), f.SANURI)
	}
	ap := field(path, "advertise_trust_store_ca_names")
	switch ma.AdvertiseTrustStoreCANames {
	case Off:
	case On:
		if !ma.Mode.verifies() && modeOK {
			v.add(ap, "on only in verify and optional modes (mode is %s)", ma.Mode)
		}
	default:
		v.add(ap, "must be on or off, not %q", ma.AdvertiseTrustStoreCANames)
	}
}

func (v *validator) headerNames(path string, l *Listener, protoOK bool) {
	if len(l.HeaderNames) == 0 {
		return
	}
	if protoOK && !l.Protocol.layer7() {
		v.add(path, "only HTTP and HTTPS listeners send headers")
		return
	}
	valid := true
	for _, key := range sortedKeys(l.HeaderNames) {
		name := l.HeaderNames[key]
		kp := field(path, key)
		switch {
		case DefaultHeaderName(key) == "":
			v.add(kp, "unknown header key (one of %s)", strings.Join(HeaderKeys(), ", "))
			valid = false
		case name == "":
			v.add(kp, "empty header name")
			valid = false
		case !validToken(name):
			v.add(kp, "%q is not a valid header name (letters, digits and !#$%%&'*+-.^_`|~)", name)
			valid = false
		case reservedHeader(name):
			v.add(kp, "%q is a header that mtlslb or HTTP itself manages", name)
			valid = false
		}
	}
	if !valid {
		return
	}
	// The stripping of inbound copies (alb-compat.md §3.2) goes by name, so
	// two keys sharing one name would let one value overwrite the other.
	seen := map[string]string{}
	for _, key := range HeaderKeys() {
		name := strings.ToLower(l.HeaderName(key))
		if first, dup := seen[name]; dup {
			at := key
			if _, renamed := l.HeaderNames[key]; !renamed {
				at = first
				first = key
			}
			v.add(field(path, at), "%q is also the name of %s", l.HeaderName(at), first)
			continue
		}
		seen[name] = key
	}
}

// reservedHeader reports whether name is a header that HTTP or mtlslb sets
// or removes itself, which a client-certificate header must not replace.
func reservedHeader(name string) bool {
	switch strings.ToLower(name) {
	case "host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade",
		"te", "trailer", "proxy-authenticate", "proxy-authorization", "content-length",
		"x-forwarded-for", "x-forwarded-proto", "x-forwarded-port", "x-amzn-trace-id":
		return true
	}
	return false
}

func (v *validator) rule(path string, r *Rule, l *Listener, protoOK bool) {
	proto := l.Protocol
	v.intRange(field(path, "priority"), r.Priority, 1, 50000)
	cp := field(path, "conditions")
	if len(r.Conditions) == 0 {
		v.add(cp, "required: at least one condition")
	}
	mode := l.MutualAuthentication.Mode
	for i := range r.Conditions {
		v.condition(index(cp, i), &r.Conditions[i])
		if r.Conditions[i].ClientCertificate != nil && !mode.verifies() {
			v.add(field(index(cp, i), "client_certificate"),
				"needs a listener in verify or optional mode (mode is %s): only verified certificates are matched", mode)
		}
	}
	if r.RequireClientCertificate && !mode.verifies() {
		v.add(field(path, "require_client_certificate"),
			"needs a listener in verify or optional mode (mode is %s): no client certificate is verified", mode)
	}
	ap := field(path, "actions")
	switch len(r.Actions) {
	case 0:
		v.add(ap, "required: one action")
	case 1:
	default:
		v.add(ap, "exactly one action, not %d", len(r.Actions))
	}
	for i := range r.Actions {
		v.action(index(ap, i), &r.Actions[i], proto, protoOK)
	}
}

func (v *validator) condition(path string, c *Condition) {
	set := 0
	for _, isSet := range []bool{c.PathPattern != nil, c.HostHeader != nil, c.HTTPHeader != nil,
		c.HTTPRequestMethod != nil, c.QueryString != nil, c.SourceIP != nil, c.ClientCertificate != nil} {
		if isSet {
			set++
		}
	}
	const kinds = "path_pattern, host_header, http_header, http_request_method, query_string, source_ip or client_certificate"
	switch {
	case set == 0:
		v.add(path, "needs one of %s", kinds)
		return
	case set > 1:
		v.add(path, "one condition per entry: set one of %s, not %d", kinds, set)
		return
	}
	values := func(p string, vals []string, check func(string) bool, what string) {
		if len(vals) == 0 {
			v.add(field(p, "values"), "required: at least one value")
		}
		for i, s := range vals {
			if s == "" || len(s) > 128 || !check(s) {
				v.add(index(field(p, "values"), i), "%q is not %s", s, what)
			}
		}
	}
	anything := func(string) bool { return true }
	switch {
	case c.PathPattern != nil:
		values(field(path, "path_pattern"), c.PathPattern.Values, anything, "a path pattern of 1–128 characters")
	case c.HostHeader != nil:
		values(field(path, "host_header"), c.HostHeader.Values, anything, "a host pattern of 1–128 characters")
	case c.HTTPHeader != nil:
		p := field(path, "http_header")
		if !validToken(c.HTTPHeader.HTTPHeaderName) {
			v.add(field(p, "http_header_name"), "%q is not a valid header name", c.HTTPHeader.HTTPHeaderName)
		}
		values(p, c.HTTPHeader.Values, anything, "a pattern of 1–128 characters")
	case c.HTTPRequestMethod != nil:
		values(field(path, "http_request_method"), c.HTTPRequestMethod.Values, validToken, "an HTTP method")
	case c.SourceIP != nil:
		values(field(path, "source_ip"), c.SourceIP.Values, func(s string) bool {
			_, err := netip.ParsePrefix(s)
			return err == nil
		}, "a CIDR block such as 192.0.2.0/24")
	case c.ClientCertificate != nil:
		p := field(path, "client_certificate")
		cc := c.ClientCertificate
		if cc.Verified == nil && len(cc.SubjectCN)+len(cc.SubjectOU)+len(cc.SANDNS)+len(cc.SANURI)+len(cc.Issuer) == 0 {
			v.add(p, "set at least one of verified, subject_cn, subject_ou, san_dns, san_uri, issuer")
		}
		v.certPatterns(field(p, "subject_cn"), cc.SubjectCN)
		v.certPatterns(field(p, "subject_ou"), cc.SubjectOU)
		v.certPatterns(field(p, "san_dns"), cc.SANDNS)
		v.certPatterns(field(p, "san_uri"), cc.SANURI)
		v.certPatterns(field(p, "issuer"), cc.Issuer)
	case c.QueryString != nil:
		p := field(path, "query_string.values")
		if len(c.QueryString.Values) == 0 {
			v.add(p, "required: at least one key/value pair")
		}
		for i, kv := range c.QueryString.Values {
			if kv.Value == "" {
				v.add(field(index(p, i), "value"), "required")
			}
		}
	}
}

func (v *validator) action(path string, a *Action, proto Protocol, protoOK bool) {
	tp := field(path, "type")
	switch a.Type {
	case ActionForward:
		v.forward(path, a, proto, protoOK)
	case ActionFixedResponse, ActionRedirect:
		if protoOK && !proto.layer7() {
			v.add(tp, "a %s listener can only forward", proto)
		}
		if a.Type == ActionFixedResponse {
			v.fixedResponse(field(path, "fixed_response"), a.FixedResponse)
		} else {
			v.redirect(field(path, "redirect"), a.Redirect)
		}
	case "":
		v.add(tp, "required: forward, fixed_response or redirect")
		return
	default:
		v.add(tp, "must be forward, fixed_response or redirect, not %q", a.Type)
		return
	}
	if a.Type != ActionForward && (a.TargetGroup != "" || a.Forward != nil) {
		v.add(path, "target_group and forward belong to forward actions, not %s", a.Type)
	}
	if a.Type != ActionFixedResponse && a.FixedResponse != nil {
		v.add(field(path, "fixed_response"), "only in a fixed_response action (type is %s)", a.Type)
	}
	if a.Type != ActionRedirect && a.Redirect != nil {
		v.add(field(path, "redirect"), "only in a redirect action (type is %s)", a.Type)
	}
}

func (v *validator) forward(path string, a *Action, proto Protocol, protoOK bool) {
	switch {
	case a.TargetGroup != "" && a.Forward != nil:
		v.add(field(path, "target_group"), "set target_group or forward, not both")
		return
	case a.TargetGroup != "":
		v.targetGroupRef(field(path, "target_group"), a.TargetGroup, proto, protoOK)
		return
	case a.Forward == nil:
		v.add(path, "a forward action needs target_group or forward.target_groups")
		return
	}
	fp := field(path, "forward")
	gp := field(fp, "target_groups")
	switch n := len(a.Forward.TargetGroups); {
	case n == 0:
		v.add(gp, "required: 1 to 5 target groups")
	case n > 5:
		v.add(gp, "at most 5 target groups, not %d", n)
	}
	seen := map[string]int{}
	total := 0
	for i, w := range a.Forward.TargetGroups {
		p := index(gp, i)
		if w.TargetGroup == "" {
			v.add(field(p, "target_group"), "required")
		} else {
			v.targetGroupRef(field(p, "target_group"), w.TargetGroup, proto, protoOK)
			if first, dup := seen[w.TargetGroup]; dup {
				v.add(field(p, "target_group"), "%q is also %s", w.TargetGroup, index(gp, first))
			} else {
				seen[w.TargetGroup] = i
			}
		}
		if w.Weight != nil {
			v.intRange(field(p, "weight"), *w.Weight, 0, 999)
			total += max(*w.Weight, 0)
		}
	}
	if len(a.Forward.TargetGroups) > 0 && total == 0 {
		v.add(gp, "every weight is 0: no request could be forwarded")
	}
	if s := a.Forward.Stickiness; s != nil && s.Enabled {
		v.intRange(field(fp, "stickiness.duration_seconds"), s.DurationSeconds, 1, 604800)
	}
}

// targetGroupRef checks that a forward names a target group of a protocol
// the listener can forward to.
func (v *validator) targetGroupRef(path, name string, proto Protocol, protoOK bool) {
	ref, ok := v.targetGroups[name]
	tg := ref.tg
	if !ok {
		v.add(path, "no target group named %q", name)
		return
	}
	if !protoOK {
		return
	}
	var fits bool
	var want string
	switch proto {
	case ProtocolHTTP, ProtocolHTTPS:
		fits, want = tg.Protocol.layer7(), "HTTP or HTTPS"
	case ProtocolTCP:
		fits, want = tg.Protocol == ProtocolTCP, "TCP"
	case ProtocolTLS:
		fits, want = tg.Protocol == ProtocolTCP || tg.Protocol == ProtocolTLS, "TCP or TLS"
	}
	if !fits && validProtocol(tg.Protocol) {
		v.add(path, "target group %q is %s; an %s listener forwards to %s target groups", name, tg.Protocol, proto, want)
	}
}

func (v *validator) fixedResponse(path string, f *FixedResponseConfig) {
	if f == nil {
		v.add(path, "required in a fixed_response action")
		return
	}
	if len(f.StatusCode) != 3 || !strings.ContainsRune("245", rune(f.StatusCode[0])) ||
		strings.Trim(f.StatusCode, "0123456789") != "" {
		v.add(field(path, "status_code"), "must be a 2XX, 4XX or 5XX code, not %q", f.StatusCode)
	}
	if f.ContentType != "" {
		v.oneOf(field(path, "content_type"), f.ContentType,
			"text/plain", "text/css", "text/html", "application/javascript", "application/json")
	}
	if len(f.MessageBody) > 1024 {
		v.add(field(path, "message_body"), "at most 1024 bytes, not %d", len(f.MessageBody))
	}
}

func (v *validator) redirect(path string, r *RedirectConfig) {
	if r == nil {
		v.add(path, "required in a redirect action")
		return
	}
	v.oneOf(field(path, "status_code"), r.StatusCode, "HTTP_301", "HTTP_302")
	if r.Protocol != "" {
		v.oneOf(field(path, "protocol"), r.Protocol, "HTTP", "HTTPS", "#{protocol}")
	}
	if r.Port != "" && r.Port != "#{port}" {
		if n, err := strconv.Atoi(r.Port); err != nil || n < 1 || n > 65535 {
			v.add(field(path, "port"), `must be a port between 1 and 65535 or "#{port}", not %q`, r.Port)
		}
	}
	if r.Path != "" && !strings.HasPrefix(r.Path, "/") && !strings.HasPrefix(r.Path, "#{path}") {
		v.add(field(path, "path"), "must start with / or #{path}, not %q", r.Path)
	}
	if strings.ContainsAny(r.Host+r.Path+r.Query, "\r\n") {
		v.add(path, "a redirect may not contain a line break")
	}
}

// certPatterns checks the wildcard patterns of a client-certificate match:
// 1–256 visible characters each (subjects and URIs are longer than host
// names), at most 10 per list.
func (v *validator) certPatterns(path string, patterns []string) {
	if len(patterns) > 10 {
		v.add(path, "at most 10 patterns, not %d", len(patterns))
	}
	for i, s := range patterns {
		if s == "" || len(s) > 256 || strings.ContainsAny(s, "\r\n\x00") {
			v.add(index(path, i), "%q is not a pattern of 1–256 characters on one line", s)
		}
	}
}

// protocol checks a listener's or target group's protocol and reports
// whether it is one of the four.
func (v *validator) protocol(path string, p Protocol) bool {
	if validProtocol(p) {
		return true
	}
	if p == "" {
		v.add(path, "required: HTTP, HTTPS, TCP or TLS")
	} else {
		v.add(path, "must be HTTP, HTTPS, TCP or TLS, not %q", p)
	}
	return false
}

func validProtocol(p Protocol) bool {
	switch p {
	case ProtocolHTTP, ProtocolHTTPS, ProtocolTCP, ProtocolTLS:
		return true
	}
	return false
}

func (v *validator) port(path string, p int) {
	if p < 1 || p > 65535 {
		v.add(path, "must be between 1 and 65535, not %d", p)
	}
}

func (v *validator) intRange(path string, n, lo, hi int) {
	if n < lo || n > hi {
		v.add(path, "must be between %d and %d, not %d", lo, hi, n)
	}
}

// oneOf checks that s is one of choices and reports whether it is.
func (v *validator) oneOf(path, s string, choices ...string) bool {
	for _, c := range choices {
		if s == c {
			return true
		}
	}
	list := strings.Join(choices[:len(choices)-1], ", ") + " or " + choices[len(choices)-1]
	if len(choices) == 1 {
		list = choices[0]
	}
	if s == "" {
		v.add(path, "required: %s", list)
	} else {
		v.add(path, "must be %s, not %q", list, s)
	}
	return false
}

// validTrustStoreName is ALB's trust store name rule: 1–32 letters and
// digits, with single hyphens between them.
func validTrustStoreName(s string) bool {
	if len(s) == 0 || len(s) > 32 || s[0] == '-' || s[len(s)-1] == '-' || strings.Contains(s, "--") {
		return false
	}
	return onlyAlnumHyphen(s)
}

// validResourceName is ALB's rule for load balancer and target group
// names: 1–32 letters, digits and hyphens, not starting or ending with a
// hyphen.
func validResourceName(s string) bool {
	return len(s) >= 1 && len(s) <= 32 && s[0] != '-' && s[len(s)-1] != '-' && onlyAlnumHyphen(s)
}

func onlyAlnumHyphen(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// validToken reports whether s is an RFC 9110 token: a valid header name
// or method.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// validHost reports whether s is an IP address or a DNS host name.
func validHost(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	name := strings.TrimSuffix(s, ".")
	if name == "" || len(name) > 253 {
		return false
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' || !onlyAlnumHyphen(l) {
			return false
		}
	}
	// An all-digit last label is a mistyped address ("10.0.0.256"), never
	// a top-level domain.
	return strings.Trim(labels[len(labels)-1], "0123456789") != ""
}
