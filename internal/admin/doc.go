// Package admin is mtlslb's admin API: JSON over HTTP on the admin address (127.0.0.1:9901 by default), for
// the CLI and for scripts. Health and readiness, the whole document with ETag/If-Match, status, and in store
// mode the trust-store operations of ELBv2 (internal/control does the work; this package only speaks HTTP).
//
// Errors are {"error": {"code": "TrustStoreNotFound", "message": "…"}} with a 4xx status, the code being
// ALB's error name where it has one. In file mode the file is the source of truth: every write answers 409
// and says so.
package admin
