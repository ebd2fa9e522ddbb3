package x509path

import (
	"bytes"
	"encoding/asn1"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/mtlslb/mtlslb/internal/der"
	"github.com/mtlslb/mtlslb/internal/x509name"
)

// GeneralName choices (RFC 5280 §4.2.1.6), by context-specific tag number.
const (
	gnOtherName     = 0
	gnRFC822Name    = 1
	gnDNSName       = 2
	gnX400Address   = 3
	gnDirectoryName = 4
	gnEDIPartyName  = 5
	gnURI           = 6
	gnIPAddress     = 7
	gnRegisteredID  = 8
)

var (
	oidSubjectAltName  = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidNameConstraints = asn1.ObjectIdentifier{2, 5, 29, 30}
	oidKeyUsage        = asn1.ObjectIdentifier{2, 5, 29, 15}
	oidEmailAddress    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
)

// generalName is one GeneralName: its choice and content octets. For a
// directoryName the content is the Name's whole DER, parsed into dn.
type generalName struct {
	kind  int
	value []byte
	dn    x509name.Name
}

// parseGeneralName reads one GeneralName element.
func parseGeneralName(r *der.Reader) (generalName, error) {
	tag, _, content, err := r.ReadAny()
	if err != nil {
		return generalName{}, err
	}
	if tag.Class() != der.ClassContextSpecific {
		return generalName{}, errors.New("GeneralName is not context-specific")
	}
	gn := generalName{kind: tag.Number(), value: content}
	switch gn.kind {
	case gnRFC822Name, gnDNSName, gnURI, gnIPAddress, gnRegisteredID:
		if tag.IsConstructed() {
			return generalName{}, fmt.Errorf("GeneralName [%d] must be primitive", gn.kind)
		}
	case gnDirectoryName:
		if !tag.IsConstructed() {
			return generalName{}, errors.New("directoryName must be constructed")
		}
		if gn.dn, err = x509name.Parse(content); err != nil {
			return generalName{}, fmt.Errorf("directoryName: %w", err)
		}
	case gnOtherName, gnX400Address, gnEDIPartyName:
		// Kept opaque: these forms are never matched, only noticed (see check).
	default:
		return generalName{}, fmt.Errorf("unknown GeneralName choice [%d]", gn.kind)
	}
	return gn, nil
}

// nameConstraints is a parsed name constraints extension (RFC 5280 §4.2.1.10).
type nameConstraints struct {
	permitted, excluded []generalName
	// permittedKinds and kinds have bit k set when a subtree of GeneralName
	// choice k is permitted, or permitted or excluded.
	permittedKinds, kinds uint16
}

// parseNameConstraints parses the extension value. crypto/x509 cannot be used
// for this: it drops directoryName subtrees (marking the extension as
// unhandled), and mtlslb must enforce them.
func parseNameConstraints(value []byte) (*nameConstraints, error) {
	r := der.Reader(value)
	body, err := r.Read(der.Sequence)
	if err != nil || !r.Empty() {
		return nil, errors.New("name constraints: not a SEQUENCE")
	}
	nc := &nameConstraints{}
	for fields := der.Reader(body); !fields.Empty(); {
		tag, _, subtrees, err := fields.ReadAny()
		if err != nil {
			return nil, fmt.Errorf("name constraints: %w", err)
		}
		var list *[]generalName
		switch tag {
		case der.ClassContextSpecific | der.Constructed | 0:
			list = &nc.permitted
		case der.ClassContextSpecific | der.Constructed | 1:
			list = &nc.excluded
		default:
			return nil, fmt.Errorf("name constraints: unexpected element with tag %#x", tag)
		}
		if len(subtrees) == 0 {
			return nil, errors.New("name constraints: empty GeneralSubtrees")
		}
		for trees := der.Reader(subtrees); !trees.Empty(); {
			subtree, err := trees.Read(der.Sequence)
			if err != nil {
				return nil, errors.New("name constraints: GeneralSubtree is not a SEQUENCE")
			}
			extra := der.Reader(subtree)
			gn, err := parseGeneralName(&extra)
			if err != nil {
				return nil, fmt.Errorf("name constraints: %w", err)
			}
			if err := checkBaseDistance(extra); err != nil {
				return nil, fmt.Errorf("name constraints: %w", err)
			}
			if err := checkConstraintForm(gn); err != nil {
				return nil, fmt.Errorf("name constraints: %w", err)
			}
			*list = append(*list, gn)
			if list == &nc.permitted {
				nc.permittedKinds |= 1 << gn.kind
			}
			nc.kinds |= 1 << gn.kind
		}
	}
	if nc.kinds == 0 {
		return nil, errors.New("name constraints: neither permitted nor excluded subtrees")
	}
	return nc, nil
}

