package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// The wire functions read just enough HTTP/1.1 to keep a connection in step: the status or request line, the
// headers that frame the body (Content-Length, Transfer-Encoding: chunked) and decide persistence
// (Connection, the protocol version), and the body itself, which they discard. They read with ReadSlice so a
// request costs no allocation; a line longer than the reader's buffer is an error.

// maxBody bounds a declared Content-Length or chunk size, so a corrupt length cannot stall a connection on a
// discard of exabytes.
const maxBody = 1 << 30

// message is what the wire functions learn of a message's head.
type message struct {
	status    int  // responses only
	close     bool // the connection ends after this message
	hasLength bool
	length    int64
	chunked   bool
}

// readResponse reads one response to a request that was not HEAD and discards its body.
func readResponse(br *bufio.Reader) (status int, closeConn bool, err error) {
	line, err := readLine(br)
	if err != nil {
		return 0, false, fmt.Errorf("read status line: %w", err)
	}
	var m message
	proto, rest, ok := bytes.Cut(line, []byte(" "))
	if !ok || len(rest) < 3 {
		return 0, false, fmt.Errorf("malformed status line %q", line)
	}
	http10, err := parseVersion(proto)
	if err != nil {
		return 0, false, err
	}
	m.close = http10 // HTTP/1.0 closes unless it says keep-alive
	for _, c := range rest[:3] {
		if c < '0' || c > '9' {
			return 0, false, fmt.Errorf("malformed status code in %q", line)
		}
		m.status = m.status*10 + int(c-'0')
	}
	if len(rest) > 3 && rest[3] != ' ' {
		return 0, false, fmt.Errorf("malformed status code in %q", line)
	}
	if err := readHeaders(br, &m); err != nil {
		return m.status, false, err
	}
	switch {
	case m.status/100 == 1 || m.status == 204 || m.status == 304:
		// No body, whatever the headers say.
	case m.chunked:
		if err := discardChunked(br); err != nil {
			return m.status, false, err
		}
	case m.hasLength:
		if _, err := br.Discard(int(m.length)); err != nil {
			return m.status, false, fmt.Errorf("read body: %w", err)
		}
	default:
		// Delimited by the end of the connection.
		if _, err := io.Copy(io.Discard, br); err != nil {
			return m.status, false, fmt.Errorf("read body: %w", err)
		}
		m.close = true
	}
	return m.status, m.close, nil
}

// request is what readRequest learns of a request.
type request struct {
	close bool
	echo  bool // the path ends in /__echo: the target answers with the request's head
}

// echoSuffix marks requests whose head the target sends back, so a person can see what a proxy forwards.
const echoSuffix = "/__echo"

// readRequest reads one request and discards its body. head, when not nil, receives a copy of the request line
// and headers.
func readRequest(br *bufio.Reader, head *bytes.Buffer) (request, error) {
	line, err := readLine(br)
	if err != nil {
		return request{}, err // io.EOF between requests is the normal end of a connection
	}
	method, rest, ok1 := bytes.Cut(line, []byte(" "))
	target, proto, ok2 := bytes.Cut(rest, []byte(" "))
	if !ok1 || !ok2 || len(method) == 0 || len(target) == 0 {
		return request{}, fmt.Errorf("malformed request line %q", line)
	}
	http10, err := parseVersion(proto)
	if err != nil {
		return request{}, err
	}
	r := request{echo: bytes.HasSuffix(target, []byte(echoSuffix))}
	if r.echo && head != nil {
		head.Write(line)
		head.WriteString("\n")
	}
	m := message{close: http10}
	if !r.echo {
		head = nil // only echo requests are copied
	}
	if err := readHeadersCopy(br, &m, head); err != nil {
		return request{}, err
	}
	r.close = m.close
	switch {
	case m.chunked:
		err = discardChunked(br)
	case m.hasLength:
		_, err = br.Discard(int(m.length))
	}
	if err != nil {
		return request{}, fmt.Errorf("read request body: %w", err)
	}
	return r, nil
}

