package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mtlslb/mtlslb/internal/admin"
	"github.com/mtlslb/mtlslb/internal/configstore"
	"github.com/mtlslb/mtlslb/internal/control"
	"github.com/mtlslb/mtlslb/internal/pki"
	"github.com/mtlslb/mtlslb/internal/testpki"
)

// response is one answer of the admin API, read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

// call sends one request to srv; body is sent as is when it is []byte or string, as JSON otherwise.
func call(t testing.TB, srv *httptest.Server, method, path string, body any, header map[string]string) response {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	case string:
		r = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, srv.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

// errorBody decodes an error answer strictly: exactly {"error": {"code", "message"}}, as JSON.
func errorBody(t testing.TB, r response) admin.ErrorBody {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error answer Content-Type %q, want application/json", ct)
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	var e admin.ErrorBody
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("error answer %q is not {\"error\":{\"code\",\"message\"}}: %v", r.body, err)
	}
	if e.Error.Code == "" || e.Error.Message == "" {
		t.Errorf("error answer %q lacks a code or a message", r.body)
	}
	return e
}

// step is one request of a scenario and what its answer must be.
type step struct {
	name     string
	method   string
	path     string
	body     any
	header   map[string]string
	want     int
	wantCode string   // for an error answer: the JSON error code
	wantMsg  []string // for an error answer: substrings of the message
	check    func(t *testing.T, r response)
}

func (s step) run(t *testing.T, srv *httptest.Server) response {
	t.Helper()
	r := call(t, srv, s.method, s.path, s.body, s.header)
	if r.status != s.want {
		t.Fatalf("%s %s: status %d, want %d; body %s", s.method, s.path, r.status, s.want, r.body)
	}
	if s.wantCode != "" {
		e := errorBody(t, r)
		if e.Error.Code != s.wantCode {
			t.Errorf("error code %s (%s), want %s", e.Error.Code, e.Error.Message, s.wantCode)
		}
		for _, w := range s.wantMsg {
			if !strings.Contains(e.Error.Message, w) {
				t.Errorf("error message %q does not contain %q", e.Error.Message, w)
			}
		}
	}
	if s.check != nil {
		s.check(t, r)
	}
	return r
}

// status is a settable Status source, as the engine side fills it.
type status struct{ v atomic.Pointer[admin.Status] }

func (s *status) set(st admin.Status) { s.v.Store(&st) }
func (s *status) get() admin.Status   { return *s.v.Load() }

func newStoreServer(t testing.TB) (*httptest.Server, *status) {
	t.Helper()
	mem := configstore.NewMemory()
	t.Cleanup(func() { _ = mem.Close() })
	st := &status{}
	st.set(admin.Status{Mode: "store", Source: "/data", Listeners: []string{}})
	srv := httptest.NewServer(admin.Handler(admin.Options{
		Control: control.New(control.Options{Store: mem, Dir: t.TempDir()}),
		Status:  st.get,
	}))
	t.Cleanup(srv.Close)
	return srv, st
}

func newFileServer(t testing.TB) (*httptest.Server, string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lb.yaml")
	content := []byte("# the file of file mode\nlisteners: []\n")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(admin.Handler(admin.Options{
		ConfigFile:     path,
		ReadConfigFile: func() ([]byte, error) { return os.ReadFile(path) },
		Status: func() admin.Status {
			return admin.Status{Mode: "file", Source: path, Ready: true, Listeners: []string{}}
		},
	}))
	t.Cleanup(srv.Close)
	return srv, path, content
}

// document is a stored document with one HTTPS listener, verifying clients against trustStore when it is
// not empty.
func document(trustStore string) string {
	auth := ""
	if trustStore != "" {
		auth = "    mutual_authentication: { mode: verify, trust_store: " + trustStore + " }\n"
	}
	return "listeners:\n  - port: 8443\n    protocol: HTTPS\n" +
		"    certificates:\n      - { certificate: server.pem, private_key: server-key.pem }\n" + auth +
		"    default_actions:\n      - { type: forward, target_group: app }\n" +
		"target_groups:\n  - name: app\n    targets: [{ id: 127.0.0.1, port: 8080 }]\n"
}

func decodeJSON[T any](t testing.TB, r response) T {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("answer %q: %v", r.body, err)
	}
	return v
}

