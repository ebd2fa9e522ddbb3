package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
	yaml3 "sigs.k8s.io/yaml/goyaml.v3"
)

// MaxDocumentSize is the largest document, in bytes, that Load and Parse
// accept. A configuration is kilobytes; the cap keeps a wrong file (a log, a
// disk image) from being read whole.
const MaxDocumentSize = 16 << 20

// Load reads the document at path and returns it decoded, defaulted, with
// its file paths resolved against the document's directory, and validated.
// A problem in the document is returned as a *ValidationError listing every
// problem; a file that cannot be read, as that error.
func Load(path string) (*Document, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("loading config: %w", err)
	}
	f, err := os.Open(abs)
	if err != nil {
		return nil, fmt.Errorf("loading config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxDocumentSize+1))
	if err != nil {
		return nil, fmt.Errorf("loading config: %w", err)
	}
	return Parse(data, filepath.Dir(abs))
}

// Parse decodes a YAML or JSON document, fills its defaults, resolves its
// file paths against dir (the document's directory; "" for the working
// directory), and validates it. Every problem, of decoding or of
// validation, is returned at once as a *ValidationError whose entries carry
// their source line where it can be found.
func Parse(data []byte, dir string) (*Document, error) {
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolving the config directory: %w", err)
	}
	d, probs := parse(data, absDir)
	if len(probs) == 0 {
		return d, nil
	}
	addLines(data, probs)
	// Reading order: problems of the whole document (no line) first, then
	// by line; problems on one line keep the order they were found in.
	slices.SortStableFunc(probs, func(a, b FieldError) int { return a.Line - b.Line })
	return nil, &ValidationError{Errors: probs}
}

// parse decodes, defaults, resolves against absDir and validates data. It
// returns the document whenever it could be decoded, even with problems, so
// that tests can look at both.
// StoredOptions are the inputs of ParseStored besides the document.
type StoredOptions struct {
	// TrustStores are the trust stores the store holds; their files are blobs named by content address and
	// need no resolving.
	TrustStores []TrustStore
	// KeepDocumentTrustStores accepts trust stores listed in the document too (`mtlslb apply` checks a file
	// whose trust stores it is about to create); a stored trust store of the same name is then replaced by
	// the document's. Without it, a document listing trust stores is refused.
	KeepDocumentTrustStores bool
}

// ParseStored parses a document for store mode. There trust stores are resources of their own, managed with
// the trust-store commands: the stored ones are added before validation, so that listeners can name them.
func ParseStored(data []byte, dir string, opts StoredOptions) (*Document, error) {
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolving the config directory: %w", err)
	}
	d, probs := parseWith(data, absDir, func(d *Document) []FieldError {
		var own []FieldError
		if len(d.TrustStores) > 0 && !opts.KeepDocumentTrustStores {
			own = append(own, FieldError{Path: "trust_stores", Msg: "in store mode trust stores are managed with `mtlslb trust-store` (or created by `mtlslb apply`), not inside the stored document"})
		}
		named := map[string]bool{}
		for _, ts := range d.TrustStores {
			named[ts.Name] = true
		}
		if !opts.KeepDocumentTrustStores {
			d.TrustStores = nil
			named = nil
		}
		for _, ts := range opts.TrustStores {
			if !named[ts.Name] {
				d.TrustStores = append(d.TrustStores, ts)
			}
		}
		return own
	})
	if len(probs) == 0 {
		return d, nil
	}
	addLines(data, probs)
	slices.SortStableFunc(probs, func(a, b FieldError) int { return a.Line - b.Line })
	return nil, &ValidationError{Errors: probs}
}

func parse(data []byte, absDir string) (*Document, []FieldError) {
	return parseWith(data, absDir, nil)
}

