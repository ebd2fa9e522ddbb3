package route

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/mtlslb/mtlslb/internal/config"
)

// Client is the client-certificate identity of a request's connection, for client_certificate conditions
// (beyond ALB). It is computed once per connection (see NewClient) and shared by its requests.
type Client struct {
	// Verified is true when the connection presented a certificate that was verified against the trust store.
	Verified bool
	// The leaf's subject common names and organisational units, SAN DNS names and URIs, and issuer in RFC 2253
	// form (as the X-Amzn-Mtls-Clientcert-Issuer header writes it).
	SubjectCN, SubjectOU, SANDNS, SANURI []string
	Issuer                               string
}

// NewClient returns the identity of a verified leaf certificate; issuer is its issuer as RFC 2253. A nil leaf
// gives an unverified Client.
func NewClient(leaf *x509.Certificate, issuer string) *Client {
	if leaf == nil {
		return &Client{}
	}
	c := &Client{Verified: true, SubjectOU: leaf.Subject.OrganizationalUnit, SANDNS: leaf.DNSNames, Issuer: issuer}
	if cn := leaf.Subject.CommonName; cn != "" {
		c.SubjectCN = []string{cn}
	}
	for _, u := range leaf.URIs {
		c.SANURI = append(c.SANURI, u.String())
	}
	return c
}

// certCondition is a compiled client_certificate condition.
type certCondition struct {
	verified                 *bool
	cn, ou, dns, uri, issuer []Pattern
	hasIdentity              bool // any list is set: only a verified certificate can match
}

// MaxCertPatterns is the most patterns of one list of a client_certificate condition.
const MaxCertPatterns = 10

// MaxCertPatternLength is the longest client_certificate pattern.
const MaxCertPatternLength = 256

func (rc *ruleCompiler) certCondition(path string, cc *config.ClientCertificateCondition) *certCondition {
	c := &certCondition{verified: cc.Verified}
	list := func(key string, values []string) []Pattern {
		p := path + "." + key
		if len(values) > MaxCertPatterns {
			rc.add(p, "%d patterns; at most %d", len(values), MaxCertPatterns)
		}
		var out []Pattern
		for i, s := range values {
			vp := fmt.Sprintf("%s[%d]", p, i)
			switch {
			case s == "" || len(s) > MaxCertPatternLength:
				rc.add(vp, "%q must be 1–%d characters", s, MaxCertPatternLength)
				continue
			case strings.ContainsAny(s, "\r\n\x00"):
				rc.add(vp, "%q contains a line break or NUL", s)
				continue
			}
			out = append(out, CompilePattern(s, true, false))
		}
		if len(out) > 0 {
			c.hasIdentity = true
		}
		return out
	}
	c.cn = list("subject_cn", cc.SubjectCN)
	c.ou = list("subject_ou", cc.SubjectOU)
	c.dns = list("san_dns", cc.SANDNS)
	c.uri = list("san_uri", cc.SANURI)
	c.issuer = list("issuer", cc.Issuer)
	if c.verified == nil && !c.hasIdentity {
		rc.add(path, "set at least one of verified, subject_cn, subject_ou, san_dns, san_uri, issuer")
	}
	if c.verified != nil && !*c.verified && c.hasIdentity {
		rc.add(path, "verified: false cannot be combined with identity patterns: only verified certificates have an identity")
	}
	return c
}

func (c *certCondition) match(cl *Client) bool {
	verified := cl != nil && cl.Verified
	if c.verified != nil && *c.verified != verified {
		return false
	}
	if !c.hasIdentity {
		return true
	}
	if !verified {
		return false
	}
	return listMatch(c.cn, cl.SubjectCN) && listMatch(c.ou, cl.SubjectOU) && listMatch(c.dns, cl.SANDNS) &&
		listMatch(c.uri, cl.SANURI) && (len(c.issuer) == 0 || anyMatch(c.issuer, cl.Issuer))
}

// listMatch reports whether any pattern matches any value; an empty pattern list matches (the field is not
// part of the condition).
func listMatch(ps []Pattern, values []string) bool {
	if len(ps) == 0 {
		return true
	}
	for _, v := range values {
		if anyMatch(ps, v) {
			return true
		}
	}
	return false
}

// IdentityFilter is a compiled identity filter (listener mutual_authentication.identity_filters): a verified
// certificate passes when any pattern of any list matches.
type IdentityFilter struct {
	cn, ou, dns, uri []Pattern
}

// CompileIdentityFilter compiles f; problems name their place under path.
func CompileIdentityFilter(path string, f *config.IdentityFilters) (*IdentityFilter, error) {
	if f.Empty() {
		return nil, nil
	}
	rc := &ruleCompiler{}
	cc := rc.certCondition(path, &config.ClientCertificateCondition{SubjectCN: f.SubjectCN, SubjectOU: f.SubjectOU, SANDNS: f.SANDNS, SANURI: f.SANURI})
	if len(rc.errs) > 0 {
		return nil, errors.Join(rc.errs...)
	}
	return &IdentityFilter{cn: cc.cn, ou: cc.ou, dns: cc.dns, uri: cc.uri}, nil
}

// Allows reports whether the certificate's identity passes the filter. A nil filter allows everything.
func (f *IdentityFilter) Allows(cl *Client) bool {
	if f == nil {
		return true
	}
	if cl == nil || !cl.Verified {
		return false
	}
	any := func(ps []Pattern, vs []string) bool { return len(ps) > 0 && listMatch(ps, vs) }
	return any(f.cn, cl.SubjectCN) || any(f.ou, cl.SubjectOU) || any(f.dns, cl.SANDNS) || any(f.uri, cl.SANURI)
}
