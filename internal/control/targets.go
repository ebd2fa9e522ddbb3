package control

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/mtlslb/mtlslb/internal/config"
	"github.com/mtlslb/mtlslb/internal/configstore"
)

// CodeTargetGroupNotFound is ELBv2's error name for a target group that does not exist.
const CodeTargetGroupNotFound = "TargetGroupNotFound"

// Target health states and reasons, in ELBv2's words (TargetHealthStateEnum, TargetHealthReasonEnum).
const (
	TargetHealthUnavailable = "unavailable"
	TargetHealthUnused      = "unused"

	ReasonHealthCheckDisabled = "Target.HealthCheckDisabled"
	ReasonNotInUse            = "Target.NotInUse"
)

// targetWriteAttempts bounds how often a register or deregister re-reads the document after losing a race to
// another writer. Every lost round means some other write committed, so a handful of attempts covers any
// burst of concurrent registrations; past that the caller gets ConcurrentModification and may retry.
const targetWriteAttempts = 5

// Target is a registered target, as ELBv2's TargetDescription: an IP address or host name and a port.
type Target struct {
	ID   string `json:"id"`
	Port int    `json:"port"`
}

// String returns the target in the form ParseTarget reads: "id=10.0.0.1,port=8080".
func (t Target) String() string { return "id=" + t.ID + ",port=" + strconv.Itoa(t.Port) }

// ParseTarget reads a target in the shorthand of `aws elbv2 --targets`: "id=10.0.0.1,port=8080". Keys are
// case-insensitive, so "Id=10.0.0.1,Port=8080" as the AWS CLI documents it works too. Both keys are required:
// a target group here has no port of its own to fall back on.
func ParseTarget(s string) (Target, error) {
	var t Target
	var haveID, havePort bool
	for part := range strings.SplitSeq(s, ",") {
		key, value, ok := strings.Cut(part, "=")
		if !ok {
			return Target{}, fmt.Errorf("target %q: %q is not key=value (want id=ADDRESS,port=PORT)", s, part)
		}
		switch strings.ToLower(strings.TrimSpace(key)) {
		case "id":
			if haveID {
				return Target{}, fmt.Errorf("target %q: id given twice", s)
			}
			haveID, t.ID = true, strings.TrimSpace(value)
		case "port":
			if havePort {
				return Target{}, fmt.Errorf("target %q: port given twice", s)
			}
			p, err := strconv.Atoi(strings.TrimSpace(value))
			if err != nil || p < 1 || p > 65535 {
				return Target{}, fmt.Errorf("target %q: port %q is not a number from 1 to 65535", s, value)
			}
			havePort, t.Port = true, p
		case "availabilityzone":
			return Target{}, fmt.Errorf("target %q: AvailabilityZone does not apply (mtlslb has no availability zones)", s)
		default:
			return Target{}, fmt.Errorf("target %q: unknown key %q (want id and port)", s, key)
		}
	}
	switch {
	case !haveID || t.ID == "":
		return Target{}, fmt.Errorf("target %q: id is required (an IP address or a host name)", s)
	case !havePort:
		return Target{}, fmt.Errorf("target %q: port is required", s)
	}
	return t, nil
}

// TargetGroupTargets is a target group's registered targets after a register or deregister.
type TargetGroupTargets struct {
	TargetGroupName string   `json:"target_group_name"`
	Targets         []Target `json:"targets"`
	// Revision is the store revision that holds these targets (unchanged when the call changed nothing). The
	// engine applies it shortly after it is stored.
	Revision configstore.Revision `json:"revision"`
}

// TargetHealthDescription is one target's health, in ELBv2's shape.
type TargetHealthDescription struct {
	Target Target `json:"target"`
	// HealthCheckPort is the port a health check would use: the target's own for traffic-port.
	HealthCheckPort string       `json:"health_check_port"`
	TargetHealth    TargetHealth `json:"target_health"`
}

// TargetHealth is a target's state with ELBv2's reason code and a description.
type TargetHealth struct {
	State       string `json:"state"`
	Reason      string `json:"reason,omitempty"`
	Description string `json:"description,omitempty"`
}

func targetGroupNotFound(name string) *Error {
	return newError(CodeTargetGroupNotFound, http.StatusNotFound, "no target group named %q", name)
}

// noDocument answers a target-group call made before any document was stored: no target group exists yet.
func noDocument(name string) *Error {
	return newError(CodeTargetGroupNotFound, http.StatusNotFound,
		"no target group named %q: no configuration has been stored yet (store one with `mtlslb apply -f FILE`)", name)
}

