package crlfetch

import (
	"bufio"
	"bytes"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"strings"
	"time"

	"github.com/mtlslb/mtlslb/internal/crl"
)

// pemType is the cache file's PEM block type, as openssl writes CRLs.
const pemType = "X509 CRL"

// Keys of the cache file's comment lines.
const (
	metaURL          = "url"
	metaETag         = "etag"
	metaLastModified = "last-modified"
	metaSaved        = "saved"
)

// cacheMeta is what the cache file records besides the CRL.
type cacheMeta struct {
	url          string // redacted
	etag         string
	lastModified string
}

// loadCache makes the cached copy, if there is a good one, the current copy.
// A missing file is normal on a first start; a bad one is reported and
// ignored, and the URL decides.
func (f *Fetcher) loadCache() {
	if f.cacheFile == "" {
		return
	}
	c, meta, err := readCache(f.cacheFile, cacheLimit(f.maxSize))
	if errors.Is(err, fs.ErrNotExist) {
		f.log.Info("no cached CRL copy yet; waiting for the URL", "cache_file", f.cacheFile)
		return
	}
	if err == nil && meta.url != f.redacted {
		err = fmt.Errorf("the file records the URL %q", meta.url)
	}
	if err != nil {
		err = fmt.Errorf("reading the CRL cache %s: %w", f.cacheFile, err)
		f.update(func(s *state) { s.cacheError = err.Error() })
		f.log.Warn("ignoring the cached CRL copy", "error", err)
		return
	}
	s := f.update(func(s *state) {
		s.crl = c
		s.source = SourceCache
		s.etag, s.lastModified = meta.etag, meta.lastModified
		s.cacheError = ""
	})
	f.log.Info("serving the cached CRL copy until the URL answers", "issuer", c.Issuer(), "number", c.Number(),
		"this_update", c.ThisUpdate(), "next_update", c.NextUpdate(), "entries", c.Len(), "cache_file", f.cacheFile)
	if f.onUpdate != nil {
		f.onUpdate(s.crl, s.crl.Raw())
	}
	f.warnIfStale(f.now())
}

// saveCache writes s's copy to the cache file; a failure is reported, not
// fatal: the copy in memory stays in force.
func (f *Fetcher) saveCache(s *state) {
	if f.cacheFile == "" {
		return
	}
	meta := cacheMeta{url: f.redacted, etag: s.etag, lastModified: s.lastModified}
	err := writeCache(f.cacheDir, f.cacheFile, meta, s.crl.Raw(), f.now())
	msg := ""
	if err != nil {
		err = fmt.Errorf("writing the CRL cache %s: %w", f.cacheFile, err)
		msg = err.Error()
		f.log.Warn("could not save the CRL copy; a restart will wait for the URL", "error", err)
	}
	f.update(func(s *state) { s.cacheError = msg })
}

// cacheLimit is the largest cache file read for a CRL of at most maxSize
// bytes: base64 with line breaks, plus room for the comment lines.
func cacheLimit(maxSize int64) int64 {
	limit := maxSize + maxSize/2 + 64<<10
	if limit < 0 {
		return math.MaxInt64
	}
	return limit
}

// readCache reads and parses a cache file of at most limit bytes.
func readCache(path string, limit int64) (*crl.CRL, cacheMeta, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, cacheMeta{}, err
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, limit+1))
	if err != nil {
		return nil, cacheMeta{}, err
	}
	if int64(len(data)) > limit {
		return nil, cacheMeta{}, fmt.Errorf("larger than %d bytes", limit)
	}
	return parseCache(data)
}

// parseCache parses a cache file: "# key: value" comment lines, then one PEM
// "X509 CRL" block and nothing else.
func parseCache(data []byte) (*crl.CRL, cacheMeta, error) {
	begin := bytes.Index(data, []byte("-----BEGIN "))
	if begin < 0 {
		return nil, cacheMeta{}, errors.New("no PEM block")
	}
	var meta cacheMeta
	for line := range strings.Lines(string(data[:begin])) {
		key, value, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(line), "# "), ": ")
		if !ok {
			continue // the file's title line, or a note an operator added
		}
		switch key {
		case metaURL:
			meta.url = value
		case metaETag:
			meta.etag = validator(value)
		case metaLastModified:
			meta.lastModified = validator(value)
		}
	}
	block, rest := pem.Decode(data[begin:])
	switch {
	case block == nil:
		return nil, cacheMeta{}, errors.New("malformed PEM block")
	case block.Type != pemType:
		return nil, cacheMeta{}, fmt.Errorf("PEM block is %q, want %q", block.Type, pemType)
	case len(bytes.TrimSpace(rest)) != 0:
		return nil, cacheMeta{}, errors.New("data after the PEM block")
	}
	c, err := crl.Parse(block.Bytes)
	if err != nil {
		return nil, cacheMeta{}, err
	}
	return c, meta, nil
}

// writeCache replaces path, in dir, with a cache file holding der, so that
// a crash at any moment leaves the old file or the new one whole: write a
// temporary file in the same directory, fsync it, rename it over path, and
// fsync the directory so the rename itself survives a power loss.
func writeCache(dir, path string, meta cacheMeta, der []byte, now time.Time) (err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".crl-*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	w := bufio.NewWriter(tmp)
	fmt.Fprintf(w, "# mtlslb CRL cache: the last good copy fetched from the URL below. Safe to delete.\n")
	fmt.Fprintf(w, "# %s: %s\n", metaURL, meta.url)
	if meta.etag != "" {
		fmt.Fprintf(w, "# %s: %s\n", metaETag, meta.etag)
	}
	if meta.lastModified != "" {
		fmt.Fprintf(w, "# %s: %s\n", metaLastModified, meta.lastModified)
	}
	fmt.Fprintf(w, "# %s: %s\n", metaSaved, now.UTC().Format(time.RFC3339))
	if err := pem.Encode(w, &pem.Block{Type: pemType, Bytes: der}); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	// CRLs are public; CreateTemp's 0600 would only hide them from the
	// operator's tools.
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
