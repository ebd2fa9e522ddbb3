package config

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// TestNormalizedGolden translates each testdata document, and the example
// of the contract, into its normalized form followed by its problems as
// comments, and compares that with testdata/NAME.golden.
func TestNormalizedGolden(t *testing.T) {
	inputs := map[string][]byte{"interface-example": specExample(t)}
	files, err := filepath.Glob("testdata/*.[jy]*")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if ext := filepath.Ext(f); ext != ".yaml" && ext != ".json" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inputs[strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))] = b
	}
	if len(inputs) < 5 {
		t.Fatalf("found %d inputs, want the example and testdata's documents", len(inputs))
	}
	for _, name := range sortedKeys(inputs) {
		t.Run(name, func(t *testing.T) {
			src := inputs[name]
			d, probs := parse(src, "/etc/mtlslb")
			if d == nil {
				t.Fatalf("does not decode: %v", probs)
			}
			out, err := d.Normalized()
			if err != nil {
				t.Fatalf("Normalized: %v", err)
			}
			addLines(src, probs)
			slices.SortStableFunc(probs, func(a, b FieldError) int { return a.Line - b.Line })
			var got bytes.Buffer
			got.Write(out)
			if len(probs) > 0 {
				got.WriteString("# problems:\n")
				for _, p := range probs {
					got.WriteString("#   " + p.Error() + "\n")
				}
			}
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got.String()); diff != "" {
				t.Errorf("%s (-want +got):\n%s", golden, diff)
			}

			// The normalized form means the same document: it decodes
			// cleanly, and normalizes to itself.
			again, probs := decode(out)
			if len(probs) != 0 {
				t.Fatalf("normalized form does not decode: %v", probs)
			}
			out2, err := again.Normalized()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(out), string(out2)); diff != "" {
				t.Errorf("normalizing twice differs (-once +twice):\n%s", diff)
			}
		})
	}
}
