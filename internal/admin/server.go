package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mtlslb/mtlslb/internal/configstore"
	"github.com/mtlslb/mtlslb/internal/control"
	"github.com/mtlslb/mtlslb/internal/crlfetch"
	"github.com/mtlslb/mtlslb/internal/explain"
	"github.com/mtlslb/mtlslb/internal/truststore"
)

// maxBody bounds request bodies: a 50 MiB CRL base64-encoded, with room to spare.
const maxBody = 80 << 20

// Status is what /api/v1/status reports; the engine side fills it.
type Status struct {
	Mode            string   `json:"mode"` // "file" or "store"
	Source          string   `json:"source"`
	StoredRevision  int64    `json:"stored_revision,omitempty"`
	AppliedRevision int64    `json:"applied_revision"`
	LastError       string   `json:"last_error,omitempty"`
	Listeners       []string `json:"listeners"`
	Ready           bool     `json:"ready"`
	// RemoteCRLs is the state of every CRL fetched from a URL: last attempt, last success, last error, nextUpdate.
	RemoteCRLs []crlfetch.Status `json:"remote_crls,omitempty"`
}

// Options configures the admin handler.
type Options struct {
	// Control runs the store-mode operations; nil in file mode.
	Control *control.Service
	// ConfigFile is the file of file mode (for GET /api/v1/config and the 409 message).
	ConfigFile string
	// ReadConfigFile reads it (file mode).
	ReadConfigFile func() ([]byte, error)
	// Status returns the current status.
	Status func() Status
	// Metrics serves /metrics; nil answers 404.
	Metrics http.Handler
	// TrustStore returns a trust store of the running configuration, for explain; nil if there is none.
	TrustStore func(name string) *truststore.Store
}

// Handler returns the admin API.
func Handler(o Options) http.Handler {
	a := &api{o: o}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", a.readyz)
	if o.Metrics != nil {
		mux.Handle("GET /metrics", o.Metrics)
	}
	mux.HandleFunc("GET /api/v1/status", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, o.Status()) })
	mux.HandleFunc("GET /api/v1/config", a.getConfig)
	mux.HandleFunc("PUT /api/v1/config", a.store(a.putConfig))
	mux.HandleFunc("GET /api/v1/trust-stores", a.store(a.listTrustStores))
	mux.HandleFunc("POST /api/v1/trust-stores", a.store(a.createTrustStore))
	mux.HandleFunc("GET /api/v1/trust-stores/{name}", a.store(a.getTrustStore))
	mux.HandleFunc("PUT /api/v1/trust-stores/{name}", a.store(a.modifyTrustStore))
	mux.HandleFunc("DELETE /api/v1/trust-stores/{name}", a.store(a.deleteTrustStore))
	mux.HandleFunc("GET /api/v1/trust-stores/{name}/ca-certificates-bundle", a.store(a.getBundle))
	mux.HandleFunc("GET /api/v1/trust-stores/{name}/revocations", a.store(a.listRevocations))
	mux.HandleFunc("POST /api/v1/trust-stores/{name}/revocations", a.store(a.addRevocations))
	mux.HandleFunc("GET /api/v1/trust-stores/{name}/revocations/{id}", a.store(a.getRevocation))
	mux.HandleFunc("DELETE /api/v1/trust-stores/{name}/revocations/{id}", a.store(a.deleteRevocation))
	mux.HandleFunc("GET /api/v1/trust-stores/{name}/revocations/{id}/content", a.store(a.getRevocationContent))
	mux.HandleFunc("GET /api/v1/trust-stores/{name}/associations", a.store(a.associations))
	mux.HandleFunc("GET /api/v1/target-groups/{name}/health", a.store(a.describeTargetHealth))
	mux.HandleFunc("POST /api/v1/target-groups/{name}/targets", a.store(a.registerTargets))
	mux.HandleFunc("DELETE /api/v1/target-groups/{name}/targets", a.store(a.deregisterTargets))
	mux.HandleFunc("POST /api/v1/explain", a.explain)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &control.Error{Code: "NotFound", Status: http.StatusNotFound, Message: r.Method + " " + r.URL.Path + " is not an admin API endpoint"})
	})
	return mux
}

type api struct{ o Options }

// ErrorBody is the JSON of every error answer.
type ErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	e := control.AsError(err)
	var body ErrorBody
	body.Error.Code, body.Error.Message = e.Code, e.Message
	writeJSON(w, e.Status, body)
}

// store wraps a store-mode handler: in file mode it answers 409.
func (a *api) store(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.o.Control == nil {
			writeError(w, &control.Error{Code: control.CodeReadOnly, Status: http.StatusConflict, Message: fmt.Sprintf(
				"mtlslb runs in file mode: %s is the source of truth; edit it (it is reloaded on change), or run `mtlslb serve --data-dir DIR` to manage the configuration through this API", a.o.ConfigFile)})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		h(w, r)
	}
}

