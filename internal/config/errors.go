package config

import (
	"fmt"
	"strings"
)

// FieldError is one problem in a document.
type FieldError struct {
	// Path is the offending key, as listeners[0].mutual_authentication.mode;
	// empty for a problem of the whole document (a YAML syntax error).
	Path string

	// Line is the 1-based line of the key in the YAML or JSON source, or 0
	// when unknown (a document not read from text).
	Line int

	// Msg says what is wrong and, where it helps, what is accepted.
	Msg string
}

// Error returns "path: message", with " (line N)" when the line is known.
func (e FieldError) Error() string {
	var b strings.Builder
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Line > 0 {
		fmt.Fprintf(&b, " (line %d)", e.Line)
	}
	return b.String()
}

// ValidationError is every problem found in a document; from Parse and
// Load, in the order of the source lines. Parse, Load and Validate return
// it (as an error) whenever a document is refused; use errors.As to reach
// the list.
type ValidationError struct {
	// Errors are the problems; never empty.
	Errors []FieldError
}

// Error lists every problem, one per line.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}

// problems collects FieldErrors.
type problems struct {
	list []FieldError
}

// add records a problem at path.
func (p *problems) add(path, format string, args ...any) {
	p.list = append(p.list, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// err returns the problems as a *ValidationError, or nil when there are none.
func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	return &ValidationError{Errors: p.list}
}

// field joins a parent path and a key.
func field(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// index joins a parent path and a sequence index.
func index(parent string, i int) string {
	return fmt.Sprintf("%s[%d]", parent, i)
}

// within reports whether path is p itself or lies under it.
func within(path, p string) bool {
	if p == "" {
		return true
	}
	if !strings.HasPrefix(path, p) {
		return false
	}
	rest := path[len(p):]
	return rest == "" || rest[0] == '.' || rest[0] == '['
}
