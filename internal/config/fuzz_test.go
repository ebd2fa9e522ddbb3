package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse: it must never panic, must fail
// only with a *ValidationError, and whatever decodes must normalize to a
// form that decodes to the same normalized form.
func FuzzParse(f *testing.F) {
	f.Add(specExample(f))
	f.Add([]byte(minimalVerify))
	files, _ := filepath.Glob("testdata/*")
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"", "null", "[]", "{}", "- a", "a: [", "name: a: b", "listeners: [{port: 99999999999999999999}]",
		"listeners: [{mutual_authentication: {mode: [1]}}]", "a: &x [*x]", "attributes: {idle_timeout_seconds: .nan}",
		`{"listeners": [{"header_names": {"x_amzn_tls_version": 1}}]}`, "trust_stores: [{name: a, stale_crl_policy: 1ns}]",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse(data, "/etc/mtlslb")
		if err != nil {
			var verr *ValidationError
			if !errors.As(err, &verr) || len(verr.Errors) == 0 {
				t.Fatalf("error %v (%T) is not a non-empty *ValidationError", err, err)
			}
			if d != nil {
				t.Fatal("a document came back with an error")
			}
		} else if d == nil {
			t.Fatal("no document and no error")
		}

		d, probs := decode(data)
		if d == nil {
			return
		}
		SetDefaults(d)
		out, err := d.Normalized()
		if err != nil {
			t.Fatalf("Normalized of a decoded document: %v", err)
		}
		d2, probs2 := decode(out)
		if d2 == nil || len(probs2) != 0 {
			t.Fatalf("normalized form does not decode: %v\n%s\n(first problems: %v)", probs2, out, probs)
		}
		out2, err := d2.Normalized()
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != string(out2) {
			t.Fatalf("normalizing twice differs:\n%s\n---\n%s", out, out2)
		}
	})
}
