package config

import (
	"bytes"
	"encoding/json"
	"fmt"

	"sigs.k8s.io/yaml"
	yaml3 "sigs.k8s.io/yaml/goyaml.v3"
)

// Normalized returns the document in canonical form: YAML, every default
// filled in, keys in the order of the types, file paths as written. Two
// documents that mean the same thing give the same bytes, and parsing the
// result gives the same document again. d itself is not changed.
func (d *Document) Normalized() ([]byte, error) {
	// A JSON round trip is a deep copy, so that defaults go on the copy.
	js, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("normalizing config: %w", err)
	}
	var c Document
	if err := json.Unmarshal(js, &c); err != nil {
		return nil, fmt.Errorf("normalizing config: %w", err)
	}
	SetDefaults(&c)
	if js, err = json.Marshal(&c); err != nil {
		return nil, fmt.Errorf("normalizing config: %w", err)
	}

	// The node API keeps the keys in the order json.Marshal wrote them,
	// which is the order of the struct fields.
	var root yaml3.Node
	if err := yaml3.Unmarshal(js, &root); err != nil {
		return nil, fmt.Errorf("normalizing config: %w", err)
	}
	plainStyle(&root)
	var buf bytes.Buffer
	enc := yaml3.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
		return nil, fmt.Errorf("normalizing config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("normalizing config: %w", err)
	}
	return buf.Bytes(), nil
}

// plainStyle drops the JSON quoting and flow style the nodes were read
// with, so that the YAML reads as a person would write it. A string that
// would not read back as the same string through the YAML 1.1 reader that
// Parse uses ("off", "200", "a: b") keeps double quotes.
func plainStyle(n *yaml3.Node) {
	n.Style = 0
	if n.Kind == yaml3.ScalarNode && n.Tag == "!!str" && !readsAsString(n.Value) {
		n.Style = yaml3.DoubleQuotedStyle
	}
	for _, c := range n.Content {
		plainStyle(c)
	}
}

// readsAsString reports whether s, written plain, reads back as s.
func readsAsString(s string) bool {
	var v any
	if err := yaml.Unmarshal([]byte("v: "+s), &v); err != nil {
		return false
	}
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return false
	}
	got, ok := m["v"].(string)
	return ok && got == s
}
