// Package route compiles a listener's rules into a Table and matches
// requests against it, with ALB's semantics.
//
// Rules are evaluated by priority, lowest first (1–50000, unique within a
// listener); the first rule whose conditions all match wins, and when none
// does Match returns Default, the listener's default actions. A rule's
// conditions are ANDed; the values of one condition are ORed. Compile does
// all the parsing (patterns, CIDRs, header names) once per configuration
// snapshot, including an index of the rules by the literal start of their
// path patterns (index.go); Match reads the request without allocating,
// and evaluates only the rules the index leaves.
//
// The conditions, as ALB documents them:
//
//   - host_header: the request's host name, without its port, against
//     wildcard patterns; case-insensitive. Values use letters, digits and
//     the characters - . * ?
//   - path_pattern: the URL path only (never the query) against wildcard
//     patterns; case-sensitive. The path is the decoded one net/http
//     parsed, so "/%61dmin" meets a rule on "/admin/*".
//   - http_header: the named header (name case-insensitive, no wildcards)
//     against wildcard patterns; the value is case-insensitive. Each line
//     of a repeated header is tried on its own; an absent header matches no
//     pattern, not even "*". The name Host reads the Host header.
//   - http_request_method: the method, exactly and case-sensitively (GET is
//     not get); no wildcards.
//   - query_string: key/value patterns, either matching any parameter of
//     the query; case-insensitive, wildcards in both, the key optional (an
//     empty key matches any key). `\*` and `\?` (and `\\`) stand for a
//     literal * and ?, as ALB documents. Parameters are compared in their
//     raw, percent-encoded form; one without = has the empty value.
//   - source_ip: CIDR blocks, IPv4 or IPv6, against the address of the
//     peer (an IPv4-mapped IPv6 address counts as IPv4). Behind a proxy
//     this is the proxy's address, as with ALB.
//
// In a pattern, * matches zero or more characters and ? exactly one
// character (a UTF-8 sequence, or a single byte of invalid UTF-8). The
// whole subject must match: "/api/*" matches "/api/" and "/api/v1/x" but
// not "/api". Case-insensitive matching folds ASCII letters only.
//
// Compile enforces ALB's limits: at most one host_header, path_pattern,
// http_request_method and source_ip condition per rule; 1–3 values per
// condition and 5 per rule; 5 wildcards per rule; patterns of 1–128
// characters. It returns every problem at once, each with its place
// (rules[i].conditions[j]…).
package route
