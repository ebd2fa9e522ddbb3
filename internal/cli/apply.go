package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	adminapi "github.com/mtlslb/mtlslb/internal/admin"
	"github.com/mtlslb/mtlslb/internal/config"
	"github.com/mtlslb/mtlslb/internal/control"
)

func newApply() *cobra.Command {
	c := &clientFlags{}
	var file string
	cmd := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Store mode: make the running configuration the document FILE describes",
		Long: `Make a running mtlslb in store mode (serve --data-dir) serve the document FILE describes, through its
admin API. The document is checked locally first, exactly as validate would. Then:

- every trust store it lists is created, or its CA bundle replaced if it changed, and each CRL it lists is
  added unless the trust store holds it already (CRLs the document no longer lists are kept: remove them with
  trust-store remove-revocations); trust stores the document does not list are kept until trust-store delete;
- the rest of the document (listeners, target groups, attributes) replaces the stored one whole, with
  listener certificate paths made absolute.

Each step is checked in full by the server before it is stored; a refusal stops apply with the reason.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := c.check(); err != nil {
				return err
			}
			if file == "" {
				return usageError{errors.New("-f FILE is required")}
			}
			return reportAPIError(cmd, c, runApply(cmd, c, file))
		},
	}
	c.register(cmd)
	cmd.Flags().StringVarP(&file, "filename", "f", "", "configuration document (YAML or JSON)")
	return cmd
}

func runApply(cmd *cobra.Command, c *clientFlags, file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	// Check the document locally first, with the trust stores it lists and those the server already holds,
	// so problems are reported against the file's own lines before anything changes.
	var stored struct {
		TrustStores []control.TrustStore `json:"trust_stores"`
	}
	if _, err := c.call(http.MethodGet, "/api/v1/trust-stores", nil, nil, &stored); err != nil {
		return err
	}
	doc, err := config.ParseStored(data, filepath.Dir(file), config.StoredOptions{
		TrustStores: control.AsConfig(stored.TrustStores), KeepDocumentTrustStores: true,
	})
	if err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "%s: not applied:\n", file)
		for _, p := range problemList(err) {
			fmt.Fprintln(cmd.ErrOrStderr(), "  "+p)
		}
		return failure{ExitFailed}
	}
	out := cmd.OutOrStdout()
	var steps []string
	listed := map[string]bool{}
	for _, ts := range doc.TrustStores {
		if !strings.HasPrefix(ts.CACertificatesBundle.Raw, "sha256:") {
			listed[ts.Name] = true
		}
	}
	for _, ts := range doc.TrustStores {
		if !listed[ts.Name] {
			continue // held by the server, not listed in the file
		}
		step, err := applyTrustStore(c, ts)
		if err != nil {
			return err
		}
		steps = append(steps, step)
		if c.output == "table" {
			fmt.Fprintln(out, step)
		}
	}

	body, err := storedDocument(file, data, doc)
	if err != nil {
		return err
	}
	var resp struct {
		Revision int64 `json:"revision"`
	}
	if _, err := c.call(http.MethodPut, "/api/v1/config", nil, body, &resp); err != nil {
		return err
	}
	step := fmt.Sprintf("configuration stored at revision %d (%d listeners, %d target groups)", resp.Revision, len(doc.Listeners), len(doc.TargetGroups))
	if c.output == "json" {
		return printJSON(out, map[string]any{"revision": resp.Revision, "steps": append(steps, step)})
	}
	fmt.Fprintln(out, step)
	return nil
}

// applyTrustStore creates the trust store or brings its bundle and CRLs up to the document's files.
func applyTrustStore(c *clientFlags, ts config.TrustStore) (string, error) {
	bundle, err := readUpload(ts.CACertificatesBundle.Path(), true)
	if err != nil {
		return "", err
	}
	var crlFiles []string
	for _, r := range ts.Revocations {
		if r.URL != "" {
			return "", fmt.Errorf("trust store %s: CRLs from URLs are not available yet", ts.Name)
		}
		crlFiles = append(crlFiles, r.CRL.Path())
	}
	crls, err := readUploads(crlFiles)
	if err != nil {
		return "", err
	}
	var current control.TrustStore
	_, err = c.call(http.MethodGet, "/api/v1/trust-stores/"+url.PathEscape(ts.Name), nil, nil, &current)
	var ae *apiError
	if errors.As(err, &ae) && ae.code == control.CodeTrustStoreNotFound {
		if _, err := c.call(http.MethodPost, "/api/v1/trust-stores", nil, adminapi.CreateTrustStoreRequest{Name: ts.Name, CACertificatesBundle: bundle, Revocations: crls}, &current); err != nil {
			return "", err
		}
		return fmt.Sprintf("trust store %s created (%d CA certificates, %d CRLs)", ts.Name, current.NumberOfCACertificates, len(crls)), nil
	}
	if err != nil {
		return "", err
	}
	changed := ""
	if current.CACertificatesBundle != digest([]byte(bundle.PEM)) {
		if _, err := c.call(http.MethodPut, "/api/v1/trust-stores/"+url.PathEscape(ts.Name), nil, adminapi.ModifyTrustStoreRequest{CACertificatesBundle: bundle}, &current); err != nil {
			return "", err
		}
		changed = "CA bundle replaced"
	}
	have := map[string]bool{}
	for _, r := range current.Revocations {
		have[r.Content] = true
	}
	var missing []adminapi.File
	for _, f := range crls {
		if !have[digest(f.Content)] {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		if _, err := c.call(http.MethodPost, "/api/v1/trust-stores/"+url.PathEscape(ts.Name)+"/revocations", nil, adminapi.AddRevocationsRequest{Revocations: missing}, nil); err != nil {
			return "", err
		}
		if changed != "" {
			changed += ", "
		}
		changed += fmt.Sprintf("%d CRL(s) added", len(missing))
	}
	if changed == "" {
		changed = "unchanged"
	}
	return fmt.Sprintf("trust store %s: %s", ts.Name, changed), nil
}

// digest is the store's content address of data.
func digest(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// storedDocument is the document as the store keeps it: without trust stores (they are resources of their
// own) and with listener certificate paths absolute (the server resolves relative paths against its data
// directory, not against where the file was).
func storedDocument(file string, data []byte, doc *config.Document) ([]byte, error) {
	raw, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	delete(m, "trust_stores")
	if ls, ok := m["listeners"].([]any); ok {
		for i, l := range ls {
			lm, ok := l.(map[string]any)
			if !ok || i >= len(doc.Listeners) {
				continue
			}
			certs, _ := lm["certificates"].([]any)
			for j, c := range certs {
				cm, ok := c.(map[string]any)
				if !ok || j >= len(doc.Listeners[i].Certificates) {
					continue
				}
				dc := doc.Listeners[i].Certificates[j]
				cm["certificate"], cm["private_key"] = dc.Certificate.Path(), dc.PrivateKey.Path()
			}
		}
	}
	if attrs, ok := m["attributes"].(map[string]any); ok {
		for _, key := range []string{"connection_logs", "access_logs"} {
			if l, ok := attrs[key].(map[string]any); ok {
				if p, ok := l["path"].(string); ok && p != "-" && p != "" && !filepath.IsAbs(p) {
					l["path"] = filepath.Join(filepath.Dir(mustAbs(file)), p)
				}
			}
		}
	}
	return json.MarshalIndent(m, "", "  ")
}

func mustAbs(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