// parseWith decodes, defaults and resolves data, lets extend adjust the document (and report problems of its
// own), then validates.
func parseWith(data []byte, absDir string, extend func(*Document) []FieldError) (*Document, []FieldError) {
	d, decodeProbs := decode(data)
	if d == nil {
		return nil, decodeProbs
	}
	SetDefaults(d)
	// Paths are resolved before validation, so that two spellings of one
	// file compare equal.
	resolvePaths(d, absDir)
	probs := decodeProbs
	if extend != nil {
		probs = append(probs, extend(d)...)
	}
	var verr *ValidationError
	if err := Validate(d); errors.As(err, &verr) {
		for _, fe := range verr.Errors {
			// A value dropped while decoding would be reported again as
			// missing or zero: keep only the decoding problem.
			if !slices.ContainsFunc(decodeProbs, func(dp FieldError) bool {
				return dp.Path != "" && within(fe.Path, dp.Path)
			}) {
				probs = append(probs, fe)
			}
		}
	}
	return d, probs
}

// decode turns YAML or JSON into a Document strictly. Problems of keys and
// types are collected with their paths and the offending values dropped, so
// that one pass reports them all and validation can still run on the rest.
// It returns a nil Document only when the text is not a YAML mapping.
func decode(data []byte) (*Document, []FieldError) {
	if len(data) > MaxDocumentSize {
		return nil, []FieldError{{Msg: fmt.Sprintf("document is larger than %d bytes", MaxDocumentSize)}}
	}
	// YAMLToJSONStrict refuses duplicate keys (which plain YAMLToJSON lets
	// the last one win silently) and reads JSON as the YAML it is.
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, syntaxProblems(data, err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber() // integers stay exact, and 1.5 stays visible as 1.5
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, []FieldError{{Msg: fmt.Sprintf("invalid document: %v", err)}}
	}

	var sd strictDecoder
	tree, ok := sd.value(tree, reflect.TypeFor[Document](), "")
	if !ok {
		return nil, sd.probs.list
	}

	// The tree now only holds known keys with values of the right types;
	// DisallowUnknownFields is the backstop should the two ever disagree.
	clean, err := json.Marshal(tree)
	if err != nil {
		return nil, append(sd.probs.list, FieldError{Msg: fmt.Sprintf("invalid document: %v", err)})
	}
	dec = json.NewDecoder(bytes.NewReader(clean))
	dec.DisallowUnknownFields()
	var d Document
	if err := dec.Decode(&d); err != nil {
		return nil, append(sd.probs.list, FieldError{Msg: fmt.Sprintf("invalid document: %v", err)})
	}
	return &d, sd.probs.list
}

// yamlLineMsg matches the "line N: message" form of the YAML library's errors.
var yamlLineMsg = regexp.MustCompile(`^line (\d+): (.*)$`)

// dupKeyMsg matches the YAML library's duplicate-key message.
var dupKeyMsg = regexp.MustCompile(`^key (.*) already set in map$`)

// syntaxProblems turns the YAML library's error into problems with lines.
func syntaxProblems(data []byte, err error) []FieldError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "unmarshal errors:\n"); ok {
		// Errors found after parsing (duplicate keys) carry exact lines.
		var out []FieldError
		var byLine map[int]string
		for part := range strings.SplitSeq(rest, "\n") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			fe := FieldError{Msg: "invalid YAML: " + part}
			if m := yamlLineMsg.FindStringSubmatch(part); m != nil {
				fe.Line, _ = strconv.Atoi(m[1])
				fe.Msg = "invalid YAML: " + m[2]
				if dk := dupKeyMsg.FindStringSubmatch(m[2]); dk != nil {
					if byLine == nil {
						_, byLine = lineIndex(data)
					}
					fe.Path = byLine[fe.Line]
					fe.Msg = "duplicate key " + dk[1]
				}
			}
			out = append(out, fe)
		}
		if len(out) > 0 {
			return out
		}
	}
	fe := FieldError{Msg: "invalid YAML: " + msg}
	if m := yamlLineMsg.FindStringSubmatch(msg); m != nil {
		fe.Line, _ = strconv.Atoi(m[1])
		fe.Msg = "invalid YAML: " + m[2]
	}
	if line := syntaxLine(data, fe.Msg); line > 0 {
		fe.Line = line
	}
	return []FieldError{fe}
}

