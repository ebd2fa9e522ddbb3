package desync

import "bytes"

// This file answers, for a complete head, the question Conn must answer
// exactly as net/http's HTTP/1 server does: how long is the body, and so
// where does the next request start? It follows net/http (request.go
// readRequest, transfer.go readTransfer/fixLength, textproto
// readMIMEHeader) rather than the library, because net/http is the parser
// whose requests the handler sees.
//
// Where the server refuses a head it answers 4xx/5xx and closes the
// connection, so nothing after that head is ever served; framing then says
// bodyRefused and Conn stops. Some refusals are not mirrored (a bad target
// URL, a missing Host): following such a head further is harmless, since
// the server closes anyway. What must never happen is the reverse,
// refusing here what the server accepts, or framing an accepted request
// differently; the differential fuzz target checks that.

// bodyKind is how the body after a head is framed.
type bodyKind uint8

const (
	bodyNone    bodyKind = iota // no body: the next request follows the head
	bodyLength                  // Content-Length bytes
	bodyChunked                 // chunked, then a trailer section
	bodyRefused                 // the server serves nothing after this head
)

type framing struct {
	kind   bodyKind
	length uint64
	post   bool // the method was POST, after which net/http skips stray CR/LF
}

// goFramer frames heads; its buffers are reused from head to head so that
// folded header lines do not allocate every time.
type goFramer struct {
	join  []byte // a folded header line, joined as textproto joins it
	clBuf []byte // the first Content-Length value when it came from join
}

// frame says how net/http frames the body after head, a complete head.
func (g *goFramer) frame(head []byte) framing {
	refused := framing{kind: bodyRefused}

	line, pos := readLine(head, 0)
	method, rest, ok1 := bytes.Cut(line, []byte{' '})
	_, proto, ok2 := bytes.Cut(rest, []byte{' '})
	if !ok1 || !ok2 || len(method) == 0 {
		return refused
	}
	for _, b := range method {
		if !isTchar(b) {
			return refused
		}
	}
	// Only HTTP/1.x connections go on: the server answers 505 to other
	// versions, and closes after PRI * HTTP/2.0.
	minor, ok := parseHTTP1Version(proto)
	if !ok {
		return refused
	}
	if pos < len(head) && (head[pos] == ' ' || head[pos] == '\t') {
		return refused // textproto: malformed MIME header initial line
	}

	var (
		teCount, clCount int
		teChunked        bool
		clFirst          []byte
	)
	for {
		kv, next, kind := g.logicalLine(head, pos)
		if kind == lineBad {
			return refused
		}
		pos = next
		if kind == lineBlank {
			break
		}
		k, v, _ := bytes.Cut(kv, []byte{':'})
		canonical, ok := headerKey(k)
		if !ok {
			return refused
		}
		for _, b := range v {
			if !isHeaderValueByte(b) {
				return refused
			}
		}
		if !canonical {
			// A name with a space is kept but never canonicalised, so
			// "Content-Length :" is not Content-Length to net/http.
			continue
		}
		v = trimLeftWS(v)
		switch {
		case equalFoldASCII(k, nameTE):
			teCount++
			if teCount == 1 {
				teChunked = equalFoldASCII(v, "chunked")
			}
		case equalFoldASCII(k, nameCL):
			clCount++
			v = trimWS(v)
			switch {
			case clCount == 1 && kind == lineFolded:
				// The next folded line reuses join; keep a copy.
				g.clBuf = append(g.clBuf[:0], v...)
				clFirst = g.clBuf
			case clCount == 1:
				clFirst = v
			case !bytes.Equal(v, clFirst):
				return refused // differing duplicates
			}
		}
	}

	f := framing{post: string(method) == "POST"}
	// Transfer-Encoding is ignored on HTTP/1.0 requests (go.dev/issue/12785);
	// on HTTP/1.1 only one field with exactly "chunked" is accepted.
	chunked := false
	if teCount > 0 && minor >= 1 {
		if teCount != 1 || !teChunked {
			return refused
		}
		chunked = true
	}
	// Content-Length is validated even when chunked overrides it.
	if clCount > 0 {
		n, ok := parseContentLength(clFirst)
		if !ok {
			return refused
		}
		f.length = n
	}
	switch {
	case chunked:
		f.kind = bodyChunked
	case f.length > 0:
		f.kind = bodyLength
	}
	return f
}

// lineKind is what logicalLine found.
type lineKind uint8

const (
	lineHeader lineKind = iota // a header on one line
	lineFolded                 // a header with continuation lines, joined in g.join
	lineBlank                  // the blank line that ends the section
	lineBad                    // a line textproto refuses: no colon in the first line
)

// logicalLine reads one header line starting at pos, with any obs-fold
// continuation lines joined by a single space as textproto joins them.
func (g *goFramer) logicalLine(head []byte, pos int) (kv []byte, next int, kind lineKind) {
	first, next := readLine(head, pos)
	if len(first) == 0 {
		return nil, next, lineBlank
	}
	if bytes.IndexByte(first, ':') < 0 {
		return nil, next, lineBad
	}
	kv = trimWS(first)
	if next >= len(head) || (head[next] != ' ' && head[next] != '\t') {
		return kv, next, lineHeader
	}
	g.join = append(g.join[:0], kv...)
	for next < len(head) && (head[next] == ' ' || head[next] == '\t') {
		for next < len(head) && (head[next] == ' ' || head[next] == '\t') {
			next++
		}
		var cont []byte
		cont, next = readLine(head, next)
		g.join = append(g.join, ' ')
		g.join = append(g.join, trimWS(cont)...)
	}
	return g.join, next, lineFolded
}

// readLine returns the line at pos without its LF or CRLF, as
// bufio.Reader.ReadLine does, and where the next line starts.
func readLine(buf []byte, pos int) ([]byte, int) {
	i := bytes.IndexByte(buf[pos:], '\n')
	if i < 0 {
		return buf[pos:], len(buf)
	}
	line := buf[pos : pos+i]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line, pos + i + 1
}

// headerKey checks a header name as textproto does: ok if every byte is a
// token byte or a space; canonical if there is no space, since only then is
// the name case-folded and so able to mean Content-Length.
func headerKey(k []byte) (canonical, ok bool) {
	if len(k) == 0 {
		return false, false
	}
	canonical = true
	for _, b := range k {
		switch {
		case isTchar(b):
		case b == ' ':
			canonical = false
		default:
			return false, false
		}
	}
	return canonical, true
}

// parseHTTP1Version returns the minor version of an HTTP/1.x version as
// net/http's ParseHTTPVersion reads it, ok false for anything else.
func parseHTTP1Version(v []byte) (int, bool) {
	if len(v) != len("HTTP/1.1") || string(v[:7]) != "HTTP/1." || !isDigit(v[7]) {
		return 0, false
	}
	return int(v[7] - '0'), true
}

// parseContentLength reads a trimmed Content-Length as net/http does:
// non-empty, decimal digits only, below 2^63.
func parseContentLength(v []byte) (uint64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	var n uint64
	for _, b := range v {
		if !isDigit(b) {
			return 0, false
		}
		d := uint64(b - '0')
		if n > (1<<63-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

func trimLeftWS(s []byte) []byte {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	return s
}
