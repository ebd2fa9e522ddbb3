package config

// The defaults that are not zero values. ALB's where ALB has one.
const (
	DefaultName                    = "mtlslb"
	DefaultIdleTimeoutSeconds      = 60
	DefaultXFFHeaderProcessingMode = "append"
	DefaultDesyncMitigationMode    = "defensive"

	DefaultStaleCRLPolicy     = "use"
	DefaultMaxChainDepth      = 4
	DefaultMaxCertificateSize = 16 << 10
	DefaultMaxCACertificates  = 1000
	DefaultMaxRevocations     = 30
	DefaultMaxCRLSize         = 50 << 20
	DefaultMaxRevokedEntries  = 500_000

	DefaultProtocolVersion            = "HTTP1"
	DefaultLoadBalancingAlgorithm     = "round_robin"
	DefaultDeregistrationDelaySeconds = 300
	DefaultStickinessCookieSeconds    = 86400

	DefaultHealthCheckPath = "/"
	// DefaultHealthCheckGRPCPath is ALB's check path of GRPC target groups: a method no service has, so a
	// live gRPC server answers Unimplemented (12), the default grpc_code.
	DefaultHealthCheckGRPCPath           = "/AWS.ALB/healthcheck"
	DefaultHealthCheckIntervalSeconds    = 30
	DefaultHealthCheckHTTPTimeoutSeconds = 5
	DefaultHealthCheckTCPTimeoutSeconds  = 10
	DefaultHealthyThresholdCount         = 5
	DefaultUnhealthyThresholdCount       = 2
	DefaultHealthCheckHTTPCode           = "200"
	DefaultHealthCheckGRPCCode           = "12"
)

// SetDefaults fills every unset field of d that has a default. It is the only
// place defaults are set; it runs before Validate, is idempotent, and never
// overwrites a value the document gives (so a bad value still reaches
// Validate and is reported). Defaults that depend on another field (a
// listener's TLS policy on its protocol) are only set when that field is
// one Validate accepts.
func SetDefaults(d *Document) {
	if d.Name == "" {
		d.Name = DefaultName
	}
	setAttributeDefaults(&d.Attributes)
	for i := range d.TrustStores {
		setTrustStoreDefaults(&d.TrustStores[i])
	}
	for i := range d.Listeners {
		setListenerDefaults(&d.Listeners[i])
	}
	for i := range d.TargetGroups {
		setTargetGroupDefaults(&d.TargetGroups[i])
	}
}

func setAttributeDefaults(a *Attributes) {
	if a.IdleTimeoutSeconds == 0 {
		a.IdleTimeoutSeconds = DefaultIdleTimeoutSeconds
	}
	if a.XFFHeaderProcessingMode == "" {
		a.XFFHeaderProcessingMode = DefaultXFFHeaderProcessingMode
	}
	if a.DesyncMitigationMode == "" {
		a.DesyncMitigationMode = DefaultDesyncMitigationMode
	}
	if a.HTTP2Enabled == nil {
		a.HTTP2Enabled = ptr(true)
	}
}

func setTrustStoreDefaults(ts *TrustStore) {
	if ts.StaleCRLPolicy == "" {
		ts.StaleCRLPolicy = DefaultStaleCRLPolicy
	}
	setInt(&ts.MaxChainDepth, DefaultMaxChainDepth)
	setInt(&ts.MaxCertificateSize, DefaultMaxCertificateSize)
	setInt(&ts.MaxCACertificates, DefaultMaxCACertificates)
	setInt(&ts.MaxRevocations, DefaultMaxRevocations)
	if ts.MaxCRLSize == 0 {
		ts.MaxCRLSize = DefaultMaxCRLSize
	}
	setInt(&ts.MaxRevokedEntries, DefaultMaxRevokedEntries)
}