// syntaxLine returns the line of a syntax error whose message is msg, or 0.
// The YAML library's own line is unreliable (a parser error is reported one
// line early, and one on the first line without a line at all), so this
// finds the fewest leading lines that fail with the same message: the
// parser reads the text as a stream, so that is the line where it stopped.
// It costs a parse per halving of the text, paid only on a syntax error.
func syntaxLine(data []byte, msg string) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	failsSame := func(n int) bool {
		_, err := yaml.YAMLToJSONStrict(bytes.Join(lines[:n], nil))
		if err == nil {
			return false
		}
		got := strings.TrimPrefix(err.Error(), "yaml: ")
		if m := yamlLineMsg.FindStringSubmatch(got); m != nil {
			got = m[2]
		}
		return "invalid YAML: "+got == msg
	}
	n := sort.Search(len(lines), func(i int) bool { return failsSame(i + 1) })
	if n == len(lines) {
		return 0
	}
	return n + 1
}

// strictDecoder checks a generic JSON tree against the Document's types.
type strictDecoder struct {
	probs problems
}

// value checks v against type t at path. It returns the value to keep (with
// numbers turned into strings where a string is expected) and false when
// the value must be dropped.
func (sd *strictDecoder) value(v any, t reflect.Type, path string) (any, bool) {
	if v == nil {
		return nil, true // null leaves the zero value, as an absent key
	}
	if reflect.PointerTo(t).Implements(reflect.TypeFor[json.Unmarshaler]()) {
		raw, err := json.Marshal(v)
		if err == nil {
			err = reflect.New(t).Interface().(json.Unmarshaler).UnmarshalJSON(raw)
		}
		if err != nil {
			sd.probs.add(path, "%v", err)
			return nil, false
		}
		return v, true
	}
	switch t.Kind() {
	case reflect.Pointer:
		return sd.value(v, t.Elem(), path)
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			if path == "" {
				sd.probs.add(path, "the document must be a mapping of keys, got %s", describeJSON(v))
			} else {
				sd.probs.add(path, "expected a mapping, got %s", describeJSON(v))
			}
			return nil, false
		}
		fields := jsonFields(t)
		for _, k := range sortedKeys(m) {
			p := field(path, k)
			ft, known := fields[k]
			if !known {
				if s := suggest(k, fields); s != "" {
					sd.probs.add(p, "unknown field (did you mean %q?)", s)
				} else {
					sd.probs.add(p, "unknown field")
				}
				delete(m, k)
				continue
			}
			if nv, ok := sd.value(m[k], ft, p); ok {
				m[k] = nv
			} else {
				delete(m, k)
			}
		}
		return m, true
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			sd.probs.add(path, "expected a mapping, got %s", describeJSON(v))
			return nil, false
		}
		for _, k := range sortedKeys(m) {
			if nv, ok := sd.value(m[k], t.Elem(), field(path, k)); ok {
				m[k] = nv
			} else {
				delete(m, k)
			}
		}
		return m, true
	case reflect.Slice:
		s, ok := v.([]any)
		if !ok {
			sd.probs.add(path, "expected a list, got %s", describeJSON(v))
			return nil, false
		}
		for i := range s {
			// A bad element becomes null rather than going away, so that
			// the indexes of the elements after it stay those of the text.
			if nv, ok := sd.value(s[i], t.Elem(), index(path, i)); ok {
				s[i] = nv
			} else {
				s[i] = nil
			}
		}
		return s, true
	case reflect.String:
		switch x := v.(type) {
		case string:
			return x, true
		case json.Number:
			// status_code: 403 and port: 443 mean the strings ALB wants.
			return x.String(), true
		case bool:
			sd.probs.add(path, "expected a string, got %t (YAML reads unquoted yes, no, on and off as booleans: quote the value)", x)
			return nil, false
		}
		sd.probs.add(path, "expected a string, got %s", describeJSON(v))
		return nil, false
	case reflect.Bool:
		if _, ok := v.(bool); ok {
			return v, true
		}
		sd.probs.add(path, "expected true or false, got %s", describeJSON(v))
		return nil, false
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			sd.probs.add(path, "expected an integer, got %s", describeJSON(v))
			return nil, false
		}
		if _, err := strconv.ParseInt(n.String(), 10, t.Bits()); err != nil {
			if errors.Is(err, strconv.ErrRange) {
				sd.probs.add(path, "%s is out of range", n)
			} else {
				sd.probs.add(path, "expected an integer, got %s", n)
			}
			return nil, false
		}
		return v, true
	}
	return v, true
}

