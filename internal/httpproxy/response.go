package httpproxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/net/http/httpguts"

	"github.com/mtlslb/mtlslb/internal/upstream"
)

// The direct path's reader of target responses. It reads a response head into one string and keeps every
// field name and value as a substring of it, where http.ReadResponse builds a header map (and a Response, a
// body reader and a string per value) only for the proxy to copy it into the client's header map at once.
//
// It frames the body as net/http does (RFC 9112 §6.3: chunked overrides Content-Length, identical repeated
// Content-Length values count once, no length means until the target closes) and is stricter wherever a
// response could be read two ways: a head of more than 64 KiB, obsolete line folding, a malformed status line,
// a status under 100, a Transfer-Encoding other than one "chunked" and a bad trailer name are refused (502),
// and a connection whose response carried both Content-Length and Transfer-Encoding, or Transfer-Encoding in
// HTTP/1.0, is not reused.

// maxResponseHead bounds a target response's head, and its trailer section apart: 64 KiB, as for the headers
// of a request (alb-compat §7), and as the Transport path is bound. http.ReadResponse had no bound.
const maxResponseHead = upstream.MaxResponseHeaderBytes

// responseError is a target response that cannot be read: the target's fault, 502 with TargetResponseError.
type responseError struct{ msg string }

func (e *responseError) Error() string { return "target response: " + e.msg }

func badResponse(format string, args ...any) error {
	return &responseError{msg: fmt.Sprintf(format, args...)}
}

// quoteLimit is how much of a bad line an error quotes.
const quoteLimit = 80

func quoted(s string) string {
	if len(s) > quoteLimit {
		return strconv.Quote(s[:quoteLimit]) + "..."
	}
	return strconv.Quote(s)
}

// field is one header field of a response; name is canonical.
type field struct{ name, value string }

// responseHead is a target's response head and the framing of its body. One is lent per exchange from
// responseHeads, so that its buffers are reused.
type responseHead struct {
	status int
	// fields are the head's fields in order, less those that frame the message for this hop (Transfer-Encoding,
	// and Content-Length past its first occurrence, or at all with chunked): what is forwarded before
	// hop-by-hop filtering.
	fields []field
	// length is the body's length: -1 when it is chunked, or runs until the target closes (close is then set).
	length  int64
	chunked bool
	// close says the connection cannot carry another exchange after this one.
	close bool
	// connection holds the Connection field's values, whose tokens name more hop-by-hop fields.
	connection []string
	// trailers are the names the Trailer field announces, canonical and distinct (chunked bodies only).
	trailers    []string
	contentType string
	// buf holds the raw head while it is read.
	buf []byte
}

var responseHeads = sync.Pool{New: func() any {
	return &responseHead{buf: make([]byte, 0, 1024), fields: make([]field, 0, 16)}
}}

func getResponseHead() *responseHead { return responseHeads.Get().(*responseHead) }

func putResponseHead(h *responseHead) {
	if cap(h.buf) > 16<<10 || cap(h.fields) > 256 {
		return // an outsized head: let it go rather than keep it in the pool
	}
	clear(h.fields[:cap(h.fields)])
	clear(h.connection[:cap(h.connection)])
	clear(h.trailers[:cap(h.trailers)])
	*h = responseHead{buf: h.buf[:0], fields: h.fields[:0], connection: h.connection[:0], trailers: h.trailers[:0]}
	responseHeads.Put(h)
}

// readSection reads lines from br up to and including the empty line that ends a head or a trailer section,
// appends them to buf, and returns buf. A section that ends before its empty line fails with
// io.ErrUnexpectedEOF (as http.ReadResponse does), one larger than maxResponseHead with a responseError.
func readSection(br *bufio.Reader, buf []byte) ([]byte, error) {
	start := len(buf)
	lineStart := len(buf)
	for {
		chunk, err := br.ReadSlice('\n')
		if len(buf)-start+len(chunk) > maxResponseHead {
			return buf, badResponse("head larger than %d KiB", maxResponseHead>>10)
		}
		buf = append(buf, chunk...)
		switch {
		case err == bufio.ErrBufferFull:
			continue // a line longer than the reader's buffer: read on
		case errors.Is(err, io.EOF):
			return buf, io.ErrUnexpectedEOF
		case err != nil:
			return buf, err
		}
		if line := buf[lineStart:]; len(line) == 1 || len(line) == 2 && line[0] == '\r' {
			return buf, nil
		}
		lineStart = len(buf)
	}
}

// maxInformational bounds the informational responses (100, 103) before a final one, as net/http's Transport
// does (5): a target cannot hold an exchange open with an endless run of them.
const maxInformational = 5