func (a *api) readyz(w http.ResponseWriter, _ *http.Request) {
	st := a.o.Status()
	if !st.Ready {
		msg := "not ready: no configuration applied"
		if st.LastError != "" {
			msg += ": " + st.LastError
		}
		http.Error(w, msg, http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintf(w, "ready: revision %d, %d listeners\n", st.AppliedRevision, len(st.Listeners))
}

func (a *api) getConfig(w http.ResponseWriter, r *http.Request) {
	if a.o.Control == nil {
		data, err := a.o.ReadConfigFile()
		if err != nil {
			writeError(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(data)
		return
	}
	data, rev, ok, err := a.o.Control.GetConfig(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("ETag", etag(rev))
	if !ok {
		writeError(w, &control.Error{Code: "ConfigurationNotFound", Status: http.StatusNotFound, Message: "no configuration has been put yet; PUT one (mtlslb apply -f FILE)"})
		return
	}
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(data)
}

func etag(rev configstore.Revision) string { return `"` + strconv.FormatInt(int64(rev), 10) + `"` }

func parseETag(s string) (configstore.Revision, bool) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "W/")
	n, err := strconv.ParseInt(strings.Trim(s, `"`), 10, 64)
	return configstore.Revision(n), err == nil && n >= 0
}

func (a *api) putConfig(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, &control.Error{Code: control.CodeValidationError, Status: http.StatusBadRequest, Message: "reading the body: " + err.Error()})
		return
	}
	var ifMatch *configstore.Revision
	if h := r.Header.Get("If-Match"); h != "" && h != "*" {
		rev, ok := parseETag(h)
		if !ok {
			writeError(w, &control.Error{Code: control.CodeValidationError, Status: http.StatusBadRequest, Message: fmt.Sprintf("If-Match %q is not an ETag this API gave", h)})
			return
		}
		ifMatch = &rev
	}
	rev, err := a.o.Control.PutConfig(r.Context(), data, ifMatch)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("ETag", etag(rev))
	writeJSON(w, http.StatusOK, map[string]int64{"revision": int64(rev)})
}

// File is a file in a JSON request: PEM as text, or anything as base64.
type File struct {
	Name    string `json:"name,omitempty"`
	PEM     string `json:"pem,omitempty"`
	Content []byte `json:"content,omitempty"` // base64 in JSON
}

func (f File) upload(what string) (control.Upload, error) {
	data := f.Content
	if f.PEM != "" {
		data = []byte(f.PEM)
	}
	if len(data) == 0 {
		return control.Upload{}, &control.Error{Code: control.CodeValidationError, Status: http.StatusBadRequest, Message: what + ": empty (give pem or content)"}
	}
	name := f.Name
	if name == "" {
		name = what
	}
	return control.Upload{Name: name, Data: data}, nil
}

// CreateTrustStoreRequest is the body of POST /api/v1/trust-stores.
type CreateTrustStoreRequest struct {
	Name                 string `json:"name"`
	CACertificatesBundle File   `json:"ca_certificates_bundle"`
	Revocations          []File `json:"revocations,omitempty"`
}

// ModifyTrustStoreRequest is the body of PUT /api/v1/trust-stores/{name}.
type ModifyTrustStoreRequest struct {
	CACertificatesBundle File `json:"ca_certificates_bundle"`
}

// AddRevocationsRequest is the body of POST …/revocations.
type AddRevocationsRequest struct {
	Revocations []File `json:"revocations"`
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		// One JSON value and nothing after it: anything after it (a second object) would otherwise be ignored in silence.
		if _, next := dec.Token(); next != io.EOF {
			err = errors.New("unexpected data after the JSON value")
		}
	}
	if err != nil {
		writeError(w, &control.Error{Code: control.CodeValidationError, Status: http.StatusBadRequest, Message: "request body: " + err.Error()})
		return false
	}
	return true
}

func uploads(files []File, what string) ([]control.Upload, error) {
	var out []control.Upload
	for i, f := range files {
		u, err := f.upload(fmt.Sprintf("%s[%d]", what, i))
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

func (a *api) createTrustStore(w http.ResponseWriter, r *http.Request) {
	var req CreateTrustStoreRequest
	if !decode(w, r, &req) {
		return
	}
	bundle, err := req.CACertificatesBundle.upload("ca_certificates_bundle")
	if err != nil {
		writeError(w, err)
		return
	}
	crls, err := uploads(req.Revocations, "revocations")
	if err != nil {
		writeError(w, err)
		return
	}
	ts, err := a.o.Control.CreateTrustStore(r.Context(), req.Name, bundle, crls)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, ts)
}

func (a *api) listTrustStores(w http.ResponseWriter, r *http.Request) {
	list, err := a.o.Control.DescribeTrustStores(r.Context(), "")
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"trust_stores": list})
}

func (a *api) getTrustStore(w http.ResponseWriter, r *http.Request) {
	list, err := a.o.Control.DescribeTrustStores(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, list[0])
}

func (a *api) modifyTrustStore(w http.ResponseWriter, r *http.Request) {
	var req ModifyTrustStoreRequest
	if !decode(w, r, &req) {
		return
	}
	bundle, err := req.CACertificatesBundle.upload("ca_certificates_bundle")
	if err != nil {
		writeError(w, err)
		return
	}
	ts, err := a.o.Control.ModifyTrustStore(r.Context(), r.PathValue("name"), bundle)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ts)
}