// jsonFields maps the JSON names of t's fields to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	fields := make(map[string]reflect.Type, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
	}
	return fields
}

// suggest returns the known field closest to an unknown key, if one is
// close enough to be a typo.
func suggest(key string, fields map[string]reflect.Type) string {
	best, bestDist := "", 3
	for _, name := range sortedKeys(fields) {
		if d := editDistance(key, name); d < bestDist && d < len(name) {
			best, bestDist = name, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and transpositions of neighbours cost 1, so that
// "mdoe" is one step from "mode".
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64 // too far to be a typo, and bounded work
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// sortedKeys returns m's keys in order, so that problems come out the same
// way every time.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// describeJSON names a decoded JSON value for a message.
func describeJSON(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		if len(v) > 40 {
			v = v[:40] + "…"
		}
		return fmt.Sprintf("string %q", v)
	case json.Number:
		return "number " + v.String()
	case float64:
		return "number " + strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%T", v)
}

// lineIndex maps the paths of a YAML document's keys and list items to
// their lines, and lines to the first path on them. It reads the text again
// with the YAML library's node API, which keeps positions; only documents
// with problems pay for it. A text that does not parse gives empty maps.
func lineIndex(data []byte) (byPath map[string]int, byLine map[int]string) {
	byPath, byLine = map[string]int{}, map[int]string{}
	var root yaml3.Node
	if err := yaml3.Unmarshal(data, &root); err != nil {
		return byPath, byLine
	}
	record := func(path string, line int) {
		if _, ok := byPath[path]; !ok {
			byPath[path] = line
		}
		if _, ok := byLine[line]; !ok {
			byLine[line] = path
		}
	}
	var walk func(n *yaml3.Node, path string)
	walk = func(n *yaml3.Node, path string) {
		switch n.Kind {
		case yaml3.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml3.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := field(path, k.Value)
				record(p, k.Line)
				walk(v, p)
			}
		case yaml3.SequenceNode:
			for i, c := range n.Content {
				p := index(path, i)
				record(p, c.Line)
				walk(c, p)
			}
		}
		// Aliases are not followed: a problem in an aliased value is shown
		// at the alias, which is where the reader looks.
	}
	walk(&root, "")
	return byPath, byLine
}

// addLines fills the Line of problems that have a path but no line, from
// the source text: the key's own line, or else the nearest enclosing one
// (a missing key is shown where its parent is).
func addLines(data []byte, probs []FieldError) {
	var byPath map[string]int
	for i := range probs {
		if probs[i].Line != 0 || probs[i].Path == "" {
			continue
		}
		if byPath == nil {
			byPath, _ = lineIndex(data)
		}
		for p := probs[i].Path; p != ""; p = parentPath(p) {
			if line, ok := byPath[p]; ok {
				probs[i].Line = line
				break
			}
		}
	}
}

// parentPath strips the last key or index of a path.
func parentPath(p string) string {
	if i := strings.LastIndexAny(p, ".["); i >= 0 {
		return p[:i]
	}
	return ""
}
