package upstreamtest

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// WebSocket opcodes (RFC 6455 §5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// maxFramePayload bounds what the echo server and client accept in one frame, so a broken peer
// cannot make a test allocate without limit.
const maxFramePayload = 1 << 20

// websocketGUID is appended to the client's key to compute Sec-WebSocket-Accept (RFC 6455 §4.2.2).
const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// frame is one WebSocket frame, unmasked.
type frame struct {
	fin     bool
	opcode  byte
	payload []byte
}

// NewWebSocketEcho starts a clear-text WebSocket echo server on 127.0.0.1 and returns its address. It
// accepts the upgrade on any path, then sends every data frame back as it came (opcode and FIN kept),
// answers pings with pongs, and answers a close frame with a close frame before closing the
// connection. A request that is not a valid upgrade gets 400.
func NewWebSocketEcho(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening for the WebSocket target: %v", err)
	}
	ws := &websocketServer{conns: make(map[net.Conn]struct{})}
	srv := &http.Server{
		Handler:           ws,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          quietLog(),
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		ws.close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("WebSocket target: %v", err)
		}
	})
	return ln.Addr().String()
}

// websocketServer tracks the connections it hijacked: http.Server.Close does not know them.
type websocketServer struct {
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// track registers a hijacked connection, or reports false once the server is closing.
func (ws *websocketServer) track(c net.Conn) bool {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.closed {
		return false
	}
	// Under the lock that close takes, so no Add can race with Wait.
	ws.wg.Add(1)
	ws.conns[c] = struct{}{}
	return true
}

func (ws *websocketServer) untrack(c net.Conn) {
	ws.mu.Lock()
	delete(ws.conns, c)
	ws.mu.Unlock()
	ws.wg.Done()
}

// close ends every echo loop and waits for them, so none outlives the test.
func (ws *websocketServer) close() {
	ws.mu.Lock()
	ws.closed = true
	for c := range ws.conns {
		c.Close()
	}
	ws.mu.Unlock()
	ws.wg.Wait()
}

func (ws *websocketServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Sec-WebSocket-Key")
	if decoded, err := base64.StdEncoding.DecodeString(key); r.Method != http.MethodGet ||
		!headerHasToken(r.Header, "Connection", "upgrade") || !headerHasToken(r.Header, "Upgrade", "websocket") ||
		r.Header.Get("Sec-WebSocket-Version") != "13" || err != nil || len(decoded) != 16 {
		http.Error(w, "upstreamtest: not a WebSocket upgrade", http.StatusBadRequest)
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "upstreamtest: cannot hijack: "+err.Error(), http.StatusInternalServerError)
		return
	}
	defer conn.Close()
	if !ws.track(conn) {
		return
	}
	defer ws.untrack(conn)
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", acceptKey(key))
	if err := brw.Flush(); err != nil {
		return
	}
	var out []byte
	for {
		f, err := readFrame(brw.Reader, true)
		if err != nil {
			return
		}
		switch f.opcode {
		case opPing:
			f.opcode = opPong
		case opPong:
			continue
		}
		out = appendFrame(out[:0], f, nil)
		if _, err := conn.Write(out); err != nil || f.opcode == opClose {
			return
		}
	}
}

