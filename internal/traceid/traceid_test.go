package traceid

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	stamp = time.Unix(0x5759e988, 0).UTC()
	// selfID is a fixed hop id, parsed so that expected values are literal.
	selfID = mustID("1-67891234-12456789abcdef0123456789")
)

func mustID(s string) ID {
	id, err := ParseID(s)
	if err != nil {
		panic(err)
	}
	return id
}

var idRE = regexp.MustCompile(`^1-[0-9a-f]{8}-[0-9a-f]{24}$`)

func TestNew(t *testing.T) {
	a, b := New(stamp), New(stamp)
	if a == b || a.IsZero() {
		t.Fatalf("ids %v and %v", a, b)
	}
	if !idRE.MatchString(a.String()) {
		t.Errorf("String = %q", a)
	}
	if !strings.HasPrefix(a.String(), "1-5759e988-") {
		t.Errorf("String = %q, want epoch 5759e988", a)
	}
	if got := a.Time(); !got.Equal(stamp) {
		t.Errorf("Time = %v, want %v", got, stamp)
	}
	if got, want := a.HeaderValue(), "Root="+a.String(); got != want {
		t.Errorf("HeaderValue = %q, want %q", got, want)
	}
	back, err := ParseID(a.String())
	if err != nil || back != a {
		t.Errorf("ParseID(%q) = %v, %v", a, back, err)
	}
	text, err := a.MarshalText()
	if err != nil || string(text) != a.String() {
		t.Errorf("MarshalText = %q, %v", text, err)
	}
}

func TestParseID(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"lower case", "1-5759e988-bd862e3fe1be46a994272793", true},
		{"upper case", "1-5759E988-BD862E3FE1BE46A994272793", true},
		{"version 2", "2-5759e988-bd862e3fe1be46a994272793", false},
		{"short random", "1-5759e988-bd862e3fe1be46a99427279", false},
		{"long random", "1-5759e988-bd862e3fe1be46a9942727930", false},
		{"not hex", "1-5759e98g-bd862e3fe1be46a994272793", false},
		{"missing dash", "1-5759e988bd862e3fe1be46a9942727930", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := ParseID(tt.in)
			if tt.ok != (err == nil) {
				t.Fatalf("ParseID(%q) error %v, want ok=%v", tt.in, err, tt.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Errorf("error %v does not wrap ErrMalformed", err)
				}
				return
			}
			if got := id.String(); got != strings.ToLower(tt.in) {
				t.Errorf("String = %q, want %q", got, strings.ToLower(tt.in))
			}
		})
	}
}

type field struct{ k, v string }

func fieldsOf(h Header) []field {
	var fs []field
	for k, v := range h.All() {
		fs = append(fs, field{k, v})
	}
	return fs
}

