package desync

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"time"
)

// DefaultMaxHead is the head limit NewConn uses when given none: what
// net/http's server reads of a head with the default MaxHeaderBytes before
// it answers 431 instead.
const DefaultMaxHead = 1<<20 + 4096

// maxQueued bounds the verdicts waiting for Next. net/http reads at most its
// 4 KiB buffer ahead of the request being served, which holds well under
// 300 of the smallest heads it accepts; more means Next is not being called
// once per request, and the connection can no longer be trusted.
const maxQueued = 1024

// keptHeadBuffer is the largest head buffer kept for the next head that
// spans reads; most heads fit in one read and need none.
const keptHeadBuffer = 16 << 10

// Limits net/http puts on chunked framing (net/http/internal/chunked.go,
// transfer.go readTrailer), mirrored so that the tracker gives up no later
// than the server does.
const (
	maxChunkLine = 4096 // chunk-size line, extensions included
	maxTrailer   = 4096 // trailer section: the server's bufio buffer
)

// Conn wraps an HTTP/1.1 client connection (plain bytes, after TLS) to
// classify every request on it as the bytes go by. Give the Conn to
// net/http's Server in place of the connection; the handler then calls Next
// once per request, in order, to get that request's verdict.
//
// Conn sees the raw bytes that net/http's parser normalises away (it drops
// Content-Length beside chunked, joins folded lines, and refuses some
// requests before any handler runs), and follows their body framing the
// way net/http does, so that text inside a body is never mistaken for a
// request.
type Conn struct {
	nc net.Conn

	mu     sync.Mutex // guards t and the queue: Read runs on net/http's reader goroutine
	t      tracker
	queue  []Verdict
	qStart int // queue[qStart:] are waiting
}

// NewConn wraps c. maxHead bounds one request head, request line and blank
// line included; a longer head gets a Severe HeadTooLarge verdict and ends
// the tracking of the connection. maxHead <= 0 means DefaultMaxHead.
func NewConn(c net.Conn, maxHead int) *Conn {
	if maxHead <= 0 {
		maxHead = DefaultMaxHead
	}
	dc := &Conn{nc: c}
	dc.t.maxHead = maxHead
	dc.t.emit = dc.push
	dc.t.startHead()
	return dc
}

// Read reads from the wrapped connection and passes the bytes on
// unchanged, after noting every request head they complete. Like any
// net.Conn, it must not be called concurrently with itself.
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.nc.Read(p)
	if n > 0 {
		c.mu.Lock()
		c.t.feed(p[:n])
		c.mu.Unlock()
	}
	return n, err
}

// Next returns the verdict of the oldest request not yet asked about. It is
// always ready by the time net/http hands that request to a handler,
// because the head passed through Read first.
//
// Once the connection can no longer be followed (a head over the limit, a
// corrupt chunked body, a head net/http refuses), every further call
// returns a Severe verdict with ReasonHeadTooLarge or
// ReasonUnknownBoundary. ok is false only if Next is called more often than
// requests arrived; callers should then fail closed.
func (c *Conn) Next() (v Verdict, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.qStart < len(c.queue) {
		v = c.queue[c.qStart]
		c.qStart++
		if c.qStart == len(c.queue) {
			c.queue, c.qStart = c.queue[:0], 0
		}
		return v, true
	}
	if c.t.phase == phaseStopped {
		return Verdict{Class: Severe, Reason: c.t.stopReason}, true
	}
	return Verdict{}, false
}

// push queues the verdict of a head; false if too many are waiting.
func (c *Conn) push(_ []byte, v Verdict) bool {
	if len(c.queue)-c.qStart >= maxQueued {
		return false
	}
	if c.qStart > 0 && len(c.queue) == cap(c.queue) {
		n := copy(c.queue, c.queue[c.qStart:])
		c.queue, c.qStart = c.queue[:n], 0
	}
	c.queue = append(c.queue, v)
	return true
}

// NetConn returns the wrapped connection, for example the *tls.Conn whose
// ConnectionState the handler needs: net/http cannot see through Conn.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Write writes to the wrapped connection.
func (c *Conn) Write(p []byte) (int, error) { return c.nc.Write(p) }

// Close closes the wrapped connection.
func (c *Conn) Close() error { return c.nc.Close() }

// CloseWrite half-closes the wrapped connection if it can. net/http uses
// it after refusing a request, so the client reads the 400 before the
// connection goes away.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// LocalAddr returns the wrapped connection's local address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// RemoteAddr returns the wrapped connection's remote address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// SetDeadline sets the wrapped connection's deadlines.
func (c *Conn) SetDeadline(t time.Time) error { return c.nc.SetDeadline(t) }