// checkBaseDistance accepts only what RFC 5280 allows after a subtree's base:
// minimum absent or 0, maximum absent. Any other distance would change the
// meaning of the subtree, so it is refused rather than ignored.
func checkBaseDistance(extra []byte) error {
	if len(extra) == 0 {
		return nil
	}
	r := der.Reader(extra)
	tag, _, content, err := r.ReadAny()
	if err != nil {
		return err
	}
	if tag == der.ClassContextSpecific|0 && len(content) == 1 && content[0] == 0 && r.Empty() {
		return nil
	}
	return errors.New("subtree minimum or maximum is not supported")
}

// checkConstraintForm rejects constraint values that can never be compared.
func checkConstraintForm(gn generalName) error {
	switch gn.kind {
	case gnIPAddress:
		if len(gn.value) != 2*4 && len(gn.value) != 2*16 {
			return fmt.Errorf("iPAddress constraint of %d bytes", len(gn.value))
		}
	case gnRFC822Name, gnDNSName, gnURI:
		for _, b := range gn.value {
			if b >= 0x80 {
				return fmt.Errorf("constraint %q is not IA5String", gn.value)
			}
		}
	}
	return nil
}

// certNames are the names of a certificate that name constraints apply to.
type certNames struct {
	subject x509name.Name
	// emails are the subject's emailAddress attribute values, constrained by
	// rfc822Name subtrees as RFC 5280 §4.2.1.10 requires.
	emails [][]byte
	san    []generalName
}

// parseCertNames collects the subject and subjectAltName of a certificate.
func parseCertNames(rawSubject []byte, sanValue []byte) (*certNames, error) {
	subject, err := x509name.Parse(rawSubject)
	if err != nil {
		return nil, fmt.Errorf("subject: %w", err)
	}
	names := &certNames{subject: subject}
	for _, rdn := range subject {
		for _, attr := range rdn {
			if attr.Type.Equal(oidEmailAddress) {
				names.emails = append(names.emails, attr.Bytes)
			}
		}
	}
	if sanValue == nil {
		return names, nil
	}
	r := der.Reader(sanValue)
	body, err := r.Read(der.Sequence)
	if err != nil || !r.Empty() {
		return nil, errors.New("subjectAltName: not a SEQUENCE")
	}
	for gns := der.Reader(body); !gns.Empty(); {
		gn, err := parseGeneralName(&gns)
		if err != nil {
			return nil, fmt.Errorf("subjectAltName: %w", err)
		}
		names.san = append(names.san, gn)
	}
	return names, nil
}

// check reports whether names satisfy the constraints: every name of a
// constrained form lies in at least one permitted subtree of that form (if
// there are any) and in no excluded subtree.
func (nc *nameConstraints) check(names *certNames) error {
	if len(names.subject) > 0 && nc.kinds&(1<<gnDirectoryName) != 0 {
		if err := nc.checkOne(generalName{kind: gnDirectoryName, dn: names.subject}); err != nil {
			return fmt.Errorf("subject: %w", err)
		}
	}
	if nc.kinds&(1<<gnRFC822Name) != 0 {
		for _, email := range names.emails {
			if err := nc.checkOne(generalName{kind: gnRFC822Name, value: email}); err != nil {
				return fmt.Errorf("subject emailAddress: %w", err)
			}
		}
	}
	for _, gn := range names.san {
		if nc.kinds&(1<<gn.kind) == 0 {
			continue
		}
		if err := nc.checkOne(gn); err != nil {
			return fmt.Errorf("subjectAltName: %w", err)
		}
	}
	return nil
}

func (nc *nameConstraints) checkOne(name generalName) error {
	switch name.kind {
	case gnOtherName, gnX400Address, gnEDIPartyName, gnRegisteredID:
		// RFC 5280 §4.2.1.10: a verifier must process a constraint on a name
		// form that appears, or reject the certificate.
		return fmt.Errorf("name of form [%d] is constrained but this form is not supported", name.kind)
	case gnURI:
		if _, err := uriHost(name.value); err != nil {
			return err
		}
	case gnRFC822Name:
		if bytes.IndexByte(name.value, '@') < 0 {
			return fmt.Errorf("rfc822Name %q is not a mailbox", name.value)
		}
	}
	for _, sub := range nc.excluded {
		if sub.kind == name.kind && within(name, sub) {
			return fmt.Errorf("%s is in an excluded subtree", describeName(name))
		}
	}
	if nc.permittedKinds&(1<<name.kind) == 0 {
		return nil
	}
	for _, sub := range nc.permitted {
		if sub.kind == name.kind && within(name, sub) {
			return nil
		}
	}
	return fmt.Errorf("%s is not in any permitted subtree", describeName(name))
}