// read reads the head of the response to a request of method from br, skipping informational responses, and
// frames its body.
func (h *responseHead) read(br *bufio.Reader, method string) error {
	for informational := 0; ; informational++ {
		if informational > maxInformational {
			return badResponse("more than %d informational responses", maxInformational)
		}
		var err error
		if h.buf, err = readSection(br, h.buf[:0]); err != nil {
			return err
		}
		if err := h.parse(string(h.buf), method); err != nil {
			return err
		}
		switch {
		case h.status == http.StatusSwitchingProtocols:
			return badResponse("switched protocols for a request that did not ask to")
		case h.status >= 200:
			return nil
		}
		// 100 Continue (never asked for: Expect takes the other path) and 103 Early Hints: dropped, as their
		// bodies are empty.
	}
}

// cutLine returns s's first line without its line ending (LF or CRLF), and the rest.
func cutLine(s string) (line, rest string) {
	i := strings.IndexByte(s, '\n')
	if i < 0 {
		return s, ""
	}
	line, rest = s[:i], s[i+1:]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest
}

// parse parses head, a whole response head as readSection returns it, for a request of method.
func (h *responseHead) parse(head string, method string) error {
	h.fields, h.connection, h.trailers = h.fields[:0], h.connection[:0], h.trailers[:0]
	h.contentType, h.chunked = "", false // an informational response may have come first
	line, rest := cutLine(head)
	minor, status, err := parseStatusLine(line)
	if err != nil {
		return err
	}
	h.status = status

	var (
		contentLength = ""
		haveLength    bool
		lengthErr     error
		te            []string
		trailerFields []string
	)
	if rest, err = h.parseFields(rest, func(f field) bool {
		switch f.name {
		case "Content-Length":
			if haveLength {
				if f.value != contentLength && lengthErr == nil {
					lengthErr = badResponse("Content-Length %s and %s", quoted(contentLength), quoted(f.value))
				}
				return false
			}
			contentLength, haveLength = f.value, true
		case "Transfer-Encoding":
			te = append(te, f.value)
			return false
		case "Connection":
			h.connection = append(h.connection, f.value)
		case "Trailer":
			trailerFields = append(trailerFields, f.value)
		case "Content-Type":
			if h.contentType == "" {
				h.contentType = f.value
			}
		}
		return true
	}); err != nil {
		return err
	}
	if rest != "" {
		return badResponse("bytes after the end of the head") // readSection stops at the empty line
	}
	if lengthErr != nil {
		return lengthErr
	}

	// Connection management (RFC 9112 §9.3): HTTP/1.0 closes unless it says keep-alive.
	h.close = tokenIn(h.connection, "close") || minor == 0 && !tokenIn(h.connection, "keep-alive")

	// Transfer-Encoding: HTTP/1.0 has none (RFC 9112 §6.1: ignored, and the connection not reused); in
	// HTTP/1.1 only one field reading "chunked", as net/http and nginx accept.
	if len(te) > 0 {
		if minor == 0 {
			h.close = true
		} else {
			if len(te) > 1 {
				return badResponse("%d Transfer-Encoding fields", len(te))
			}
			if !strings.EqualFold(te[0], "chunked") {
				return badResponse("unsupported Transfer-Encoding %s", quoted(te[0]))
			}
			h.chunked = true
		}
	}
	var n int64
	if haveLength {
		v, perr := strconv.ParseUint(contentLength, 10, 63)
		if perr != nil {
			return badResponse("bad Content-Length %s", quoted(contentLength))
		}
		n = int64(v)
	}

	switch {
	case method == http.MethodHead || status < 200 || status == http.StatusNoContent || status == http.StatusNotModified:
		// No body, whatever the fields say; Content-Length stays, as it describes the resource.
		h.length, h.chunked = 0, false
	case h.chunked:
		h.length = -1
		if haveLength {
			// Transfer-Encoding overrides Content-Length (RFC 9112 §6.3), which is not forwarded; such a
			// response may be an attempt at response splitting, so its connection carries nothing more.
			h.close = true
			h.dropField("Content-Length")
		}
	case haveLength:
		h.length = n
	default:
		h.length, h.close = -1, true
	}
	if h.chunked {
		for _, v := range trailerFields {
			for name := range strings.SplitSeq(v, ",") {
				if name = strings.Trim(name, " \t"); name == "" {
					continue
				}
				if !httpguts.ValidHeaderFieldName(name) {
					return badResponse("bad name %s in Trailer", quoted(name))
				}
				name = http.CanonicalHeaderKey(name)
				switch name {
				case "Transfer-Encoding", "Trailer", "Content-Length":
					return badResponse("Trailer announces %s", name)
				}
				if !slices.Contains(h.trailers, name) {
					h.trailers = append(h.trailers, name)
				}
			}
		}
	}
	return nil
}

