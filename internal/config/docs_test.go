package config

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestDocsYAMLDecodes decodes every YAML example of the user documentation strictly, so a key renamed in the
// code and not in the docs (or mistyped in the docs) fails here. Examples may be fragments (a listener naming a
// target group shown elsewhere), so only decoding is checked, not cross-references.
func TestDocsYAMLDecodes(t *testing.T) {
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil || len(files) == 0 {
		t.Fatalf("no docs found: %v", err)
	}
	block := regexp.MustCompile("(?s)```yaml\n(.*?)```")
	n := 0
	for _, f := range files {
		if filepath.Base(f) == "metrics.md" {
			continue // Prometheus alerting rules, not mtlslb documents
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range block.FindAllSubmatch(data, -1) {
			n++
			if _, probs := decode(m[1]); len(probs) != 0 {
				t.Errorf("%s, YAML example %d: %v", filepath.Base(f), i+1, probs)
			}
		}
	}
	if n < 5 {
		t.Errorf("found only %d YAML examples in docs/", n)
	}
}

// TestDocsExamplesValidate: the complete example documents of docs/examples validate in full (their files are
// the demo's, which `mtlslb validate` reads; here only the document itself is checked).
func TestDocsExamplesValidate(t *testing.T) {
	files, err := filepath.Glob("../../docs/examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(data, t.TempDir()); err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
		}
	}
}