func TestParse(t *testing.T) {
	const root = "1-5759e988-bd862e3fe1be46a994272793"
	tests := []struct {
		name    string
		in      string
		err     error // nil when valid
		root    string
		self    string
		parent  string
		sampled string
		fields  []field
		format  string // String()
		addSelf string // AddSelf(selfID)
	}{
		{
			name: "root only", in: "Root=" + root, root: root,
			fields:  []field{{"Root", root}},
			format:  "Root=" + root,
			addSelf: "Self=1-67891234-12456789abcdef0123456789;Root=" + root,
		},
		{
			name: "x-ray full", in: "Root=" + root + ";Parent=53995c3f42cd8ad8;Sampled=1", root: root,
			parent: "53995c3f42cd8ad8", sampled: "1",
			fields:  []field{{"Root", root}, {"Parent", "53995c3f42cd8ad8"}, {"Sampled", "1"}},
			format:  "Root=" + root + ";Parent=53995c3f42cd8ad8;Sampled=1",
			addSelf: "Self=1-67891234-12456789abcdef0123456789;Root=" + root + ";Parent=53995c3f42cd8ad8;Sampled=1",
		},
		{
			name: "custom field kept in order", in: "CalledFrom=app;Root=" + root + ";Lineage=a87bd80c:1|68fd508a:5", root: root,
			fields:  []field{{"CalledFrom", "app"}, {"Root", root}, {"Lineage", "a87bd80c:1|68fd508a:5"}},
			format:  "CalledFrom=app;Root=" + root + ";Lineage=a87bd80c:1|68fd508a:5",
			addSelf: "Self=1-67891234-12456789abcdef0123456789;CalledFrom=app;Root=" + root + ";Lineage=a87bd80c:1|68fd508a:5",
		},
		{
			name: "self replaced in place", in: "Root=" + root + ";Self=1-00000001-000000000000000000000000;CalledFrom=app", root: root,
			self:    "1-00000001-000000000000000000000000",
			fields:  []field{{"Root", root}, {"Self", "1-00000001-000000000000000000000000"}, {"CalledFrom", "app"}},
			format:  "Root=" + root + ";Self=1-00000001-000000000000000000000000;CalledFrom=app",
			addSelf: "Root=" + root + ";Self=1-67891234-12456789abcdef0123456789;CalledFrom=app",
		},
		{
			name: "blanks and empty fields dropped", in: " Root=" + root + " ;; \tSampled=? ;", root: root, sampled: "?",
			fields:  []field{{"Root", root}, {"Sampled", "?"}},
			format:  "Root=" + root + ";Sampled=?",
			addSelf: "Self=1-67891234-12456789abcdef0123456789;Root=" + root + ";Sampled=?",
		},
		{
			name: "empty custom value and = in value", in: "Root=" + root + ";X=;Y=a=b", root: root,
			fields:  []field{{"Root", root}, {"X", ""}, {"Y", "a=b"}},
			format:  "Root=" + root + ";X=;Y=a=b",
			addSelf: "Self=1-67891234-12456789abcdef0123456789;Root=" + root + ";X=;Y=a=b",
		},
		{
			name: "repeated custom key kept", in: "Root=" + root + ";X=1;X=2", root: root,
			fields:  []field{{"Root", root}, {"X", "1"}, {"X", "2"}},
			format:  "Root=" + root + ";X=1;X=2",
			addSelf: "Self=1-67891234-12456789abcdef0123456789;Root=" + root + ";X=1;X=2",
		},
		{name: "empty", in: "", err: ErrMalformed},
		{name: "blanks only", in: " ; ", err: ErrMalformed},
		{name: "no root", in: "Parent=53995c3f42cd8ad8;Sampled=1", err: ErrMalformed},
		{name: "lower-case root key", in: "root=" + root, err: ErrMalformed},
		{name: "root not an id", in: "Root=abc", err: ErrMalformed},
		{name: "root version 0", in: "Root=0-5759e988-bd862e3fe1be46a994272793", err: ErrMalformed},
		{name: "self not an id", in: "Root=" + root + ";Self=x", err: ErrMalformed},
		{name: "root twice", in: "Root=" + root + ";Root=" + root, err: ErrMalformed},
		{name: "parent twice", in: "Root=" + root + ";Parent=a;Parent=b", err: ErrMalformed},
		{name: "sampled twice, empty first", in: "Root=" + root + ";Sampled=;Sampled=1", err: ErrMalformed},
		{name: "field without =", in: "Root=" + root + ";junk", err: ErrMalformed},
		{name: "empty key", in: "Root=" + root + ";=v", err: ErrMalformed},
		{name: "space in value", in: "Root=" + root + ";X=a b", err: ErrMalformed},
		{name: "comma (joined headers)", in: "Root=" + root + ",Root=" + root, err: ErrMalformed},
		{name: "control byte", in: "Root=" + root + ";X=a\x00", err: ErrMalformed},
		{name: "newline", in: "Root=" + root + ";X=a\nInjected: 1", err: ErrMalformed},
		{name: "non-ascii", in: "Root=" + root + ";X=é", err: ErrMalformed},
		{name: "quote in key", in: "Root=" + root + ";\"X\"=1", err: ErrMalformed},
		{name: "too long", in: "Root=" + root + ";X=" + strings.Repeat("a", MaxLen), err: ErrTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := Parse(tt.in)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("Parse error = %v, want %v", err, tt.err)
				}
				if h != (Header{}) {
					t.Errorf("Parse returned %+v with an error", h)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if h.Root() != tt.root || h.Self() != tt.self || h.Parent() != tt.parent || h.Sampled() != tt.sampled {
				t.Errorf("Root, Self, Parent, Sampled = %q %q %q %q, want %q %q %q %q",
					h.Root(), h.Self(), h.Parent(), h.Sampled(), tt.root, tt.self, tt.parent, tt.sampled)
			}
			if got := fieldsOf(h); !slices.Equal(got, tt.fields) {
				t.Errorf("All = %q, want %q", got, tt.fields)
			}
			if got := h.String(); got != tt.format {
				t.Errorf("String = %q, want %q", got, tt.format)
			}
			if got := h.AddSelf(selfID); got != tt.addSelf {
				t.Errorf("AddSelf = %q, want %q", got, tt.addSelf)
			}
		})
	}
}

func TestParseMaxLen(t *testing.T) {
	const prefix = "Root=1-5759e988-bd862e3fe1be46a994272793;X="
	in := prefix + strings.Repeat("a", MaxLen-len(prefix))
	h, err := Parse(in)
	if err != nil {
		t.Fatalf("a value of exactly MaxLen: %v", err)
	}
	if got := len(h.AddSelf(selfID)); got != MaxLen+SelfFieldLen {
		t.Errorf("forwarded length %d, want %d", got, MaxLen+SelfFieldLen)
	}
	if _, err := Parse(in + "a"); !errors.Is(err, ErrTooLong) {
		t.Errorf("MaxLen+1: error %v, want ErrTooLong", err)
	}
}

func TestGet(t *testing.T) {
	h, err := Parse("Root=1-5759e988-bd862e3fe1be46a994272793;CalledFrom=app;X=1;X=2")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		key, value string
		ok         bool
	}{
		{"CalledFrom", "app", true},
		{"X", "1", true},
		{"Missing", "", false},
	} {
		if v, ok := h.Get(tt.key); v != tt.value || ok != tt.ok {
			t.Errorf("Get(%q) = %q, %v; want %q, %v", tt.key, v, ok, tt.value, tt.ok)
		}
	}
}

