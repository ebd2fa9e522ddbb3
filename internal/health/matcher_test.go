package health

import (
	"errors"
	"fmt"
	"testing"
)

func TestParseMatcher(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		match   []int
		nomatch []int
		str     string
	}{
		{name: "one code", in: "200", match: []int{200}, nomatch: []int{199, 201, 0, -1, 1000}, str: "200"},
		{name: "list", in: "200,202", match: []int{200, 202}, nomatch: []int{201, 203}, str: "200,202"},
		{name: "range", in: "200-299", match: []int{200, 250, 299}, nomatch: []int{199, 300}, str: "200-299"},
		{name: "highest codes", in: "498-499", match: []int{498, 499}, nomatch: []int{500}, str: "498,499"},
		{name: "list in any order", in: "404,200,200", match: []int{200, 404}, nomatch: []int{302}, str: "200,404"},
		{name: "consecutive list becomes a range", in: "200,201,202", match: []int{201}, str: "200-202"},
		{name: "leading zero", in: "0200", match: nil, str: ""}, // rejected: more than three digits
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMatcher(tt.in)
			if tt.str == "" {
				if err == nil {
					t.Fatalf("ParseMatcher(%q) = %v, want an error", tt.in, m)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseMatcher(%q): %v", tt.in, err)
			}
			for _, c := range tt.match {
				if !m.Match(c) {
					t.Errorf("Match(%d) = false, want true", c)
				}
			}
			for _, c := range tt.nomatch {
				if m.Match(c) {
					t.Errorf("Match(%d) = true, want false", c)
				}
			}
			if got := m.String(); got != tt.str {
				t.Errorf("String() = %q, want %q", got, tt.str)
			}
		})
	}
}

func TestParseMatcherBadInput(t *testing.T) {
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"below 200", "199"},
		{"above 499", "500"},
		{"range above 499", "200-599"},
		{"reversed range", "299-200"},
		{"one-code range", "200-200"},
		{"open range", "200-"},
		{"two ranges", "200-201-202"},
		{"range in a list", "200,202-204"},
		{"empty list item", "200,,202"},
		{"trailing comma", "200,"},
		{"spaces", "200, 202"},
		{"sign", "+200"},
		{"letters", "2xx"},
		{"too long", "1200"},
		{"unicode digits", "２００"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMatcher(tt.in)
			if err == nil {
				t.Fatalf("ParseMatcher(%q) = %v, want an error", tt.in, m)
			}
			if !errors.Is(err, ErrBadMatcher) {
				t.Errorf("error %v does not wrap ErrBadMatcher", err)
			}
			if !m.IsZero() {
				t.Errorf("ParseMatcher(%q) returned a non-zero matcher with its error", tt.in)
			}
		})
	}
}

func TestParseGRPCMatcher(t *testing.T) {
	m, err := ParseGRPCMatcher("0-99")
	if err != nil {
		t.Fatal(err)
	}
	if !m.Match(0) || !m.Match(12) || m.Match(100) {
		t.Errorf("0-99 matches wrongly: %v", m)
	}
	if _, err := ParseGRPCMatcher("100"); !errors.Is(err, ErrBadMatcher) {
		t.Errorf("ParseGRPCMatcher(100) = %v, want ErrBadMatcher", err)
	}
}

func FuzzParseMatcher(f *testing.F) {
	for _, s := range []string{"200", "200,202", "200-299", "499", "", "-", ",", "200-", "0200", "1-2-3", "200,202-204"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMatcher(s)
		if err != nil {
			if !m.IsZero() {
				t.Fatalf("ParseMatcher(%q) failed but returned %v", s, m)
			}
			return
		}
		if m.IsZero() {
			t.Fatalf("ParseMatcher(%q) accepted no code", s)
		}
		for c := 0; c <= maxCode; c++ {
			if m.Match(c) && (c < minHTTPCode || c > maxHTTPCode) {
				t.Fatalf("ParseMatcher(%q) matches %d", s, c)
			}
		}
		again, err := ParseMatcher(m.String())
		if err != nil || again != m {
			t.Fatalf("ParseMatcher(%q).String() = %q does not parse back: %v", s, m.String(), err)
		}
	})
}

func ExampleParseMatcher() {
	m, err := ParseMatcher("200-299")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Match(204), m.Match(301))
	_, err = ParseMatcher("200-599")
	fmt.Println(err)
	// Output:
	// true false
	// bad health check matcher: "200-599": code 599 is outside 200–499
}