func describeName(name generalName) string {
	switch name.kind {
	case gnDirectoryName:
		return fmt.Sprintf("directoryName %q", name.dn.String())
	case gnRFC822Name:
		return fmt.Sprintf("rfc822Name %q", name.value)
	case gnDNSName:
		return fmt.Sprintf("dNSName %q", name.value)
	case gnURI:
		return fmt.Sprintf("URI %q", name.value)
	case gnIPAddress:
		return fmt.Sprintf("iPAddress %v", name.value)
	}
	return fmt.Sprintf("name of form [%d]", name.kind)
}

// within reports whether name lies in the subtree of the same form.
func within(name, subtree generalName) bool {
	switch name.kind {
	case gnDirectoryName:
		return name.dn.WithinSubtree(subtree.dn)
	case gnDNSName:
		return matchDNS(string(name.value), string(subtree.value))
	case gnRFC822Name:
		return matchEmail(string(name.value), string(subtree.value))
	case gnURI:
		host, err := uriHost(name.value)
		return err == nil && matchHost(host, string(subtree.value))
	case gnIPAddress:
		return matchIP(name.value, subtree.value)
	}
	return false
}

// matchDNS implements dNSName subtrees: "example.com" holds example.com and
// every name below it (on a label boundary), ".example.com" only the names
// below it, and "" every name. A wildcard SAN "*.example.com" stands for names
// below example.com; it is treated as inside any subtree that one of those
// names would be in, so that a wildcard cannot slip past an exclusion.
func matchDNS(name, constraint string) bool {
	if constraint == "" {
		return true
	}
	if domainWithin(name, constraint) {
		return true
	}
	if rest, ok := strings.CutPrefix(name, "*."); ok {
		// The wildcard label covers one label: "*.a.b" may be "x.a.b", which
		// lies in a subtree "x.a.b" or ".a.b".
		c := strings.TrimPrefix(constraint, ".")
		if i := strings.IndexByte(c, '.'); i > 0 && strings.EqualFold(c[i+1:], rest) {
			return true
		}
	}
	return false
}

// domainWithin is the shared DNS-style suffix rule of matchDNS and matchEmail.
func domainWithin(name, constraint string) bool {
	if strings.HasPrefix(constraint, ".") {
		return len(name) > len(constraint) && strings.EqualFold(name[len(name)-len(constraint):], constraint)
	}
	if len(name) == len(constraint) {
		return strings.EqualFold(name, constraint)
	}
	return len(name) > len(constraint) && name[len(name)-len(constraint)-1] == '.' &&
		strings.EqualFold(name[len(name)-len(constraint):], constraint)
}

// matchEmail implements rfc822Name subtrees: "user@host" is one mailbox
// (local part exact, host case-insensitive), "host" every mailbox at exactly
// that host, ".example.com" every mailbox at a host below example.com.
func matchEmail(mailbox, constraint string) bool {
	at := strings.LastIndexByte(mailbox, '@')
	if at < 0 {
		return false
	}
	host := mailbox[at+1:]
	if cat := strings.LastIndexByte(constraint, '@'); cat >= 0 {
		return mailbox[:at] == constraint[:cat] && strings.EqualFold(host, constraint[cat+1:])
	}
	if strings.HasPrefix(constraint, ".") {
		return domainWithin(host, constraint)
	}
	return strings.EqualFold(host, constraint)
}

// matchHost implements uniformResourceIdentifier subtrees (RFC 5280
// §4.2.1.10): "host.example.com" is that host only, ".example.com" every host
// below example.com.
func matchHost(host, constraint string) bool {
	if strings.HasPrefix(constraint, ".") {
		return domainWithin(host, constraint)
	}
	return strings.EqualFold(host, constraint)
}

// uriHost returns the host of a URI. A URI without a host name (a URN, or an
// IP literal) cannot be compared with a domain constraint, so it is an error:
// RFC 5280 says such a certificate must then be rejected.
func uriHost(raw []byte) (string, error) {
	u, err := url.Parse(string(raw))
	if err != nil {
		return "", fmt.Errorf("URI %q: %w", raw, err)
	}
	host := u.Hostname()
	if host == "" {
		return "", fmt.Errorf("URI %q has no host name to check against name constraints", raw)
	}
	if strings.Contains(u.Host, "[") || isIPv4Literal(host) {
		return "", fmt.Errorf("URI %q has an IP address, not a host name, to check against name constraints", raw)
	}
	return host, nil
}

func isIPv4Literal(host string) bool {
	if host == "" {
		return false
	}
	for i := 0; i < len(host); i++ {
		if c := host[i]; c != '.' && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// matchIP reports whether ip (4 or 16 bytes) lies in the network given as
// address followed by mask, of the same address family.
func matchIP(ip, network []byte) bool {
	if len(network) != 2*len(ip) {
		return false
	}
	base, mask := network[:len(ip)], network[len(ip):]
	for i := range ip {
		if ip[i]&mask[i] != base[i]&mask[i] {
			return false
		}
	}
	return true
}
