package upstreamtest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestWebSocketEcho(t *testing.T) {
	t.Parallel()
	addr := NewWebSocketEcho(t)
	tests := []struct {
		name string
		msg  []byte
	}{
		{"short", []byte("hello")},
		{"empty", []byte{}},
		{"16-bit length", bytes.Repeat([]byte("a"), 300)},
		{"64-bit length", bytes.Repeat([]byte("b"), 70000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			got, err := WebSocketRoundTrip(conn, "example", "/ws", tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.msg) {
				t.Errorf("echo of %d bytes came back as %d bytes", len(tt.msg), len(got))
			}
		})
	}
}

// TestWebSocketEchoControlFrames pings, then closes, and checks the server's answers.
func TestWebSocketEchoControlFrames(t *testing.T) {
	t.Parallel()
	conn, err := net.Dial("tcp", NewWebSocketEcho(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := WebSocketRoundTrip(conn, "example", "/", []byte("x")); err != nil {
		t.Fatal(err)
	}
	mask := [4]byte{1, 2, 3, 4}
	for _, step := range []struct {
		send frame
		want frame
	}{
		{frame{fin: true, opcode: opPing, payload: []byte("p")}, frame{fin: true, opcode: opPong, payload: []byte("p")}},
		{frame{fin: true, opcode: opClose, payload: []byte{3, 232}}, frame{fin: true, opcode: opClose, payload: []byte{3, 232}}},
	} {
		if _, err := conn.Write(appendFrame(nil, step.send, &mask)); err != nil {
			t.Fatal(err)
		}
		got, err := readFrame(conn, false)
		if err != nil {
			t.Fatal(err)
		}
		if got.opcode != step.want.opcode || !bytes.Equal(got.payload, step.want.payload) {
			t.Errorf("sent opcode %#x, got %#x %q, want %#x %q", step.send.opcode, got.opcode, got.payload, step.want.opcode, step.want.payload)
		}
	}
	// After the close handshake the server hangs up.
	if _, err := conn.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("read after close: %v, want EOF", err)
	}
}

func TestWebSocketEchoRefusesPlainRequests(t *testing.T) {
	t.Parallel()
	addr := NewWebSocketEcho(t)
	tests := []struct {
		name   string
		header http.Header
	}{
		{"no upgrade", http.Header{}},
		{"no key", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"13"}}},
		{"old version", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"8"},
			"Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}},
		{"short key", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"13"},
			"Sec-Websocket-Key": {"c2hvcnQ="}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+"/", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header = tt.header
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("status %d, want 400", resp.StatusCode)
			}
		})
	}
}

// TestAcceptKey checks the example of RFC 6455 §1.3.
func TestAcceptKey(t *testing.T) {
	t.Parallel()
	if got, want := acceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="; got != want {
		t.Errorf("acceptKey = %q, want %q", got, want)
	}
}

func TestReadFrameRejectsBadFrames(t *testing.T) {
	t.Parallel()
	long := func(n uint64) []byte {
		b := []byte{0x82, 0x7f}
		return binary.BigEndian.AppendUint64(b, n)
	}
	tests := []struct {
		name    string
		in      []byte
		masked  bool
		wantErr string
	}{
		{"empty", nil, false, "EOF"},
		{"reserved bits", []byte{0xc1, 0x00}, false, "reserved bits"},
		{"reserved opcode", []byte{0x83, 0x00}, false, "reserved opcode"},
		{"fragmented ping", []byte{0x09, 0x00}, false, "control frame"},
		{"long close", []byte{0x88, 0x7e, 0x00, 0x80}, false, "control frame"},
		{"unmasked client frame", []byte{0x81, 0x00}, true, "masked=false"},
		{"masked server frame", []byte{0x81, 0x80, 0, 0, 0, 0}, false, "masked=true"},
		{"16-bit length below 126", []byte{0x81, 0x7e, 0x00, 0x05}, false, "minimally"},
		{"64-bit length below 65536", long(5), false, "minimally"},
		{"payload over the limit", long(maxFramePayload + 1), false, "exceeds"},
		{"payload far over the limit", long(1 << 63), false, "exceeds"},
		{"truncated length", []byte{0x81, 0x7e, 0x01}, false, "unexpected EOF"},
		{"truncated mask", []byte{0x81, 0x85, 1, 2}, true, "unexpected EOF"},
		{"truncated payload", []byte{0x81, 0x05, 'a', 'b'}, false, "unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := readFrame(bytes.NewReader(tt.in), tt.masked)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("readFrame error = %v, want one saying %q", err, tt.wantErr)
			}
		})
	}
}

// FuzzReadFrame feeds arbitrary bytes to the frame reader: it must never panic, never return more
// than the payload limit, and whatever it accepts must survive re-encoding.
func FuzzReadFrame(f *testing.F) {
	mask := [4]byte{9, 8, 7, 6}
	f.Add(appendFrame(nil, frame{fin: true, opcode: opText, payload: []byte("hi")}, &mask), true)
	f.Add(appendFrame(nil, frame{fin: false, opcode: opBinary, payload: bytes.Repeat([]byte{1}, 200)}, nil), false)
	f.Add(appendFrame(nil, frame{fin: true, opcode: opClose, payload: []byte{3, 232}}, nil), false)
	f.Add([]byte{0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0}, false)
	f.Fuzz(func(t *testing.T, in []byte, masked bool) {
		fr, err := readFrame(bytes.NewReader(in), masked)
		if err != nil {
			return
		}
		if len(fr.payload) > maxFramePayload {
			t.Fatalf("accepted a %d-byte payload", len(fr.payload))
		}
		var m *[4]byte
		if masked {
			m = &mask
		}
		again, err := readFrame(bytes.NewReader(appendFrame(nil, fr, m)), masked)
		if err != nil {
			t.Fatalf("re-encoded frame rejected: %v", err)
		}
		if again.fin != fr.fin || again.opcode != fr.opcode || !bytes.Equal(again.payload, fr.payload) {
			t.Fatalf("round trip changed the frame: %+v, then %+v", fr, again)
		}
	})
}