// RegisterTargets adds targets to target group tg of the stored document. A target that is registered
// already (same id and port) is left as it is, as ALB does, so registering is idempotent; when nothing is
// new, nothing is written.
//
// The change is an edit of the stored document: it is decoded, the target group's targets list extended, and
// the whole document re-encoded as JSON and stored through PutConfig, so it is checked in full exactly as a
// put is and conditioned on the revision that was read. A concurrent change to the document makes the edit
// start over on the newer document (a few times; then ConcurrentModification). The re-encoding drops the
// comments and the key order of a YAML document: GET /api/v1/config answers JSON afterwards. The next
// `mtlslb apply -f FILE` replaces the document whole, registered targets included.
func (s *Service) RegisterTargets(ctx context.Context, tg string, targets []Target) (*TargetGroupTargets, error) {
	if err := checkTargets(targets); err != nil {
		return nil, err
	}
	return s.editTargets(ctx, tg, func(list []any) ([]any, bool) {
		changed := false
		for _, t := range targets {
			if indexTarget(list, t) < 0 {
				list = append(list, map[string]any{"id": t.ID, "port": t.Port})
				changed = true
			}
		}
		return list, changed
	})
}

// DeregisterTargets removes targets from target group tg of the stored document. A target that is not
// registered is ignored, as ALB does, so deregistering is idempotent; when nothing is removed, nothing is
// written. Removing every target is allowed: requests to the group are then answered 503, as ALB does, until
// one is registered.
//
// It edits and stores the document as RegisterTargets does, with the same caveats. The target leaves the
// rotation for new requests once the engine applies the new revision; deregistration_delay draining is not
// applied yet.
func (s *Service) DeregisterTargets(ctx context.Context, tg string, targets []Target) (*TargetGroupTargets, error) {
	if err := checkTargets(targets); err != nil {
		return nil, err
	}
	return s.editTargets(ctx, tg, func(list []any) ([]any, bool) {
		kept := make([]any, 0, len(list))
		for _, entry := range list {
			if !listedIn(entry, targets) {
				kept = append(kept, entry)
			}
		}
		return kept, len(kept) != len(list)
	})
}

// DescribeTargetHealth returns the health of every target registered in target group tg: the running health
// checks' states and ALB's reason codes when the engine runs the group (then draining targets too), otherwise
// ALB's words for "no health information" — unavailable, or unused when no listener forwards to the group.
func (s *Service) DescribeTargetHealth(ctx context.Context, tg string) ([]TargetHealthDescription, error) {
	doc, _, err := s.Document(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the stored configuration: %w", err)
	}
	if doc == nil {
		return nil, noDocument(tg)
	}
	i := targetGroupIndex(doc.TargetGroups, tg)
	if i < 0 {
		return nil, targetGroupNotFound(tg)
	}
	group := &doc.TargetGroups[i]
	if !forwardsTo(doc, tg) {
		return describeAll(group, TargetHealth{State: TargetHealthUnused, Reason: ReasonNotInUse,
			Description: "Target group is not configured to receive traffic from the load balancer (no listener forwards to it)"}), nil
	}
	if s.opts.Health != nil {
		if live, ok := s.opts.Health(tg); ok {
			out := make([]TargetHealthDescription, 0, len(live))
			for _, h := range live {
				out = append(out, TargetHealthDescription{
					Target:          Target{ID: h.Target.Host, Port: h.Target.Port},
					HealthCheckPort: strconv.Itoa(h.HealthCheckPort),
					TargetHealth:    TargetHealth{State: string(h.State), Reason: string(h.Reason), Description: h.Description},
				})
			}
			return out, nil
		}
	}
	health := TargetHealth{State: TargetHealthUnavailable, Reason: ReasonHealthCheckDisabled,
		Description: "The running configuration does not include this target group yet; no health information"}
	if e := group.HealthCheck.Enabled; e != nil && !*e {
		health.Description = "Health checks are disabled for this target group; the target gets its turn of requests whether it answers or not"
	}
	return describeAll(group, health), nil
}

// describeAll gives every target of group the same health.
func describeAll(group *config.TargetGroup, health TargetHealth) []TargetHealthDescription {
	out := make([]TargetHealthDescription, 0, len(group.Targets))
	for _, t := range group.Targets {
		port := group.HealthCheck.Port
		if port == "" || port == config.TrafficPort {
			port = strconv.Itoa(t.Port)
		}
		out = append(out, TargetHealthDescription{Target: Target{ID: t.ID, Port: t.Port}, HealthCheckPort: port, TargetHealth: health})
	}
	return out
}

// targetGroupIndex returns the position of the target group named name, or -1.
func targetGroupIndex(groups []config.TargetGroup, name string) int {
	for i := range groups {
		if groups[i].Name == name {
			return i
		}
	}
	return -1
}

// forwardsTo reports whether some listener action (default or rule) forwards to target group name.
func forwardsTo(doc *config.Document, name string) bool {
	for _, l := range doc.Listeners {
		actions := append([]config.Action(nil), l.DefaultActions...)
		for _, r := range l.Rules {
			actions = append(actions, r.Actions...)
		}
		for i := range actions {
			for _, w := range actions[i].ForwardTargetGroups() {
				if w.TargetGroup == name {
					return true
				}
			}
		}
	}
	return false
}

