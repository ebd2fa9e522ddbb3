package config

import (
	"encoding/json"
	"fmt"
	"path/filepath"
)

// FilePath is a file named in the document. The document keeps the path as
// written (relative to the document's directory, or absolute); Parse and
// Load also resolve it, so that nothing later depends on the working
// directory. It reads and writes as a plain JSON or YAML string.
type FilePath struct {
	// Raw is the path as written: messages quote it and the normalized
	// document keeps it.
	Raw string

	// Abs is Raw resolved against the document's directory. Empty until
	// Parse or Load resolves it; "-" stays "-" where it means stdout.
	Abs string
}

// Path returns the path to open: Abs once resolved, Raw before.
func (p FilePath) Path() string {
	if p.Abs != "" {
		return p.Abs
	}
	return p.Raw
}

// String returns the path as written.
func (p FilePath) String() string { return p.Raw }

// IsZero reports whether no path is set.
func (p FilePath) IsZero() bool { return p.Raw == "" }

// MarshalJSON writes the path as written, so that a document round-trips
// and never carries one machine's directories.
func (p FilePath) MarshalJSON() ([]byte, error) { return json.Marshal(p.Raw) }

// UnmarshalJSON reads a string; Abs is left for resolution.
func (p *FilePath) UnmarshalJSON(data []byte) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case string:
		*p = FilePath{Raw: v}
	case nil:
		*p = FilePath{}
	default:
		return fmt.Errorf("expected a file path, got %s", describeJSON(v))
	}
	return nil
}

// resolve sets Abs from Raw against dir, which must be absolute.
func (p *FilePath) resolve(dir string, stdoutAllowed bool) {
	switch {
	case p.Raw == "":
		p.Abs = ""
	case stdoutAllowed && p.Raw == Stdout:
		p.Abs = Stdout
	case filepath.IsAbs(p.Raw):
		p.Abs = filepath.Clean(p.Raw)
	default:
		p.Abs = filepath.Join(dir, p.Raw)
	}
}

// resolvePaths resolves every file path of d against dir (absolute).
func resolvePaths(d *Document, dir string) {
	d.Attributes.ConnectionLogs.Path.resolve(dir, true)
	d.Attributes.AccessLogs.Path.resolve(dir, true)
	for i := range d.TrustStores {
		ts := &d.TrustStores[i]
		ts.CACertificatesBundle.resolve(dir, false)
		for j := range ts.Revocations {
			ts.Revocations[j].CRL.resolve(dir, false)
		}
	}
	for i := range d.Listeners {
		for j := range d.Listeners[i].Certificates {
			c := &d.Listeners[i].Certificates[j]
			c.Certificate.resolve(dir, false)
			c.PrivateKey.resolve(dir, false)
		}
	}
	for i := range d.TargetGroups {
		if t := d.TargetGroups[i].TLS; t != nil {
			t.Certificate.resolve(dir, false)
			t.PrivateKey.resolve(dir, false)
			t.CACertificatesBundle.resolve(dir, false)
		}
	}
}
