package crlfetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mtlslb/mtlslb/internal/crl"
)

// attemptTimeout bounds one attempt whatever the injected client's own
// timeouts, so a server that trickles bytes cannot stall refreshes forever.
const attemptTimeout = 5 * time.Minute

// maxValidator is the longest ETag or Last-Modified value kept; longer ones
// are dropped, which only costs a full download next time.
const maxValidator = 1024

// response is the outcome of one successful GET.
type response struct {
	// crl is the parsed body, or nil for 304 Not Modified.
	crl          *crl.CRL
	etag         string
	lastModified string
}

// fetch asks the URL for the CRL, conditionally when cur holds a copy.
// Its errors read "GET <url>: <what went wrong>".
func (f *Fetcher) fetch(ctx context.Context, cur *state) (response, error) {
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	res, err := f.get(ctx, cur)
	if err != nil {
		return response{}, fmt.Errorf("GET %s: %w", f.redacted, err)
	}
	return res, nil
}

func (f *Fetcher) get(ctx context.Context, cur *state) (response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url, nil)
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Accept", "application/pkix-crl, application/x-pem-file;q=0.9, */*;q=0.1")
	req.Header.Set("User-Agent", "mtlslb-crlfetch")
	conditional := false
	// Validators are only sent with a copy to fall back on: a 304 must
	// never be the answer when there is nothing to keep.
	if cur.crl != nil {
		if cur.etag != "" {
			req.Header.Set("If-None-Match", cur.etag)
			conditional = true
		}
		if cur.lastModified != "" {
			req.Header.Set("If-Modified-Since", cur.lastModified)
			conditional = true
		}
	}
	resp, err := f.client.Do(req)
	if err != nil {
		// url.Error repeats the method and URL that fetch already names.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return response{}, err
	}
	defer resp.Body.Close()

	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotModified:
		if !conditional {
			return response{}, errors.New("304 Not Modified to a request that was not conditional")
		}
		return response{}, nil
	default:
		return response{}, errors.New(resp.Status)
	}
	body, err := readBody(resp, f.maxSize)
	if err != nil {
		return response{}, err
	}
	c, err := crl.Parse(body)
	if err != nil {
		return response{}, fmt.Errorf("the response is not a usable CRL: %w", err)
	}
	return response{
		crl:          c,
		etag:         validator(resp.Header.Get("ETag")),
		lastModified: validator(resp.Header.Get("Last-Modified")),
	}, nil
}

// readBody reads resp's body, refusing one larger than limit: by its
// Content-Length before reading anything, otherwise after reading one byte
// past the limit, never the whole of it.
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("the body of %d bytes is larger than the limit of %d bytes", resp.ContentLength, limit)
	}
	var buf bytes.Buffer
	if resp.ContentLength > 0 {
		buf.Grow(int(resp.ContentLength))
	}
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, limit+1)); err != nil {
		return nil, fmt.Errorf("reading the body: %w", err)
	}
	if int64(buf.Len()) > limit {
		return nil, fmt.Errorf("the body is larger than the limit of %d bytes", limit)
	}
	return buf.Bytes(), nil
}

// validator returns v when it is safe to send back and to store in the
// cache file's comment lines, else "": no control characters (a line break
// would end the comment line) and no PEM boundary (which would start the
// PEM block early).
func validator(v string) string {
	if len(v) > maxValidator || strings.Contains(v, "-----") {
		return ""
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] == 0x7f {
			return ""
		}
	}
	return v
}