// checkTargets refuses requests the document's validation would report less plainly. Whether an id is an IP
// address or a host name is left to that validation, which names the offending entry.
func checkTargets(targets []Target) error {
	if len(targets) == 0 {
		return newError(CodeValidationError, http.StatusBadRequest, "no targets given")
	}
	for i, t := range targets {
		if strings.TrimSpace(t.ID) == "" {
			return newError(CodeValidationError, http.StatusBadRequest, "targets[%d].id: required (an IP address or a host name)", i)
		}
		if t.Port < 1 || t.Port > 65535 {
			return newError(CodeValidationError, http.StatusBadRequest, "targets[%d].port: %d is not from 1 to 65535", i, t.Port)
		}
	}
	return nil
}

// editTargets applies edit to the targets list of target group tg and stores the result, starting over on
// the newer document when another write got there first.
func (s *Service) editTargets(ctx context.Context, tg string, edit func([]any) ([]any, bool)) (*TargetGroupTargets, error) {
	for range targetWriteAttempts {
		data, rev, ok, err := s.GetConfig(ctx)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, noDocument(tg)
		}
		next, targets, changed, err := editDocumentTargets(data, tg, edit)
		if err != nil {
			return nil, err
		}
		if !changed {
			return &TargetGroupTargets{TargetGroupName: tg, Targets: targets, Revision: rev}, nil
		}
		stored, err := s.PutConfig(ctx, next, &rev)
		if err == nil {
			return &TargetGroupTargets{TargetGroupName: tg, Targets: targets, Revision: stored}, nil
		}
		// PreconditionFailed: the document moved on since it was read. ConcurrentModification: a trust store
		// the check relied on did. Either way the edit is redone on what is there now.
		if code := AsError(err).Code; code != CodePreconditionFailed && code != CodeConflict {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	return nil, newError(CodeConflict, http.StatusConflict,
		"the configuration kept changing while the targets of %q were edited (%d attempts); retry", tg, targetWriteAttempts)
}

// editDocumentTargets returns the stored document data, re-encoded as JSON, with edit applied to the targets
// list of target group tg, and that list. When edit changes nothing, changed is false and out is nil.
//
// The document is decoded exactly as config decodes it (strict YAML to JSON, numbers kept as written), so
// everything but the edited list means the same after the round trip.
func editDocumentTargets(data []byte, tg string, edit func([]any) ([]any, bool)) (out []byte, targets []Target, changed bool, err error) {
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, nil, false, fmt.Errorf("reading the stored configuration: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, nil, false, fmt.Errorf("reading the stored configuration: %w", err)
	}
	groups, _ := doc["target_groups"].([]any)
	var group map[string]any
	for _, g := range groups {
		if m, ok := g.(map[string]any); ok && m["name"] == tg {
			group = m
			break
		}
	}
	if group == nil {
		return nil, nil, false, targetGroupNotFound(tg)
	}
	list, _ := group["targets"].([]any)
	list, changed = edit(list)
	targets = make([]Target, 0, len(list))
	for _, entry := range list {
		if t, ok := asTarget(entry); ok {
			targets = append(targets, t)
		}
	}
	if !changed {
		return nil, targets, false, nil
	}
	if list == nil {
		list = []any{}
	}
	group["targets"] = list
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // the document is not HTML: keep "<" and "&" readable in GET /api/v1/config
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, nil, false, fmt.Errorf("encoding the configuration: %w", err)
	}
	return buf.Bytes(), targets, true, nil
}

// asTarget reads one entry of a stored targets list.
func asTarget(entry any) (Target, bool) {
	m, ok := entry.(map[string]any)
	if !ok {
		return Target{}, false
	}
	id, ok := m["id"].(string)
	if !ok {
		return Target{}, false
	}
	var port int64
	switch p := m["port"].(type) {
	case json.Number:
		n, err := p.Int64()
		if err != nil {
			return Target{}, false
		}
		port = n
	case int:
		port = int64(p)
	default:
		return Target{}, false
	}
	return Target{ID: id, Port: int(port)}, true
}

// sameEndpoint reports whether two targets are one endpoint, by the comparison the document's validation uses
// for duplicates: "::ffff:127.0.0.1" is 127.0.0.1, host names ignore case and a final dot.
func sameEndpoint(a, b Target) bool {
	return a.Port == b.Port && endpointHost(a.ID) == endpointHost(b.ID)
}

func endpointHost(id string) string {
	if ip, err := netip.ParseAddr(id); err == nil {
		return ip.Unmap().String()
	}
	return strings.ToLower(strings.TrimSuffix(id, "."))
}

// indexTarget returns the position of t in a stored targets list, or -1.
func indexTarget(list []any, t Target) int {
	for i, entry := range list {
		if have, ok := asTarget(entry); ok && sameEndpoint(have, t) {
			return i
		}
	}
	return -1
}

// listedIn reports whether a stored targets entry is one of targets.
func listedIn(entry any, targets []Target) bool {
	have, ok := asTarget(entry)
	if !ok {
		return false
	}
	for _, t := range targets {
		if sameEndpoint(have, t) {
			return true
		}
	}
	return false
}