// dropField removes every field named name.
func (h *responseHead) dropField(name string) {
	kept := h.fields[:0]
	for _, f := range h.fields {
		if f.name != name {
			kept = append(kept, f)
		}
	}
	clear(h.fields[len(kept):])
	h.fields = kept
}

// parseStatusLine parses "HTTP/1.x SP 3DIGIT [SP reason]" and returns x and the status.
func parseStatusLine(line string) (minor, status int, err error) {
	switch {
	case strings.HasPrefix(line, "HTTP/1.1 "):
		minor = 1
	case strings.HasPrefix(line, "HTTP/1.0 "):
		minor = 0
	default:
		return 0, 0, badResponse("malformed status line %s", quoted(line))
	}
	code := line[len("HTTP/1.1 "):]
	reason := ""
	if len(code) > 3 {
		if code[3] != ' ' {
			return 0, 0, badResponse("malformed status line %s", quoted(line))
		}
		code, reason = code[:3], code[4:]
	}
	if len(code) != 3 || code[0] < '1' || code[0] > '9' || !isDigit(code[1]) || !isDigit(code[2]) {
		return 0, 0, badResponse("malformed status code in %s", quoted(line))
	}
	if !httpguts.ValidHeaderFieldValue(reason) { // reason-phrase has the bytes of a field value
		return 0, 0, badResponse("control character in the status line %s", quoted(line))
	}
	status = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	return minor, status, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// parseFields parses the field lines of s up to the empty line that ends them and returns what follows it.
// Each field goes to keep, and is appended to h.fields if keep returns true.
func (h *responseHead) parseFields(s string, keep func(field) bool) (rest string, err error) {
	for {
		if s == "" {
			return "", badResponse("head without its ending empty line")
		}
		var line string
		line, s = cutLine(s)
		if line == "" {
			return s, nil
		}
		f, err := parseField(line)
		if err != nil {
			return "", err
		}
		if keep(f) {
			h.fields = append(h.fields, f)
		}
	}
}

// parseField parses one field line: a token, a colon, and a value of visible characters, spaces and tabs, of
// which leading and trailing spaces and tabs are not part.
func parseField(line string) (field, error) {
	if line[0] == ' ' || line[0] == '\t' {
		// RFC 9112 §5.2: a proxy either replaces obs-fold or refuses the response with 502.
		return field{}, badResponse("obsolete line folding at %s", quoted(line))
	}
	colon := strings.IndexByte(line, ':')
	if colon <= 0 || !httpguts.ValidHeaderFieldName(line[:colon]) {
		return field{}, badResponse("malformed field line %s", quoted(line))
	}
	value := strings.Trim(line[colon+1:], " \t")
	if !httpguts.ValidHeaderFieldValue(value) {
		return field{}, badResponse("control character in the field line %s", quoted(line))
	}
	// A name already canonical, as targets nearly always send, comes back as it is, without allocating.
	return field{name: http.CanonicalHeaderKey(line[:colon]), value: value}, nil
}

// readTrailers reads the trailer section that follows a chunked body's last chunk into h.fields, which it
// replaces; h.trailers, the names the head announced, stay.
func (h *responseHead) readTrailers(br *bufio.Reader) error {
	var err error
	if h.buf, err = readSection(br, h.buf[:0]); err != nil {
		return err
	}
	h.fields = h.fields[:0]
	rest, err := h.parseFields(string(h.buf), func(field) bool { return true })
	if err != nil {
		return err
	}
	if rest != "" {
		return badResponse("bytes after the end of the trailer section")
	}
	return nil
}

// body returns the reader of the body that follows h on br.
func (h *responseHead) body(br *bufio.Reader) targetBody {
	b := targetBody{br: br, remaining: h.length}
	if h.chunked {
		b.chunked = httputil.NewChunkedReader(br)
	}
	return b
}

// targetBody reads a target response's body from the connection: of known length, chunked, or until the
// target closes.
type targetBody struct {
	br      *bufio.Reader
	chunked io.Reader // the decoder of a chunked body
	// remaining is what is left of a body of known length; -1 for a body that ends when the target closes.
	remaining int64
}

func (b *targetBody) Read(p []byte) (int, error) {
	switch {
	case b.chunked != nil:
		return b.chunked.Read(p)
	case b.remaining < 0:
		return b.br.Read(p)
	case b.remaining == 0:
		return 0, io.EOF
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.br.Read(p)
	b.remaining -= int64(n)
	switch {
	case b.remaining == 0:
		return n, io.EOF
	case err == io.EOF:
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}
