package crlfetch

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/mtlslb/mtlslb/internal/testpki"
)

// FuzzParseCache feeds parseCache arbitrary cache files: a file on disk can
// be truncated, edited by hand or written by another version. It must never
// panic, and whatever it accepts must be a CRL that round-trips through
// writeCache.
func FuzzParseCache(f *testing.F) {
	ca := testpki.NewCA(f)
	der := issueCRL(f, ca, 1, time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), 7*24*time.Hour)
	dir := f.TempDir()
	path := dir + "/seed.pem"
	meta := cacheMeta{url: "http://pki.example/ca.crl", etag: `"x"`, lastModified: "Mon, 02 Jan 2006 15:04:05 GMT"}
	if err := writeCache(dir, path, meta, der, time.Unix(0, 0)); err != nil {
		f.Fatal(err)
	}
	seed, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add(pemCRL(der))
	f.Add([]byte("# url: x\n-----BEGIN X509 CRL-----\n-----END X509 CRL-----\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, meta, err := parseCache(data)
		if err != nil {
			return
		}
		if validator(meta.etag) != meta.etag || validator(meta.lastModified) != meta.lastModified {
			t.Fatalf("unsafe validators accepted: %+v", meta)
		}
		if bytes.ContainsAny([]byte(meta.url), "\r\n") {
			t.Skip("a URL with a line break cannot come from New")
		}
		outDir := t.TempDir()
		out := outDir + "/out.pem"
		if err := writeCache(outDir, out, meta, c.Raw(), time.Unix(0, 0)); err != nil {
			t.Fatal(err)
		}
		data2, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		c2, meta2, err := parseCache(data2)
		if err != nil {
			t.Fatalf("a rewritten cache file does not parse: %v", err)
		}
		if !bytes.Equal(c.Raw(), c2.Raw()) || meta2 != meta {
			t.Fatalf("round trip changed the file: %+v → %+v", meta, meta2)
		}
	})
}