func parseVersion(proto []byte) (http10 bool, err error) {
	switch string(proto) { // the conversion in a switch does not allocate
	case "HTTP/1.1":
		return false, nil
	case "HTTP/1.0":
		return true, nil
	}
	return false, fmt.Errorf("unsupported protocol %q", proto)
}

// readLine returns the next line without its CRLF (or bare LF). The slice is valid until the next read.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, errors.New("line too long")
		}
		if errors.Is(err, io.EOF) && len(line) > 0 {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

func readHeaders(br *bufio.Reader, m *message) error {
	return readHeadersCopy(br, m, nil)
}

// readHeadersCopy reads header lines up to the empty line, notes the framing ones in m, and copies every line
// to copyTo when it is not nil.
func readHeadersCopy(br *bufio.Reader, m *message, copyTo *bytes.Buffer) error {
	for n := 0; ; n++ {
		if n > 1000 {
			return errors.New("too many header lines")
		}
		line, err := readLine(br)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("read header: %w", err)
		}
		if len(line) == 0 {
			return nil
		}
		if copyTo != nil {
			copyTo.Write(line)
			copyTo.WriteString("\n")
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(name) == 0 {
			return fmt.Errorf("malformed header line %q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			length, ok := parseDecimal(value)
			if !ok {
				return fmt.Errorf("malformed Content-Length %q", value)
			}
			if m.hasLength && length != m.length {
				return errors.New("conflicting Content-Length headers")
			}
			m.hasLength, m.length = true, length
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			// Chunked must be the last coding; anything else this reader cannot frame.
			if !hasTokenSuffix(value, "chunked") {
				return fmt.Errorf("unsupported Transfer-Encoding %q", value)
			}
			m.chunked = true
		case bytes.EqualFold(name, []byte("Connection")):
			if hasToken(value, "close") {
				m.close = true
			} else if hasToken(value, "keep-alive") {
				m.close = false
			}
		}
	}
}

// parseDecimal parses a non-negative decimal of at most maxBody.
func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var v int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
		if v > maxBody {
			return 0, false
		}
	}
	return v, true
}

// hasToken reports whether the comma-separated list value holds token, ignoring case.
func hasToken(value []byte, token string) bool {
	for len(value) > 0 {
		var item []byte
		item, value, _ = bytes.Cut(value, []byte(","))
		if bytes.EqualFold(bytes.TrimSpace(item), []byte(token)) {
			return true
		}
	}
	return false
}

// hasTokenSuffix reports whether the last item of the comma-separated list value is token, ignoring case.
func hasTokenSuffix(value []byte, token string) bool {
	if i := bytes.LastIndexByte(value, ','); i >= 0 {
		value = value[i+1:]
	}
	return bytes.EqualFold(bytes.TrimSpace(value), []byte(token))
}

// discardChunked reads a chunked body and its trailers.
func discardChunked(br *bufio.Reader) error {
	for {
		line, err := readLine(br)
		if err != nil {
			return fmt.Errorf("read chunk size: %w", err)
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i] // chunk extensions
		}
		line = bytes.TrimSpace(line)
		size, ok := parseHex(line)
		if !ok {
			return fmt.Errorf("malformed chunk size %q", line)
		}
		if size == 0 {
			var trailers message
			return readHeaders(br, &trailers)
		}
		if _, err := br.Discard(int(size)); err != nil {
			return fmt.Errorf("read chunk: %w", err)
		}
		crlf, err := readLine(br)
		if err != nil || len(crlf) != 0 {
			return errors.New("chunk not followed by CRLF")
		}
	}
}

// parseHex parses a chunk size of at most maxBody.
func parseHex(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var v int64
	for _, c := range b {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		v = v<<4 | int64(d)
		if v > maxBody {
			return 0, false
		}
	}
	return v, true
}