// SetReadDeadline sets the wrapped connection's read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.nc.SetReadDeadline(t) }

// SetWriteDeadline sets the wrapped connection's write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.nc.SetWriteDeadline(t) }

// phase is where in the request stream the tracker is.
type phase uint8

const (
	phaseHead      phase = iota // in a request head
	phaseSkipCRLF               // after a POST: net/http drops up to 4 CR or LF bytes
	phaseBody                   // in a Content-Length body
	phaseChunkLine              // in a chunk-size line
	phaseChunkData              // in chunk data
	phaseChunkCR                // expecting the CR after chunk data
	phaseChunkLF                // expecting the LF after chunk data
	phaseTrailer                // in the trailer section after the last chunk
	phaseStopped                // lost: nothing more is tracked
)

// States within a chunk-size line: hex digits, then either white space or
// an extension, then CRLF.
const (
	chunkHex uint8 = iota
	chunkWS
	chunkExt
	chunkCR
)

// tracker is the incremental parser behind Conn. It keeps no more than one
// head (up to maxHead bytes) and a few counters, whatever it is fed, and
// allocates only when its head buffer first grows.
type tracker struct {
	maxHead int
	// emit receives each complete head (valid only during the call) and
	// its verdict; false stops the tracker.
	emit func(head []byte, v Verdict) bool

	phase      phase
	stopReason string

	// Line state, for heads and trailer sections.
	head      []byte // a head that spans reads, copied
	headLen   int    // bytes in the head (or trailer section) so far
	lineLen   int    // bytes in the current line so far, LF excluded
	lineCR    bool   // the current line so far is exactly "\r"
	firstLine bool   // the current line is the request line

	remaining uint64 // body or chunk bytes still to skip
	post      bool   // the request being framed is a POST
	skipLeft  int    // CR/LF bytes phaseSkipCRLF may still drop

	chunkState   uint8
	chunkDigits  int
	chunkSize    uint64
	chunkLineLen int

	framer goFramer
}

func (t *tracker) stop(reason string) {
	t.phase = phaseStopped
	t.stopReason = reason
	t.head = nil // nothing more will be parsed; let it go
	t.framer = goFramer{}
}

// feed parses b, the next bytes of the stream.
func (t *tracker) feed(b []byte) {
	for len(b) > 0 {
		switch t.phase {
		case phaseStopped:
			return
		case phaseSkipCRLF:
			// net/http peeks 4 bytes after a POST and discards the leading
			// CR and LF among them (RFC 7230 §3.5 tolerance).
			for len(b) > 0 && t.skipLeft > 0 && (b[0] == '\r' || b[0] == '\n') {
				b = b[1:]
				t.skipLeft--
			}
			if len(b) > 0 {
				t.startHead()
			}
		case phaseHead:
			b = t.feedHead(b)
		case phaseBody, phaseChunkData:
			k := t.remaining
			if uint64(len(b)) < k {
				k = uint64(len(b))
			}
			b = b[k:]
			t.remaining -= k
			if t.remaining == 0 {
				if t.phase == phaseBody {
					t.endMessage()
				} else {
					t.phase = phaseChunkCR
				}
			}
		case phaseChunkCR, phaseChunkLF:
			want := byte('\r')
			if t.phase == phaseChunkLF {
				want = '\n'
			}
			if b[0] != want {
				t.stop(ReasonUnknownBoundary)
				return
			}
			b = b[1:]
			if t.phase == phaseChunkCR {
				t.phase = phaseChunkLF
			} else {
				t.startChunkLine()
			}
		case phaseChunkLine:
			b = t.feedChunkLine(b)
		case phaseTrailer:
			b = t.feedTrailer(b)
		}
	}
}

func (t *tracker) startHead() {
	t.phase = phaseHead
	if cap(t.head) > keptHeadBuffer {
		t.head = nil // one huge head should not cost memory for the connection's life
	}
	t.head = t.head[:0]
	t.headLen, t.lineLen, t.lineCR, t.firstLine = 0, 0, false, true
}

// endMessage moves on to the next request once a body has ended.
func (t *tracker) endMessage() {
	if t.post {
		t.phase, t.skipLeft = phaseSkipCRLF, 4
		return
	}
	t.startHead()
}