func setListenerDefaults(l *Listener) {
	if l.SSLPolicy == "" && l.Protocol.terminatesTLS() {
		l.SSLPolicy = DefaultSSLPolicy
	}
	ma := &l.MutualAuthentication
	if ma.Mode == "" {
		ma.Mode = ModeOff
	}
	if ma.AdvertiseTrustStoreCANames == "" {
		ma.AdvertiseTrustStoreCANames = Off
	}
	if l.IdleTimeoutSeconds == 0 && (l.Protocol == ProtocolTCP || l.Protocol == ProtocolTLS) {
		l.IdleTimeoutSeconds = DefaultLayer4IdleTimeoutSeconds
	}
	for i := range l.DefaultActions {
		setActionDefaults(&l.DefaultActions[i])
	}
	for i := range l.Rules {
		for j := range l.Rules[i].Actions {
			setActionDefaults(&l.Rules[i].Actions[j])
		}
	}
}

func setActionDefaults(a *Action) {
	if a.Forward == nil {
		return
	}
	for i := range a.Forward.TargetGroups {
		if a.Forward.TargetGroups[i].Weight == nil {
			a.Forward.TargetGroups[i].Weight = ptr(1)
		}
	}
}

func setTargetGroupDefaults(tg *TargetGroup) {
	if tg.Protocol == "" {
		tg.Protocol = ProtocolHTTP
	}
	if tg.ProtocolVersion == "" && tg.Protocol.layer7() {
		tg.ProtocolVersion = DefaultProtocolVersion
	}
	for i := range tg.Targets {
		if tg.Targets[i].Weight == nil {
			tg.Targets[i].Weight = ptr(1)
		}
	}

	hc := &tg.HealthCheck
	if hc.Enabled == nil {
		hc.Enabled = ptr(true)
	}
	if hc.Protocol == "" {
		switch tg.Protocol {
		case ProtocolHTTP, ProtocolHTTPS:
			hc.Protocol = tg.Protocol
		case ProtocolTCP, ProtocolTLS:
			hc.Protocol = ProtocolTCP // as NLB: a TLS target group is checked by connecting
		}
	}
	if hc.Port == "" {
		hc.Port = TrafficPort
	}
	setInt(&hc.IntervalSeconds, DefaultHealthCheckIntervalSeconds)
	setInt(&hc.HealthyThresholdCount, DefaultHealthyThresholdCount)
	setInt(&hc.UnhealthyThresholdCount, DefaultUnhealthyThresholdCount)
	switch hc.Protocol {
	case ProtocolHTTP, ProtocolHTTPS:
		if hc.Path == "" {
			hc.Path = DefaultHealthCheckPath
			if tg.ProtocolVersion == "GRPC" {
				hc.Path = DefaultHealthCheckGRPCPath
			}
		}
		setInt(&hc.TimeoutSeconds, DefaultHealthCheckHTTPTimeoutSeconds)
		if hc.Matcher == nil {
			hc.Matcher = &Matcher{}
		}
		if hc.Matcher.HTTPCode == "" && hc.Matcher.GRPCCode == "" {
			if tg.ProtocolVersion == "GRPC" {
				hc.Matcher.GRPCCode = DefaultHealthCheckGRPCCode
			} else {
				hc.Matcher.HTTPCode = DefaultHealthCheckHTTPCode
			}
		}
	case ProtocolTCP:
		setInt(&hc.TimeoutSeconds, DefaultHealthCheckTCPTimeoutSeconds)
	}

	at := &tg.Attributes
	if at.LoadBalancingAlgorithmType == "" {
		at.LoadBalancingAlgorithmType = DefaultLoadBalancingAlgorithm
	}
	if at.DeregistrationDelayTimeoutSeconds == nil {
		at.DeregistrationDelayTimeoutSeconds = ptr(DefaultDeregistrationDelaySeconds)
	}
	if at.Stickiness.Type == "" {
		switch tg.Protocol {
		case ProtocolHTTP, ProtocolHTTPS:
			at.Stickiness.Type = "lb_cookie"
		case ProtocolTCP, ProtocolTLS:
			at.Stickiness.Type = "source_ip"
		}
	}
	if at.Stickiness.CookieDurationSeconds == 0 && at.Stickiness.Type != "source_ip" {
		at.Stickiness.CookieDurationSeconds = DefaultStickinessCookieSeconds
	}
}

// setInt sets *v to def when it is 0, the value that means "unset" for
// fields whose range excludes 0.
func setInt(v *int, def int) {
	if *v == 0 {
		*v = def
	}
}

// ptr returns a pointer to a copy of v.
func ptr[T any](v T) *T { return &v }
