package proxyproto

import (
	"errors"
	"fmt"
	"io"
)

// Read reads one PROXY header, version 1 or 2, from the start of r. It returns the header and the bytes r delivered
// after it: the start of the connection's data, which the caller must use before reading r again. A connection that
// ends inside a header fails with io.ErrUnexpectedEOF, one that ends before its first byte with io.EOF; bytes that
// are not a header fail with ErrNotProxy as soon as they show it, without waiting for more.
//
// Read does not bound its own time: set a read deadline on the connection first.
func Read(r io.Reader) (Header, []byte, error) {
	// 256 bytes hold any version 1 header and a version 2 header with addresses and a few short TLVs; a client
	// certificate makes it grow once or twice.
	buf := make([]byte, 0, 256)
	for stalls := 0; ; {
		h, n, err := Parse(buf)
		switch {
		case err == nil:
			return h, buf[n:], nil
		case !errors.Is(err, ErrTruncated):
			return Header{}, nil, err
		}
		if len(buf) == cap(buf) {
			// Parse refuses a header longer than MaxV2Len before asking for its body, so the buffer stays bounded.
			buf = append(buf[:cap(buf)], make([]byte, cap(buf))...)[:len(buf)]
		}
		m, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		switch {
		case m > 0:
			stalls = 0
			continue
		case errors.Is(err, io.EOF) && len(buf) == 0:
			return Header{}, nil, io.EOF
		case errors.Is(err, io.EOF):
			return Header{}, nil, fmt.Errorf("reading PROXY header: connection closed after %d bytes: %w", len(buf), io.ErrUnexpectedEOF)
		case err != nil:
			return Header{}, nil, fmt.Errorf("reading PROXY header: %w", err)
		}
		if stalls++; stalls > 100 {
			return Header{}, nil, fmt.Errorf("reading PROXY header: %w", io.ErrNoProgress)
		}
	}
}
