package config

// CheckSupported lists what a document asks for, within the format, that the
// server does not serve yet: each entry says "not supported yet". Validate
// includes these problems, so a document is either run in full or refused,
// never half applied. Values that Validate refuses anyway (an unknown
// protocol) are left to Validate.
//
// Lift a check here when its feature lands.
func CheckSupported(d *Document) []FieldError {
	var p problems
	for i := range d.Listeners {
		l := &d.Listeners[i]
		path := index("listeners", i)
		if l.ProxyProtocol != nil && l.Protocol.layer7() {
			p.add(field(path, "proxy_protocol"), "not supported yet on HTTP and HTTPS listeners")
		}
	}
	for i := range d.TargetGroups {
		tg := &d.TargetGroups[i]
		path := index("target_groups", i)
		if tg.Protocol == ProtocolTLS {
			p.add(field(path, "protocol"), "TLS target groups not supported yet (use TCP: TLS listeners forward plain TCP, TCP listeners pass TLS through)")
		}
		at := &tg.Attributes
		if at.Stickiness.Enabled && at.Stickiness.Type == "app_cookie" {
			p.add(field(field(path, "attributes"), "stickiness.type"), "app_cookie not supported yet (use lb_cookie)")
		}
	}
	return p.list
}