func wantBody(want []byte, contentType string) func(t *testing.T, r response) {
	return func(t *testing.T, r response) {
		t.Helper()
		if !bytes.Equal(r.body, want) {
			t.Errorf("body is %d bytes, not the %d expected:\n%s", len(r.body), len(want), r.body)
		}
		if ct := r.header.Get("Content-Type"); ct != contentType {
			t.Errorf("Content-Type %q, want %q", ct, contentType)
		}
	}
}

func wantETag(etag *string) func(t *testing.T, r response) {
	return func(t *testing.T, r response) {
		t.Helper()
		if got := r.header.Get("ETag"); got != *etag {
			t.Errorf("ETag %q, want %q", got, *etag)
		}
	}
}

func wantRevocationIDs(key string, want ...int64) func(t *testing.T, r response) {
	return func(t *testing.T, r response) {
		t.Helper()
		got := decodeJSON[map[string][]control.Revocation](t, r)[key]
		var ids []int64
		for _, rv := range got {
			ids = append(ids, rv.ID)
		}
		if !slices.Equal(ids, want) {
			t.Errorf("revocation ids %v, want %v", ids, want)
		}
	}
}

// TestStoreMode walks every endpoint of store mode in one scenario: each step's request, status, and body.
func TestStoreMode(t *testing.T) {
	srv, st := newStoreServer(t)
	ca := testpki.NewCA(t)
	inter := ca.Intermediate(t, "Partner Issuing CA")
	bundle := string(ca.BundlePEM())
	replacement := "# replacement\n" + string(testpki.NewCA(t).BundlePEM())
	crl1 := inter.CRL(t, inter.Client(t, "gone").Cert)
	crl2 := pki.EncodeCRLPEM(ca.CRL(t))
	leafPEM := string(pki.EncodeCertsPEM(inter.Client(t, "leaf").Cert))
	create := admin.CreateTrustStoreRequest{
		Name:                 "partners",
		CACertificatesBundle: admin.File{Name: "bundle.pem", PEM: bundle},
		Revocations:          []admin.File{{Name: "inter.crl", Content: crl1}},
	}
	etag := ""
	setETag := func(t *testing.T, r response) {
		etag = r.header.Get("ETag")
		rev := decodeJSON[map[string]int64](t, r)["revision"]
		if etag != fmt.Sprintf("%q", fmt.Sprint(rev)) {
			t.Errorf("ETag %q does not carry the revision %d of the body", etag, rev)
		}
	}

	steps := []step{
		{name: "healthz", method: "GET", path: "/healthz", want: 200, check: wantBody([]byte("ok\n"), "text/plain; charset=utf-8")},
		{name: "readyz-not-ready", method: "GET", path: "/readyz", want: 503, check: func(t *testing.T, r response) {
			if !strings.Contains(string(r.body), "not ready") {
				t.Errorf("readyz body %q", r.body)
			}
		}},
		{name: "status", method: "GET", path: "/api/v1/status", want: 200, check: func(t *testing.T, r response) {
			if got := decodeJSON[admin.Status](t, r); got.Mode != "store" || got.Ready {
				t.Errorf("status %+v", got)
			}
		}},
		{name: "metrics-off", method: "GET", path: "/metrics", want: 404},
		{name: "config-none-yet", method: "GET", path: "/api/v1/config", want: 404, wantCode: "ConfigurationNotFound",
			check: func(t *testing.T, r response) {
				if got := r.header.Get("ETag"); got != `"0"` {
					t.Errorf("ETag %q with no document, want \"0\" (the If-Match that creates one)", got)
				}
			}},
		{name: "list-empty", method: "GET", path: "/api/v1/trust-stores", want: 200, check: func(t *testing.T, r response) {
			if got := decodeJSON[map[string][]control.TrustStore](t, r); got["trust_stores"] == nil || len(got["trust_stores"]) != 0 {
				t.Errorf("empty list %s, want {\"trust_stores\": []}", r.body)
			}
		}},
		{name: "create", method: "POST", path: "/api/v1/trust-stores", body: create, want: 201, check: func(t *testing.T, r response) {
			ts := decodeJSON[control.TrustStore](t, r)
			if ts.Name != "partners" || ts.NumberOfCACertificates != 1 || len(ts.Revocations) != 1 || ts.Revocations[0].ID != 1 ||
				ts.Revocations[0].Source != "inter.crl" || ts.TotalRevokedEntries != 1 {
				t.Errorf("created %s", r.body)
			}
		}},
		{name: "create-duplicate", method: "POST", path: "/api/v1/trust-stores", body: create, want: 400, wantCode: control.CodeDuplicateTrustStoreName},
		{name: "create-bad-name", method: "POST", path: "/api/v1/trust-stores", want: 400, wantCode: control.CodeValidationError,
			body: admin.CreateTrustStoreRequest{Name: "bad--name", CACertificatesBundle: admin.File{PEM: bundle}}},
		{name: "create-bad-bundle", method: "POST", path: "/api/v1/trust-stores", want: 400, wantCode: control.CodeInvalidCaCertificates,
			body:    admin.CreateTrustStoreRequest{Name: "other", CACertificatesBundle: admin.File{Name: "b.pem", PEM: bundle + leafPEM}},
			wantMsg: []string{"b.pem", "certificate 2", "not a CA certificate"}},
		{name: "create-bad-crl", method: "POST", path: "/api/v1/trust-stores", want: 400, wantCode: control.CodeInvalidRevocationContent,
			body: admin.CreateTrustStoreRequest{Name: "other", CACertificatesBundle: admin.File{PEM: bundle},
				Revocations: []admin.File{{Name: "x.crl", Content: []byte("junk")}}},
			wantMsg: []string{"x.crl"}},
		{name: "create-no-bundle", method: "POST", path: "/api/v1/trust-stores", want: 400, wantCode: control.CodeValidationError,
			body: `{"name": "other"}`, wantMsg: []string{"ca_certificates_bundle"}},
		{name: "create-empty-crl", method: "POST", path: "/api/v1/trust-stores", want: 400, wantCode: control.CodeValidationError,
			body:    admin.CreateTrustStoreRequest{Name: "other", CACertificatesBundle: admin.File{PEM: bundle}, Revocations: []admin.File{{Name: "e.crl"}}},
			wantMsg: []string{"revocations[0]"}},
		{name: "create-bad-json", method: "POST", path: "/api/v1/trust-stores", body: `{"name": `, want: 400, wantCode: control.CodeValidationError},
		{name: "create-not-an-object", method: "POST", path: "/api/v1/trust-stores", body: `[1, 2]`, want: 400, wantCode: control.CodeValidationError},
		{name: "create-empty-body", method: "POST", path: "/api/v1/trust-stores", body: ``, want: 400, wantCode: control.CodeValidationError},
		{name: "create-unknown-field", method: "POST", path: "/api/v1/trust-stores", want: 400, wantCode: control.CodeValidationError,
			body: `{"name": "other", "ca_certificates_bundle": {"pem": "x"}, "colour": "blue"}`, wantMsg: []string{"colour"}},
		{name: "create-unknown-nested-field", method: "POST", path: "/api/v1/trust-stores", want: 400, wantCode: control.CodeValidationError,
			body: `{"name": "other", "ca_certificates_bundle": {"path": "/etc/passwd"}}`, wantMsg: []string{"path"}},
		{name: "create-bad-base64", method: "POST", path: "/api/v1/trust-stores", want: 400, wantCode: control.CodeValidationError,
			body: `{"name": "other", "ca_certificates_bundle": {"content": "%%%"}}`},
		{name: "create-trailing-data", method: "POST", path: "/api/v1/trust-stores", want: 400, wantCode: control.CodeValidationError,
			body: `{"name": "other", "ca_certificates_bundle": {"pem": ` + strconv.Quote(bundle) + `}} {"name": "more"}`, wantMsg: []string{"after the JSON value"}},
		{name: "describe", method: "GET", path: "/api/v1/trust-stores/partners", want: 200, check: func(t *testing.T, r response) {
			if ts := decodeJSON[control.TrustStore](t, r); ts.Name != "partners" || ts.NextRevocationID != 2 {
				t.Errorf("described %s", r.body)
			}
		}},
		{name: "describe-missing", method: "GET", path: "/api/v1/trust-stores/nobody", want: 404, wantCode: control.CodeTrustStoreNotFound, wantMsg: []string{`"nobody"`}},
		{name: "list", method: "GET", path: "/api/v1/trust-stores", want: 200, check: func(t *testing.T, r response) {
			if got := decodeJSON[map[string][]control.TrustStore](t, r)["trust_stores"]; len(got) != 1 || got[0].Name != "partners" {
				t.Errorf("list %s", r.body)
			}
		}},
		{name: "get-bundle", method: "GET", path: "/api/v1/trust-stores/partners/ca-certificates-bundle", want: 200, check: wantBody([]byte(bundle), "application/x-pem-file")},
		{name: "get-bundle-missing", method: "GET", path: "/api/v1/trust-stores/nobody/ca-certificates-bundle", want: 404, wantCode: control.CodeTrustStoreNotFound},
		{name: "modify", method: "PUT", path: "/api/v1/trust-stores/partners", want: 200,
			body: admin.ModifyTrustStoreRequest{CACertificatesBundle: admin.File{Name: "new.pem", Content: []byte(replacement)}},
			check: func(t *testing.T, r response) {
				if ts := decodeJSON[control.TrustStore](t, r); ts.BundleSource != "new.pem" {
					t.Errorf("modified %s", r.body)
				}
			}},
		{name: "get-modified-bundle", method: "GET", path: "/api/v1/trust-stores/partners/ca-certificates-bundle", want: 200, check: wantBody([]byte(replacement), "application/x-pem-file")},
		{name: "modify-missing", method: "PUT", path: "/api/v1/trust-stores/nobody", want: 404, wantCode: control.CodeTrustStoreNotFound,
			body: admin.ModifyTrustStoreRequest{CACertificatesBundle: admin.File{PEM: bundle}}},
		{name: "modify-bad-bundle", method: "PUT", path: "/api/v1/trust-stores/partners", want: 400, wantCode: control.CodeInvalidCaCertificates,
			body: admin.ModifyTrustStoreRequest{CACertificatesBundle: admin.File{PEM: "\n" + bundle}}, wantMsg: []string{"line 1"}},
		{name: "modify-unknown-field", method: "PUT", path: "/api/v1/trust-stores/partners", want: 400, wantCode: control.CodeValidationError,
			body: `{"ca_certificates_bundle": {"pem": "x"}, "name": "renamed"}`},
		{name: "add-revocation", method: "POST", path: "/api/v1/trust-stores/partners/revocations", want: 201,
			body: admin.AddRevocationsRequest{Revocations: []admin.File{{Name: "root.crl", PEM: string(crl2)}}}, check: wantRevocationIDs("revocations", 2)},
		{name: "add-no-revocation", method: "POST", path: "/api/v1/trust-stores/partners/revocations", want: 400, wantCode: control.CodeValidationError, body: `{"revocations": []}`},
		{name: "add-bad-revocation", method: "POST", path: "/api/v1/trust-stores/partners/revocations", want: 400, wantCode: control.CodeInvalidRevocationContent,
			body: admin.AddRevocationsRequest{Revocations: []admin.File{{Name: "bad.crl", Content: []byte{0x30, 0x00}}}}, wantMsg: []string{"bad.crl", "revocation 3"}},
		{name: "add-revocation-missing-store", method: "POST", path: "/api/v1/trust-stores/nobody/revocations", want: 404, wantCode: control.CodeTrustStoreNotFound,
			body: admin.AddRevocationsRequest{Revocations: []admin.File{{Content: crl1}}}},
		{name: "list-revocations", method: "GET", path: "/api/v1/trust-stores/partners/revocations", want: 200, check: wantRevocationIDs("revocations", 1, 2)},
		{name: "list-revocations-missing-store", method: "GET", path: "/api/v1/trust-stores/nobody/revocations", want: 404, wantCode: control.CodeTrustStoreNotFound},
		{name: "get-revocation", method: "GET", path: "/api/v1/trust-stores/partners/revocations/2", want: 200, check: func(t *testing.T, r response) {
			if rv := decodeJSON[control.Revocation](t, r); rv.ID != 2 || rv.Source != "root.crl" || rv.Type != "CRL" || rv.Issuer == "" {
				t.Errorf("revocation %s", r.body)
			}
		}},
		{name: "get-revocation-unknown", method: "GET", path: "/api/v1/trust-stores/partners/revocations/9", want: 404, wantCode: control.CodeRevocationIDNotFound, wantMsg: []string{"9"}},
		{name: "get-revocation-not-a-number", method: "GET", path: "/api/v1/trust-stores/partners/revocations/abc", want: 400, wantCode: control.CodeValidationError},
		{name: "get-revocation-zero", method: "GET", path: "/api/v1/trust-stores/partners/revocations/0", want: 400, wantCode: control.CodeValidationError},
		{name: "get-revocation-negative", method: "GET", path: "/api/v1/trust-stores/partners/revocations/-1", want: 400, wantCode: control.CodeValidationError},
		{name: "revocation-content-der", method: "GET", path: "/api/v1/trust-stores/partners/revocations/1/content", want: 200, check: wantBody(crl1, "application/pkix-crl")},
		{name: "revocation-content-pem", method: "GET", path: "/api/v1/trust-stores/partners/revocations/2/content", want: 200, check: wantBody(crl2, "application/pkix-crl")},
		{name: "revocation-content-unknown", method: "GET", path: "/api/v1/trust-stores/partners/revocations/3/content", want: 404, wantCode: control.CodeRevocationIDNotFound},
		{name: "revocation-content-bad-id", method: "GET", path: "/api/v1/trust-stores/partners/revocations/x/content", want: 400, wantCode: control.CodeValidationError},
		{name: "remove-revocation", method: "DELETE", path: "/api/v1/trust-stores/partners/revocations/1", want: 204, check: wantBody(nil, "")},
		{name: "remove-revocation-again", method: "DELETE", path: "/api/v1/trust-stores/partners/revocations/1", want: 404, wantCode: control.CodeRevocationIDNotFound},
		{name: "remove-revocation-bad-id", method: "DELETE", path: "/api/v1/trust-stores/partners/revocations/one", want: 400, wantCode: control.CodeValidationError},
		{name: "list-after-remove", method: "GET", path: "/api/v1/trust-stores/partners/revocations", want: 200, check: wantRevocationIDs("revocations", 2)},
		{name: "add-after-remove", method: "POST", path: "/api/v1/trust-stores/partners/revocations", want: 201,
			body: admin.AddRevocationsRequest{Revocations: []admin.File{{Content: crl1}}}, check: wantRevocationIDs("revocations", 3)},
		{name: "associations-none", method: "GET", path: "/api/v1/trust-stores/partners/associations", want: 200, check: func(t *testing.T, r response) {
			if got := decodeJSON[map[string][]string](t, r)["associations"]; got == nil || len(got) != 0 {
				t.Errorf("associations %s, want []", r.body)
			}
		}},
		{name: "associations-missing-store", method: "GET", path: "/api/v1/trust-stores/nobody/associations", want: 404, wantCode: control.CodeTrustStoreNotFound},
		{name: "put-config-missing-store", method: "PUT", path: "/api/v1/config", body: document("nobody"), want: 400,
			wantCode: control.CodeInvalidConfiguration, wantMsg: []string{"listeners[0].mutual_authentication.trust_store", "nobody"}},
		{name: "put-config-lists-trust-stores", method: "PUT", path: "/api/v1/config", want: 400, wantCode: control.CodeInvalidConfiguration,
			body: "trust_stores:\n  - { name: own, ca_certificates_bundle: ca.pem }\n" + document(""), wantMsg: []string{"trust_stores"}},
		{name: "put-config-bad-if-match", method: "PUT", path: "/api/v1/config", body: document(""), header: map[string]string{"If-Match": `"abc"`},
			want: 400, wantCode: control.CodeValidationError, wantMsg: []string{"If-Match"}},
		{name: "put-config-if-match-0", method: "PUT", path: "/api/v1/config", body: document("partners"), header: map[string]string{"If-Match": `"0"`},
			want: 200, check: setETag},
		{name: "get-config", method: "GET", path: "/api/v1/config", want: 200, check: func(t *testing.T, r response) {
			wantBody([]byte(document("partners")), "application/yaml")(t, r)
			wantETag(&etag)(t, r)
		}},
		{name: "put-config-stale-if-match", method: "PUT", path: "/api/v1/config", body: document(""), header: map[string]string{"If-Match": `"0"`},
			want: 412, wantCode: control.CodePreconditionFailed},
		{name: "associations", method: "GET", path: "/api/v1/trust-stores/partners/associations", want: 200, check: func(t *testing.T, r response) {
			if got := decodeJSON[map[string][]string](t, r)["associations"]; !slices.Equal(got, []string{"listeners[0] (*:8443)"}) {
				t.Errorf("associations %s", r.body)
			}
		}},
		{name: "delete-in-use", method: "DELETE", path: "/api/v1/trust-stores/partners", want: 400, wantCode: control.CodeTrustStoreInUse, wantMsg: []string{"listeners[0]"}},
	}
	// The last ETag is known only once the steps before ran: these steps read it when they run.
	steps = append(steps, []step{
		{name: "put-config-weak-etag", method: "PUT", path: "/api/v1/config", body: document(""), want: 200, check: setETag},
		{name: "delete", method: "DELETE", path: "/api/v1/trust-stores/partners", want: 204, check: wantBody(nil, "")},
		{name: "describe-deleted", method: "GET", path: "/api/v1/trust-stores/partners", want: 404, wantCode: control.CodeTrustStoreNotFound},
		{name: "delete-deleted", method: "DELETE", path: "/api/v1/trust-stores/partners", want: 404, wantCode: control.CodeTrustStoreNotFound},
		{name: "create-trailing-whitespace", method: "POST", path: "/api/v1/trust-stores", want: 201,
			body: `{"name": "late", "ca_certificates_bundle": {"pem": ` + strconv.Quote(bundle) + "}}\n \r\n\t"},
		{name: "unknown-api-path", method: "GET", path: "/api/v1/nope", want: 404, wantCode: "NotFound", wantMsg: []string{"/api/v1/nope"}},
		{name: "unknown-api-version", method: "GET", path: "/api/v2/config", want: 404, wantCode: "NotFound"},
		{name: "wrong-method", method: "POST", path: "/api/v1/status", want: 404, wantCode: "NotFound"},
		{name: "too-deep", method: "GET", path: "/api/v1/trust-stores/a/b/c/d", want: 404, wantCode: "NotFound"},
	}...)

	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.name == "put-config-weak-etag" {
				s.header = map[string]string{"If-Match": "W/" + etag}
			}
			s.run(t, srv)
		})
	}

	st.set(admin.Status{Mode: "store", LastError: "listeners[0]: bind: address already in use", Listeners: []string{}})
	r := call(t, srv, "GET", "/readyz", nil, nil)
	if r.status != 503 || !strings.Contains(string(r.body), "address already in use") {
		t.Errorf("readyz with a last error: %d %q", r.status, r.body)
	}
	st.set(admin.Status{Mode: "store", Ready: true, AppliedRevision: 7, Listeners: []string{"127.0.0.1:8443"}})
	r = call(t, srv, "GET", "/readyz", nil, nil)
	if r.status != 200 || string(r.body) != "ready: revision 7, 1 listeners\n" {
		t.Errorf("readyz when ready: %d %q", r.status, r.body)
	}
}