func (a *api) deleteTrustStore(w http.ResponseWriter, r *http.Request) {
	if err := a.o.Control.DeleteTrustStore(r.Context(), r.PathValue("name")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *api) getBundle(w http.ResponseWriter, r *http.Request) {
	data, err := a.o.Control.GetCABundle(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	_, _ = w.Write(data)
}

func (a *api) listRevocations(w http.ResponseWriter, r *http.Request) {
	revs, err := a.o.Control.DescribeRevocations(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"revocations": revs})
}

func (a *api) addRevocations(w http.ResponseWriter, r *http.Request) {
	var req AddRevocationsRequest
	if !decode(w, r, &req) {
		return
	}
	crls, err := uploads(req.Revocations, "revocations")
	if err != nil {
		writeError(w, err)
		return
	}
	added, err := a.o.Control.AddRevocations(r.Context(), r.PathValue("name"), crls)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"revocations": added})
}

func revocationID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		writeError(w, &control.Error{Code: control.CodeValidationError, Status: http.StatusBadRequest, Message: fmt.Sprintf("revocation id %q is not a positive number", r.PathValue("id"))})
		return 0, false
	}
	return id, true
}

func (a *api) getRevocation(w http.ResponseWriter, r *http.Request) {
	id, ok := revocationID(w, r)
	if !ok {
		return
	}
	revs, err := a.o.Control.DescribeRevocations(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	for _, rv := range revs {
		if rv.ID == id {
			writeJSON(w, http.StatusOK, rv)
			return
		}
	}
	writeError(w, &control.Error{Code: control.CodeRevocationIDNotFound, Status: http.StatusNotFound, Message: fmt.Sprintf("trust store %q has no revocation %d", r.PathValue("name"), id)})
}

func (a *api) deleteRevocation(w http.ResponseWriter, r *http.Request) {
	id, ok := revocationID(w, r)
	if !ok {
		return
	}
	if err := a.o.Control.RemoveRevocations(r.Context(), r.PathValue("name"), []int64{id}); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *api) getRevocationContent(w http.ResponseWriter, r *http.Request) {
	id, ok := revocationID(w, r)
	if !ok {
		return
	}
	data, err := a.o.Control.GetRevocationContent(r.Context(), r.PathValue("name"), id)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/pkix-crl")
	_, _ = w.Write(data)
}

func (a *api) associations(w http.ResponseWriter, r *http.Request) {
	list, err := a.o.Control.DescribeAssociations(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"associations": list})
}

// TargetsRequest is the body of POST and DELETE /api/v1/target-groups/{name}/targets.
type TargetsRequest struct {
	Targets []control.Target `json:"targets"`
}

// TargetHealthResponse is the answer of GET /api/v1/target-groups/{name}/health, in ELBv2's shape.
type TargetHealthResponse struct {
	TargetHealthDescriptions []control.TargetHealthDescription `json:"target_health_descriptions"`
}

func (a *api) registerTargets(w http.ResponseWriter, r *http.Request) {
	a.editTargets(w, r, a.o.Control.RegisterTargets)
}

func (a *api) deregisterTargets(w http.ResponseWriter, r *http.Request) {
	a.editTargets(w, r, a.o.Control.DeregisterTargets)
}

func (a *api) editTargets(w http.ResponseWriter, r *http.Request,
	edit func(context.Context, string, []control.Target) (*control.TargetGroupTargets, error)) {
	var req TargetsRequest
	if !decode(w, r, &req) {
		return
	}
	res, err := edit(r.Context(), r.PathValue("name"), req.Targets)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (a *api) describeTargetHealth(w http.ResponseWriter, r *http.Request) {
	list, err := a.o.Control.DescribeTargetHealth(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, TargetHealthResponse{TargetHealthDescriptions: list})
}

// ExplainRequest is the body of POST /api/v1/explain.
type ExplainRequest struct {
	TrustStore   string    `json:"trust_store"`
	ChainPEM     string    `json:"chain_pem"` // the client's chain, leaf first
	At           time.Time `json:"at,omitzero"`
	IgnoreExpiry bool      `json:"ignore_client_certificate_expiry,omitempty"`
}

func (a *api) explain(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	var req ExplainRequest
	if !decode(w, r, &req) {
		return
	}
	var store *truststore.Store
	if a.o.TrustStore != nil {
		store = a.o.TrustStore(req.TrustStore)
	}
	if store == nil {
		writeError(w, &control.Error{Code: control.CodeTrustStoreNotFound, Status: http.StatusNotFound,
			Message: fmt.Sprintf("the running configuration has no trust store named %q", req.TrustStore)})
		return
	}
	chain, err := explain.ParseChain([]byte(req.ChainPEM))
	if err != nil {
		writeError(w, &control.Error{Code: control.CodeValidationError, Status: http.StatusBadRequest, Message: "chain_pem: " + err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, explain.Explain(store, chain, explain.Options{At: req.At, IgnoreExpiry: req.IgnoreExpiry}))
}