func TestZeroHeader(t *testing.T) {
	var h Header
	if h.String() != "" || h.Root() != "" {
		t.Errorf("zero Header: String %q, Root %q", h.String(), h.Root())
	}
	if got, want := h.AddSelf(selfID), "Root="+selfID.String(); got != want {
		t.Errorf("AddSelf = %q, want %q", got, want)
	}
}

func TestForward(t *testing.T) {
	const root = "1-5759e988-bd862e3fe1be46a994272793"
	tests := []struct {
		name    string
		in      string
		want    *regexp.Regexp
		wantErr error
	}{
		{"absent", "", regexp.MustCompile(`^Root=1-5759e988-[0-9a-f]{24}$`), nil},
		{"valid", "Root=" + root + ";Sampled=1",
			regexp.MustCompile(`^Self=1-5759e988-[0-9a-f]{24};Root=` + root + `;Sampled=1$`), nil},
		{"malformed replaced", "Root=nope", regexp.MustCompile(`^Root=1-5759e988-[0-9a-f]{24}$`), ErrMalformed},
		{"overlong replaced", "Root=" + root + ";X=" + strings.Repeat("a", MaxLen),
			regexp.MustCompile(`^Root=1-5759e988-[0-9a-f]{24}$`), ErrTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Forward(tt.in, stamp)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("error %v, want %v", err, tt.wantErr)
			}
			if !tt.want.MatchString(got) {
				t.Errorf("Forward = %q, want match of %s", got, tt.want)
			}
			if _, err := Parse(got); err != nil {
				t.Errorf("forwarded value does not parse: %v", err)
			}
		})
	}
}

func TestNoAlloc(t *testing.T) {
	const in = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;CalledFrom=app"
	buf := make([]byte, 0, 256)
	tests := []struct {
		name string
		f    func()
	}{
		{"New", func() {
			if !raceEnabled {
				New(stamp)
			}
		}},
		{"Parse", func() { Parse(in) }},
		{"AppendSelf", func() {
			h, _ := Parse(in)
			buf = h.AppendSelf(buf[:0], selfID)
		}},
		{"AppendHeaderValue", func() { buf = selfID.AppendHeaderValue(buf[:0]) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(100, tt.f); n != 0 {
				t.Errorf("%v allocations, want 0", n)
			}
		})
	}
}

func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		New(stamp)
	}
}

func BenchmarkParseAppendSelf(b *testing.B) {
	const in = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;CalledFrom=app"
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		h, err := Parse(in)
		if err != nil {
			b.Fatal(err)
		}
		buf = h.AppendSelf(buf[:0], selfID)
	}
}

func BenchmarkForward(b *testing.B) {
	const in = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Forward(in, stamp); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzParse checks that Parse never panics, that a parsed header formats
// to a value that parses to the same fields (and formats the same again),
// and that adding Self keeps every other field.
func FuzzParse(f *testing.F) {
	const root = "1-5759e988-bd862e3fe1be46a994272793"
	for _, s := range []string{
		"Root=" + root,
		"Root=" + root + ";Parent=53995c3f42cd8ad8;Sampled=1",
		"Self=1-67891234-12456789abcdef0123456789;Root=" + root + ";CalledFrom=app",
		" Root=" + root + " ;;X=;Y=a=b;",
		"Root=" + root + ",Root=" + root,
		"Root=abc;\x00",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		h, err := Parse(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLong) {
				t.Fatalf("error %v wraps neither sentinel", err)
			}
			return
		}
		out := h.String()
		h2, err := Parse(out)
		if err != nil {
			t.Fatalf("String %q of %q does not parse: %v", out, in, err)
		}
		if !slices.Equal(fieldsOf(h), fieldsOf(h2)) ||
			h.Root() != h2.Root() || h.Self() != h2.Self() || h.Parent() != h2.Parent() || h.Sampled() != h2.Sampled() {
			t.Fatalf("%q and its String %q parse to different fields", in, out)
		}
		if again := h2.String(); again != out {
			t.Fatalf("String not stable: %q then %q", out, again)
		}

		fwd := h.AddSelf(selfID)
		if len(fwd) > MaxLen+SelfFieldLen {
			t.Fatalf("forwarded %d bytes", len(fwd))
		}
		if len(fwd) > MaxLen {
			return // legitimately over the inbound limit
		}
		h3, err := Parse(fwd)
		if err != nil {
			t.Fatalf("AddSelf %q of %q does not parse: %v", fwd, in, err)
		}
		if h3.Self() != selfID.String() || h3.Root() != h.Root() || h3.Parent() != h.Parent() || h3.Sampled() != h.Sampled() {
			t.Fatalf("AddSelf %q of %q: wrong known fields", fwd, in)
		}
		withoutSelf := func(fs []field) []field {
			return slices.DeleteFunc(fs, func(f field) bool { return f.k == "Self" })
		}
		if !slices.Equal(withoutSelf(fieldsOf(h)), withoutSelf(fieldsOf(h3))) {
			t.Fatalf("AddSelf %q of %q changed other fields", fwd, in)
		}
	})
}