// TestFileMode checks that with no Control every store-mode endpoint answers 409 and names the file, and
// that the file itself is served.
func TestFileMode(t *testing.T) {
	srv, path, content := newFileServer(t)
	writes := []struct{ method, path, body string }{
		{"PUT", "/api/v1/config", "listeners: []\n"},
		{"POST", "/api/v1/trust-stores", `{"name": "a", "ca_certificates_bundle": {"pem": "x"}}`},
		{"PUT", "/api/v1/trust-stores/a", `{"ca_certificates_bundle": {"pem": "x"}}`},
		{"DELETE", "/api/v1/trust-stores/a", ""},
		{"POST", "/api/v1/trust-stores/a/revocations", `{"revocations": [{"pem": "x"}]}`},
		{"DELETE", "/api/v1/trust-stores/a/revocations/1", ""},
		// The trust-store reads are store-mode resources too: a file has no trust store API.
		{"GET", "/api/v1/trust-stores", ""},
		{"GET", "/api/v1/trust-stores/a/ca-certificates-bundle", ""},
	}
	for _, w := range writes {
		t.Run(w.method+" "+w.path, func(t *testing.T) {
			step{method: w.method, path: w.path, body: w.body, want: 409, wantCode: control.CodeReadOnly,
				wantMsg: []string{path, "source of truth", "--data-dir"}}.run(t, srv)
		})
	}
	t.Run("GET config", func(t *testing.T) {
		step{method: "GET", path: "/api/v1/config", want: 200, check: wantBody(content, "application/yaml")}.run(t, srv)
	})
	t.Run("readyz", func(t *testing.T) {
		step{method: "GET", path: "/readyz", want: 200}.run(t, srv)
	})
	t.Run("status", func(t *testing.T) {
		step{method: "GET", path: "/api/v1/status", want: 200, check: func(t *testing.T, r response) {
			if st := decodeJSON[admin.Status](t, r); st.Mode != "file" || st.Source != path {
				t.Errorf("status %s", r.body)
			}
		}}.run(t, srv)
	})
}