// extendLine accounts for seg, bytes of the current line without its LF.
func (t *tracker) extendLine(seg []byte) {
	if len(seg) == 0 {
		return
	}
	t.lineCR = t.lineLen == 0 && len(seg) == 1 && seg[0] == '\r'
	t.lineLen += len(seg)
}

// blankLine reports whether the line just ended by an LF was empty, as
// textproto sees it: nothing, or a lone CR, before the LF.
func (t *tracker) blankLine() bool { return t.lineLen == 0 || t.lineCR }

// feedHead consumes the bytes of b that belong to the current head and
// returns the rest.
func (t *tracker) feedHead(b []byte) []byte {
	i, complete := 0, false
	for i < len(b) {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			t.extendLine(b[i:])
			i = len(b)
			break
		}
		t.extendLine(b[i : i+j])
		i += j + 1
		// The request line ends the head only in net/http's eyes if it is
		// followed by a blank line, even when it is itself empty.
		if !t.firstLine && t.blankLine() {
			complete = true
			break
		}
		t.firstLine, t.lineLen, t.lineCR = false, 0, false
	}
	if i > t.maxHead-t.headLen {
		t.stop(ReasonHeadTooLarge)
		return nil
	}
	t.headLen += i
	if !complete {
		t.head = append(t.head, b[:i]...)
		return b[i:]
	}
	head := b[:i]
	if len(t.head) > 0 {
		t.head = append(t.head, head...)
		head = t.head
	}
	t.completeHead(head)
	return b[i:]
}

func (t *tracker) completeHead(head []byte) {
	f := t.framer.frame(head)
	if !t.emit(head, Classify(head)) {
		t.stop(ReasonUnknownBoundary)
		return
	}
	t.post = f.post
	switch f.kind {
	case bodyRefused:
		t.stop(ReasonUnknownBoundary)
	case bodyLength:
		t.phase, t.remaining = phaseBody, f.length
	case bodyChunked:
		t.startChunkLine()
	default:
		t.endMessage()
	}
}

func (t *tracker) startChunkLine() {
	t.phase = phaseChunkLine
	t.chunkState, t.chunkDigits, t.chunkSize, t.chunkLineLen = chunkHex, 0, 0, 0
}

// feedChunkLine parses a chunk-size line as net/http does: 1 to 16 hex
// digits, then optional trailing white space or a ';' extension, then CRLF
// with no other CR or LF anywhere.
func (t *tracker) feedChunkLine(b []byte) []byte {
	for i, c := range b {
		if t.chunkState == chunkCR {
			if c != '\n' {
				t.stop(ReasonUnknownBoundary)
				return nil
			}
			if t.chunkSize == 0 {
				t.phase, t.headLen, t.lineLen, t.lineCR = phaseTrailer, 0, 0, false
			} else {
				t.phase, t.remaining = phaseChunkData, t.chunkSize
			}
			return b[i+1:]
		}
		if c == '\r' {
			if t.chunkDigits == 0 {
				t.stop(ReasonUnknownBoundary)
				return nil
			}
			t.chunkState = chunkCR
			continue
		}
		if t.chunkLineLen++; t.chunkLineLen >= maxChunkLine {
			t.stop(ReasonUnknownBoundary)
			return nil
		}
		ok := true
		switch t.chunkState {
		case chunkHex:
			if d, isHex := hexDigit(c); isHex {
				if t.chunkDigits == 16 {
					ok = false
					break
				}
				t.chunkSize = t.chunkSize<<4 | uint64(d)
				t.chunkDigits++
				break
			}
			switch {
			case t.chunkDigits == 0:
				ok = false
			case c == ';':
				t.chunkState = chunkExt
			case c == ' ' || c == '\t':
				t.chunkState = chunkWS
			default:
				ok = false
			}
		case chunkWS:
			ok = c == ' ' || c == '\t'
		case chunkExt:
			ok = c != '\n'
		}
		if !ok {
			t.stop(ReasonUnknownBoundary)
			return nil
		}
	}
	return nil
}

// feedTrailer skips the trailer section, which ends at the first blank
// line like a head.
func (t *tracker) feedTrailer(b []byte) []byte {
	i, complete := 0, false
	for i < len(b) {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			t.extendLine(b[i:])
			i = len(b)
			break
		}
		t.extendLine(b[i : i+j])
		i += j + 1
		if t.blankLine() {
			complete = true
			break
		}
		t.lineLen, t.lineCR = 0, false
	}
	if t.headLen += i; t.headLen > maxTrailer {
		t.stop(ReasonUnknownBoundary)
		return nil
	}
	if complete {
		t.endMessage()
	}
	return b[i:]
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