// WebSocketRoundTrip upgrades conn, an already dialled connection to a WebSocket server (directly or
// through a proxy), with a GET of path on host, sends msg as one masked text frame, and returns the
// payload of the first data frame that comes back. It leaves conn open and sets no deadline: the
// caller bounds the exchange with conn.SetDeadline.
func WebSocketRoundTrip(conn net.Conn, host, path string, msg []byte) ([]byte, error) {
	var nonce [16]byte
	rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	req := "GET " + path + " HTTP/1.1\r\nHost: " + host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
		"\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		return nil, fmt.Errorf("sending WebSocket upgrade: %w", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, fmt.Errorf("reading WebSocket upgrade response: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, fmt.Errorf("WebSocket upgrade answered %s", resp.Status)
	}
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), acceptKey(key); got != want {
		return nil, fmt.Errorf("WebSocket upgrade: Sec-WebSocket-Accept %q, want %q", got, want)
	}
	var mask [4]byte
	rand.Read(mask[:])
	if _, err := conn.Write(appendFrame(nil, frame{fin: true, opcode: opText, payload: msg}, &mask)); err != nil {
		return nil, fmt.Errorf("sending WebSocket frame: %w", err)
	}
	for {
		f, err := readFrame(br, false)
		if err != nil {
			return nil, fmt.Errorf("reading WebSocket frame: %w", err)
		}
		switch f.opcode {
		case opText, opBinary, opContinuation:
			return f.payload, nil
		case opClose:
			return nil, errors.New("WebSocket closed by the server")
		}
	}
}

func acceptKey(key string) string {
	sum := sha1.Sum([]byte(key + websocketGUID))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// headerHasToken reports whether a comma-separated header holds token, case-insensitively.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// readFrame reads one frame. masked says whether frames from this peer must be masked (a client's,
// RFC 6455 §5.1) or must not be (a server's). Extensions are not negotiated, so RSV bits are errors.
func readFrame(r io.Reader, masked bool) (frame, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return frame{}, err
	}
	f := frame{fin: hdr[0]&0x80 != 0, opcode: hdr[0] & 0x0f}
	if hdr[0]&0x70 != 0 {
		return frame{}, errors.New("websocket: reserved bits set")
	}
	switch f.opcode {
	case opContinuation, opText, opBinary:
	case opClose, opPing, opPong:
		if !f.fin || hdr[1]&0x7f > 125 {
			return frame{}, errors.New("websocket: fragmented or long control frame")
		}
	default:
		return frame{}, fmt.Errorf("websocket: reserved opcode %#x", f.opcode)
	}
	if got := hdr[1]&0x80 != 0; got != masked {
		return frame{}, fmt.Errorf("websocket: frame masked=%t, want %t", got, masked)
	}
	n := uint64(hdr[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			return frame{}, unexpected(err)
		}
		n = uint64(binary.BigEndian.Uint16(ext[:]))
		if n < 126 {
			return frame{}, errors.New("websocket: length not minimally encoded")
		}
	case 127:
		var ext [8]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			return frame{}, unexpected(err)
		}
		n = binary.BigEndian.Uint64(ext[:])
		if n <= 0xffff {
			return frame{}, errors.New("websocket: length not minimally encoded")
		}
	}
	if n > maxFramePayload {
		return frame{}, fmt.Errorf("websocket: %d-byte payload exceeds %d", n, maxFramePayload)
	}
	var key [4]byte
	if masked {
		if _, err := io.ReadFull(r, key[:]); err != nil {
			return frame{}, unexpected(err)
		}
	}
	f.payload = make([]byte, n)
	if _, err := io.ReadFull(r, f.payload); err != nil {
		return frame{}, unexpected(err)
	}
	if masked {
		for i := range f.payload {
			f.payload[i] ^= key[i%4]
		}
	}
	return f, nil
}

// unexpected turns a clean EOF in the middle of a frame into the truncation it is.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// appendFrame appends f to dst, masked with mask when it is not nil (client frames).
func appendFrame(dst []byte, f frame, mask *[4]byte) []byte {
	b0 := f.opcode
	if f.fin {
		b0 |= 0x80
	}
	var maskBit byte
	if mask != nil {
		maskBit = 0x80
	}
	switch n := len(f.payload); {
	case n <= 125:
		dst = append(dst, b0, maskBit|byte(n))
	case n <= 0xffff:
		dst = append(dst, b0, maskBit|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, b0, maskBit|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	if mask == nil {
		return append(dst, f.payload...)
	}
	dst = append(dst, mask[:]...)
	for i, b := range f.payload {
		dst = append(dst, b^mask[i%4])
	}
	return dst
}
