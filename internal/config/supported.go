package config

// CheckSupported lists what a document asks for, within the format, that the
// server does not serve yet: each entry says "not supported yet" and when it
// arrives. Validate includes these problems, so a document is either run in
// full or refused, never half applied. Values that Validate refuses anyway
// (an unknown protocol) are left to Validate.
//
// For now the server runs: HTTPS listeners whose default action forwards to
// one target group, without rules; HTTP/HTTP1 target groups of static
// targets with round-robin balancing; trust stores with CRLs from files or URLs.
// Lift a check here when its feature lands.
func CheckSupported(d *Document) []FieldError {
	var p problems
	for i := range d.Listeners {
		l := &d.Listeners[i]
		path := index("listeners", i)
		switch l.Protocol {
		case ProtocolHTTP:
			p.add(field(path, "protocol"), "HTTP not supported yet (only HTTPS listeners for now)")
		case ProtocolTCP, ProtocolTLS:
			p.add(field(path, "protocol"), "%s not supported yet (TCP and TLS listeners arrive with layer-4 forwarding)", l.Protocol)
		}
		if len(l.Rules) > 0 {
			p.add(field(path, "rules"), "not supported yet (rules arrive with layer-7 routing)")
		}
		for j := range l.DefaultActions {
			checkSupportedAction(&p, index(field(path, "default_actions"), j), &l.DefaultActions[j])
		}
	}
	for i := range d.TargetGroups {
		tg := &d.TargetGroups[i]
		path := index("target_groups", i)
		switch tg.Protocol {
		case ProtocolHTTPS:
			p.add(field(path, "protocol"), "HTTPS not supported yet (only HTTP target groups for now)")
		case ProtocolTCP, ProtocolTLS:
			p.add(field(path, "protocol"), "%s not supported yet (TCP and TLS target groups arrive with layer-4 forwarding)", tg.Protocol)
		}
		if v := tg.ProtocolVersion; v == "HTTP2" || v == "GRPC" {
			p.add(field(path, "protocol_version"), "%s not supported yet (only HTTP1 for now)", v)
		}
		at := &tg.Attributes
		ap := field(path, "attributes")
		if a := at.LoadBalancingAlgorithmType; a == "least_outstanding_requests" || a == "weighted_random" {
			p.add(field(ap, "load_balancing_algorithm_type"), "%s not supported yet (only round_robin for now)", a)
		}
		if at.SlowStartDurationSeconds != 0 {
			p.add(field(ap, "slow_start_duration_seconds"), "not supported yet (slow start arrives with the balancer)")
		}
		if at.Stickiness.Enabled {
			p.add(field(ap, "stickiness.enabled"), "not supported yet (stickiness arrives with the balancer)")
		}
		for j, t := range tg.Targets {
			// Round robin ignores weights: a weight other than 1 would be
			// accepted and silently not applied.
			if t.Weight != nil && *t.Weight != 1 {
				p.add(field(index(field(path, "targets"), j), "weight"), "not supported yet (target weights arrive with weighted_random)")
			}
		}
	}
	return p.list
}

// checkSupportedAction reports the parts of a default action the server
// cannot run yet.
func checkSupportedAction(p *problems, path string, a *Action) {
	switch a.Type {
	case ActionFixedResponse, ActionRedirect:
		p.add(field(path, "type"), "%s not supported yet (only forward for now; other actions arrive with layer-7 routing)", a.Type)
	case ActionForward:
		if a.Forward == nil {
			return
		}
		if n := len(a.Forward.TargetGroups); n > 1 {
			p.add(field(path, "forward.target_groups"), "forwarding to %d target groups not supported yet (weighted forwarding arrives with layer-7 routing)", n)
		}
		if s := a.Forward.Stickiness; s != nil && s.Enabled {
			p.add(field(path, "forward.stickiness"), "not supported yet (target group stickiness arrives with layer-7 routing)")
		}
	}
}