// TestPutConfigConcurrent sends one If-Match from several clients at once: exactly one replaces the
// document, the others get 412.
func TestPutConfigConcurrent(t *testing.T) {
	srv, _ := newStoreServer(t)
	r := call(t, srv, "PUT", "/api/v1/config", document(""), nil)
	if r.status != 200 {
		t.Fatalf("first put: %d %s", r.status, r.body)
	}
	etag := r.header.Get("ETag")
	const clients = 8
	statuses := make(chan int, clients)
	start := make(chan struct{})
	for i := range clients {
		go func() {
			<-start
			doc := fmt.Sprintf("name: client-%d\n", i) + document("")
			statuses <- call(t, srv, "PUT", "/api/v1/config", doc, map[string]string{"If-Match": etag}).status
		}()
	}
	close(start)
	counts := map[int]int{}
	for range clients {
		counts[<-statuses]++
	}
	if counts[200] != 1 || counts[412] != clients-1 {
		t.Errorf("statuses %v, want one 200 and %d 412", counts, clients-1)
	}
}

// FuzzCreateTrustStoreBody sends arbitrary bytes as the body of POST /api/v1/trust-stores: the answer is
// never a 5xx, and is either a created trust store or a JSON error.
func FuzzCreateTrustStoreBody(f *testing.F) {
	ca := testpki.NewCA(f)
	inter := ca.Intermediate(f, "Fuzz Issuing CA")
	seeds := []any{
		admin.CreateTrustStoreRequest{Name: "partners", CACertificatesBundle: admin.File{PEM: string(ca.BundlePEM())}},
		admin.CreateTrustStoreRequest{Name: "p", CACertificatesBundle: admin.File{Name: "b.pem", Content: ca.BundlePEM()},
			Revocations: []admin.File{{Name: "a.crl", Content: inter.CRL(f)}, {PEM: string(pki.EncodeCRLPEM(ca.CRL(f, inter.Cert)))}}},
		admin.CreateTrustStoreRequest{Name: "x", CACertificatesBundle: admin.File{PEM: "# c\n" + string(ca.BundlePEM())},
			Revocations: []admin.File{{Content: []byte{0x30, 0x82, 0xff, 0xff}}}},
		`{}`, `{"name": "a", "ca_certificates_bundle": {"pem": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}}`,
		`{"name": null, "revocations": null}`, `[]`, `"x"`, `{"name": "a", "ca_certificates_bundle": {"content": "AA=="}, "revocations": [{}]}`,
	}
	for _, s := range seeds {
		switch v := s.(type) {
		case string:
			f.Add([]byte(v))
		default:
			data, err := json.Marshal(v)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		mem := configstore.NewMemory()
		defer mem.Close()
		h := admin.Handler(admin.Options{Control: control.New(control.Options{Store: mem, Dir: "."}), Status: func() admin.Status { return admin.Status{} }})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/trust-stores", bytes.NewReader(body)))
		r := response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
		switch {
		case r.status >= 500:
			t.Fatalf("status %d for body %q: %s", r.status, body, r.body)
		case r.status == 201:
			if ts := decodeJSON[control.TrustStore](t, r); ts.Name == "" || ts.CACertificatesBundle == "" {
				t.Fatalf("created %s", r.body)
			}
		case r.status == 400:
			errorBody(t, r)
		default:
			t.Fatalf("status %d for body %q: %s", r.status, body, r.body)
		}
	})
}

// FuzzPutConfigBody sends arbitrary bytes as the document of PUT /api/v1/config: the answer is never a 5xx,
// and a refused document leaves the stored one as it was.
func FuzzPutConfigBody(f *testing.F) {
	for _, s := range []string{document(""), document("partners"), `{"listeners": []}`, "listeners: [", "trust_stores: []\n", "\xff\xfe", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		mem := configstore.NewMemory()
		defer mem.Close()
		h := admin.Handler(admin.Options{Control: control.New(control.Options{Store: mem, Dir: "."}), Status: func() admin.Status { return admin.Status{} }})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("PUT", "/api/v1/config", bytes.NewReader(body)))
		r := response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
		_, rev, err := mem.Range(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case r.status == 200:
			if rev != 1 {
				t.Fatalf("accepted, store at revision %d", rev)
			}
		case r.status == 400:
			errorBody(t, r)
			if rev != 0 {
				t.Fatalf("refused, store at revision %d", rev)
			}
		default:
			t.Fatalf("status %d for body %q: %s", r.status, body, r.body)
		}
	})
}
